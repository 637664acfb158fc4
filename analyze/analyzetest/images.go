package analyzetest

import (
	"archive/tar"
	"bytes"
	"testing"
)

// Tar builds a tar of the given entries; a regular entry's size is its
// body's (bodies by entry name).
func Tar(t testing.TB, entries []*tar.Header, bodies map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range entries {
		body := bodies[h.Name]
		if h.Typeflag == tar.TypeReg || h.Typeflag == 0 {
			h.Size = int64(len(body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// SavedImage builds a docker save tar of an image with two layers: a base
// layer holding /tmp/.x/kworker (which a reader of the top layer must not
// list), and top, the layer a commit adds.
func SavedImage(t testing.TB, top []byte) []byte {
	t.Helper()
	base := Tar(t, []*tar.Header{{Name: "tmp/.x/kworker", Mode: 0o755, Typeflag: tar.TypeReg}}, map[string][]byte{"tmp/.x/kworker": []byte("base, not the top layer")})
	man := `[{"Config":"cfg.json","RepoTags":["dockcase/ir:web"],"Layers":["base/layer.tar","top/layer.tar"]}]`
	return Tar(t, []*tar.Header{
		{Name: "base/layer.tar", Mode: 0o644, Typeflag: tar.TypeReg},
		{Name: "top/layer.tar", Mode: 0o644, Typeflag: tar.TypeReg},
		{Name: "manifest.json", Mode: 0o644, Typeflag: tar.TypeReg},
	}, map[string][]byte{"base/layer.tar": base, "top/layer.tar": top, "manifest.json": []byte(man)})
}
