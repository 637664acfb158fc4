package flow

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/dockcase/dockcase/internal/packet"
	"github.com/dockcase/dockcase/internal/pcapng"
	"github.com/dockcase/dockcase/internal/pcapng/pcapngtest"
	"github.com/dockcase/dockcase/scripts/gencapture/truth"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// flowsGenCapture builds scripts/gencapture and runs it with args in dir; it
// returns the capture path and the truth file path.
func flowsGenCapture(t testing.TB, dir string, args ...string) (capture, truth string) {
	t.Helper()
	root, err := filepath.Abs("../..") // the module root
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "gencapture")
	if _, err := os.Stat(bin); err != nil {
		cmd := exec.Command("go", "build", "-o", bin, "./scripts/gencapture")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build ./scripts/gencapture: %v\n%s", err, out)
		}
	}
	capture, truth = filepath.Join(dir, "gen.cap"), filepath.Join(dir, "gen.json")
	out, err := exec.Command(bin, append([]string{"-out", capture, "-truth", truth}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("gencapture %v: %v\n%s", args, err, out)
	}
	return capture, truth
}

func flowsReadTruth(t testing.TB, path string) (flows []truth.Flow, dns []truth.DNS) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	flows, dns, err = truth.Read(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return flows, dns
}

// flowsView is the part of a flow the truth states, for exact comparison.
type flowsView struct {
	Interface             int
	Proto                 uint8
	Client                string
	ClientPort            uint16
	Server                string
	ServerPort            uint16
	Packets, Bytes        [2]uint64
	TCPFlags              [2]uint8
	First, Last           int64
	FirstFrame, LastFrame uint64
	SNI, HTTPHost         string
}

func flowsViewOf(f *Record) flowsView {
	return flowsView{f.Point.Index, f.Proto, f.Client.String(), f.ClientPort, f.Server.String(), f.ServerPort,
		f.Packets, f.Bytes, f.TCPFlags, f.First, f.Last, f.FirstFrame, f.LastFrame, f.SNI, f.HTTPHost}
}

func flowsReadFile(t testing.TB, path string, opts Options) *Capture {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	res, err := Read(fh, filepath.Base(path), "sha", opts)
	if err != nil {
		t.Fatalf("Read(%s): %v", path, err)
	}
	return res
}

// TestReadCaptureFlowsGenerated checks every flow and DNS response of generated
// captures, in both formats, against what the generator says it wrote.
func TestReadCaptureFlowsGenerated(t *testing.T) {
	dir := t.TempDir()
	for _, format := range []string{"pcapng", "pcap"} {
		t.Run(format, func(t *testing.T) {
			capture, truthPath := flowsGenCapture(t, dir, "-size", "3MB", "-flows", "600", "-seed", "7", "-format", format)
			truth, truthDNS := flowsReadTruth(t, truthPath)
			res := flowsReadFile(t, capture, Options{})
			if res.Err != nil || len(res.Problems) != 0 {
				t.Errorf("read: err %v, problems %q", res.Err, res.Problems)
			}
			want := make(map[flowsView]bool, len(truth))
			for _, r := range truth {
				want[flowsView{r.Interface, r.Proto, r.Client, r.ClientPort, r.Server, r.ServerPort,
					r.Packets, r.Bytes, r.TCPFlags, r.First, r.Last, r.FirstFrame, r.LastFrame, r.SNI, r.HTTPHost}] = true
			}
			var names, uplink int
			for i := range res.Flows {
				v := flowsViewOf(&res.Flows[i])
				if !want[v] {
					t.Errorf("flow %+v not generated", v)
				}
				delete(want, v)
				if v.SNI != "" || v.HTTPHost != "" {
					names++
				}
				if v.Client == "192.0.2.10" {
					uplink++
				}
			}
			for v := range want {
				t.Errorf("generated flow %+v not found", v)
			}
			if len(res.Flows) != len(truth) || names == 0 || uplink == 0 {
				t.Errorf("%d flows (%d with names, %d uplink), generated %d", len(res.Flows), names, uplink, len(truth))
			}
			var packets uint64
			for _, p := range res.Points {
				packets += p.Counts.Packets
				if c := p.Counts; c.InFlows != c.Packets {
					t.Errorf("interface %d: %d packets, %d in flows: %+v", p.Index, c.Packets, c.InFlows, c)
				}
			}
			if packets != res.Frames {
				t.Errorf("%d packets counted, %d frames", packets, res.Frames)
			}

			if len(res.DNS) != len(truthDNS) {
				t.Errorf("%d DNS responses, generated %d", len(res.DNS), len(truthDNS))
			}
			for i := range min(len(res.DNS), len(truthDNS)) {
				got, w := res.DNS[i], truthDNS[i]
				var addrs []string
				var cname string
				for _, a := range got.Answers {
					if a.Type == DNSTypeCNAME {
						cname = a.Target
					} else {
						addrs = append(addrs, a.Addr.String())
					}
				}
				if got.Frame != w.Frame || got.Client.String() != w.Client || got.QName != w.QName ||
					!slices.Equal(addrs, w.Answers) || cname != w.CNAME || got.Partial {
					t.Errorf("DNS %d = frame %d client %s %q -> %v cname %q partial %v, want frame %d client %s %q -> %v cname %q",
						i, got.Frame, got.Client, got.QName, addrs, cname, got.Partial, w.Frame, w.Client, w.QName, w.Answers, w.CNAME)
				}
				if len(w.Answers) > 0 {
					a := netip.MustParseAddr(w.Answers[0])
					if names := got.NamesFor(a); len(names) == 0 || names[len(names)-1] != w.QName {
						t.Errorf("DNS %d: NamesFor(%s) = %q, want the chain up to %q", i, a, names, w.QName)
					}
				}
			}
		})
	}
}

// TestReadCapturesFlowsSplit reads a capture split in three files concurrently and
// checks that the merged set holds every flow of every file, in time order.
func TestReadCapturesFlowsSplit(t *testing.T) {
	dir := t.TempDir()
	capture, truthPath := flowsGenCapture(t, dir, "-size", "3MB", "-flows", "600", "-split", "3")
	truth, _ := flowsReadTruth(t, truthPath)
	var inputs []Input
	for i := range 3 {
		name := fmt.Sprintf("%s.%d", capture, i)
		inputs = append(inputs, Input{Member: fmt.Sprintf("member-%d", i), SHA256: fmt.Sprint(i),
			Open: func() (io.ReadCloser, error) { return os.Open(name) }})
	}
	inputs = append(inputs, Input{Member: "missing", Open: func() (io.ReadCloser, error) { return os.Open(filepath.Join(dir, "nope")) }})
	set := ReadAll(inputs, Options{})
	if len(set.Captures) != 4 || set.Captures[3].Err == nil || set.Captures[3].Member != "missing" {
		t.Fatalf("captures %d, missing input err %v", len(set.Captures), set.Captures[len(set.Captures)-1].Err)
	}
	perFile := map[int]int{}
	for _, r := range truth {
		perFile[r.File]++
	}
	for i := range 3 {
		c := set.Captures[i]
		if c.Err != nil || len(c.Flows) != perFile[i] || c.Member != inputs[i].Member {
			t.Errorf("capture %d (%s): %d flows, err %v; generated %d", i, c.Member, len(c.Flows), c.Err, perFile[i])
		}
		for _, f := range c.Flows {
			if f.Point.Member != inputs[i].Member || f.Point.SHA256 != inputs[i].SHA256 {
				t.Fatalf("capture %d flow evidence %s %s, want %s %s", i, f.Point.Member, f.Point.SHA256, inputs[i].Member, inputs[i].SHA256)
			}
		}
	}
	if len(set.Flows) != len(truth) {
		t.Errorf("merged %d flows, generated %d", len(set.Flows), len(truth))
	}
	if !slices.IsSortedFunc(set.Flows, func(a, b *Record) int { return int(a.First - b.First) }) {
		t.Error("merged flows are not in time order")
	}
}

// flowsPacket builds one Ethernet/IPv4 packet for hand-made captures.
func flowsPacket(t testing.TB, src, dst string, l4 gopacket.SerializableLayer, payload []byte, ip func(*layers.IPv4)) []byte {
	t.Helper()
	ip4 := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, SrcIP: net.ParseIP(src), DstIP: net.ParseIP(dst)}
	switch l := l4.(type) {
	case *layers.TCP:
		ip4.Protocol = layers.IPProtocolTCP
		_ = l.SetNetworkLayerForChecksum(ip4)
	case *layers.UDP:
		ip4.Protocol = layers.IPProtocolUDP
	case *layers.ICMPv4:
		ip4.Protocol = layers.IPProtocolICMPv4
	}
	if ip != nil {
		ip(ip4)
	}
	eth := &layers.Ethernet{SrcMAC: pcapngtest.MAC1, DstMAC: pcapngtest.MAC2, EthernetType: layers.EthernetTypeIPv4}
	ls := []gopacket.SerializableLayer{eth, ip4}
	if l4 != nil {
		ls = append(ls, l4)
	}
	return pcapngtest.Serialize(t, append(ls, gopacket.Payload(payload))...)
}

// TestFlowTableCases checks client choice, ICMP pairing, fragments and the
// per-point counters on hand-made packets.
func TestFlowTableCases(t *testing.T) {
	synack := &layers.TCP{SrcPort: 443, DstPort: 40000, SYN: true, ACK: true, DataOffset: 5}
	ack := &layers.TCP{SrcPort: 40000, DstPort: 443, ACK: true, DataOffset: 5}
	echo := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 77, Seq: 1}
	reply := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(0, 0), Id: 77, Seq: 1}
	frag := func(id uint16, off uint16, more bool) func(*layers.IPv4) {
		return func(ip *layers.IPv4) {
			ip.Id, ip.FragOffset = id, off
			if more {
				ip.Flags = layers.IPv4MoreFragments
			}
		}
	}
	udp := &layers.UDP{SrcPort: 5000, DstPort: 6000}
	later := flowsPacket(t, "198.18.0.1", "198.18.0.2", nil, make([]byte, 100), frag(9, 4, false))
	later[14+9] = byte(layers.IPProtocolUDP) // serialised without a transport layer: say what the datagram carries
	recs := []pcapngtest.Rec{
		{Data: flowsPacket(t, "198.18.0.2", "198.18.0.1", synack, nil, nil)},                                               // 1: server first
		{Data: flowsPacket(t, "198.18.0.1", "198.18.0.2", ack, []byte("GET / HTTP/1.0\r\nHost: A.example.\r\n\r\n"), nil)}, // 2
		{Data: flowsPacket(t, "198.18.0.1", "198.18.0.3", echo, make([]byte, 8), nil)},                                     // 3
		{Data: flowsPacket(t, "198.18.0.3", "198.18.0.1", reply, make([]byte, 8), nil)},                                    // 4
		{Data: flowsPacket(t, "198.18.0.1", "198.18.0.2", udp, make([]byte, 24), frag(9, 0, true))},                        // 5: first fragment
		{Data: later}, // 6: attached by id 9
		{Data: func() []byte { b := bytes.Clone(later); b[14+5] = 10; return b }()}, // 7: id 10: unattached
		{Data: flowsPacket(t, "198.18.0.1", "198.18.0.2", ack, nil, nil)[:14+20+2]}, // 8: cut inside the TCP ports
		{Data: []byte{1, 2, 3}}, // 9: not even Ethernet
		{Data: pcapngtest.Serialize(t, &layers.Ethernet{SrcMAC: pcapngtest.MAC1, DstMAC: pcapngtest.MAC2, EthernetType: layers.EthernetTypeARP},
			&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
				SourceHwAddress: pcapngtest.MAC1, SourceProtAddress: []byte{198, 18, 0, 1}, DstHwAddress: make([]byte, 6), DstProtAddress: []byte{198, 18, 0, 2}})}, // 10
	}
	for i := range recs {
		recs[i].TS = uint64(1000 + i)
	}
	file := pcapngtest.Pcap(binary.LittleEndian, false, 1, recs)
	res, err := Read(bytes.NewReader(file), "hand.pcap", "abc", Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range res.Flows {
		got[fmt.Sprintf("%d %s:%d>%s:%d", f.Proto, f.Client, f.ClientPort, f.Server, f.ServerPort)] = fmt.Sprintf(
			"pkts %v bytes %v flags %v frames %d-%d frags %d host %q", f.Packets, f.Bytes, f.TCPFlags, f.FirstFrame, f.LastFrame, f.Fragments, f.HTTPHost)
	}
	l := func(i int) uint64 { return uint64(len(recs[i-1].Data)) }
	want := map[string]string{
		"6 198.18.0.1:40000>198.18.0.2:443":  fmt.Sprintf("pkts [1 1] bytes [%d %d] flags [16 18] frames 1-2 frags 0 host %q", l(2), l(1), "a.example"),
		"1 198.18.0.1:8>198.18.0.3:77":       fmt.Sprintf("pkts [1 1] bytes [%d %d] flags [0 0] frames 3-4 frags 0 host \"\"", l(3), l(4)),
		"17 198.18.0.1:5000>198.18.0.2:6000": fmt.Sprintf("pkts [2 0] bytes [%d 0] flags [0 0] frames 5-6 frags 1 host \"\"", l(5)+l(6)),
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("flow %s = %q, want %q", k, got[k], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("flows %v, want %d", got, len(want))
	}
	c := res.Points[0].Counts
	wantC := Counts{Packets: 10, InFlows: 6, NonIP: 1, Undecodable: 1, NoPorts: 1, Truncated: 2,
		Fragments: 2, FragmentsAttached: 1, FragmentsUnattached: 1}
	wantC.Bytes = c.Bytes
	if c != wantC {
		t.Errorf("counts %+v, want %+v", c, wantC)
	}
	if res.Points[0].Member != "hand.pcap" || res.Points[0].SHA256 != "abc" || res.Points[0].LinkType != pcapng.LinkTypeEthernet {
		t.Errorf("point %+v", res.Points[0])
	}
}

// TestFlowTableBound fills a small table with one flow per packet and checks that
// the bound holds, evicted flows reach Flushed, and nothing is lost from the totals.
func TestFlowTableBound(t *testing.T) {
	const max, n = 64, 1000
	var recs []pcapngtest.Rec
	for i := range n {
		// Every third flow is an HTTP request naming its port: names must stay
		// with their flows when the table is compacted.
		if i%3 == 0 {
			tcp := &layers.TCP{SrcPort: layers.TCPPort(1000 + i), DstPort: 80, PSH: true, ACK: true, DataOffset: 5}
			req := fmt.Sprintf("GET / HTTP/1.1\r\nHost: h%d.example\r\n\r\n", 1000+i)
			recs = append(recs, pcapngtest.Rec{TS: uint64(i), Data: flowsPacket(t, "198.18.0.1", "198.18.0.2", tcp, []byte(req), nil)})
			continue
		}
		udp := &layers.UDP{SrcPort: layers.UDPPort(1000 + i), DstPort: 53}
		recs = append(recs, pcapngtest.Rec{TS: uint64(i), Data: flowsPacket(t, "198.18.0.1", "198.18.0.2", udp, nil, nil)})
	}
	file := pcapngtest.Pcap(binary.LittleEndian, false, 1, recs)
	var flushed []Record
	res, err := Read(bytes.NewReader(file), "scan.pcap", "", Options{MaxFlows: max,
		Flushed: func(f *Record) { flushed = append(flushed, *f) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Flows) > max || !res.LimitHit || res.Evicted != uint64(len(flushed)) || len(flushed)+len(res.Flows) != n {
		t.Fatalf("%d live flows (max %d), limit hit %v, evicted %d, flushed %d", len(res.Flows), max, res.LimitHit, res.Evicted, len(flushed))
	}
	if res.LimitFrame != max+1 || len(res.Problems) != 1 || !strings.Contains(res.Problems[0], "bound of 64 flows") {
		t.Errorf("limit frame %d, problems %q", res.LimitFrame, res.Problems)
	}
	// Evicted slots are reused, so the live flows are not in slot order: the
	// result must still list them by first frame.
	if !slices.IsSortedFunc(res.Flows, func(a, b Record) int { return cmp.Compare(a.FirstFrame, b.FirstFrame) }) {
		t.Errorf("live flows not in first-frame order after evictions")
	}
	// The least recently active go first: flushed ports increase.
	for i, f := range flushed {
		if f.ClientPort != uint16(1000+i) {
			t.Fatalf("flushed[%d] port %d, want %d (oldest first)", i, f.ClientPort, 1000+i)
		}
	}
	for _, f := range append(flushed, res.Flows...) {
		want := ""
		if f.Proto == packet.IPProtoTCP {
			want = fmt.Sprintf("h%d.example", f.ClientPort)
		}
		if f.HTTPHost != want {
			t.Errorf("flow from port %d: HTTP Host %q, want %q", f.ClientPort, f.HTTPHost, want)
		}
	}
}

// flowsConvRow is one tshark conversation: frames and bytes from and to side A.
type flowsConvRow struct {
	fromA, toA           uint64
	fromABytes, toABytes string // as tshark prints them: "123 bytes" or "11 kB"
}

var flowsConvLine = regexp.MustCompile(`^(\S+)\s+<->\s+(\S+)\s+(\d+)\s+([\d,]+ \S+)\s+(\d+)\s+([\d,]+ \S+)\s+\d+\s+`)

// flowsTsharkConv runs tshark -z conv,proto and returns its rows by endpoints.
func flowsTsharkConv(t *testing.T, path, proto string) map[[2]string]flowsConvRow {
	t.Helper()
	out, err := exec.Command("tshark", "-n", "-r", path, "-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE",
		"-q", "-z", "conv,"+proto).Output()
	if err != nil {
		t.Fatalf("tshark -z conv,%s %s: %v", proto, path, err)
	}
	rows := map[[2]string]flowsConvRow{}
	for line := range strings.Lines(string(out)) {
		m := flowsConvLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		toA, _ := strconv.ParseUint(m[3], 10, 64)
		fromA, _ := strconv.ParseUint(m[5], 10, 64)
		k := [2]string{m[1], m[2]}
		r := rows[k]
		// tshark splits a reused port pair into streams; a flow is the pair.
		r.toA += toA
		r.fromA += fromA
		r.toABytes, r.fromABytes = m[4], m[6]
		rows[k] = r
	}
	return rows
}

// flowsTsharkBytes compares a byte count with tshark's rendering of it.
func flowsTsharkBytes(n uint64, s string) bool {
	num, unit, _ := strings.Cut(s, " ")
	v, err := strconv.ParseFloat(strings.ReplaceAll(num, ",", ""), 64)
	if err != nil {
		return false
	}
	switch unit {
	case "bytes":
		return float64(n) == v
	case "kB":
		return float64(n)/1e3 >= v-1 && float64(n)/1e3 <= v+1
	case "MB":
		return float64(n)/1e6 >= v-1 && float64(n)/1e6 <= v+1
	}
	return false
}

func flowsEndpoint(a netip.Addr, port uint16) string {
	return a.String() + ":" + strconv.Itoa(int(port))
}

// flowsCompareConv checks the TCP and UDP flows of res against tshark's
// conversations of the same file: frames each way exactly, bytes as exactly as
// tshark prints them. Flows with attached fragments are skipped: tshark without
// reassembly counts only first fragments.
func flowsCompareConv(t *testing.T, path string, res *Capture) (compared int) {
	t.Helper()
	for _, proto := range []uint8{packet.IPProtoTCP, packet.IPProtoUDP} {
		name := map[uint8]string{packet.IPProtoTCP: "tcp", packet.IPProtoUDP: "udp"}[proto]
		rows := flowsTsharkConv(t, path, name)
		type sum struct {
			pkts, bytes [2]uint64
			frags       bool
		}
		mine := map[[2]string]*sum{}
		for _, f := range res.Flows {
			if f.Proto != proto {
				continue
			}
			c, s := flowsEndpoint(f.Client, f.ClientPort), flowsEndpoint(f.Server, f.ServerPort)
			k, p, b := [2]string{c, s}, f.Packets, f.Bytes
			if _, ok := rows[k]; !ok {
				k, p, b = [2]string{s, c}, [2]uint64{p[1], p[0]}, [2]uint64{b[1], b[0]}
			}
			m := mine[k]
			if m == nil {
				m = &sum{}
				mine[k] = m
			}
			for d := range 2 {
				m.pkts[d] += p[d]
				m.bytes[d] += b[d]
			}
			m.frags = m.frags || f.Fragments > 0
		}
		for k, m := range mine {
			if m.frags {
				delete(rows, k)
				continue
			}
			r, ok := rows[k]
			if !ok {
				t.Errorf("%s: %s flow %s <-> %s: tshark has no conversation", path, name, k[0], k[1])
				continue
			}
			delete(rows, k)
			compared++
			if m.pkts != [2]uint64{r.fromA, r.toA} || !flowsTsharkBytes(m.bytes[0], r.fromABytes) || !flowsTsharkBytes(m.bytes[1], r.toABytes) {
				t.Errorf("%s: %s %s <-> %s = frames %v bytes %v, tshark frames [%d %d] bytes [%s %s]",
					path, name, k[0], k[1], m.pkts, m.bytes, r.fromA, r.toA, r.fromABytes, r.toABytes)
			}
		}
		for k := range rows {
			t.Errorf("%s: tshark %s conversation %s <-> %s not among the flows", path, name, k[0], k[1])
		}
	}
	return compared
}

// flowsCorpusConvFiles are corpus captures whose TCP and UDP conversations are
// plain (no tunnels or ICMP-quoted headers that tshark counts as conversations).
var flowsCorpusConvFiles = []string{
	"dns_tcp.pcap", "dns_udp.pcap", "ipv4_tcp_http_xml.pcap", "dnssec.pcap", "edns-opts.pcap",
}

// TestReadCaptureFlowsTshark compares flows with tshark's conversations on corpus
// files and on a generated capture.
func TestReadCaptureFlowsTshark(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed: it is the oracle for this test")
	}
	dir := pcapngtest.CorpusDir(t)
	files := slices.Clone(flowsCorpusConvFiles)
	if all := os.Getenv("DOCKCASE_FLOWS_ALL_CORPUS"); all != "" {
		ents, _ := os.ReadDir(dir)
		files = files[:0]
		for _, e := range ents {
			files = append(files, e.Name())
		}
	}
	total := 0
	for _, name := range files {
		path := filepath.Join(dir, name)
		fh, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		res, err := Read(fh, name, "", Options{})
		fh.Close()
		if err != nil {
			continue
		}
		total += flowsCompareConv(t, path, res)
	}
	capture, _ := flowsGenCapture(t, t.TempDir(), "-size", "2MB", "-flows", "300")
	total += flowsCompareConv(t, capture, flowsReadFile(t, capture, Options{}))
	if total < 300 {
		t.Errorf("compared %d conversations, want at least 300", total)
	}
}

// TestDNSTshark compares the DNS log with tshark's reading of UDP DNS responses.
func TestDNSTshark(t *testing.T) {
	dir := pcapngtest.CorpusDir(t)
	compared := 0
	for _, name := range []string{"dns_udp.pcap", "dns_udp_2.pcap", "dnssec.pcap", "edns-opts.pcap", "dns-zlip-1.pcap",
		"dns_fwdptr.pcap", "dns-badlabel.pcap", "dns-badcookie.pcap", "ppp_ip_udp_dns.pcap"} {
		path := filepath.Join(dir, name)
		if _, err := os.Stat(path); err != nil {
			t.Errorf("corpus file %s: %v", name, err)
			continue
		}
		rows := tsharkFramesFilter(t, path, "udp.srcport==53 && dns.flags.response==1",
			"frame.number", "dns.qry.name", "dns.a", "dns.count.auth_rr", "dns.count.add_rr")
		res := flowsReadFile(t, path, Options{})
		byFrame := map[string]DNSResponse{}
		for _, d := range res.DNS {
			byFrame[strconv.FormatUint(d.Frame, 10)] = d
		}
		for _, row := range rows {
			if row[1] == "<Root>" {
				row[1] = ""
			}
			d, ok := byFrame[row[0]]
			if strings.HasPrefix(row[1], "<") && !ok {
				// tshark's placeholder for a name it could not read ("<Name too
				// long>"): the parser refuses the message and counts it.
				if res.DNSErrors == 0 {
					t.Errorf("%s frame %s: tshark reads %q, no DNS error counted", name, row[0], row[1])
				}
				continue
			}
			if !ok {
				t.Errorf("%s frame %s: tshark has a DNS response %q, the log has none", name, row[0], row[1])
				continue
			}
			delete(byFrame, row[0])
			compared++
			if !strings.EqualFold(d.QName, strings.TrimSuffix(row[1], ".")) {
				t.Errorf("%s frame %s: qname %q, tshark %q", name, row[0], d.QName, row[1])
			}
			var mine []string
			for _, a := range d.Answers {
				if a.Type == DNSTypeA {
					mine = append(mine, a.Addr.String())
				}
			}
			var theirs []string
			if row[2] != "" {
				theirs = strings.Split(row[2], ",")
			}
			// tshark's dns.a covers all sections; with nothing beyond the OPT
			// record after the answers they must be equal, else ours a prefix.
			if row[3] == "0" && (row[4] == "0" || row[4] == "1") {
				if !slices.Equal(mine, theirs) {
					t.Errorf("%s frame %s: A %v, tshark %v", name, row[0], mine, theirs)
				}
			} else if len(mine) > len(theirs) || !slices.Equal(mine, theirs[:len(mine)]) {
				t.Errorf("%s frame %s: A %v not a prefix of tshark's %v", name, row[0], mine, theirs)
			}
		}
		for f, d := range byFrame {
			t.Errorf("%s frame %s: logged DNS response %q that tshark does not decode", name, f, d.QName)
		}
	}
	if compared < 20 {
		t.Errorf("compared %d DNS responses, want at least 20", compared)
	}
}

// tsharkFramesFilter is pcapngtest.TsharkFrames with a display filter; it skips without tshark.
func tsharkFramesFilter(t *testing.T, path, filter string, fields ...string) [][]string {
	t.Helper()
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed: it is the oracle for this test")
	}
	args := []string{"-n", "-r", path, "-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE",
		"-Y", filter, "-T", "fields", "-E", "separator=|", "-E", "occurrence=a", "-E", "aggregator=,"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	out, err := exec.Command("tshark", args...).Output()
	if err != nil {
		t.Fatalf("tshark -r %s -Y %q: %v", path, filter, err)
	}
	var rows [][]string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if row := strings.Split(sc.Text(), "|"); len(row) == len(fields) {
			rows = append(rows, row)
		}
	}
	return rows
}
