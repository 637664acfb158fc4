package capture

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/dockcase/dockcase/internal/pcapfilter"
	"github.com/dockcase/dockcase/internal/pcapng"
	"golang.org/x/sys/unix"
)

// TestPcapngOldVsNew compares the collector's own block encoders with
// internal/pcapng's, the way capture calls them, over a table of inputs.
func TestPcapngOldVsNew(t *testing.T) {
	var u unix.Utsname
	unix.Uname(&u)
	uname := unix.ByteSliceToString(u.Sysname[:]) + " " + unix.ByteSliceToString(u.Release[:])
	long := strings.Repeat("abcdefghij", 30) + "xyz" // 303: odd, needs padding
	type tc struct {
		name     string
		old, new []byte
	}
	var cases []tc
	var golden strings.Builder
	add := func(name string, old, new []byte) {
		cases = append(cases, tc{name, old, new})
	}
	for _, app := range []string{"", "d", "dc", "dck", "dockcase", "dockcase 1.2.3-dev", long} {
		add(fmt.Sprintf("shb app %q", app), pcapngSectionHeader(app),
			pcapng.AppendSectionHeader(nil, pcapng.StringOption(pcapng.OptSHBUserApp, app), pcapng.StringOption(pcapng.OptSHBOS, uname)))
	}
	for _, lt := range []pcapfilter.LinkType{pcapfilter.LinkTypeEthernet, pcapfilter.LinkTypeRaw} {
		for _, snap := range []uint32{0, 96, 65535, 262144} {
			for _, name := range []string{"", "e", "eth0", "veth12345", long} {
				for _, desc := range []string{"", "uplink", "veth of container web-1 (0123456789ab)", "bad\x01\xffname", long + long} {
					for _, filter := range []string{"", "u", "udp", "udp port 53", "not (host 198.18.0.1 and tcp port 22)", long} {
						add(fmt.Sprintf("idb %d %d %q %q %q", lt, snap, name, desc, filter),
							pcapngInterfaceBlock(lt, snap, name, desc, filter),
							newInterfaceBlock(pcapng.LinkType(lt), snap, name, desc, filter))
					}
				}
			}
		}
	}
	start := time.Unix(1700000000, 123456789)
	for _, id := range []uint32{0, 1, 255, 1<<32 - 1} {
		for _, end := range []time.Time{start, start.Add(90 * time.Minute), time.Unix(0, 0), time.Unix(1<<33, 999999999)} {
			for _, cnt := range [][3]uint64{{0, 0, 0}, {10, 7, 2}, {1 << 40, 1, 1<<64 - 1}} {
				add(fmt.Sprintf("isb %d %v %v", id, end.UnixNano(), cnt),
					pcapngStatsBlock(id, start, end, cnt[0], cnt[1], cnt[2]),
					newStatsBlock(id, start, end, cnt[0], cnt[1], cnt[2]))
			}
		}
	}
	data := make([]byte, 1600)
	for i := range data {
		data[i] = byte(i*7 + 3)
	}
	for _, head := range [][]byte{nil, {}, data[:1], data[100:116]} {
		for _, n := range []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 14, 15, 60, 61, 1514, 1517} {
			for _, orig := range []uint32{0, 1, uint32(n), uint32(n + len(head) + 3), 1<<32 - 1} {
				for _, flags := range []uint32{0, 1, 2, 3, capDirection(0), capDirection(4), 1<<32 - 1} {
					for _, id := range []uint32{0, 3} {
						ts := uint64(1700000000123456789) + uint64(n)
						name := fmt.Sprintf("epb id %d head %d data %d orig %d flags %#x", id, len(head), n, orig, flags)
						if pcapngEPBBytes(len(head)+n) != pcapng.FlaggedPacketBytes(len(head)+n) {
							t.Errorf("%s: size %d, new %d", name, pcapngEPBBytes(len(head)+n), pcapng.FlaggedPacketBytes(len(head)+n))
						}
						// Into dirty buffers, so that padding is checked.
						po := bytes.Repeat([]byte{0xee}, pcapngEPBBytes(len(head)+n))
						pn := bytes.Repeat([]byte{0xee}, pcapngEPBBytes(len(head)+n))
						pcapngPutPacket(po, id, ts, head, data[:n], orig, flags)
						pcapng.PutFlaggedPacket(pn, id, ts, head, data[:n], orig, flags)
						add("put "+name, po, pn)
						add("append "+name, pcapngAppendPacket([]byte{1, 2, 3}, id, ts, head, data[:n], orig, flags),
							pcapng.AppendFlaggedPacket([]byte{1, 2, 3}, id, ts, head, data[:n], orig, flags))
					}
				}
			}
		}
	}
	for _, c := range cases {
		if !bytes.Equal(c.old, c.new) {
			t.Errorf("%s:\nold %x\nnew %x", c.name, c.old, c.new)
		}
	}
	t.Logf("%d cases compared", len(cases))
	if f := os.Getenv("PCAPNG_COMPARE_DUMP"); f != "" {
		for _, c := range cases {
			fmt.Fprintf(&golden, "%s\t%x\n", c.name, c.new)
		}
		os.WriteFile(f, []byte(golden.String()), 0o644)
	}
}

func newInterfaceBlock(lt pcapng.LinkType, snaplen uint32, name, desc, filter string) []byte {
	opts := []pcapng.Option{
		pcapng.StringOption(pcapng.OptIfName, name),
		pcapng.StringOption(pcapng.OptIfDescription, capLabel(desc)),
		{Code: pcapng.OptIfTSResol, Value: []byte{pcapng.TSResolNanoseconds}},
	}
	if filter != "" {
		opts = append(opts, pcapng.Option{Code: pcapng.OptIfFilter, Value: append([]byte{0}, filter...)})
	}
	return pcapng.AppendInterface(nil, lt, snaplen, opts...)
}

func newStatsBlock(id uint32, start, end time.Time, recv, drop, delivered uint64) []byte {
	return pcapng.AppendStatistics(nil, id, uint64(end.UnixNano()),
		pcapng.TimeOption(pcapng.OptISBStartTime, start.UnixNano()),
		pcapng.TimeOption(pcapng.OptISBEndTime, end.UnixNano()),
		pcapng.Uint64Option(pcapng.OptISBIfRecv, recv),
		pcapng.Uint64Option(pcapng.OptISBIfDrop, drop),
		pcapng.Uint64Option(pcapng.OptISBUsrDeliv, delivered))
}
