package layer

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dockcase/dockcase/analyze/analyzetest"
)

// entry is one tar entry of a test layer.
type entry struct {
	hdr  tar.Header
	body string
}

func tarOf(t *testing.T, entries []entry) []byte {
	t.Helper()
	hdrs := make([]*tar.Header, len(entries))
	bodies := map[string][]byte{}
	for i := range entries {
		h := entries[i].hdr
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		hdrs[i], bodies[h.Name] = &h, []byte(entries[i].body)
	}
	return analyzetest.Tar(t, hdrs, bodies)
}

func gzipOf(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// savedImage is a docker save tar whose manifest names layers; the last is
// the top.
func savedImage(t *testing.T, manifest string, layers map[string][]byte) []byte {
	t.Helper()
	var es []entry
	if manifest != "" {
		es = append(es, entry{hdr: tar.Header{Name: "manifest.json", Typeflag: tar.TypeReg}, body: manifest})
	}
	for name, data := range layers {
		es = append(es, entry{hdr: tar.Header{Name: name, Typeflag: tar.TypeReg}, body: string(data)})
	}
	return tarOf(t, es)
}

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func TestReadTop(t *testing.T) {
	top := []entry{
		{hdr: tar.Header{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o1777}},
		{hdr: tar.Header{Name: "tmp/x", Typeflag: tar.TypeReg}, body: "\x7fELF payload"},
		{hdr: tar.Header{Name: "usr/bin/su2", Typeflag: tar.TypeReg, Mode: 0o4755}, body: "#!/bin/sh\n"},
		{hdr: tar.Header{Name: "etc/.wh.motd", Typeflag: tar.TypeReg}},
		{hdr: tar.Header{Name: "var/cache/.wh..wh..opq", Typeflag: tar.TypeReg}},
		{hdr: tar.Header{Name: "etc/evil", Typeflag: tar.TypeSymlink, Linkname: "/etc/shadow"}},
		{hdr: tar.Header{Name: "../../root/.ssh/authorized_keys", Typeflag: tar.TypeReg}, body: "ssh-ed25519 AAAA x"},
		{hdr: tar.Header{Name: "etc/hard", Typeflag: tar.TypeLink, Linkname: "../../etc/passwd"}},
	}
	type want struct {
		typ, link, sha string
		exec           bool
		modeText       string
	}
	wants := map[string]want{
		"/tmp":                       {typ: Dir},
		"/tmp/x":                     {typ: Regular, sha: sum("\x7fELF payload"), exec: true},
		"/usr/bin/su2":               {typ: Regular, sha: sum("#!/bin/sh\n"), exec: true, modeText: "urwxr-xr-x (4755)"},
		"/etc/motd":                  {typ: Whiteout},
		"/var/cache":                 {typ: Opaque},
		"/etc/evil":                  {typ: Symlink, link: "/etc/shadow"},
		"/root/.ssh/authorized_keys": {typ: Regular, sha: sum("ssh-ed25519 AAAA x")},
		"/etc/hard":                  {typ: Hardlink, link: "/etc/passwd"},
	}
	raw := tarOf(t, top)
	for _, tc := range []struct {
		name  string
		layer []byte
	}{
		{"plain", raw},
		{"gzip", gzipOf(t, raw)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := savedImage(t, `[{"Config":"c.json","Layers":["base/layer.tar","top/layer.tar"]}]`,
				map[string][]byte{"base/layer.tar": tarOf(t, nil), "top/layer.tar": tc.layer})
			l, err := ReadTop(bytes.NewReader(img))
			if err != nil {
				t.Fatalf("ReadTop = %v", err)
			}
			if l.Entry != "top/layer.tar" {
				t.Errorf("Entry = %q, want top/layer.tar", l.Entry)
			}
			got := map[string]File{}
			for i, f := range l.Files {
				got[f.Path] = f
				if i > 0 && l.Files[i-1].Path > f.Path {
					t.Errorf("Files not sorted: %q before %q", l.Files[i-1].Path, f.Path)
				}
			}
			if len(got) != len(wants) {
				t.Errorf("ReadTop listed %d files, want %d: %+v", len(got), len(wants), l.Files)
			}
			for p, w := range wants {
				f, ok := got[p]
				if !ok {
					t.Errorf("%s: not listed", p)
					continue
				}
				if f.Type != w.typ || f.Link != w.link || f.SHA256 != w.sha || f.Executable() != w.exec {
					t.Errorf("%s = type %q link %q sha %q exec %v, want %q %q %q %v", p, f.Type, f.Link, f.SHA256, f.Executable(), w.typ, w.link, w.sha, w.exec)
				}
				if w.modeText != "" && f.ModeText != w.modeText {
					t.Errorf("%s: ModeText = %q, want %q", p, f.ModeText, w.modeText)
				}
			}
			if f := got["/etc/motd"]; f.Size != 0 {
				t.Errorf("whiteout size = %d, want 0", f.Size)
			}
			if len(l.Problems) != 0 {
				t.Errorf("Problems = %q, want none", l.Problems)
			}
			if f := got["/tmp/x"]; string(f.Head()) != "\x7fELF payload" {
				t.Errorf("Head(/tmp/x) = %q", f.Head())
			}
		})
	}
}

func TestReadTopErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		img  []byte
		want string
	}{
		{"no manifest", savedImage(t, "", map[string][]byte{"a/layer.tar": tarOf(t, nil)}), "names no layer"},
		{"bad manifest", savedImage(t, "{", nil), "decode manifest.json"},
		{"no layers", savedImage(t, `[{"Layers":[]}]`, nil), "names no layer"},
		{"layer absent", savedImage(t, `[{"Layers":["gone/layer.tar"]}]`, nil), `layer "gone/layer.tar" is not in the tar`},
		{"not a tar", []byte("this is not a tar file, just text that is long enough to be read as a header block..."), "saved image"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadTop(bytes.NewReader(tc.img))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ReadTop = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestReadTopCutLayer(t *testing.T) {
	raw := tarOf(t, []entry{
		{hdr: tar.Header{Name: "a", Typeflag: tar.TypeReg}, body: "first"},
		{hdr: tar.Header{Name: "b", Typeflag: tar.TypeReg}, body: strings.Repeat("x", 4096)},
	})
	cut := raw[:512+512+512+100] // a's header and body, b's header, part of b
	img := savedImage(t, `[{"Layers":["top/layer.tar"]}]`, map[string][]byte{"top/layer.tar": cut})
	l, err := ReadTop(bytes.NewReader(img))
	if err != nil {
		t.Fatalf("ReadTop = %v, want the files before the cut", err)
	}
	if len(l.Files) == 0 || l.Files[0].Path != "/a" || l.Files[0].SHA256 != sum("first") {
		t.Errorf("Files = %+v, want /a first and hashed", l.Files)
	}
	if len(l.Problems) == 0 {
		t.Errorf("Problems empty, want the cut named")
	}
}

func TestReadTopSavedImage(t *testing.T) {
	mtime := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	elf := append([]byte("\x7fELF"), bytes.Repeat([]byte{1}, 100)...)
	top := analyzetest.Tar(t, []*tar.Header{
		{Name: "tmp/", Mode: 0o1777, Typeflag: tar.TypeDir, ModTime: mtime},
		{Name: "tmp/.x/kworker", Mode: 0o755, Typeflag: tar.TypeReg, ModTime: mtime},
		{Name: "usr/bin/.wh.passwd", Mode: 0o644, Typeflag: tar.TypeReg, ModTime: mtime},
		{Name: "var/www/.wh..wh..opq", Mode: 0o644, Typeflag: tar.TypeReg, ModTime: mtime},
		{Name: "usr/bin/sudo2", Mode: 0o4755, Typeflag: tar.TypeReg, ModTime: mtime},
		{Name: "etc/evil", Mode: 0o777, Typeflag: tar.TypeSymlink, Linkname: "/etc/shadow", ModTime: mtime},
	}, map[string][]byte{"tmp/.x/kworker": elf, "usr/bin/sudo2": []byte("x")})
	l, err := ReadTop(bytes.NewReader(analyzetest.SavedImage(t, top)))
	if err != nil {
		t.Fatalf("ReadTopLayer() = %v", err)
	}
	sum := sha256.Sum256(elf)
	want := map[string]string{
		"/tmp":            "dir",
		"/tmp/.x/kworker": "file 104 " + hex.EncodeToString(sum[:]) + " -rwxr-xr-x (0755)",
		"/usr/bin/passwd": "whiteout",
		"/var/www":        "opaque",
		"/usr/bin/sudo2":  "file 1 2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881 urwxr-xr-x (4755)",
		"/etc/evil":       "symlink",
	}
	if l.Entry != "top/layer.tar" || len(l.Files) != len(want) {
		t.Fatalf("ReadTopLayer() = entry %q, %d files, want top/layer.tar, %d", l.Entry, len(l.Files), len(want))
	}
	for _, f := range l.Files {
		got := f.Type
		if f.Type == Regular {
			got = fmt.Sprintf("file %d %s %s", f.Size, f.SHA256, f.ModeText)
		}
		if got != want[f.Path] {
			t.Errorf("ReadTopLayer() file %q = %q, want %q", f.Path, got, want[f.Path])
		}
		if !f.ModTime.Equal(mtime) {
			t.Errorf("file %q mtime %v, want %v", f.Path, f.ModTime, mtime)
		}
	}
	if _, err := ReadTop(bytes.NewReader(analyzetest.Tar(t, []*tar.Header{{Name: "x", Typeflag: tar.TypeReg}}, nil))); err == nil {
		t.Errorf("ReadTopLayer(tar without manifest) = nil error")
	}
}

// FuzzReadTopLayer feeds arbitrary bytes to the saved-image reader: it must
// return an error or a layer, never panic.
func FuzzReadTop(f *testing.F) {
	t := &testing.T{}
	top := analyzetest.Tar(t, []*tar.Header{{Name: "tmp/x", Mode: 0o4755, Typeflag: tar.TypeReg}, {Name: "a/.wh.b", Typeflag: tar.TypeReg}}, map[string][]byte{"tmp/x": []byte("#!/bin/sh")})
	f.Add(analyzetest.SavedImage(t, top))
	f.Add([]byte("not a tar"))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := ReadTop(bytes.NewReader(data))
		if err == nil && l == nil {
			t.Fatal("ReadTopLayer() = nil, nil")
		}
	})
}
