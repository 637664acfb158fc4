// Command gencapture writes a synthetic packet capture of Docker container traffic
// for benchmarks and tests of the flow engine. It writes files only and sends
// nothing on any network.
//
// The traffic: about -flows flows among 50 container addresses (25 in
// 172.20.0.0/16, 25 in 172.21.0.0/16) and outside addresses in 198.51.100.0/24 and
// 203.0.113.0/24; TCP with SYN, ACK and FIN (some flows caught mid-stream), UDP,
// ICMP echo, DNS queries and responses with A and CNAME answers, TLS ClientHellos
// with SNI and HTTP/1 requests with Host. Flows to 198.51.100.0/24 are also
// written as the masqueraded copy an uplink capture sees: source 192.0.2.10 and a
// rewritten source port. Frames are Ethernet, 54 to 1514 bytes on the wire.
//
// With -format pcapng the bridge and the uplink are two interfaces ("br-gen0" and
// "eth0"); with pcap they share the one interface of the file. -split N writes N
// files (OUT.0, OUT.1, ...), each with a share of the flows and of the size. The
// output is a function of the flags: the same flags give the same bytes.
//
// -truth FILE writes what was generated as JSON lines, one per flow and capture
// point and one per DNS response, for tests to compare against.
//
//	go run ./scripts/gencapture -size 1GB -out /tmp/x.pcapng [-split 2] [-seed 1]
package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/dockcase/dockcase/internal/pcapng"
	"github.com/dockcase/dockcase/scripts/gencapture/truth"
)

const (
	genContainers   = 50
	genActiveFlows  = 512                  // flows interleaved at a time in one file
	genStartNano    = 1704067200_000000000 // 2024-01-01T00:00:00Z
	genGapNano      = 7_000                // between packets
	genHeaderBytes  = 14 + 20 + 20         // Ethernet, IPv4, TCP
	genWriteBuffer  = 4 << 20
	genUplinkSource = "192.0.2.10"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gencapture:", err)
		os.Exit(1)
	}
}

type genOptions struct {
	size   int64
	out    string
	split  int
	seed   uint64
	flows  int
	format string
	truth  string
}

func run() error {
	var o genOptions
	var size string
	flag.StringVar(&size, "size", "100MB", "total size of the capture(s): 1GB, 500MB, 64KiB ...")
	flag.StringVar(&o.out, "out", "", "output file (with -split N: OUT.0 ... OUT.N-1)")
	flag.IntVar(&o.split, "split", 1, "number of output files")
	flag.Uint64Var(&o.seed, "seed", 1, "random seed")
	flag.IntVar(&o.flows, "flows", 100000, "approximate number of flows (bridge side)")
	flag.StringVar(&o.format, "format", "pcapng", "pcap or pcapng")
	flag.StringVar(&o.truth, "truth", "", "write the generated flows and DNS responses as JSON lines here")
	flag.Parse()
	n, err := genParseSize(size)
	if err != nil {
		return err
	}
	o.size = n
	switch {
	case o.out == "":
		return errors.New("-out is required")
	case o.split < 1:
		return errors.New("-split must be at least 1")
	case o.format != "pcap" && o.format != "pcapng":
		return fmt.Errorf("-format %q: want pcap or pcapng", o.format)
	case o.flows < 1:
		return errors.New("-flows must be at least 1")
	}
	var truth *json.Encoder
	if o.truth != "" {
		f, err := os.Create(o.truth)
		if err != nil {
			return err
		}
		defer f.Close()
		bw := bufio.NewWriter(f)
		defer bw.Flush()
		truth = json.NewEncoder(bw)
	}
	for i := range o.split {
		name := o.out
		if o.split > 1 {
			name = fmt.Sprintf("%s.%d", o.out, i)
		}
		g := newGen(o, i)
		if err := g.write(name, truth); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	return nil
}

// genParseSize reads 1GB (10^9), 1GiB (2^30), 500MB, 64KiB or a plain byte count.
func genParseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"B", 1}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseFloat(num, 64)
			if err != nil || v <= 0 {
				return 0, fmt.Errorf("-size %q: not a size", s)
			}
			return int64(v * float64(u.mult)), nil
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("-size %q: not a size", s)
	}
	return v, nil
}

type genEndpoint struct {
	addr netip.Addr
	mac  [6]byte
}

// genFlow is one flow being generated: its plan and what was written of it.
type genFlow struct {
	proto       uint8
	client      genEndpoint
	server      genEndpoint
	cport       uint16
	sport       uint16
	uplink      bool   // also written on the uplink, masqueraded
	upPort      uint16 // the masqueraded source port
	midstream   bool   // caught mid-stream: no handshake, first packet either way
	serverFirst bool
	step, data  int // packets written, data packets planned
	seq         [2]uint32
	sni, host   string
	qname       string
	ipID        uint16
	truth       [2]*truth.Flow // bridge, uplink
}

type gen struct {
	o       genOptions
	file    int
	rng     *rand.Rand
	budget  int64 // bytes of this file
	written int64
	frame   uint64
	now     int64
	buf     []byte
	hdr     []byte // pcapng blocks, encoded here before they are written
	w       *bufio.Writer
	ng      bool
	next    int // flows started
	flows   int // flows to start in this file
	active  []*genFlow
	done    []*truth.Flow
	dns     []truth.DNS
	uplink  genEndpoint
	bridges [2]genEndpoint
}

func newGen(o genOptions, file int) *gen {
	g := &gen{
		o: o, file: file,
		rng:    rand.New(rand.NewPCG(o.seed, uint64(file)+1)),
		budget: o.size / int64(o.split),
		flows:  max(1, o.flows/o.split),
		now:    genStartNano,
		buf:    make([]byte, 0, 2048),
		ng:     o.format == "pcapng",
	}
	g.uplink = genEndpoint{addr: netip.MustParseAddr(genUplinkSource), mac: [6]byte{2, 0, 0xc0, 0, 2, 10}}
	return g
}

func (g *gen) container(i int) genEndpoint {
	net := byte(20 + i%2)
	host := byte(2 + i/2)
	return genEndpoint{addr: netip.AddrFrom4([4]byte{172, net, 0, host}), mac: [6]byte{2, 0x42, 172, net, 0, host}}
}

func (g *gen) remote() genEndpoint {
	gw := [6]byte{2, 0x42, 0, 0, 0, 1} // the bridge's MAC: outside traffic is routed
	if g.rng.IntN(2) == 0 {
		return genEndpoint{addr: netip.AddrFrom4([4]byte{198, 51, 100, byte(1 + g.rng.IntN(254))}), mac: gw}
	}
	return genEndpoint{addr: netip.AddrFrom4([4]byte{203, 0, 113, byte(1 + g.rng.IntN(254))}), mac: gw}
}

// newFlow plans the next flow. The flow id gives unique client ports.
func (g *gen) newFlow() *genFlow {
	id := g.next
	g.next++
	f := &genFlow{
		client: g.container(g.rng.IntN(genContainers)),
		server: g.remote(),
		cport:  uint16(32768 + (id*7+g.file*13)%28000),
		ipID:   uint16(g.rng.Uint32()),
		seq:    [2]uint32{g.rng.Uint32(), g.rng.Uint32()},
	}
	// The average flow must fill the budget with the planned number of flows.
	avgFrame := int64(genHeaderBytes + 700)
	avgPkts := max(8, int(g.budget/avgFrame/int64(g.flows)))
	switch r := g.rng.IntN(100); {
	case r < 5: // DNS
		f.proto, f.sport = 17, 53
		f.qname = fmt.Sprintf("host-%d.%s.example", g.rng.IntN(5000), []string{"cdn", "api", "c2"}[g.rng.IntN(3)])
	case r < 6: // ICMP echo
		f.proto = 1
		f.sport = uint16(g.rng.IntN(65536)) // the echo identifier
		f.data = 2 * (1 + g.rng.IntN(4))
	case r < 20: // other UDP
		f.proto = 17
		f.sport = []uint16{123, 443, 5000, 51820}[g.rng.IntN(4)]
		f.data = 1 + g.rng.IntN(2*avgPkts)
	default:
		f.proto = 6
		f.sport = []uint16{443, 443, 443, 80, 8080, 22}[g.rng.IntN(6)]
		f.data = g.rng.IntN(2 * avgPkts)
		f.midstream = g.rng.IntN(20) == 0
		f.serverFirst = f.midstream && g.rng.IntN(2) == 0
		switch f.sport {
		case 443:
			if g.rng.IntN(4) != 0 {
				f.sni = fmt.Sprintf("www%d.Service-%d.example", g.rng.IntN(10), g.rng.IntN(3000))
			}
		case 80, 8080:
			f.host = fmt.Sprintf("web-%d.example", g.rng.IntN(3000))
		}
	}
	f.uplink = f.server.addr.As4()[0] == 198
	f.upPort = uint16(1024 + (int(f.cport)*31+id)%60000)
	return f
}

func (g *gen) write(name string, truth *json.Encoder) error {
	fh, err := os.Create(name)
	if err != nil {
		return err
	}
	g.w = bufio.NewWriterSize(fh, genWriteBuffer)
	g.header()
	for g.written < g.budget {
		for len(g.active) < genActiveFlows && g.next < g.flows {
			g.active = append(g.active, g.newFlow())
		}
		if len(g.active) == 0 {
			// All planned flows are written and the budget is not: plan more.
			g.flows += max(1, g.o.flows/g.o.split/10)
			continue
		}
		i := g.rng.IntN(len(g.active))
		f := g.active[i]
		if !g.step(f) {
			g.finish(f)
			g.active[i] = g.active[len(g.active)-1]
			g.active = g.active[:len(g.active)-1]
		}
	}
	for _, f := range g.active { // cut by the size: they end without FIN
		g.finish(f)
	}
	if err := g.w.Flush(); err != nil {
		fh.Close()
		return err
	}
	if err := fh.Close(); err != nil {
		return err
	}
	if truth != nil {
		for _, t := range g.done {
			if err := truth.Encode(t); err != nil {
				return err
			}
		}
		for _, d := range g.dns {
			if err := truth.Encode(d); err != nil {
				return err
			}
		}
	}
	return nil
}

func (g *gen) finish(f *genFlow) {
	for _, t := range f.truth {
		if t != nil {
			g.done = append(g.done, t)
		}
	}
}

// step writes the next packet of f and reports whether the flow goes on.
func (g *gen) step(f *genFlow) bool {
	s := f.step
	f.step++
	switch f.proto {
	case 17:
		if f.sport == 53 {
			if s == 0 {
				g.dnsQuery(f)
				return true
			}
			g.dnsResponse(f)
			return false
		}
		toServer := s == 0 || g.rng.IntN(2) == 0
		g.packet(f, toServer, 0, make([]byte, g.rng.IntN(1400)))
		return f.step < f.data
	case 1:
		g.packet(f, s%2 == 0, 0, make([]byte, 56))
		return f.step < f.data
	}
	// TCP: handshake, data, FIN exchange. A mid-stream flow starts at the data.
	const fin, syn, ack, psh = 1, 2, 16, 8
	if f.midstream && s == 0 {
		f.step, s = 4, 3
	}
	switch {
	case s == 0:
		g.packet(f, true, syn, nil)
	case s == 1:
		g.packet(f, false, syn|ack, nil)
	case s == 2:
		g.packet(f, true, ack, nil)
	case s < 3+f.data:
		toServer := g.rng.IntN(2) == 0
		var payload []byte
		switch {
		case s == 3 && f.serverFirst:
			toServer = false
			payload = make([]byte, 1+g.rng.IntN(1400))
		case s == 3 && f.sni != "":
			toServer, payload = true, genClientHello(g.rng, f.sni)
			defer g.names(f)
		case s == 3 && f.host != "":
			toServer = true
			payload = fmt.Appendf(nil, "GET /index.html HTTP/1.1\r\nUser-Agent: gen\r\nHost: %s:%d\r\nAccept: */*\r\n\r\n", f.host, f.sport)
			defer g.names(f)
		case s == 3:
			toServer = true
			payload = make([]byte, g.rng.IntN(1400))
		default:
			payload = make([]byte, g.rng.IntN(1447))
		}
		g.packet(f, toServer, ack|psh, payload)
	case s == 3+f.data:
		g.packet(f, true, fin|ack, nil)
	case s == 4+f.data:
		g.packet(f, false, fin|ack, nil)
	default:
		g.packet(f, true, ack, nil)
		return false
	}
	return true
}

// names records the SNI or Host of the client payload just written.
func (g *gen) names(f *genFlow) {
	for _, t := range f.truth {
		if t != nil {
			t.SNI, t.HTTPHost = strings.ToLower(f.sni), f.host
		}
	}
}

func (g *gen) dnsQuery(f *genFlow) {
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: uint16(f.cport), RecursionDesired: true})
	b.StartQuestions()
	b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(f.qname + "."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET})
	msg, err := b.Finish()
	if err != nil {
		panic(err) // the names are ours and valid
	}
	g.packet(f, true, 0, msg)
}

func (g *gen) dnsResponse(f *genFlow) {
	d := truth.DNS{Kind: "dns", File: g.file, Client: f.client.addr.String(), QName: f.qname}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: uint16(f.cport), Response: true, RecursionDesired: true, RecursionAvailable: true})
	b.StartQuestions()
	q := dnsmessage.MustNewName(f.qname + ".")
	b.Question(dnsmessage.Question{Name: q, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET})
	b.StartAnswers()
	owner := q
	if g.rng.IntN(3) == 0 {
		d.CNAME = "edge-" + f.qname
		target := dnsmessage.MustNewName(d.CNAME + ".")
		b.CNAMEResource(dnsmessage.ResourceHeader{Name: owner, Class: dnsmessage.ClassINET, TTL: 300}, dnsmessage.CNAMEResource{CNAME: target})
		owner = target
	}
	for range 1 + g.rng.IntN(3) {
		a := g.remote().addr
		d.Answers = append(d.Answers, a.String())
		b.AResource(dnsmessage.ResourceHeader{Name: owner, Class: dnsmessage.ClassINET, TTL: 60}, dnsmessage.AResource{A: a.As4()})
	}
	msg, err := b.Finish()
	if err != nil {
		panic(err)
	}
	g.packet(f, false, 0, msg)
	d.Frame = g.frame
	if f.uplink {
		// The bridge copy was written first; the uplink copy carries the same
		// answers to the host's address.
		bridge := d
		bridge.Frame = g.frame - 1
		g.dns = append(g.dns, bridge)
		d.Client = genUplinkSource
	}
	g.dns = append(g.dns, d)
}

// genClientHello builds a TLS 1.3-style ClientHello record with the SNI among
// other extensions.
func genClientHello(rng *rand.Rand, sni string) []byte {
	var ext []byte
	addExt := func(typ uint16, body []byte) {
		ext = binary.BigEndian.AppendUint16(ext, typ)
		ext = binary.BigEndian.AppendUint16(ext, uint16(len(body)))
		ext = append(ext, body...)
	}
	addExt(10, []byte{0, 4, 0, 0x1d, 0, 0x17})                             // supported_groups
	addExt(51, append([]byte{0, 36, 0, 0x1d, 0, 32}, make([]byte, 32)...)) // key_share
	var sn []byte
	sn = binary.BigEndian.AppendUint16(sn, uint16(3+len(sni)))
	sn = append(sn, 0)
	sn = binary.BigEndian.AppendUint16(sn, uint16(len(sni)))
	sn = append(sn, sni...)
	addExt(0, sn)
	addExt(43, []byte{2, 3, 4}) // supported_versions
	var hs []byte
	hs = append(hs, 3, 3)
	for range 32 {
		hs = append(hs, byte(rng.Uint32()))
	}
	hs = append(hs, 32)
	hs = append(hs, make([]byte, 32)...)
	hs = append(hs, 0, 6, 0x13, 1, 0x13, 2, 0x13, 3) // cipher suites
	hs = append(hs, 1, 0)                            // compression: null
	hs = binary.BigEndian.AppendUint16(hs, uint16(len(ext)))
	hs = append(hs, ext...)
	rec := []byte{22, 3, 1, 0, 0, 1, byte(len(hs) >> 16), byte(len(hs) >> 8), byte(len(hs))}
	rec = append(rec, hs...)
	binary.BigEndian.PutUint16(rec[3:], uint16(len(rec)-5))
	return rec
}

// packet writes one packet of f (and its uplink copy) and records it in the truth.
func (g *gen) packet(f *genFlow, toServer bool, flags uint8, payload []byte) {
	g.emit(f, 0, toServer, flags, payload)
	if f.uplink {
		g.emit(f, 1, toServer, flags, payload)
	}
}

func (g *gen) emit(f *genFlow, point int, toServer bool, flags uint8, payload []byte) {
	client, cport := f.client, f.cport
	if point == 1 {
		client, cport = g.uplink, f.upPort
	}
	src, dst, sp, dp := client, f.server, cport, f.sport
	if !toServer {
		src, dst, sp, dp = f.server, client, f.sport, cport
	}
	if f.proto == 1 { // ICMP echo: the "ports" are the type and the identifier
		sp, dp = 8, f.sport
		if !toServer {
			sp = 0
		}
	}
	dir := 0
	if !toServer {
		dir = 1
	}
	b := g.buf[:0]
	b = append(b, dst.mac[:]...)
	b = append(b, src.mac[:]...)
	b = append(b, 8, 0)
	ip := len(b)
	th := 20
	switch f.proto {
	case 17:
		th = 8
	case 1:
		th = 8
	}
	total := 20 + th + len(payload)
	f.ipID++
	b = append(b, 0x45, 0, byte(total>>8), byte(total), byte(f.ipID>>8), byte(f.ipID), 0x40, 0, 64, f.proto, 0, 0)
	s4, d4 := src.addr.As4(), dst.addr.As4()
	b = append(b, s4[:]...)
	b = append(b, d4[:]...)
	binary.BigEndian.PutUint16(b[ip+10:], genChecksum(b[ip:ip+20]))
	switch f.proto {
	case 6:
		b = binary.BigEndian.AppendUint16(b, sp)
		b = binary.BigEndian.AppendUint16(b, dp)
		b = binary.BigEndian.AppendUint32(b, f.seq[dir])
		b = binary.BigEndian.AppendUint32(b, f.seq[1-dir])
		b = append(b, 5<<4, flags, 0xfa, 0xf0, 0, 0, 0, 0)
		f.seq[dir] += uint32(len(payload))
		if flags&3 != 0 { // SYN and FIN count one
			f.seq[dir]++
		}
	case 17:
		b = binary.BigEndian.AppendUint16(b, sp)
		b = binary.BigEndian.AppendUint16(b, dp)
		b = binary.BigEndian.AppendUint16(b, uint16(8+len(payload)))
		b = append(b, 0, 0)
	case 1:
		b = append(b, byte(sp), 0, 0, 0)
		b = binary.BigEndian.AppendUint16(b, dp)
		b = binary.BigEndian.AppendUint16(b, uint16(f.step))
	}
	b = append(b, payload...)
	g.buf = b
	g.record(point, b)

	t := f.truth[point]
	if t == nil {
		// The first packet's sender is the client (no flow starts with a SYN-ACK).
		t = &truth.Flow{Kind: "flow", File: g.file, Proto: f.proto, First: g.now, FirstFrame: g.frame}
		if g.ng {
			t.Interface = point
		}
		t.Client, t.ClientPort, t.Server, t.ServerPort = src.addr.String(), sp, dst.addr.String(), dp
		if f.proto == 1 {
			t.ClientPort, t.ServerPort = 8, f.sport
		}
		f.truth[point] = t
	}
	d := dir
	if t.Client != client.addr.String() { // the server sent first
		d = 1 - dir
	}
	t.Packets[d]++
	t.Bytes[d] += uint64(len(b))
	if f.proto == 6 {
		t.TCPFlags[d] |= flags
	}
	t.Last, t.LastFrame = g.now, g.frame
	g.now += genGapNano
}

func genChecksum(h []byte) uint16 {
	var s uint32
	for i := 0; i < len(h); i += 2 {
		s += uint32(h[i])<<8 | uint32(h[i+1])
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}

func (g *gen) header() {
	if !g.ng {
		h := make([]byte, 24)
		binary.LittleEndian.PutUint32(h[0:], 0xa1b23c4d) // nanosecond pcap
		binary.LittleEndian.PutUint16(h[4:], 2)
		binary.LittleEndian.PutUint16(h[6:], 4)
		binary.LittleEndian.PutUint32(h[16:], 65535)
		binary.LittleEndian.PutUint32(h[20:], 1)
		g.out(h)
		return
	}
	g.out(pcapng.AppendSectionHeader(g.hdr[:0]))
	for _, name := range []string{"br-gen0", "eth0"} {
		g.out(pcapng.AppendInterface(g.hdr[:0], pcapng.LinkTypeEthernet, 65535,
			pcapng.StringOption(pcapng.OptIfName, name),
			pcapng.Option{Code: pcapng.OptIfTSResol, Value: []byte{pcapng.TSResolNanoseconds}}))
	}
}

func (g *gen) out(b []byte) {
	g.w.Write(b) // errors are sticky in bufio.Writer and reported by Flush
	g.written += int64(len(b))
}

// record writes one packet record on interface point.
func (g *gen) record(point int, data []byte) {
	g.frame++
	var h [16]byte
	if !g.ng {
		le := binary.LittleEndian
		le.PutUint32(h[0:], uint32(g.now/1e9))
		le.PutUint32(h[4:], uint32(g.now%1e9))
		le.PutUint32(h[8:], uint32(len(data)))
		le.PutUint32(h[12:], uint32(len(data)))
		g.out(h[:16])
		g.out(data)
		return
	}
	g.hdr = pcapng.AppendPacket(g.hdr[:0], uint32(point), uint64(g.now), data, uint32(len(data)))
	g.out(g.hdr)
}
