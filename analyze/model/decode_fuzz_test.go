package model

import "testing"

// FuzzDecoders runs each member decoder on arbitrary bytes.
func FuzzDecoders(f *testing.F) {
	for _, s := range []string{`[]`, `{}`, `null`, `[{"Id":"x","Name":"/y","NetworkSettings":{"Networks":{"a/b~c":{"IPAddress":"1.2.3.4"}}}}]`,
		"{\"Type\":\"network\",\"Action\":\"connect\",\"timeNano\":-1}\n\n{", `{"entries":[{"original":{"sport":70000}}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		decodeClock(data)
		decodeNSIndex(data)
		decodeNetNS(data)
		decodeSockets(data)
		decodeNetworks(data)
		decodeContainerList(data)
		decodeInspect(data)
		decodeProcesses(data)
		decodeConntrack(data)
		decodeConntrackSysctl(data)
		decodeStats(data)
		decodeCaptureIfaces(data)
		decodeSocketSamples(data)
		events, lines, _ := decodeEvents(data)
		if len(events) != len(lines) {
			t.Fatalf("decodeEvents: %d events, %d lines", len(events), len(lines))
		}
		JSONPointer(string(data))
	})
}
