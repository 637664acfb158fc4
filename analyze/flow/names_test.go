package flow

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dockcase/dockcase/internal/packet"
	"github.com/dockcase/dockcase/internal/pcapng"
	"github.com/dockcase/dockcase/internal/pcapng/pcapngtest"
	"golang.org/x/net/dns/dnsmessage"
)

// namesTestClientHello returns the first TLS record a real crypto/tls client sends
// for serverName.
func namesTestClientHello(t testing.TB, serverName string) []byte {
	t.Helper()
	c, s := net.Pipe()
	defer s.Close()
	go func() {
		cl := tls.Client(c, &tls.Config{ServerName: serverName})
		_ = cl.Handshake() // fails when the pipe closes; only the hello matters
		cl.Close()
	}()
	_ = s.SetReadDeadline(time.Now().Add(10 * time.Second))
	hdr := make([]byte, 5)
	if _, err := readFull(s, hdr); err != nil {
		t.Fatalf("read ClientHello header: %v", err)
	}
	body := make([]byte, binary.BigEndian.Uint16(hdr[3:]))
	if _, err := readFull(s, body); err != nil {
		t.Fatalf("read ClientHello: %v", err)
	}
	return append(hdr, body...)
}

func readFull(c net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := c.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func TestParseSNI(t *testing.T) {
	hello := namesTestClientHello(t, "Beacon.C2.Example")
	at := bytes.Index(hello, []byte("Beacon.C2.Example"))
	if at < 0 {
		t.Fatal("the ClientHello does not hold the server name")
	}
	gen := func(name string) []byte { // the generator's hello, name bytes as given
		var ext []byte
		ext = binary.BigEndian.AppendUint16(ext, 0)
		ext = binary.BigEndian.AppendUint16(ext, uint16(5+len(name)))
		ext = binary.BigEndian.AppendUint16(ext, uint16(3+len(name)))
		ext = append(ext, 0)
		ext = binary.BigEndian.AppendUint16(ext, uint16(len(name)))
		ext = append(ext, name...)
		hs := append([]byte{3, 3}, make([]byte, 32)...)
		hs = append(hs, 0, 0, 2, 0x13, 1, 1, 0)
		hs = binary.BigEndian.AppendUint16(hs, uint16(len(ext)))
		hs = append(hs, ext...)
		rec := []byte{22, 3, 1, 0, 0, 1, 0, byte(len(hs) >> 8), byte(len(hs))}
		rec = append(rec, hs...)
		binary.BigEndian.PutUint16(rec[3:], uint16(len(rec)-5))
		return rec
	}
	tests := []struct {
		name string
		in   []byte
		want string
		ok   bool
	}{
		{"crypto/tls client", hello, "beacon.c2.example", true},
		{"cut after the name", hello[:at+len("Beacon.C2.Example")], "beacon.c2.example", true},
		{"cut inside the name", hello[:at+4], "", false},
		{"cut in the header", hello[:7], "", false},
		{"trailing dot", gen("evil.example."), "evil.example", true},
		{"name with a space", gen("evil example"), "", false},
		{"name too long", gen(strings.Repeat("a", 254)), "", false},
		{"empty name", gen(""), "", false},
		{"not a handshake", append([]byte{23}, hello[1:]...), "", false},
		{"http", []byte("GET / HTTP/1.1\r\n"), "", false},
		{"empty", nil, "", false},
	}
	for _, tt := range tests {
		got, ok := parseSNI(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("%s: parseSNI(%q) = %q, %v, want %q, %v", tt.name, tt.in, got, ok, tt.want, tt.ok)
		}
		if ok && !nameCandidate(tt.in) {
			t.Errorf("%s: nameCandidate(%q) = false for a payload holding a name", tt.name, tt.in)
		}
	}
}

func TestParseHTTPHost(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"GET / HTTP/1.1\r\nHost: Evil.Example\r\n\r\n", "evil.example", true},
		{"POST /x HTTP/1.0\r\nUser-Agent: a\r\nhost:evil.example:8080\r\n\r\n", "evil.example", true},
		{"GET / HTTP/1.1\nHOST: \tevil.example.  \n\n", "evil.example", true},
		{"GET / HTTP/1.1\r\nHost: [2001:db8::7]:80\r\n\r\n", "2001:db8::7", true},
		{"GET http://proxy.example/ HTTP/1.1\r\nHost: 198.51.100.7\r\n\r\n", "198.51.100.7", true},
		{"GET / HTTP/1.1\r\nAccept: */*\r\n\r\nHost: late.example\r\n", "", false},
		{"GET / HTTP/1.1\r\nHost: cut.exa", "", false},
		{"GET / HTTP/2.0\r\nHost: h2.example\r\n\r\n", "", false},
		{"get / HTTP/1.1\r\nHost: lower.example\r\n\r\n", "", false},
		{"\x16\x03\x01\x02\x00", "", false},
		{"GET / HTTP/1.1\r\nHost: a\x01b\r\n\r\n", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := parseHTTPHost([]byte(tt.in))
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseHTTPHost(%q) = %q, %v, want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
		if ok && !nameCandidate([]byte(tt.in)) {
			t.Errorf("nameCandidate(%q) = false for a payload holding a name", tt.in)
		}
	}
}

func namesTestDNS(t testing.TB, answers func(b *dnsmessage.Builder)) []byte {
	t.Helper()
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 1, Response: true})
	b.EnableCompression()
	_ = b.StartQuestions()
	_ = b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName("WWW.Evil.Example."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET})
	_ = b.StartAnswers()
	answers(&b)
	msg, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func TestParseDNS(t *testing.T) {
	www, edge := dnsmessage.MustNewName("www.evil.example."), dnsmessage.MustNewName("Edge.CDN.example.")
	msg := namesTestDNS(t, func(b *dnsmessage.Builder) {
		_ = b.CNAMEResource(dnsmessage.ResourceHeader{Name: www, Class: dnsmessage.ClassINET, TTL: 30}, dnsmessage.CNAMEResource{CNAME: edge})
		_ = b.MXResource(dnsmessage.ResourceHeader{Name: www, Class: dnsmessage.ClassINET}, dnsmessage.MXResource{MX: edge})
		_ = b.AResource(dnsmessage.ResourceHeader{Name: edge, Class: dnsmessage.ClassINET, TTL: 60}, dnsmessage.AResource{A: [4]byte{198, 51, 100, 7}})
		_ = b.AAAAResource(dnsmessage.ResourceHeader{Name: edge, Class: dnsmessage.ClassINET, TTL: 60}, dnsmessage.AAAAResource{AAAA: [16]byte{0x20, 1, 0xd, 0xb8, 15: 7}})
	})
	r, err := parseDNS(msg)
	if err != nil {
		t.Fatal(err)
	}
	got := r.QName
	for _, a := range r.Answers {
		got += " | " + a.Name + " " + strconv.Itoa(int(a.Type)) + " " + a.Target + a.Addr.String() + " " + strconv.Itoa(int(a.TTL))
	}
	want := "www.evil.example | www.evil.example 5 edge.cdn.example 30 | edge.cdn.example 1 198.51.100.7 60 | edge.cdn.example 28 2001:db8::7 60"
	// netip.Addr{}.String() is "invalid IP" for CNAMEs: compare without it.
	got = strings.ReplaceAll(got, "invalid IP", "")
	if got != want || r.Partial {
		t.Errorf("parseDNS = %q partial %v, want %q", got, r.Partial, want)
	}
	for _, a := range []string{"198.51.100.7", "2001:db8::7"} {
		names := r.NamesFor(netip.MustParseAddr(a))
		if strings.Join(names, ",") != "edge.cdn.example,www.evil.example" {
			t.Errorf("NamesFor(%s) = %q, want the CNAME chain", a, names)
		}
	}
	// Cut in the last answer: the answers before it are kept.
	r, err = parseDNS(msg[:len(msg)-3])
	if err != nil || !r.Partial || len(r.Answers) != 2 {
		t.Errorf("parseDNS(cut) = %d answers partial %v err %v, want 2 answers, partial", len(r.Answers), r.Partial, err)
	}
	query := bytes.Clone(msg)
	query[2] &^= 0x80
	if _, err := parseDNS(query); err == nil {
		t.Error("parseDNS(query) succeeded, want an error")
	}
	// A CNAME loop ends.
	loop := namesTestDNS(t, func(b *dnsmessage.Builder) {
		_ = b.CNAMEResource(dnsmessage.ResourceHeader{Name: www, Class: dnsmessage.ClassINET}, dnsmessage.CNAMEResource{CNAME: edge})
		_ = b.CNAMEResource(dnsmessage.ResourceHeader{Name: edge, Class: dnsmessage.ClassINET}, dnsmessage.CNAMEResource{CNAME: www})
		_ = b.AResource(dnsmessage.ResourceHeader{Name: edge, Class: dnsmessage.ClassINET}, dnsmessage.AResource{A: [4]byte{198, 51, 100, 7}})
	})
	r, _ = parseDNS(loop)
	if names := r.NamesFor(netip.MustParseAddr("198.51.100.7")); len(names) != 2 {
		t.Errorf("NamesFor on a CNAME loop = %q, want 2 names", names)
	}
}

// TestNamesTshark compares the SNI and Host names of a generated capture with
// tshark's TLS and HTTP dissectors, frame by frame.
func TestNamesTshark(t *testing.T) {
	capture, _ := flowsGenCapture(t, t.TempDir(), "-size", "2MB", "-flows", "400", "-seed", "3")
	res := flowsReadFile(t, capture, Options{})
	mine := map[string]string{}
	for _, f := range res.Flows {
		if f.SNI != "" {
			mine[strconv.FormatUint(f.NameFrame, 10)] = "sni " + f.SNI
		}
		if f.HTTPHost != "" {
			mine[strconv.FormatUint(f.NameFrame, 10)] = "host " + f.HTTPHost
		}
	}
	theirs := map[string]string{}
	for _, row := range tsharkFramesFilter(t, capture, "tls.handshake.type==1", "frame.number", "tls.handshake.extensions_server_name") {
		theirs[row[0]] = "sni " + strings.ToLower(row[1])
	}
	for _, row := range tsharkFramesFilter(t, capture, "http.request", "frame.number", "http.host") {
		h := row[1]
		if i := strings.LastIndexByte(h, ':'); i >= 0 {
			h = h[:i]
		}
		theirs[row[0]] = "host " + strings.ToLower(h)
	}
	if len(theirs) < 20 {
		t.Fatalf("tshark found %d names, want at least 20", len(theirs))
	}
	for f, w := range theirs {
		if mine[f] != w {
			t.Errorf("frame %s: %q, tshark %q", f, mine[f], w)
		}
	}
	for f, m := range mine {
		if _, ok := theirs[f]; !ok {
			t.Errorf("frame %s: %q, tshark has none", f, m)
		}
	}
}

// namesFuzzSeeds are DNS messages from the corpus's DNS captures.
func namesFuzzSeeds(f *testing.F, port uint16) {
	dir, err := pcapngtest.FuzzCorpusDir()
	if err != nil {
		return
	}
	for _, name := range []string{"dns_udp.pcap", "dnssec.pcap", "dns-zlip-1.pcap", "dns-badlabel.pcap", "edns-opts.pcap"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			continue
		}
		c, err := pcapng.NewReader(bytes.NewReader(b), name)
		if err != nil {
			continue
		}
		var p packet.Packet
		for {
			r, err := c.Next()
			if err != nil {
				break
			}
			if packet.Decode(r.LinkType, r.Data, &p) == nil && p.Layers.Has(packet.LayerPayload) && (p.SrcPort == port || p.DstPort == port) {
				f.Add(bytes.Clone(r.Data[p.PayloadOffset : p.PayloadOffset+p.PayloadLen]))
			}
		}
	}
}

func FuzzParseDNS(f *testing.F) {
	namesFuzzSeeds(f, 53)
	f.Fuzz(func(t *testing.T, msg []byte) {
		r, err := parseDNS(msg)
		if err != nil {
			return
		}
		if len(r.Answers) > maxDNSAnswers {
			t.Fatalf("%d answers kept, limit %d", len(r.Answers), maxDNSAnswers)
		}
		for _, a := range r.Answers {
			if len(a.Name) > 255 || len(a.Target) > 255 || a.Name != namesTestASCIILower(a.Name) {
				t.Fatalf("answer name %q target %q not bounded or not lowercased", a.Name, a.Target)
			}
			_ = r.NamesFor(a.Addr)
		}
	})
}

func namesTestASCIILower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func namesCheckName(t *testing.T, name string, ok bool) {
	if !ok {
		if name != "" {
			t.Fatalf("no name, but %q returned", name)
		}
		return
	}
	if name == "" || len(name) > MaxNameBytes || name != namesTestASCIILower(name) || strings.ContainsAny(name, " \r\n\t\x00") {
		t.Fatalf("name %q: empty, too long, not lowercased or with spaces", name)
	}
}

func FuzzParseSNI(f *testing.F) {
	f.Add(namesTestClientHello(f, "seed.example"))
	f.Add([]byte{22, 3, 1, 0, 4, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		name, ok := parseSNI(b)
		namesCheckName(t, name, ok)
		if ok && !nameCandidate(b) {
			t.Fatalf("nameCandidate(%q) = false, but parseSNI finds %q", b, name)
		}
	})
}

func FuzzParseHTTPHost(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: seed.example:80\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.1\r\nHost: [::1]\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		name, ok := parseHTTPHost(b)
		namesCheckName(t, name, ok)
		if ok && !nameCandidate(b) {
			t.Fatalf("nameCandidate(%q) = false, but parseHTTPHost finds %q", b, name)
		}
	})
}
