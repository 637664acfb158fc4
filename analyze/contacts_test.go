package analyze_test

import (
	"testing"

	"github.com/dockcase/dockcase/analyze"
	"github.com/dockcase/dockcase/analyze/analyzetest"
	"github.com/dockcase/dockcase/analyze/traffic"
)

// TestDemoContactsMatchTshark counts the demo's conversations on the
// beacon's veth the way Wireshark does (tshark -z conv,tcp -z conv,udp on
// the packets of that interface) and compares them with the contacts that
// the veth saw: one contact per conversation, whatever the number of
// capture points it crossed.
func TestDemoContactsMatchTshark(t *testing.T) {
	tshark := analyzetest.Tshark(t)
	c, err := analyze.Open(analyzetest.OpenDemo(t), analyze.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := c.Traffic()
	if err != nil {
		t.Fatal(err)
	}
	var veth string
	perPoint := 0
	for _, f := range tr.Flows {
		if f.Role == traffic.PointVeth {
			veth = f.Interface
		}
		if f.Proto == "tcp" || f.Proto == "udp" {
			perPoint++
		}
	}
	if veth == "" {
		t.Fatal("the demo has no flow on a veth")
	}
	// Every flow is in exactly one contact.
	inContact := map[int]int{}
	seen, onVeth := 0, 0
	for _, k := range tr.Contacts {
		veths := 0
		for _, s := range k.Sources {
			if s.Flow != nil {
				inContact[*s.Flow]++
			}
			if s.Kind == traffic.SourceCapture && s.Interface == veth {
				veths++
			}
		}
		if veths > 1 {
			t.Errorf("contact %s %s → %s has %d flows of the veth", k.Proto, k.Local, k.Remote, veths)
		}
		if veths == 1 && (k.Proto == "tcp" || k.Proto == "udp") {
			onVeth++
		}
		if k.Exact {
			seen++
		}
	}
	for i := range tr.Flows {
		if inContact[i] != 1 {
			t.Errorf("flow %d (%s %s:%d → %s:%d on %s) is in %d contacts, want 1", i, tr.Flows[i].Proto, tr.Flows[i].Client, tr.Flows[i].ClientPort,
				tr.Flows[i].Server, tr.Flows[i].ServerPort, tr.Flows[i].Interface, inContact[i])
		}
	}

	want := analyzetest.TsharkConversations(t, tshark, analyzetest.DemoCapture(t), veth)
	t.Logf("veth %s: tshark %d TCP/UDP conversations; contacts seen there %d; TCP/UDP flows over all points %d; contacts %d (%d captured, %d from sockets and conntrack alone)",
		veth, want, onVeth, perPoint, len(tr.Contacts), seen, len(tr.Contacts)-seen)
	if onVeth != want || want == 0 {
		t.Errorf("contacts seen on %s = %d, tshark counts %d conversations there", veth, onVeth, want)
	}
}
