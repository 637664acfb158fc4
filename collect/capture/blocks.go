package capture

import (
	"time"

	"github.com/dockcase/dockcase/internal/pcapng"
	"golang.org/x/sys/unix"
)

// The capture's blocks, encoded by internal/pcapng: what the collector adds
// is which options it writes.

// sectionHeader is the Section Header Block naming app and the host's
// kernel, of unknown section length.
func sectionHeader(app string) []byte {
	opts := []pcapng.Option{pcapng.StringOption(pcapng.OptSHBUserApp, app)}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		opts = append(opts, pcapng.StringOption(pcapng.OptSHBOS, unix.ByteSliceToString(u.Sysname[:])+" "+unix.ByteSliceToString(u.Release[:])))
	}
	return pcapng.AppendSectionHeader(nil, opts...)
}

// interfaceBlock is an Interface Description Block with nanosecond
// timestamps; desc is bounded and made printable, since it may hold a
// container name.
func interfaceBlock(lt pcapng.LinkType, snaplen uint32, name, desc, filter string) []byte {
	opts := []pcapng.Option{
		pcapng.StringOption(pcapng.OptIfName, name),
		pcapng.StringOption(pcapng.OptIfDescription, capLabel(desc)),
		{Code: pcapng.OptIfTSResol, Value: []byte{pcapng.TSResolNanoseconds}},
	}
	if filter != "" {
		// The first byte 0 says: a libpcap filter string.
		opts = append(opts, pcapng.Option{Code: pcapng.OptIfFilter, Value: append([]byte{0}, filter...)})
	}
	return pcapng.AppendInterface(nil, lt, snaplen, opts...)
}

// statsBlock is an Interface Statistics Block with the kernel's counters
// and the packets written.
func statsBlock(id uint32, start, end time.Time, recv, drop, delivered uint64) []byte {
	return pcapng.AppendStatistics(nil, id, uint64(end.UnixNano()),
		pcapng.TimeOption(pcapng.OptISBStartTime, start.UnixNano()),
		pcapng.TimeOption(pcapng.OptISBEndTime, end.UnixNano()),
		pcapng.Uint64Option(pcapng.OptISBIfRecv, recv),
		pcapng.Uint64Option(pcapng.OptISBIfDrop, drop),
		pcapng.Uint64Option(pcapng.OptISBUsrDeliv, delivered))
}

// statsBlockBytes is the size of every block statsBlock writes (its options
// are of fixed size), reserved from the byte budget when an interface is
// added so that its statistics always fit.
var statsBlockBytes = len(statsBlock(0, time.Time{}, time.Time{}, 0, 0, 0))
