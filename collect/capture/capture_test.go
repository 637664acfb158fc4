package capture

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dockcase/dockcase/collect/e2etest"
	"github.com/dockcase/dockcase/collect/host"
	"github.com/dockcase/dockcase/internal/pcapfilter"
	"github.com/dockcase/dockcase/internal/pcapng"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// capTestTshark runs tshark on a file and returns its field lines.
func capTestTshark(t *testing.T, file string, args ...string) []string {
	t.Helper()
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed")
	}
	out, err := exec.Command("tshark", append([]string{"-r", file, "-n"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("tshark -r %s %v: %v\n%s", file, args, err, out)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" && !strings.Contains(l, "Running as user") {
			lines = append(lines, l)
		}
	}
	return lines
}

// TestPcapngWriterReadByTshark writes a file by hand and checks that
// tshark, capinfos and gopacket's reader see what was written.
func TestPcapngWriterReadByTshark(t *testing.T) {
	var buf bytes.Buffer
	buf.Write(sectionHeader("dockcase test"))
	buf.Write(interfaceBlock(pcapng.LinkTypeEthernet, 262144, "dcqeth0", "veth of container web-1 (0123456789ab)", "udp port 53"))
	buf.Write(interfaceBlock(pcapng.LinkTypeRaw, 65535, "dcqtun0", "uplink", ""))
	udp := capTestUDPv4(net.IPv4(198, 18, 0, 1), net.IPv4(198, 18, 0, 2), 40000, 53, []byte("hello"))
	eth := append([]byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00}, udp...)
	ts1 := uint64(1_700_000_000_123_456_789)
	ts2 := ts1 + 1
	var b []byte
	b = pcapng.AppendFlaggedPacket(b, 0, ts1, nil, eth, uint32(len(eth)), capDirection(4))
	// A VLAN tag put back in front of the EtherType, as the reader does.
	tag := append(append([]byte{}, eth[:12]...), 0x81, 0x00, 0x00, 0x07)
	b = pcapng.AppendFlaggedPacket(b, 0, ts1+500, tag, eth[12:], uint32(len(eth)+4), capDirection(0))
	// Raw IP, truncated to 20 bytes of a longer packet.
	b = pcapng.AppendFlaggedPacket(b, 1, ts2, nil, udp[:20], uint32(len(udp)), capDirection(0))
	buf.Write(b)
	start := time.Unix(0, int64(ts1)-int64(time.Second))
	buf.Write(statsBlock(0, start, time.Unix(0, int64(ts2)), 10, 7, 2))
	buf.Write(statsBlock(1, start, time.Unix(0, int64(ts2)), 1, 0, 1))
	file := filepath.Join(t.TempDir(), "t.pcapng")
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	got := capTestTshark(t, file, "-T", "fields", "-E", "separator=|",
		"-e", "frame.interface_name", "-e", "frame.interface_description", "-e", "frame.time_epoch",
		"-e", "frame.len", "-e", "frame.cap_len", "-e", "ip.src", "-e", "udp.dstport", "-e", "vlan.id", "-e", "frame.packet_flags_direction")
	want := []string{
		"dcqeth0|veth of container web-1 (0123456789ab)|1700000000.123456789|47|47|198.18.0.1|53||0x00000002",
		"dcqeth0|veth of container web-1 (0123456789ab)|1700000000.123457289|51|51|198.18.0.1|53|7|0x00000001",
		"dcqtun0|uplink|1700000000.123456790|33|20|198.18.0.1|||0x00000001",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("tshark fields =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	out, err := exec.Command("capinfos", "-I", "-M", file).CombinedOutput()
	if err != nil {
		t.Fatalf("capinfos: %v\n%s", err, out)
	}
	for _, w := range []string{"Name = dcqeth0", "Name = dcqtun0", "Encapsulation = Ethernet", "Encapsulation = Raw IP",
		"Time precision = nanoseconds", "Capture length = 262144", "Number of stat entries = 1", "Filter string = udp port 53"} {
		if !strings.Contains(string(out), w) {
			t.Errorf("capinfos -I lacks %q:\n%s", w, out)
		}
	}

	// gopacket's reader gives the statistics blocks' counters.
	r, err := pcapgo.NewNgReader(bytes.NewReader(buf.Bytes()), pcapgo.NgReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, _, err := r.ReadPacketData(); err != nil {
			break
		}
	}
	intf, err := r.Interface(0)
	if err != nil {
		t.Fatal(err)
	}
	if st := intf.Statistics; st.PacketsReceived != 10 || st.PacketsDropped != 7 || st.LastUpdate.UnixNano() != int64(ts2) {
		t.Errorf("interface 0 statistics = %+v, want received 10, dropped 7, at %d", st, ts2)
	}
}

func TestCapDirection(t *testing.T) {
	for _, tc := range []struct {
		pkttype uint8
		want    uint32
	}{{0, 0x5}, {1, 0xd}, {2, 0x9}, {3, 0x11}, {4, 0x2}, {7, 0}} {
		if got := capDirection(tc.pkttype); got != tc.want {
			t.Errorf("capDirection(%d) = %#x, want %#x", tc.pkttype, got, tc.want)
		}
	}
}

func TestCapProgramSnaplen(t *testing.T) {
	for _, tc := range []struct {
		expr    string
		snaplen int
	}{{"", 96}, {"udp port 53", 128}, {"host 198.18.0.1 or tcp", 262144}} {
		prog, err := capProgram(tc.expr, pcapng.LinkTypeEthernet, tc.snaplen)
		if err != nil {
			t.Fatalf("capProgram(%q) = %v", tc.expr, err)
		}
		accepts := 0
		for _, in := range prog {
			if in.Code == 0x06 && in.K != 0 {
				accepts++
				if in.K != uint32(tc.snaplen) {
					t.Errorf("capProgram(%q, snaplen %d): ret #%d, want #%d", tc.expr, tc.snaplen, in.K, tc.snaplen)
				}
			}
		}
		if accepts == 0 {
			t.Errorf("capProgram(%q) has no accepting return", tc.expr)
		}
	}
	if err := CheckFilter("host 198.18.0.1 and port 80"); err != nil {
		t.Errorf("CheckFilter(valid) = %v", err)
	}
	var fe *pcapfilter.Error
	if err := CheckFilter("ether host 02:00:00:00:00:01"); !errors.As(err, &fe) {
		t.Errorf("CheckFilter(outside the subset) = %v, want a *pcapfilter.Error", err)
	}
}

func TestCapLabel(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"veth of container web-1 (0123456789ab)", "veth of container web-1 (0123456789ab)"},
		{"evil\x1b[31m\nname", "evil?[31m?name"},
		{strings.Repeat("a", 300), strings.Repeat("a", captureMaxLabelBytes)},
	} {
		if got := capLabel(tc.in); got != tc.want {
			t.Errorf("capLabel(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestCaptureBlocks pins the options the capture writes in its interface
// and statistics blocks (the bytes are internal/pcapng's golden ones, which
// the collector's own encoders wrote before it used internal/pcapng), and
// that the statistics reserve is the size of every statistics block.
func TestCaptureBlocks(t *testing.T) {
	start := time.Unix(1700000000, 123456789)
	for _, tc := range []struct {
		name string
		got  []byte
		want string
	}{
		{"interface", interfaceBlock(pcapng.LinkTypeEthernet, 96, "veth12345", "veth of container web-1 (0123456789ab)", "udp port 53"),
			"010000006c0000000100000060000000020009007665746831323334350000000300260076657468206f6620636f6e7461696e6572207765622d31202830313233343536373839616229000009000100090000000b000c000075647020706f7274203533000000006c000000"},
		{"statistics", statsBlock(1, start, start.Add(90*time.Minute), 10, 7, 2),
			"050000005800000001000000e7a1971715bd9a8602000800fe9c971715cd853d03000800e7a1971715bd9a86040008000a000000000000000500080007000000000000000800080002000000000000000000000058000000"},
	} {
		if got := hex.EncodeToString(tc.got); got != tc.want {
			t.Errorf("%s block:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
	if n := len(statsBlock(7, start, time.Now(), 1<<40, 1, 1<<63)); n != statsBlockBytes || n != 88 {
		t.Errorf("statistics block of %d bytes, statsBlockBytes %d, want 88", n, statsBlockBytes)
	}
}

// capTestUDPv4 builds an IPv4 UDP packet (checksums left zero).
func capTestUDPv4(src, dst net.IP, sport, dport uint16, payload []byte) []byte {
	ip := make([]byte, 28+len(payload))
	ip[0] = 0x45
	total := len(ip)
	ip[2], ip[3] = byte(total>>8), byte(total)
	ip[8] = 64
	ip[9] = 17
	copy(ip[12:16], src.To4())
	copy(ip[16:20], dst.To4())
	ip[20], ip[21] = byte(sport>>8), byte(sport)
	ip[22], ip[23] = byte(dport>>8), byte(dport)
	l := 8 + len(payload)
	ip[24], ip[25] = byte(l>>8), byte(l)
	copy(ip[28:], payload)
	return ip
}

// capTestLink is a veth pair made for a test: the host end in the host's
// namespace, the peer in a namespace of its own, on a free 198.18.<n>.0/30
// (e2etest.LinkPrefix).
type capTestLink struct {
	ns, host, peer string
	hostAddr       net.IP
	peerAddr       net.IP
}

func capTestIP(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func newCapTestLink(t *testing.T) *capTestLink {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("AF_PACKET capture needs root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs the ip command")
	}
	var r [2]byte
	rand.Read(r[:])
	id := hex.EncodeToString(r[:])
	p, release, err := e2etest.LinkPrefix()
	if err != nil {
		t.Fatal(err)
	}
	a := p.Addr().As4()
	l := &capTestLink{ns: "dcq-" + id, host: "dcqh" + id, peer: "dcqp" + id,
		hostAddr: net.IPv4(a[0], a[1], a[2], 1), peerAddr: net.IPv4(a[0], a[1], a[2], 2)}
	t.Cleanup(func() {
		exec.Command("ip", "link", "del", l.host).Run()
		exec.Command("ip", "netns", "del", l.ns).Run()
	})
	func() {
		defer release() // once the host address is on the veth
		capTestIP(t, "netns", "add", l.ns)
		capTestIP(t, "link", "add", l.host, "type", "veth", "peer", "name", l.peer, "netns", l.ns)
		capTestIP(t, "addr", "add", l.hostAddr.String()+"/30", "dev", l.host)
	}()
	capTestIP(t, "link", "set", l.host, "up")
	capTestIP(t, "-n", l.ns, "addr", "add", l.peerAddr.String()+"/30", "dev", l.peer)
	capTestIP(t, "-n", l.ns, "link", "set", l.peer, "up")
	capTestIP(t, "-n", l.ns, "link", "set", "lo", "up")
	// The hard rule: nothing is sent before the route is ours.
	capTestCheckRoute(t, l.peerAddr, l.host)
	return l
}

// capTestCheckRoute fails the test unless dst is reached through dev directly.
func capTestCheckRoute(t *testing.T, dst net.IP, dev string) {
	t.Helper()
	out := capTestIP(t, "route", "get", dst.String())
	f := strings.Fields(out)
	got := ""
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "dev" {
			got = f[i+1]
		}
		if f[i] == "via" {
			t.Fatalf("ip route get %s goes via a gateway: %s", dst, out)
		}
	}
	if got != dev {
		t.Fatalf("ip route get %s = %q, want dev %s; refusing to send", dst, out, dev)
	}
}

// send sends count UDP datagrams to the peer, each payload naming its
// port and number.
func (l *capTestLink) send(t *testing.T, port, count int) {
	t.Helper()
	// Unconnected, so that the peer's port unreachable is not an error.
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: l.hostAddr})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dst := &net.UDPAddr{IP: l.peerAddr, Port: port}
	for i := range count {
		if _, err := c.WriteToUDP(fmt.Appendf(nil, "dcq-%d-%d", port, i), dst); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCaptureAFPacket captures on a real veth next to tcpdump, with and
// without a filter, and checks both saw the same datagrams.
func TestCaptureAFPacket(t *testing.T) {
	l := newCapTestLink(t)
	if _, err := exec.LookPath("tcpdump"); err != nil {
		t.Skip("tcpdump not installed")
	}
	for _, tc := range []struct {
		filter string
		want   map[int]int // port → datagrams expected
	}{
		{"", map[int]int{7001: 50, 7002: 30}},
		{"udp and dst port 7001", map[int]int{7001: 50}},
	} {
		t.Run(fmt.Sprintf("filter %q", tc.filter), func(t *testing.T) {
			dir := t.TempDir()
			ref := filepath.Join(dir, "tcpdump.pcap")
			args := []string{"-i", l.host, "-w", ref, "-n", "-U"}
			if tc.filter != "" {
				args = append(args, tc.filter)
			}
			td := exec.Command("tcpdump", args...)
			tdErr, err := td.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := td.Start(); err != nil {
				t.Fatal(err)
			}
			listening := make(chan struct{})
			go func() {
				sc := bufio.NewScanner(tdErr)
				once := sync.Once{}
				for sc.Scan() {
					if strings.Contains(sc.Text(), "listening on") {
						once.Do(func() { close(listening) })
					}
				}
			}()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var out bytes.Buffer
			var res Result
			var capErr error
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, capErr = Run(ctx, &out, Options{Ifaces: []string{l.host}, Filter: tc.filter, NoDocker: true})
			}()
			// Both must be listening before anything is sent.
			select {
			case <-listening:
			case <-time.After(10 * time.Second):
				t.Fatal("tcpdump is not listening after 10s")
			}
			time.Sleep(300 * time.Millisecond)
			l.send(t, 7001, 50)
			l.send(t, 7002, 30)
			// tcpdump loses what it has not read from its ring when it is
			// interrupted: on a loaded host, wait until it wrote everything.
			want := 0
			for _, n := range tc.want {
				want += n
			}
			for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
				out, _ := exec.Command("tshark", "-r", ref, "-Y", "udp && !icmp", "-T", "fields", "-e", "udp.dstport").Output()
				if bytes.Count(out, []byte("\n")) >= want {
					break
				}
			}
			cancel()
			wg.Wait()
			td.Process.Signal(os.Interrupt)
			td.Wait()
			if capErr != nil {
				t.Fatalf("Capture = %v", capErr)
			}
			if res.StopReason != StopInterrupted || len(res.Interfaces) != 1 || res.Interfaces[0].Name != l.host {
				t.Fatalf("result: stop %q, interfaces %+v", res.StopReason, res.Interfaces)
			}
			it := res.Interfaces[0]
			if it.Dropped != 0 || it.Received != it.Captured || it.Captured == 0 {
				t.Errorf("kernel counters: received %d dropped %d, captured %d", it.Received, it.Dropped, it.Captured)
			}
			if res.Bytes != int64(out.Len()) {
				t.Errorf("result says %d bytes, %d written", res.Bytes, out.Len())
			}
			file := filepath.Join(dir, "dockcase.pcapng")
			os.WriteFile(file, out.Bytes(), 0o644)

			fields := []string{"-Y", "udp && !icmp", "-T", "fields", "-e", "udp.dstport", "-e", "data.data"}
			ours := capTestTshark(t, file, fields...)
			theirs := capTestTshark(t, ref, fields...)
			if strings.Join(ours, "\n") != strings.Join(theirs, "\n") {
				t.Errorf("dockcase saw %d datagrams, tcpdump %d; they differ:\nours %q\ntcpdump %q", len(ours), len(theirs), ours, theirs)
			}
			count := map[int]int{}
			for _, line := range ours {
				port, _ := strconv.Atoi(strings.Fields(line)[0])
				count[port]++
			}
			for port, n := range tc.want {
				if count[port] != n {
					t.Errorf("port %d: %d datagrams captured, want %d", port, count[port], n)
				}
			}
			if len(count) != len(tc.want) {
				t.Errorf("ports captured %v, want %v", count, tc.want)
			}
			dirs := capTestTshark(t, file, "-Y", "udp && !icmp", "-T", "fields", "-e", "frame.interface_name", "-e", "frame.packet_flags_direction")
			for _, d := range dirs {
				if d != l.host+"\t0x00000002" {
					t.Errorf("a datagram sent to the peer has interface and direction %q, want %s outbound (0x00000002)", d, l.host)
					break
				}
			}
		})
	}
}

// TestCaptureMaxBytes stops at the limit with a well-formed file.
func TestCaptureMaxBytes(t *testing.T) {
	l := newCapTestLink(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out bytes.Buffer
	const limit = 8 << 10
	done := make(chan struct{})
	var res Result
	var err error
	go func() {
		defer close(done)
		res, err = Run(ctx, &out, Options{Ifaces: []string{l.host}, MaxBytes: limit, NoDocker: true})
	}()
	time.Sleep(300 * time.Millisecond)
	for i := 0; i < 100; i++ {
		select {
		case <-done:
		default:
			l.send(t, 7003, 10)
			time.Sleep(20 * time.Millisecond)
			continue
		}
		break
	}
	<-done
	if err != nil {
		t.Fatalf("Capture = %v", err)
	}
	if res.StopReason != StopMaxBytes || out.Len() > limit || res.OverLimit == 0 {
		t.Fatalf("stop %q, %d bytes written (limit %d), %d over the limit", res.StopReason, out.Len(), limit, res.OverLimit)
	}
	file := filepath.Join(t.TempDir(), "c.pcapng")
	os.WriteFile(file, out.Bytes(), 0o644)
	got := capTestTshark(t, file, "-T", "fields", "-e", "frame.interface_name")
	if uint64(len(got)) != res.Packets || len(got) == 0 {
		t.Errorf("tshark reads %d packets, the capture wrote %d", len(got), res.Packets)
	}
}

// capTestCapture captures on iface while send runs, then reads the UDP
// datagrams of the file back with tshark's -T fields args.
func capTestCapture(t *testing.T, iface string, send func(), fields ...string) (Result, []string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out bytes.Buffer
	var res Result
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		res, err = Run(ctx, &out, Options{Ifaces: []string{iface}, NoDocker: true})
	}()
	time.Sleep(300 * time.Millisecond)
	send()
	cancel()
	<-done
	if err != nil {
		t.Fatalf("Capture = %v", err)
	}
	file := filepath.Join(t.TempDir(), "c.pcapng")
	if err := os.WriteFile(file, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return res, capTestTshark(t, file, append([]string{"-Y", "udp && !icmp", "-T", "fields"}, fields...)...)
}

// TestCaptureVLAN captures 802.1Q-tagged frames arriving on the veth. The
// kernel takes the tag off into the packet's metadata before capture
// sees it; the file must show it where it was on the wire.
func TestCaptureVLAN(t *testing.T) {
	l := newCapTestLink(t)
	host, err := net.InterfaceByName(l.host)
	if err != nil {
		t.Fatal(err)
	}
	var frames [][]byte
	var want []string
	for i := range 5 {
		payload := fmt.Appendf(nil, "dcq-7006-%d", i)
		f := append([]byte{}, host.HardwareAddr...)
		f = append(f, 0x02, 0, 0, 0, 0, 0x07, 0x81, 0x00, 0x00, 0x07, 0x08, 0x00)
		f = append(f, capTestUDPv4(l.peerAddr, l.hostAddr, 40000, 7006, payload)...)
		frames = append(frames, f)
		want = append(want, fmt.Sprintf("7\t%d\t%s\t7006\t%s", len(f), l.hostAddr, hex.EncodeToString(payload)))
	}
	_, got := capTestCapture(t, l.host, func() { capTestSendFrames(t, l.ns, l.peer, frames) },
		"-e", "vlan.id", "-e", "frame.len", "-e", "ip.dst", "-e", "udp.dstport", "-e", "data.data")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("tagged frames (vlan.id, frame.len, ip.dst, udp.dstport, data) =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// capTestSendFrames sends Ethernet frames as they are out of iface in the
// namespace ns.
func capTestSendFrames(t *testing.T, ns, iface string, frames [][]byte) {
	t.Helper()
	err := capInNetns(ns, func() error {
		ifi, err := net.InterfaceByName(iface)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		for _, f := range frames {
			to := &unix.SockaddrLinklayer{Ifindex: ifi.Index, Halen: 6}
			copy(to.Addr[:], f[:6])
			if err := unix.Sendto(fd, f, 0, to); err != nil {
				return fmt.Errorf("send a frame on %s: %w", iface, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("in namespace %s: %v", ns, err)
	}
}

// TestCaptureLinkDownUp keeps capturing on an interface that goes down
// and comes back: the kernel unhooks the socket and sets ENETDOWN on it
// meanwhile, which must not end the capture of the interface.
func TestCaptureLinkDownUp(t *testing.T) {
	l := newCapTestLink(t)
	res, got := capTestCapture(t, l.host, func() {
		l.send(t, 7004, 20)
		time.Sleep(200 * time.Millisecond)
		capTestIP(t, "link", "set", l.host, "down")
		time.Sleep(500 * time.Millisecond)
		capTestIP(t, "link", "set", l.host, "up")
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if out, _ := exec.Command("ip", "route", "get", l.peerAddr.String()).CombinedOutput(); strings.Contains(string(out), " dev "+l.host+" ") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no route to %s through %s 5s after it came up", l.peerAddr, l.host)
			}
		}
		capTestCheckRoute(t, l.peerAddr, l.host)
		l.send(t, 7005, 20)
	}, "-e", "udp.dstport")
	count := map[string]int{}
	for _, port := range got {
		count[port]++
	}
	if count["7004"] != 20 || count["7005"] != 20 {
		t.Errorf("datagrams by port = %v, want 20 to 7004 before the link went down and 20 to 7005 after", count)
	}
	if len(res.Interfaces) != 1 || res.Interfaces[0].Removed != nil || res.Interfaces[0].Dropped != 0 {
		t.Errorf("interfaces = %+v, want %s captured throughout with no drops", res.Interfaces, l.host)
	}
}

// TestCapDiscoveryNamespaceReuse checks that the capture's map from network
// namespace to container does not outlive the process that proved it. The
// kernel hands a freed namespace's inode number to the next namespace, so a
// container stopped during a capture and one started after it can share
// one: CI once saw the new beacon's veth named as the stopped container's.
func TestCapDiscoveryNamespaceReuse(t *testing.T) {
	sc := e2etest.NewScenario(t, e2etest.ScenarioOptions{})
	b := sc.Beacon
	ino, err := host.NetNSInode(b.Pid)
	if err != nil {
		t.Fatal(err)
	}
	start, err := capProcStart(b.Pid)
	if err != nil {
		t.Fatal(err)
	}
	self, err := capProcStart(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	const stale = "5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e"
	d := newCapDiscovery(context.Background(), Options{NoDocker: true})
	defer d.close()
	for _, tt := range []struct {
		name  string
		owner capNSOwner
		want  string
	}{
		{"witness exited", capNSOwner{container: stale, pid: 1 << 22, start: start}, b.ID},
		{"witness in another namespace", capNSOwner{container: stale, pid: os.Getpid(), start: self}, b.ID},
		{"witness pid reused", capNSOwner{container: stale, pid: b.Pid, start: start + 1}, b.ID},
		// While the witness holds, the cache is used and cgroups are not
		// read again: the made-up id comes back.
		{"witness holds", capNSOwner{container: stale, pid: b.Pid, start: start}, stale},
	} {
		d.nsContainer = map[uint64]capNSOwner{ino: tt.owner}
		if got := d.nsOwner(b.Pid, ino); got != tt.want {
			t.Errorf("%s: nsOwner = %.12s, want %.12s", tt.name, got, tt.want)
		}
	}

	// Through a scan: the beacon's veth end is found under its own id.
	d.nsContainer = map[uint64]capNSOwner{ino: {container: stale, pid: 1 << 22, start: start}}
	d.scan()
	found := false
	for _, p := range d.peers {
		if p.container == stale {
			t.Errorf("scan kept the stale owner for a veth end (index %d, host %d)", p.index, p.hostIndex)
		}
		found = found || p.container == b.ID
	}
	if !found {
		t.Errorf("scan found no veth end of the beacon %.12s among %d", b.ID, len(d.peers))
	}
	if o := d.nsContainer[ino]; o.container != b.ID || o.start == 0 {
		t.Errorf("cache after scan = %+v, want the beacon %.12s with a witness", o, b.ID)
	}
}

// newCapTestVeth makes a veth pair in the host's namespace, with no address
// and down, and returns one end's name: an interface to open and delete,
// on which nothing is sent.
func newCapTestVeth(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("AF_PACKET capture needs root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs the ip command")
	}
	var r [3]byte
	rand.Read(r[:])
	name := "dcqg" + hex.EncodeToString(r[:])
	t.Cleanup(func() { exec.Command("ip", "link", "del", name).Run() })
	capTestIP(t, "link", "add", name, "type", "veth", "peer", "name", name+"p")
	return name
}

// TestCaptureInterfaceGoneBeforeOpen makes an interface vanish between its
// discovery and the bind of its ring, as when a container stops meanwhile:
// it must be recorded as gone with the time, not as an error, a gap or an
// interface locate did not watch. An open that fails otherwise stays an
// error.
func TestCaptureInterfaceGoneBeforeOpen(t *testing.T) {
	gone, kept := newCapTestVeth(t), newCapTestVeth(t)
	discover := func(name string) Interface {
		t.Helper()
		d := newCapDiscovery(context.Background(), Options{Ifaces: []string{name}, NoDocker: true})
		defer d.close()
		cands, _ := d.discover(false, true)
		if len(cands) != 1 || cands[0].Name != name || cands[0].Index == 0 || cands[0].Error != "" {
			t.Fatalf("discover(%s) = %+v, want it alone, with an ifindex and no error", name, cands)
		}
		return cands[0]
	}
	goneIf, keptIf := discover(gone), discover(kept)
	capTestIP(t, "link", "del", gone)

	// A filter the kernel refuses: a classic BPF program must end in a return.
	badProg := []unix.SockFilter{{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS}}
	for _, tc := range []struct {
		name    string
		c       Interface
		first   bool
		prog    []unix.SockFilter // replaces the compiled filter when set
		wantErr string            // "" when the interface is gone
		event   string            // the change recorded, "" for none
	}{
		{"gone, first round", goneIf, true, nil, "", ""},
		{"gone, later round", goneIf, false, nil, "", "removed"},
		{"filter refused", keptIf, false, badProg, "attach filter: invalid argument", "added"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log bytes.Buffer
			e, err := newCapEngine(Options{Snaplen: DefaultSnaplen, MaxBytes: DefaultCaptureMaxBytes, Log: &log}, true)
			if err != nil {
				t.Fatal(err)
			}
			if tc.prog != nil {
				e.progs[tc.c.LinkType] = tc.prog
			}
			before := time.Now().UTC()
			e.add(tc.c, tc.first)
			after := time.Now().UTC()

			if len(e.all) != 1 || len(e.live) != 0 {
				t.Fatalf("add(%s): %d interfaces recorded, %d live; want 1 recorded, none live", tc.c.Name, len(e.all), len(e.live))
			}
			got := e.all[0].info
			if got.BlockID != -1 || got.Added.Before(before) || got.Added.After(after) {
				t.Errorf("add(%s): block id %d, added %s; want -1, added between %s and %s", tc.c.Name, got.BlockID, got.Added, before, after)
			}
			if tc.wantErr == "" {
				if got.Error != "" || len(e.errs) != 0 {
					t.Errorf("add(%s) of a vanished interface: error %q, engine errors %q; want none", tc.c.Name, got.Error, e.errs)
				}
				if got.Removed == nil || got.Removed.Before(got.Added) || got.Removed.After(after) {
					t.Errorf("add(%s) of a vanished interface: removed %v, want a time between %s and %s", tc.c.Name, got.Removed, got.Added, after)
				}
				if !strings.Contains(log.String(), tc.c.Name+" gone before its capture started") {
					t.Errorf("add(%s) logged %q, want it gone before its capture started", tc.c.Name, log.String())
				}
			} else {
				want := tc.c.Name + ": " + tc.wantErr
				if !strings.HasSuffix(got.Error, tc.wantErr) || len(e.errs) != 1 || !strings.HasSuffix(e.errs[0], tc.wantErr) || !strings.HasPrefix(e.errs[0], tc.c.Name+": ") {
					t.Errorf("add(%s) with a refused filter: error %q, engine errors %q; want %q", tc.c.Name, got.Error, e.errs, want)
				}
				if got.Removed != nil {
					t.Errorf("add(%s) of a present interface: removed %s, want nil", tc.c.Name, got.Removed)
				}
			}
			var events []string
			for _, ch := range e.changes {
				events = append(events, ch.Event)
				if ch.Interface == nil || ch.Interface.Name != tc.c.Name || ch.Interface.BlockID != -1 || ch.Time.Before(before) || ch.Time.After(after) {
					t.Errorf("change %q = %+v, want %s with block id -1 between %s and %s", ch.Event, ch, tc.c.Name, before, after)
				}
			}
			if want := strings.Fields(tc.event); strings.Join(events, " ") != strings.Join(want, " ") {
				t.Errorf("add(%s, first %v) recorded changes %q, want %q", tc.c.Name, tc.first, events, want)
			}

			// What locate tells the responder about the same result.
			res := Result{Interfaces: []Interface{got}, Changes: e.changes, Errors: e.errs}
			nw := NotWatched(res, map[string]bool{})
			switch {
			case tc.wantErr == "" && len(nw) != 0:
				t.Errorf("locate reports the vanished %s: %v", tc.c.Name, nw)
			case tc.wantErr != "" && (len(nw) != 1 || !strings.Contains(nw[0].Error(), tc.c.Name+" (") || !strings.Contains(nw[0].Error(), "not watched: ")):
				t.Errorf("locate reports %v, want %s not watched", nw, tc.c.Name)
			}
		})
	}
}

// TestCapGone checks what an open error must say, and what the link table
// must still say, for an interface to count as gone. The kernel gives
// ENODEV only for an ifindex it does not know, so the errors are made here.
func TestCapGone(t *testing.T) {
	gone, kept := newCapTestVeth(t), newCapTestVeth(t)
	goneIf, err := net.InterfaceByName(gone)
	if err != nil {
		t.Fatal(err)
	}
	keptIf, err := net.InterfaceByName(kept)
	if err != nil {
		t.Fatal(err)
	}
	capTestIP(t, "link", "del", gone)
	bind := func(index int, errno error) error { return fmt.Errorf("bind to ifindex %d: %w", index, errno) }
	for _, tc := range []struct {
		name string
		c    Interface
		err  error
		want bool
	}{
		{"ENODEV, ifindex gone", Interface{Index: goneIf.Index, Name: gone}, bind(goneIf.Index, unix.ENODEV), true},
		{"ENODEV, ifindex names another interface", Interface{Index: keptIf.Index, Name: gone}, bind(keptIf.Index, unix.ENODEV), true},
		{"ENODEV, interface still there", Interface{Index: keptIf.Index, Name: kept}, bind(keptIf.Index, unix.ENODEV), false},
		{"other error, ifindex gone", Interface{Index: goneIf.Index, Name: gone}, bind(goneIf.Index, unix.EINVAL), false},
		{"ENODEV text, not the errno", Interface{Index: goneIf.Index, Name: gone}, errors.New("bind: no such device"), false},
	} {
		if got := capGone(tc.c, tc.err); got != tc.want {
			t.Errorf("%s: capGone(%s #%d, %v) = %v, want %v", tc.name, tc.c.Name, tc.c.Index, tc.err, got, tc.want)
		}
	}
}

// capInNetns runs fn on a locked thread moved into the named namespace,
// then moves the thread back and unlocks it. A thread that cannot go back
// stays locked and ends with its goroutine. Ending locked in the test
// namespace is not enough: when the goroutine runs on the main thread, Go
// parks that thread instead, and /proc/<pid>/ns/net (the main thread's)
// would name the test namespace for the rest of the test binary.
func capInNetns(name string, fn func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return err
	}
	defer orig.Close()
	h, err := netns.GetFromName(name)
	if err != nil {
		return err
	}
	defer h.Close()
	if err := netns.Set(h); err != nil {
		return err
	}
	defer func() {
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
	}()
	return fn()
}

// TestCapOverlay checks that an overlay network says what the capture
// cannot see of it, also when its namespace is not on this host.
func TestCapOverlay(t *testing.T) {
	o := capOverlay("ov\x1b[31m", "0123456789abcdef0123")
	if !strings.Contains(o.Unseen, "VXLAN") || !strings.Contains(o.Unseen, "not captured") {
		t.Errorf("Unseen = %q", o.Unseen)
	}
	if o.Error == "" || !strings.Contains(o.Error, capOverlayNetNSDir+"1-0123456789") {
		t.Errorf("Error = %q, want the missing namespace named", o.Error)
	}
	if strings.Contains(o.Network, "\x1b") {
		t.Errorf("Network = %q: the name is not made safe", o.Network)
	}
}
