package host

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ti-mo/conntrack"
	"github.com/ti-mo/netfilter"
	"golang.org/x/sys/unix"
)

const (
	// ctEventsReadBuffer is the netlink socket's receive buffer: a burst of
	// new flows (a scan, a busy proxy) must not overflow it while the
	// writer is busy. 8 MiB holds ~20,000 events.
	ctEventsReadBuffer = 8 << 20
	// ctEventsQueue is how many decoded events wait for the writer.
	ctEventsQueue = 4096
	// ctEventsMaxBytes bounds the events member: at ~600 bytes a line it
	// holds 1.5 million events, minutes of a very busy host.
	ctEventsMaxBytes = 1 << 30 // 1 GiB
	// ctEventsMaxRedials bounds how often a listener that failed (its
	// socket overflowed) is opened again.
	ctEventsMaxRedials = 100
)

// ConntrackEvent is one line of capture/conntrack-events.jsonl.
type ConntrackEvent struct {
	// Time is when the collector received the event; the kernel does not
	// stamp events.
	Time time.Time `json:"time"`
	// Type is new, update, destroy, or lost: the socket overflowed and an
	// unknown number of events are missing before this line.
	Type string          `json:"type"`
	Flow *ConntrackEntry `json:"flow,omitempty"`
	// Stop is when the kernel ended a destroyed flow
	// (nf_conntrack_timestamp on).
	Stop  *time.Time `json:"stop,omitempty"`
	Error string     `json:"error,omitempty"`
}

// ConntrackEventStats counts what RecordConntrackEvents wrote.
type ConntrackEventStats struct {
	Events    int  `json:"events"`
	New       int  `json:"new"`
	Update    int  `json:"update"`
	Destroy   int  `json:"destroy"`
	Lost      int  `json:"lost"` // overflows: events missing
	Truncated bool `json:"truncated,omitempty"`
}

// RecordConntrackEvents writes the conntrack events of the calling
// thread's network namespace (NEW, UPDATE and DESTROY, IPv4 and IPv6) to w
// as JSON lines until ctx ends. Flows that begin and end between two
// snapshots are only seen here. When the kernel drops events because the
// socket overflowed, a "lost" line marks the place and listening goes on.
func RecordConntrackEvents(ctx context.Context, w io.Writer) (ConntrackEventStats, error) {
	var st ConntrackEventStats
	bw := bufio.NewWriterSize(w, 64<<10)
	var written int64
	enc := json.NewEncoder(&ctCountWriter{w: bw, n: &written})
	write := func(ev ConntrackEvent) error {
		if written >= ctEventsMaxBytes {
			st.Truncated = true
			return nil
		}
		return enc.Encode(ev)
	}
	var lastErr error
	for redials := 0; ; redials++ {
		err := ctListen(ctx, &st, write)
		if ctx.Err() != nil || err == nil {
			break
		}
		if !errors.Is(err, unix.ENOBUFS) || redials == ctEventsMaxRedials {
			lastErr = err
			break
		}
		// The socket overflowed: say so and listen again.
		st.Lost++
		if werr := write(ConntrackEvent{Time: time.Now().UTC(), Type: "lost", Error: err.Error()}); werr != nil {
			lastErr = werr
			break
		}
	}
	if err := bw.Flush(); err != nil && lastErr == nil {
		lastErr = err
	}
	return st, lastErr
}

type ctWriteError struct{ err error }

func (e *ctWriteError) Error() string { return "write conntrack events: " + e.err.Error() }
func (e *ctWriteError) Unwrap() error { return e.err }

type ctCountWriter struct {
	w io.Writer
	n *int64
}

func (c *ctCountWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	*c.n += int64(n)
	return n, err
}

// ctListen listens on one netlink socket until ctx ends (nil) or the
// socket fails.
func ctListen(ctx context.Context, st *ConntrackEventStats, write func(ConntrackEvent) error) error {
	c, err := conntrack.Dial(nil)
	if err != nil {
		return fmt.Errorf("dial conntrack: %w", err)
	}
	// Best effort: a smaller buffer only makes overflows likelier.
	_ = c.SetReadBuffer(ctEventsReadBuffer)
	events := make(chan conntrack.Event, ctEventsQueue)
	errc, err := c.Listen(events, 1, []netfilter.NetlinkGroup{
		netfilter.GroupCTNew, netfilter.GroupCTUpdate, netfilter.GroupCTDestroy,
	})
	if err != nil {
		c.Close()
		return fmt.Errorf("listen for conntrack events: %w", err)
	}
	// Close ends the worker; it may be blocked sending an event, so drain
	// the channel until it has gone.
	closed := make(chan struct{})
	defer func() {
		go func() {
			c.Close()
			close(closed)
		}()
		for {
			select {
			case <-events:
			case <-errc:
			case <-closed:
				return
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			return err
		case ev := <-events:
			line, ok := ctEventLine(ev)
			if !ok {
				continue
			}
			switch line.Type {
			case "new":
				st.New++
			case "update":
				st.Update++
			case "destroy":
				st.Destroy++
			}
			st.Events++
			if err := write(line); err != nil {
				return &ctWriteError{err}
			}
		}
	}
}

// ctEventLine turns a flow event into a line; expectation events are not
// kept.
func ctEventLine(ev conntrack.Event) (ConntrackEvent, bool) {
	line := ConntrackEvent{Time: time.Now().UTC()}
	switch ev.Type {
	case conntrack.EventNew:
		line.Type = "new"
	case conntrack.EventUpdate:
		line.Type = "update"
	case conntrack.EventDestroy:
		line.Type = "destroy"
	default:
		return line, false
	}
	if ev.Flow == nil {
		return line, false
	}
	e := ConntrackEntryFromFlow(ev.Flow)
	line.Flow = &e
	if !ev.Flow.Timestamp.Stop.IsZero() {
		s := ev.Flow.Timestamp.Stop.UTC()
		line.Stop = &s
	}
	return line, true
}
