package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/dockcase/dockcase/analyze/analyzetest"
)

// tamperedDemo writes a copy of the demo bundle in which one firewall rule
// was edited (same length, so only the hash betrays it): the shape of an
// attacker rewriting evidence after collection.
func tamperedDemo(t *testing.T) string {
	t.Helper()
	in, err := os.Open(analyzetest.DemoBundle())
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	zr, err := zstd.NewReader(in)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var out bytes.Buffer
	zw, err := zstd.NewWriter(&out)
	if err != nil {
		t.Fatal(err)
	}
	tr, tw := tar.NewReader(zr), tar.NewWriter(zw)
	edited := false
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(hdr.Name, "host/firewall/iptables-save.txt") {
			data = bytes.Replace(data, []byte("-j MASQUERADE"), []byte("-j ACCEPT    "), 1)
			edited = true
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if !edited {
		t.Fatal("the demo bundle has no iptables-save.txt to tamper with")
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "tampered.tar.zst")
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestAnalyzeTampered(t *testing.T) {
	path := tamperedDemo(t)
	signers := "--allowed-signers=" + filepath.Join(analyzetest.DemoDir(), "allowed_signers")
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"analyze", signers, path}, nil, &stdout, &stderr); code != exitIntegrity {
		t.Fatalf("analyze tampered bundle: exit %d, want %d\nstderr: %s", code, exitIntegrity, stderr.String())
	}
	if stdout.Len() != 0 {
		t.Errorf("analyze of a refused bundle printed results:\n%s", stdout.String())
	}
	for _, args := range [][]string{
		{"analyze", signers, "--allow-unverified", path},
		{"path", signers, "--allow-unverified", path, "dce-beacon", "--to", "198.18.216.2"},
	} {
		stdout.Reset()
		stderr.Reset()
		code := Main(args, nil, &stdout, &stderr)
		first, _, _ := strings.Cut(stdout.String(), "\n")
		if !strings.HasPrefix(first, "WARNING: UNVERIFIED") {
			t.Errorf("%v: first line %q, want the UNVERIFIED warning (exit %d, stderr %s)", args[:1], first, code, stderr.String())
		}
	}
	jsonPath := filepath.Join(t.TempDir(), "out.json")
	Main([]string{"analyze", signers, "--allow-unverified", "--json", jsonPath, path}, nil, io.Discard, io.Discard)
	data, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, []byte("{\n  \"warning\": \"UNVERIFIED")) {
		t.Errorf("JSON starts %q, want the warning as its first key", data[:min(len(data), 60)])
	}
	var res struct {
		Bundle struct {
			Verified bool   `json:"verified"`
			Error    string `json:"verification_error"`
		} `json:"bundle"`
	}
	if err := json.Unmarshal(data, &res); err != nil || res.Bundle.Verified || res.Bundle.Error == "" {
		t.Errorf("bundle section = %+v (%v), want verified false with the error", res.Bundle, err)
	}
}
