package docker

import (
	"slices"
	"testing"
	"time"
)

// Version answers of Debian 12's engines (docker.io 20.10.24, podman
// 4.3.1's compatible API), trimmed to the fields ParseEngine reads.
const (
	versionDocker = `{"Platform":{"Name":""},"Components":[{"Name":"Engine","Version":"20.10.24+dfsg1","Details":{"ApiVersion":"1.41","MinAPIVersion":"1.12"}},{"Name":"containerd","Version":"1.6.20~ds1","Details":{}},{"Name":"runc","Version":"1.1.5+ds1","Details":{}},{"Name":"docker-init","Version":"0.19.0","Details":{}}],"Version":"20.10.24+dfsg1","ApiVersion":"1.41","MinAPIVersion":"1.12"}`
	versionPodman = `{"Platform":{"Name":"linux/amd64/debian-12"},"Components":[{"Name":"Podman Engine","Version":"4.3.1","Details":{"APIVersion":"4.3.1","MinAPIVersion":"4.0.0"}},{"Name":"Conmon","Version":"conmon version 2.1.6, commit: unknown","Details":{}},{"Name":"OCI Runtime (runc)","Version":"runc version 1.1.5+ds1","Details":{}}],"Version":"4.3.1","ApiVersion":"1.41","MinAPIVersion":"1.24"}`
)

func TestParseEngine(t *testing.T) {
	tests := []struct {
		in         string
		name       string
		version    string
		engineAPI  string
		components []string
		wantErr    bool
	}{
		{versionDocker, EngineDocker, "20.10.24+dfsg1", "1.41", []string{"Engine", "containerd", "runc", "docker-init"}, false},
		{versionPodman, EnginePodman, "4.3.1", "4.3.1", []string{"Podman Engine", "Conmon", "OCI Runtime (runc)"}, false},
		// An old Docker answer without components is Docker.
		{`{"Version":"1.13.1","ApiVersion":"1.26"}`, EngineDocker, "1.13.1", "1.26", nil, false},
		{`not json`, "", "", "", nil, true},
	}
	for _, tt := range tests {
		e, err := ParseEngine([]byte(tt.in))
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseEngine(%.40q) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if e.Name != tt.name || e.Version != tt.version || e.EngineAPIVersion != tt.engineAPI || !slices.Equal(e.Components, tt.components) {
			t.Errorf("ParseEngine(%.40q) = %+v, want name %q version %q engine API %q components %q",
				tt.in, e, tt.name, tt.version, tt.engineAPI, tt.components)
		}
		if e.IsPodman() != (tt.name == EnginePodman) {
			t.Errorf("ParseEngine(%.40q).IsPodman() = %v", tt.in, e.IsPodman())
		}
	}
}

func TestPodmanBridges(t *testing.T) {
	in := `[{"name":"podman","driver":"bridge","network_interface":"podman0"},` +
		`{"name":"dce-net","driver":"bridge","network_interface":"cni-podman1"},` +
		`{"name":"mv","driver":"macvlan","network_interface":"eth0"}]`
	got, err := PodmanBridges([]byte(in))
	if err != nil || !slices.Equal(got, []string{"podman0", "cni-podman1"}) {
		t.Errorf("PodmanBridges = %q, %v, want [podman0 cni-podman1]", got, err)
	}
	if _, err := PodmanBridges([]byte(`{}`)); err == nil {
		t.Errorf("PodmanBridges({}) = nil error, want one")
	}
}

func TestEventAfter(t *testing.T) {
	until := time.Unix(1796306100, 500)
	tests := []struct {
		line string
		want bool
	}{
		{`{"time":1796306093,"timeNano":1796306093023727784}`, false},
		{`{"time":1796306100,"timeNano":1796306100000000500}`, false},
		{`{"time":1796306100,"timeNano":1796306100000000501}`, true},
		{`{"time":1796306101}`, true},
		{`{"time":1796306100}`, false},
		{`{"status":"x"}`, false},
	}
	for _, tt := range tests {
		if got := eventAfter([]byte(tt.line), until); got != tt.want {
			t.Errorf("eventAfter(%s, %v) = %v, want %v", tt.line, until, got, tt.want)
		}
	}
}
