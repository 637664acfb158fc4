package traffic

import (
	"bytes"
	"compress/gzip"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/dockcase/dockcase/analyze/flow"
	"github.com/dockcase/dockcase/analyze/model"
	"github.com/dockcase/dockcase/internal/pcapng"
)

// sha256sum is the hash of path as coreutils' sha256sum gives it: an
// implementation independent of the one under test.
func sha256sum(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command("sha256sum", path).Output()
	if err != nil {
		t.Skipf("sha256sum: %v", err)
	}
	return strings.Fields(string(out))[0]
}

// hashTestCapture writes a pcapng capture of n UDP packets, each in a
// flow of its own, padded to some kilobytes each so that the file spans
// many reads.
func hashTestCapture(t *testing.T, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := pcapng.NewWriter(&buf)
	iface, err := w.AddInterface(pcapng.LinkTypeEthernet, 65535, pcapng.StringOption(pcapng.OptIfName, "eth0"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		sb := gopacket.NewSerializeBuffer()
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.IPv4(10, 0, byte(i>>8), byte(i)), DstIP: net.IPv4(192, 0, 2, 1)}
		udp := &layers.UDP{SrcPort: layers.UDPPort(40000 + i%1000), DstPort: 443}
		udp.SetNetworkLayerForChecksum(ip)
		err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{FixLengths: true},
			&layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4},
			ip, udp, gopacket.Payload(bytes.Repeat([]byte{byte(i)}, 1400)))
		if err != nil {
			t.Fatal(err)
		}
		data := sb.Bytes()
		if err := w.WritePacket(iface, int64(1_700_000_000_000_000_000+i*1000), data, uint32(len(data))); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// TestPcapHashWhileReading checks that a --pcap file hashed as its flows
// are read has the hash sha256sum gives, in the capture and in every
// flow's capture point: plain, gzip-compressed, and a file the reader
// stops reading early (a capture cut by garbage); and that a second
// reading (extract) does not change it.
func TestPcapHashWhileReading(t *testing.T) {
	dir := t.TempDir()
	capture := hashTestCapture(t, 3000) // about 4.5 MB: several 1 MiB reads
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(capture)
	zw.Close()
	garbage := append(append([]byte{}, capture[:len(capture)/2]...), bytes.Repeat([]byte{0xff}, 3<<20)...)
	for _, tc := range []struct {
		name  string
		data  []byte
		flows bool
	}{
		{"plain.pcapng", capture, true},
		{"ids.pcapng.gz", gz.Bytes(), true},
		{"cut.pcapng", garbage, true},
		{"not-a-capture.bin", bytes.Repeat([]byte("x"), 2<<20), false},
	} {
		path := filepath.Join(dir, tc.name)
		if err := os.WriteFile(path, tc.data, 0o644); err != nil {
			t.Fatal(err)
		}
		want := sha256sum(t, path)
		inputs, err := Inputs(hashTestHost(), []string{path})
		if err != nil {
			t.Fatalf("Inputs(%q) = %v", tc.name, err)
		}
		set := flow.ReadAll(inputs, flow.Options{})
		c := set.Captures[0]
		if c.SHA256 != want {
			t.Errorf("%s: capture SHA-256 %q, want %q (sha256sum); err %v", tc.name, c.SHA256, want, c.Err)
		}
		if tc.flows && len(set.Flows) == 0 {
			t.Errorf("%s: no flows read", tc.name)
		}
		for _, f := range set.Flows {
			if f.Point.SHA256 != want {
				t.Fatalf("%s: flow's capture point SHA-256 %q, want %q", tc.name, f.Point.SHA256, want)
			}
		}
		// A second reading, as extract does, reads the same bytes and keeps
		// the hash.
		rc, err := inputs[0].Open()
		if err == nil {
			_, err = io.Copy(io.Discard, rc)
			rc.Close()
		}
		if sum, _ := inputs[0].Sum(); sum != want {
			t.Errorf("%s: after a second reading the SHA-256 is %q, want %q", tc.name, sum, want)
		}
	}
}

// TestPcapHashReadError checks that a file that fails to read has no hash
// but an error, which the capture reports: a directory opens, and its
// reads fail.
func TestPcapHashReadError(t *testing.T) {
	p := &pcapHash{path: t.TempDir()}
	rc, err := p.open()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(rc); err == nil {
		t.Fatal("reading a directory did not fail")
	}
	rc.Close()
	if sum, err := p.result(); err == nil || sum != "" {
		t.Fatalf("hash of an unreadable file = %q, %v; want an error", sum, err)
	}
	set := flow.ReadAll([]flow.Input{{Member: "pcap:dir", Sum: p.result, Open: p.open}}, flow.Options{})
	if c := set.Captures[0]; c.Err == nil || c.SHA256 != "" {
		t.Fatalf("capture of an unreadable file: SHA-256 %q, err %v; want an error", c.SHA256, c.Err)
	}
}

// TestPcapHashChanged checks that a --pcap file that grows or is
// rewritten while it is read gets no hash, with the reason, rather than
// the hash of bytes the analysis may not have read.
func TestPcapHashChanged(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(path string) error
	}{
		{"appended", func(path string) error {
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				return err
			}
			f.Write(bytes.Repeat([]byte{0}, 4096))
			return f.Close()
		}},
		{"rewritten in place", func(path string) error {
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			f.WriteAt([]byte{0xff}, 100)
			if err := f.Close(); err != nil {
				return err
			}
			// A later modification time, whatever the file system's grain.
			later := time.Now().Add(time.Minute)
			return os.Chtimes(path, later, later)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "cap.pcapng")
			if err := os.WriteFile(path, hashTestCapture(t, 100), 0o644); err != nil {
				t.Fatal(err)
			}
			p := &pcapHash{path: path}
			rc, err := p.open()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := rc.Read(make([]byte, 1000)); err != nil {
				t.Fatal(err)
			}
			if err := tc.change(path); err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, rc)
			rc.Close()
			sum, err := p.result()
			if sum != "" || err == nil || !strings.Contains(err.Error(), "changed while it was read") || !strings.Contains(err.Error(), path) {
				t.Fatalf("hash of a file changed while read = %q, %v; want no hash and an error naming the file and the change", sum, err)
			}
		})
	}
}

// hashTestHost is a host without a bundle: only --pcap inputs.
func hashTestHost() *model.Host { return &model.Host{} }
