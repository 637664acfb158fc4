package bundle

import (
	"bytes"
	"testing"
)

func FuzzParseManifest(f *testing.F) {
	tb := writeTestBundle(f, Options{})
	for _, e := range unpack(f, tb.data) {
		f.Add(e.data)
	}
	f.Add([]byte(`{"format":"dockcase-bundle/v1","members":[{"path":"../x","sha256":""}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseManifest(b)
		ParseSums(b)
		parseHeader(b)
		CheckCustody(bytes.NewReader(b), "")
	})
}

func FuzzVerify(f *testing.F) {
	good, fixtures := hostileFixtures(f)
	f.Add(good.data)
	for _, b := range fixtures {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		res, err := Verify(bytes.NewReader(b), VerifyOptions{MaxBytes: 16 << 20})
		if err == nil && res.Manifest == nil {
			t.Fatal("Verify succeeded without a manifest")
		}
	})
}
