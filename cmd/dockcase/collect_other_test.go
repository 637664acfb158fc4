//go:build !linux || portable

package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestLiveCommandsLinuxOnly checks that a build without the Linux collector
// refuses collect and locate as usage errors (exit 2) that say they run on
// the Linux Docker host, flags and all.
func TestLiveCommandsLinuxOnly(t *testing.T) {
	for _, args := range [][]string{
		{"collect", "--case", "IR-7", "--out", "x.tar.zst"},
		{"collect"},
		{"locate", "198.51.100.7", "--watch", "10s"},
		{"locate"},
	} {
		var stdout, stderr bytes.Buffer
		code := Main(args, strings.NewReader(""), &stdout, &stderr)
		if code != 2 {
			t.Errorf("dockcase %s: exit %d, want 2 (stderr %q)", strings.Join(args, " "), code, stderr.String())
		}
		if want := args[0] + " runs on the Linux Docker host"; !strings.Contains(stderr.String(), want) {
			t.Errorf("dockcase %s: stderr %q, want it to say %q", strings.Join(args, " "), stderr.String(), want)
		}
	}
}
