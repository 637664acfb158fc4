package capture

import (
	"errors"
	"testing"

	"github.com/vishvananda/netlink"
)

// TestRetryInterrupted checks that a dump the kernel flags as interrupted
// is asked again until it is not, that it gives up after dumpRetries with
// the last answer, and that another error is not retried.
func TestRetryInterrupted(t *testing.T) {
	calls := 0
	interruptedTwice := func() ([]int, error) {
		calls++
		if calls <= 2 {
			return []int{calls}, netlink.ErrDumpInterrupted
		}
		return []int{1, 2, 3}, nil
	}
	if got, err := retryInterrupted(interruptedTwice); err != nil || len(got) != 3 || calls != 3 {
		t.Errorf("interrupted twice: %v, %v after %d calls; want the third answer, no error, 3 calls", got, err, calls)
	}
	calls = 0
	always := func() ([]int, error) { calls++; return []int{calls}, netlink.ErrDumpInterrupted }
	if got, err := retryInterrupted(always); !errors.Is(err, netlink.ErrDumpInterrupted) || calls != dumpRetries || len(got) != 1 || got[0] != dumpRetries {
		t.Errorf("always interrupted: %v, %v after %d calls; want the last answer and the error after %d", got, err, calls, dumpRetries)
	}
	calls = 0
	other := errors.New("permission denied")
	failing := func() ([]int, error) { calls++; return nil, other }
	if _, err := retryInterrupted(failing); err != other || calls != 1 {
		t.Errorf("another error: %v after %d calls; want it after 1", err, calls)
	}
}
