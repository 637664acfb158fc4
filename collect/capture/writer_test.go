package capture

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// stallWriter lets the section header through, then blocks every write
// until release is closed, and counts what it was given.
type stallWriter struct {
	release chan struct{}
	n       atomic.Int64
	writes  atomic.Int64
}

func (w *stallWriter) Write(p []byte) (int, error) {
	if w.writes.Add(1) > 1 {
		<-w.release
	}
	w.n.Add(int64(len(p)))
	return len(p), nil
}

// TestCaptureWriterStall stalls the writer (as a bundle's compression or
// disk can) while the veth carries more than its ring holds: the readers
// keep emptying the ring into the writer's queue, so the kernel drops
// nothing; once the queue is full too (its 128 MiB and the ring's 32 MiB
// behind), the readers wait, the kernel drops, and the drops are counted.
func TestCaptureWriterStall(t *testing.T) {
	for _, tc := range []struct {
		name      string
		datagrams int
		drops     bool
	}{
		{"more than the ring", 36_000, false}, // ~50 MiB
		{"more than the queue and the ring", 150_000, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newCapTestLink(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			w := &stallWriter{release: make(chan struct{})}
			released := false
			release := func() {
				if !released {
					close(w.release)
					released = true
				}
			}
			defer release()
			var res Result
			var err error
			done := make(chan struct{})
			go func() {
				defer close(done)
				res, err = Run(ctx, w, Options{Ifaces: []string{l.host}, NoDocker: true, MaxBytes: 1 << 30})
			}()
			time.Sleep(300 * time.Millisecond) // the ring is bound
			c, cerr := net.ListenUDP("udp4", &net.UDPAddr{IP: l.hostAddr})
			if cerr != nil {
				t.Fatal(cerr)
			}
			c.SetWriteBuffer(4 << 20)
			dst := &net.UDPAddr{IP: l.peerAddr, Port: 9}
			payload := make([]byte, 1400-42)
			sent := 0
			for range tc.datagrams {
				if _, err := c.WriteToUDP(payload, dst); err == nil {
					sent++
				}
			}
			c.Close()
			time.Sleep(3 * captureBlockTimeout) // the last block retires
			if got := w.writes.Load(); got > 2 {
				t.Fatalf("the writer took %d writes while it stalled", got)
			}
			release()
			cancel()
			<-done
			if err != nil {
				t.Fatalf("Run = %v", err)
			}
			t.Logf("sent %d, captured %d, kernel received %d, dropped %d; %d MiB written", sent, res.Packets, res.Received, res.Dropped, w.n.Load()>>20)
			if sent < tc.datagrams*9/10 {
				t.Fatalf("sent only %d datagrams of %d", sent, tc.datagrams)
			}
			if res.Packets+res.Dropped != res.Received {
				t.Errorf("captured %d + dropped %d != received %d", res.Packets, res.Dropped, res.Received)
			}
			if !tc.drops && (res.Dropped != 0 || res.Packets < uint64(sent)) {
				t.Errorf("%d captured and %d dropped of %d sent while the writer stalled; want none dropped", res.Packets, res.Dropped, sent)
			}
			if tc.drops {
				queued := uint64(captureQueueBatches*captureBatchBytes) / 1432
				if res.Dropped == 0 || res.Packets < queued {
					t.Errorf("%d captured and %d dropped of %d sent; want drops, and at least the %d packets the queue holds captured", res.Packets, res.Dropped, sent, queued)
				}
			}
		})
	}
}
