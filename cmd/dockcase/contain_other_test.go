//go:build !linux || portable

package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestContainmentLinuxOnly checks that a build without the Linux collector
// refuses contain and release as usage errors (exit 2) that say they run on
// the Linux Docker host, flags and all.
func TestContainmentLinuxOnly(t *testing.T) {
	for _, args := range [][]string{
		{"contain", "--bundle", "case.tar.zst", "--by", "alice", "--reason", "r", "web"},
		{"contain"},
		{"release", "--bundle", "case.tar.zst", "--by", "alice", "web"},
		{"release"},
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
