package packet

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"time"

	"github.com/dockcase/dockcase/internal/pcapng"
	"github.com/dockcase/dockcase/internal/pcapng/pcapngtest"
)

// captureCorpusBudget is the time one corpus file may take, from the issue.
const captureCorpusBudget = 2 * time.Second

// captureFileStats is what the reader and decoder made of one file.
type captureFileStats struct {
	records     int
	linkTypes   map[pcapng.LinkType]int
	unsupported int // records of a link type Decode does not handle
	truncated   int
	malformed   int
	transport   int // records with ports or ICMP type decoded
	readErr     error
	openErr     error
	elapsed     time.Duration
}

func captureScanFile(path string) (st captureFileStats) {
	st.linkTypes = map[pcapng.LinkType]int{}
	start := time.Now()
	defer func() { st.elapsed = time.Since(start) }()
	f, err := os.Open(path)
	if err != nil {
		st.openErr = err
		return st
	}
	defer f.Close()
	c, err := pcapng.NewReader(bufio.NewReader(f), filepath.Base(path))
	if err != nil {
		st.openErr = err
		return st
	}
	var p Packet
	for {
		r, err := c.Next()
		if err != nil {
			if err != io.EOF {
				st.readErr = err
			}
			break
		}
		st.records++
		st.linkTypes[r.LinkType]++
		if err := Decode(r.LinkType, r.Data, &p); errors.Is(err, ErrUnsupportedLinkType) {
			st.unsupported++
			continue
		}
		if p.Truncated {
			st.truncated++
		}
		if p.Malformed {
			st.malformed++
		}
		if p.Layers&(LayerTCP|LayerUDP|LayerICMP) != 0 {
			st.transport++
		}
	}
	return st
}

// capinfosCounts runs capinfos once over all files and returns the packet count of
// each file it read without complaint.
func capinfosCounts(t *testing.T, dir string, names []string) map[string]string {
	t.Helper()
	if _, err := exec.LookPath("capinfos"); err != nil {
		t.Skip("capinfos not installed: it is the oracle for this test")
	}
	cmd := exec.Command("capinfos", append([]string{"-T", "-c", "-M", "-m"}, names...)...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	_ = cmd.Run() // exits non-zero when any file is bad; stderr names those
	bad := map[string]bool{}
	for _, m := range regexp.MustCompile(`"([^"]+)"`).FindAllStringSubmatch(stderr.String(), -1) {
		bad[filepath.Base(m[1])] = true
	}
	counts := map[string]string{}
	for _, l := range strings.Split(stdout.String(), "\n") {
		f := strings.Split(l, ",")
		if len(f) == 2 && !bad[f[0]] && f[0] != "File name" {
			counts[f[0]] = f[1]
		}
	}
	if len(counts) == 0 {
		t.Fatalf("capinfos gave no counts: %s", stderr.String())
	}
	return counts
}

func TestCaptureCorpus(t *testing.T) {
	dir := pcapngtest.CorpusDir(t)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	oracle := capinfosCounts(t, dir, names)
	compared := map[pcapng.LinkType]bool{
		pcapng.LinkTypeEthernet: true, pcapng.LinkTypeLinuxSLL: true, pcapng.LinkTypeLinuxSLL2: true,
		pcapng.LinkTypeRaw: true, pcapng.LinkTypeRawBSD12: true, pcapng.LinkTypeRawBSD14: true, pcapng.LinkTypeIPv4: true, pcapng.LinkTypeIPv6: true,
	}
	var (
		files, records, unsupported, truncated, malformed, transport, openErrs, readErrs, checked int
		slowest                                                                                   time.Duration
		slowestName                                                                               string
		readErrByReason                                                                           = map[string]int{}
	)
	for _, name := range names {
		st := captureScanFile(filepath.Join(dir, name))
		files++
		if st.elapsed > captureCorpusBudget {
			t.Errorf("%s: read and decoded in %v, budget %v", name, st.elapsed, captureCorpusBudget)
		}
		if st.elapsed > slowest {
			slowest, slowestName = st.elapsed, name
		}
		records += st.records
		unsupported += st.unsupported
		truncated += st.truncated
		malformed += st.malformed
		transport += st.transport
		if st.openErr != nil {
			openErrs++
			t.Logf("%s: not opened: %v", name, st.openErr)
			continue
		}
		if st.readErr != nil {
			readErrs++
			var ce *pcapng.Error
			if errors.As(st.readErr, &ce) {
				readErrByReason[regexp.MustCompile(`[0-9]+`).ReplaceAllString(ce.Reason, "N")]++
			}
			t.Logf("%s: stopped after %d records: %v", name, st.records, st.readErr)
		}
		want, ok := oracle[name]
		if !ok {
			continue
		}
		cmp := len(st.linkTypes) > 0
		for lt := range st.linkTypes {
			cmp = cmp && compared[lt]
		}
		if !cmp {
			if fmt.Sprint(st.records) != want {
				t.Logf("%s: %d records, capinfos %s (link types %v, not compared)", name, st.records, want, st.linkTypes)
			}
			continue
		}
		checked++
		if fmt.Sprint(st.records) != want {
			t.Errorf("%s: %d records, capinfos -c says %s (read error %v)", name, st.records, want, st.readErr)
		}
	}
	reasons := make([]string, 0, len(readErrByReason))
	for r, n := range readErrByReason {
		reasons = append(reasons, fmt.Sprintf("%d× %s", n, r))
	}
	sort.Strings(reasons)
	t.Logf("corpus: %d files, %d records; %d not opened, %d stopped early (%s); %d records of unsupported link types, %d truncated, %d malformed, %d with transport decoded; %d files compared with capinfos; slowest %s in %v",
		files, records, openErrs, readErrs, strings.Join(reasons, "; "), unsupported, truncated, malformed, transport, checked, slowestName, slowest)
	if checked < 400 {
		t.Errorf("only %d files compared with capinfos, want the Ethernet/SLL/raw part of the corpus (>400)", checked)
	}
}

// captureTuple renders the addresses and ports of p like tshark's fields.
func captureTuple(p *Packet) string {
	src, dst := "", ""
	if p.Layers&(LayerIPv4|LayerIPv6) != 0 {
		src, dst = p.Src.String(), p.Dst.String()
	}
	sp, dp := "", ""
	if p.Layers&(LayerTCP|LayerUDP) != 0 {
		sp, dp = fmt.Sprint(p.SrcPort), fmt.Sprint(p.DstPort)
	}
	return strings.Join([]string{src, dst, sp, dp}, " ")
}

// tsharkTuple picks the outermost addresses and ports of tshark's row; the row has
// ip.src ip.dst ipv6.src ipv6.dst tcp.srcport tcp.dstport udp.srcport udp.dstport
// vlan.id.
func tsharkTuple(row []string) string {
	src, dst := row[0], row[1]
	if src == "" {
		src, dst = row[2], row[3]
	}
	sp, dp := row[4], row[5]
	if sp == "" {
		sp, dp = row[6], row[7]
	}
	return strings.Join([]string{src, dst, sp, dp}, " ")
}

// TestDecodePacketTshark compares decoded addresses, ports and VLAN ids with tshark on
// corpus files chosen for their headers, and on an SLL2 file built from one of them.
func TestDecodePacketTshark(t *testing.T) {
	dir := pcapngtest.CorpusDir(t)
	files := []string{
		"802.1ad_QinQ.pcap",        // QinQ
		"ipv6-routing-header.pcap", // IPv6 routing header
		"ipv6-srh-ext-header.pcap", // IPv6 segment routing header
		"ip6_frag_asan.pcap",       // IPv6 fragments
		"LINKTYPE_RAW_ipv6.pcap",   // raw IPv6
		"mptcp-fclose.pcap",        // Ethernet, TCP
		"udp-length-heapoverflow.pcap",
	}
	sll2 := filepath.Join(t.TempDir(), "sll2.pcap")
	if err := captureTestToSLL2(filepath.Join(dir, "802.1ad_QinQ.pcap"), sll2); err != nil {
		t.Fatal(err)
	}
	paths := []string{sll2}
	for _, f := range files {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			paths = append(paths, filepath.Join(dir, f))
		} else {
			t.Logf("%s not in corpus, skipped", f)
		}
	}
	for _, path := range paths {
		rows := pcapngtest.TsharkFrames(t, path, "ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "tcp.srcport", "tcp.dstport",
			"udp.srcport", "udp.dstport", "vlan.id", "ieee8021ad.id")
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		c, err := pcapng.NewReader(bufio.NewReader(f), path)
		if err != nil {
			t.Fatal(err)
		}
		var p Packet
		same, i := 0, 0
		for ; ; i++ {
			r, err := c.Next()
			if err != nil {
				break
			}
			if i >= len(rows) {
				t.Errorf("%s: more records than tshark frames", path)
				break
			}
			if err := Decode(r.LinkType, r.Data, &p); err != nil {
				t.Errorf("%s frame %d: %v", path, r.Frame, err)
				continue
			}
			row := rows[i]
			for len(row) < 10 {
				row = append(row, "")
			}
			got, want := captureTuple(&p), tsharkTuple(row)
			// tshark also fills ports from the packet an ICMP error quotes; we do not.
			if p.Layers.Has(LayerICMP) || (p.Layers.Has(LayerFragment) && !p.FragFirst) {
				got, want = got[:strings.LastIndex(strings.TrimRight(got, " "), " ")], want[:strings.LastIndex(strings.TrimRight(want, " "), " ")]
			}
			if got != want && !(p.Truncated && strings.HasPrefix(want, got)) {
				t.Errorf("%s frame %d: decoded %q, tshark %q (layers %b truncated %v malformed %v)", path, r.Frame, got, want, p.Layers, p.Truncated, p.Malformed)
				continue
			}
			// tshark names an 802.1ad service tag ieee8021ad.id and the customer tag vlan.id.
			wantVLANs := strings.Trim(row[9]+" "+row[8], " ")
			gotVLANs := ""
			for _, id := range p.VLANs[:min(int(p.VLANCount), packetKeptVLANTags)] {
				gotVLANs = strings.Trim(gotVLANs+" "+fmt.Sprint(id), " ")
			}
			if gotVLANs != wantVLANs {
				t.Errorf("%s frame %d: VLANs %q, tshark %q", path, r.Frame, gotVLANs, wantVLANs)
				continue
			}
			same++
		}
		f.Close()
		t.Logf("%s: %d of %d frames agree with tshark", filepath.Base(path), same, i)
		if same == 0 {
			t.Errorf("%s: no frame agrees with tshark", path)
		}
	}
}

// captureTestToSLL2 rewrites an Ethernet pcap as Linux SLL2, the link type of
// `tcpdump -i any` since libpcap 1.10, keeping VLAN tags in the payload.
func captureTestToSLL2(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	c, err := pcapng.NewReader(bytes.NewReader(b), src)
	if err != nil {
		return err
	}
	var recs []pcapngtest.Rec
	for {
		r, err := c.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if len(r.Data) < 14 {
			continue
		}
		h := make([]byte, 20)
		copy(h[0:2], r.Data[12:14]) // protocol
		binary.BigEndian.PutUint32(h[4:], 7)
		binary.BigEndian.PutUint16(h[8:], 1) // ARPHRD_ETHER
		h[10], h[11] = 4, 6                  // outgoing, 6-byte address
		copy(h[12:], r.Data[6:12])
		recs = append(recs, pcapngtest.Rec{TS: uint64(r.TimeUnixNano / 1000), Data: append(h, r.Data[14:]...)})
	}
	return os.WriteFile(dst, pcapngtest.Pcap(binary.LittleEndian, false, uint32(pcapng.LinkTypeLinuxSLL2), recs), 0o600)
}
