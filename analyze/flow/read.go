package flow

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"

	"github.com/dockcase/dockcase/internal/packet"
	"github.com/dockcase/dockcase/internal/pcapng"
)

// Read reads one pcap or pcapng stream to its end and returns its flows,
// per-interface counters, DNS log and problems. member names the capture in the
// evidence and sha256 is its hash. It returns an error only when the stream is not
// a capture at all; a capture cut short or malformed later returns what was read
// before, with the error in Capture.Err.
//
// Reading runs on two goroutines: one reads and decodes the records, the
// caller's counts them into the table, with batches of decoded records
// between them. The table's work is mostly waiting on memory (a flow's state
// is rarely in cache), the reader's mostly copying and parsing, so on two
// cores the pipeline runs close to the speed of reading alone.
func Read(r io.Reader, member, sha256 string, opts Options) (*Capture, error) {
	c, err := pcapng.NewReader(bufio.NewReaderSize(r, readBufferBytes), member)
	if err != nil {
		return nil, fmt.Errorf("read flows: %w", err)
	}
	t := NewTable(member, sha256, opts)
	full := make(chan *batch, batchCount)
	free := make(chan *batch, batchCount)
	for range batchCount {
		free <- &batch{evs: make([]event, 0, batchEvents)}
	}
	go decodeBatches(c, free, full)
	var readErr error
	for b := range full {
		t.applyBatch(b)
		if b.err != nil {
			readErr = b.err
		}
		free <- b
	}
	res := t.Result(c)
	if readErr != nil {
		res.Err = readErr
		res.Problems = append(res.Problems, readErr.Error())
	}
	return res, nil
}

// Batches between the decoding and the counting goroutine of Read:
// sixteen of up to 1024 records (72 KiB of events) and 512 KiB of payload
// bytes (plus the one payload that crossed the mark) each, so that neither
// side waits on the other for long and memory stays bounded (under 10 MiB)
// whatever the capture holds.
const (
	batchCount      = 16
	batchEvents     = 1024
	batchArenaBytes = 512 << 10
)

// batch is a run of decoded records and the payload bytes the table must
// see, copied out of the reader's buffer (payloads[i] belongs to the event
// evs[payloads[i].ev]). err, on the last batch, is the error that ended the
// capture (io.EOF excluded).
type batch struct {
	evs      []event
	payloads []batchPayload
	arena    []byte
	err      error
}

type batchPayload struct {
	ev     int32
	off, n uint32
}

// decodeBatches reads and decodes c into batches taken from free and sent to
// full, which it closes at the end of the capture.
func decodeBatches(c *pcapng.Reader, free <-chan *batch, full chan<- *batch) {
	defer close(full)
	var p packet.Packet
	b := <-free
	for {
		rec, err := c.Next()
		if err != nil {
			if err != io.EOF {
				b.err = err
			}
			full <- b
			return
		}
		b.evs = append(b.evs, event{})
		if payload := decodeEvent(&rec, &p, &b.evs[len(b.evs)-1]); payload != nil {
			b.payloads = append(b.payloads, batchPayload{ev: int32(len(b.evs) - 1), off: uint32(len(b.arena)), n: uint32(len(payload))})
			b.arena = append(b.arena, payload...)
		}
		if len(b.evs) == cap(b.evs) || len(b.arena) >= batchArenaBytes {
			full <- b
			b = <-free
			b.evs, b.payloads, b.arena = b.evs[:0], b.payloads[:0], b.arena[:0]
		}
	}
}

// applyBatch counts the records of b.
func (t *Table) applyBatch(b *batch) {
	next := 0
	for i := range b.evs {
		var payload []byte
		if next < len(b.payloads) && int(b.payloads[next].ev) == i {
			pl := b.payloads[next]
			payload = b.arena[pl.off : pl.off+pl.n]
			next++
		}
		t.apply(&b.evs[i], payload)
	}
}

// Input is one capture for ReadAll: its name in the evidence, its
// SHA-256, and how to open it (each input is opened once, by the goroutine that
// reads it, and closed when read).
//
// Sum, when set, gives the SHA-256 of an input hashed as it is read (once
// its reader is closed), instead of SHA256: ReadAll puts it in the Capture
// and its Points when the read is done ("": the input did not open). An
// error from Sum (the file could not be read to its end) ends the capture
// with that error.
//
// Interfaces, when set, are the interfaces a reading of the input to its
// end (or to the break that ended it) found, in order: Extract writes
// their blocks for an input it has no flow to take packets from without
// reading it again.
type Input struct {
	Member     string
	SHA256     string
	Open       func() (io.ReadCloser, error)
	Sum        func() (string, error)
	Interfaces []pcapng.Interface
}

// Set is the merge of several captures' flows.
type Set struct {
	// Captures has one entry per input, in input order; an input that could not
	// be opened or is not a capture has Err set and nothing else.
	Captures []*Capture
	// Flows points into the captures' flows, ordered by first packet time, then
	// member order and frame.
	Flows []*Record
	// DNS points into the captures' DNS logs, ordered by time.
	DNS []*DNSResponse
}

// ReadAll reads several captures concurrently, one goroutine per capture
// and at most GOMAXPROCS at a time, and merges their flows. Each table's bound is
// opts.MaxFlows divided by the number of captures read at once, so the live flows
// of all tables stay within the one bound; the results of finished captures are
// kept in memory. Unreadable inputs are reported in their Capture.Err, never
// fatal.
func ReadAll(inputs []Input, opts Options) *Set {
	workers := min(runtime.GOMAXPROCS(0), len(inputs))
	per := opts
	if per.MaxFlows <= 0 {
		per.MaxFlows = DefaultMaxFlows
	}
	if workers > 1 {
		per.MaxFlows /= workers
	}
	set := &Set{Captures: make([]*Capture, len(inputs))}
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				set.Captures[i] = readInput(inputs[i], per)
			}
		}()
	}
	for i := range inputs {
		next <- i
	}
	close(next)
	wg.Wait()

	var nFlows, nDNS int
	for _, c := range set.Captures {
		nFlows, nDNS = nFlows+len(c.Flows), nDNS+len(c.DNS)
	}
	set.Flows, set.DNS = make([]*Record, 0, nFlows), make([]*DNSResponse, 0, nDNS)
	for _, c := range set.Captures {
		for i := range c.Flows {
			set.Flows = append(set.Flows, &c.Flows[i])
		}
		for i := range c.DNS {
			set.DNS = append(set.DNS, &c.DNS[i])
		}
	}
	// Stable sorts keep member order and, within a member, frame order for
	// ties. A single capture's flows are usually in time order already.
	byFirst := func(a, b *Record) int { return cmp.Compare(a.First, b.First) }
	if !slices.IsSortedFunc(set.Flows, byFirst) {
		slices.SortStableFunc(set.Flows, byFirst)
	}
	byTime := func(a, b *DNSResponse) int { return cmp.Compare(a.Time, b.Time) }
	if !slices.IsSortedFunc(set.DNS, byTime) {
		slices.SortStableFunc(set.DNS, byTime)
	}
	return set
}

func readInput(in Input, opts Options) *Capture {
	res := readOpened(in, opts)
	if in.Sum == nil {
		return res
	}
	sum, err := in.Sum()
	if err != nil {
		if res.Err == nil {
			res.Err = err
		}
		res.Problems = append(res.Problems, err.Error())
		return res
	}
	if sum == "" {
		return res // never opened: res.Err says why
	}
	res.SHA256 = sum
	for _, p := range res.Points {
		p.SHA256 = sum
	}
	return res
}

// readOpened opens in, reads its flows and closes it.
func readOpened(in Input, opts Options) (res *Capture) {
	fail := func(err error) *Capture {
		return &Capture{Member: in.Member, SHA256: in.SHA256, Err: err, Problems: []string{err.Error()}}
	}
	if in.Open == nil {
		return fail(fmt.Errorf("read flows of %q: no opener", in.Member))
	}
	rc, err := in.Open()
	if err != nil {
		return fail(fmt.Errorf("open %q: %w", in.Member, err))
	}
	defer func() {
		if err := rc.Close(); err != nil && res.Err == nil {
			res.Err = fmt.Errorf("close %q: %w", in.Member, err)
			res.Problems = append(res.Problems, res.Err.Error())
		}
	}()
	res, err = Read(rc, in.Member, in.SHA256, opts)
	if err != nil {
		return fail(err)
	}
	return res
}
