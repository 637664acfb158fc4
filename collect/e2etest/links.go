package e2etest

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// linkLockName is the file every test process locks while it picks a /30
// for a link of its own and puts an address on it: the tests of several
// packages run at once, and two of them must never pick the same /30 (the
// route check before sending would then refuse, or worse, pass for the
// wrong link).
const linkLockName = "dockcase-test-links.lock"

// LinkPrefix picks a /30 of 198.18.0.0/16 that no address or route of the
// host's namespace overlaps, holding a lock shared by every test process
// until release is called. Call release once the test's address is on its
// link (or on failure): from then on the next picker sees the /30 in use.
func LinkPrefix() (p netip.Prefix, release func(), err error) {
	f, err := os.OpenFile(filepath.Join(os.TempDir(), linkLockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return netip.Prefix{}, nil, fmt.Errorf("test link lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return netip.Prefix{}, nil, fmt.Errorf("test link lock: %w", err)
	}
	release = func() {
		unix.Flock(int(f.Fd()), unix.LOCK_UN)
		f.Close()
	}
	for range maxAddrPicks {
		n := scenarioRandByte(1, 254)
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, byte(n), 0}), 30)
		used, err := hostPrefixInUse(p)
		if err != nil {
			release()
			return netip.Prefix{}, nil, err
		}
		if used == "" {
			return p, release, nil
		}
	}
	release()
	return netip.Prefix{}, nil, errors.New("no free 198.18.<n>.0/30 for a test link")
}
