package docker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"time"
)

// StreamLimits bound what StreamEvents writes: the engine's event stream
// has no end of its own, and a host under attack may flood it (a container
// restarting in a loop makes several events a second).
type StreamLimits struct {
	MaxBytes int64 // of event lines written, newlines included; 0 is no bound
	MaxLines int   // 0 is no bound
}

// StreamStats says what StreamEvents wrote.
type StreamStats struct {
	Lines int   `json:"lines"`
	Bytes int64 `json:"bytes"`
	// Bounded says the stream was stopped at a limit of StreamLimits: the
	// events after it were not read.
	Bounded bool `json:"bounded,omitempty"`
}

// StreamEvents writes the engine's events from since on as they come, one
// JSON line each and verbatim, until ctx ends or a limit is reached, and
// calls on (when not nil) with each line after it was written. The end of
// ctx is the stream's normal end, not an error; an engine that refuses the
// stream or breaks it is.
func (d *Client) StreamEvents(ctx context.Context, since time.Time, w io.Writer, lim StreamLimits, on func(line []byte)) (StreamStats, error) {
	q := url.Values{}
	if !since.IsZero() {
		q.Set("since", UnixTime(since))
	}
	resp, err := d.Open(ctx, "/events", q)
	if err != nil {
		if ctx.Err() != nil {
			return StreamStats{}, nil
		}
		return StreamStats{}, fmt.Errorf("events stream: %w", err)
	}
	defer resp.Body.Close()
	st, err := copyEventLines(resp.Body, w, lim, on)
	if err != nil && ctx.Err() != nil {
		// Canceling ctx closes the body under the reader: that is the end
		// asked for, not a failure.
		err = nil
	}
	if err != nil {
		return st, fmt.Errorf("events stream: %w", err)
	}
	return st, nil
}

// copyEventLines copies JSON lines from r to w within lim. A line that is
// not JSON or longer than MaxEventBytes ends the copy with an error.
func copyEventLines(r io.Reader, w io.Writer, lim StreamLimits, on func([]byte)) (StreamStats, error) {
	var st StreamStats
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxEventBytes)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if !json.Valid(line) {
			return st, fmt.Errorf("line %d is not JSON: %q", st.Lines+1, line[:min(len(line), 80)])
		}
		if (lim.MaxLines > 0 && st.Lines >= lim.MaxLines) || (lim.MaxBytes > 0 && st.Bytes+int64(len(line))+1 > lim.MaxBytes) {
			st.Bounded = true
			return st, nil
		}
		out := append(line, '\n')
		if _, err := w.Write(out); err != nil {
			return st, fmt.Errorf("write: %w", err)
		}
		st.Lines++
		st.Bytes += int64(len(out))
		if on != nil {
			on(line)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return st, fmt.Errorf("line %d is longer than %d bytes", st.Lines+1, MaxEventBytes)
		}
		return st, err
	}
	return st, nil
}

// IsContainerID reports whether s is a full container ID: 64 lowercase hex
// digits. Event actors are attacker-influenced, and the ID names members.
func IsContainerID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return false
		}
	}
	return true
}
