package triage

import (
	"fmt"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/dockcase/dockcase/analyze/model"
)

func inspectMember(id string) string { return "docker/containers/" + id + "/inspect.json" }

// inspect returns the decoded inspect of a container, nil when the bundle
// lacks it; one there but unreadable or malformed is a problem the rules
// report.
func (t *state) inspect(c *model.Container) *model.Inspect {
	if t.inspected[c.ID] {
		return c.Inspect
	}
	if t.inspected == nil {
		t.inspected = map[string]bool{}
	}
	t.inspected[c.ID] = true
	if err := t.h.ReadErrors[inspectMember(c.ID)]; err != nil {
		t.problem("%s: %v", inspectMember(c.ID), err)
	} else if c.InspectErr != nil {
		t.problem("%s: %v", inspectMember(c.ID), c.InspectErr)
	}
	return c.Inspect
}

// dangerousCaps are the capabilities that let a container reach beyond
// itself, with the severity of each and why.
var dangerousCaps = map[string]struct {
	sev, why string
}{
	"ALL":             {SeverityCritical, "every capability: the container is as strong as root on the host, privileged in all but name"},
	"SYS_ADMIN":       {SeverityHigh, "SYS_ADMIN allows mount, namespace and cgroup operations: the classic container escapes (release_agent, mounting the host disk) start here"},
	"SYS_PTRACE":      {SeverityHigh, "SYS_PTRACE allows tracing and injecting code into processes it can see; with the host PID namespace that means host processes"},
	"SYS_MODULE":      {SeverityCritical, "SYS_MODULE allows loading kernel modules: code in the host kernel"},
	"DAC_READ_SEARCH": {SeverityHigh, "DAC_READ_SEARCH allows open_by_handle_at, which reads host files outside the container (the shocker escape)"},
	"DAC_OVERRIDE":    {SeverityMedium, "DAC_OVERRIDE bypasses file permission checks on every file the container can reach"},
	"SYS_RAWIO":       {SeverityHigh, "SYS_RAWIO allows raw I/O to devices and memory"},
	"NET_ADMIN":       {SeverityMedium, "NET_ADMIN allows changing interfaces, routes and firewall rules of its network namespace (the host's, with host networking)"},
	"BPF":             {SeverityHigh, "BPF allows loading eBPF programs that observe or alter the whole host"},
}

// sensitiveHostPaths are host paths whose mount into a container exposes
// the host.
var sensitiveHostPaths = []string{"/", "/etc", "/root", "/home", "/boot", "/var/run", "/run", "/proc", "/sys", "/dev", "/var/lib/docker", "/var/lib/containerd", "/var/log"}

func isDockerSocket(p string) bool {
	base := path.Base(p)
	return base == "docker.sock" || base == "containerd.sock" || base == "podman.sock" || base == "crio.sock"
}

func normCap(s string) string {
	return strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(s)), "CAP_")
}

func (t *state) configRules() []Finding {
	var out []Finding
	for _, c := range t.h.Containers {
		d := t.inspect(c)
		if d == nil {
			continue
		}
		m := inspectMember(c.ID)
		hc := d.HostConfig
		if hc.Privileged {
			out = append(out, t.finding(c, "privileged-container", SeverityCritical, "Container runs --privileged",
				"a privileged container has every capability, all host devices, and no seccomp or AppArmor confinement: root in it is root on the host",
				t.ev(m, "/HostConfig/Privileged")))
		}
		hostNet := hc.NetworkMode == "host"
		for i, cp := range hc.CapAdd {
			name := normCap(cp)
			pointer := "/HostConfig/CapAdd/" + strconv.Itoa(i)
			if dc, ok := dangerousCaps[name]; ok {
				e := t.ev(m, pointer)
				e.Text = cp
				out = append(out, t.finding(c, "dangerous-capability", dc.sev, "Capability "+name+" added", dc.why, e))
			}
			if name == "NET_RAW" && hostNet {
				e := t.ev(m, pointer)
				e.Text = cp
				out = append(out, t.finding(c, "dangerous-capability", SeverityMedium, "Capability NET_RAW with host networking",
					"NET_RAW in the host's network namespace allows sniffing and spoofing traffic of the whole host", e, t.ev(m, "/HostConfig/NetworkMode")))
			}
		}
		for _, ns := range []struct {
			mode, field, id, sev, why string
		}{
			{mode: hc.PidMode, field: "PidMode", id: "host-pid-namespace", sev: SeverityHigh, why: "the container sees every host process; with SYS_PTRACE or root it can read their memory and environment and signal them"},
			{mode: hc.NetworkMode, field: "NetworkMode", id: "host-network-namespace", sev: SeverityMedium, why: "the container shares the host's network stack: it can bind host ports, reach services on the host's loopback, and its traffic is indistinguishable from the host's"},
			{mode: hc.IpcMode, field: "IpcMode", id: "host-ipc-namespace", sev: SeverityMedium, why: "the container shares the host's System V IPC and /dev/shm: it can read and write other processes' shared memory"},
			{mode: hc.UTSMode, field: "UTSMode", id: "host-uts-namespace", sev: SeverityLow, why: "the container shares the host's hostname and can change it"},
		} {
			if ns.mode == "host" {
				e := t.ev(m, "/HostConfig/"+ns.field)
				e.Text = ns.field + "=host"
				out = append(out, t.finding(c, ns.id, ns.sev, "Host "+strings.TrimSuffix(strings.TrimPrefix(ns.id, "host-"), "-namespace")+" namespace shared", ns.why, e))
			}
		}
		for i, mt := range d.Mounts {
			e := t.ev(m, "/Mounts/"+strconv.Itoa(i))
			e.Text = fmt.Sprintf("%s:%s (%s)", mt.Source, mt.Destination, map[bool]string{true: "rw", false: "ro"}[mt.RW])
			if isDockerSocket(mt.Source) || isDockerSocket(mt.Destination) {
				out = append(out, t.finding(c, "docker-socket-mounted", SeverityCritical, "Container engine socket mounted",
					"whoever can write to the engine's socket can start a privileged container with the host's disk mounted: full control of the host", e))
				continue
			}
			if mt.Type != "bind" {
				continue
			}
			src := path.Clean(mt.Source)
			for _, sp := range sensitiveHostPaths {
				if src != sp && !(sp != "/" && strings.HasPrefix(src, sp+"/")) {
					continue
				}
				sev := SeverityMedium
				rw := "read-only"
				if mt.RW {
					sev, rw = SeverityHigh, "writable"
					if src == "/" || src == "/etc" || src == "/root" || src == "/var/lib/docker" {
						sev = SeverityCritical
					}
				}
				out = append(out, t.finding(c, "sensitive-host-mount", sev, fmt.Sprintf("Host path %s mounted %s", src, rw),
					fmt.Sprintf("the container can %s host files under %s (credentials, configuration, other containers' data)", map[bool]string{true: "read and change", false: "read"}[mt.RW], sp), e))
				break
			}
		}
		if !hc.Privileged {
			for i, so := range hc.SecurityOpt {
				k, v, _ := strings.Cut(strings.ReplaceAll(so, ":", "="), "=")
				e := t.ev(m, "/HostConfig/SecurityOpt/"+strconv.Itoa(i))
				e.Text = so
				if v == "unconfined" && (k == "seccomp" || k == "apparmor") {
					id := "seccomp-unconfined"
					if k == "apparmor" {
						id = "apparmor-unconfined"
					}
					out = append(out, t.finding(c, id, SeverityMedium, strings.ToUpper(k[:1])+k[1:]+" profile disabled",
						"the default profile blocks the system calls and file accesses most container escapes need; without it a kernel or runtime bug is one step closer", e))
				}
			}
			if d.AppArmorProfile == "unconfined" && !hasSecurityOpt(hc.SecurityOpt, "apparmor") {
				e := t.ev(m, "/AppArmorProfile")
				e.Text = "unconfined"
				out = append(out, t.finding(c, "apparmor-unconfined", SeverityLow, "AppArmor profile unconfined",
					"the engine ran the container without an AppArmor profile", e))
			}
		}
		if !hasSecurityOpt(hc.SecurityOpt, "no-new-privileges") {
			out = append(out, t.finding(c, "no-new-privileges-missing", SeverityLow, "no-new-privileges not set",
				"without no-new-privileges a process in the container can gain privileges through setuid binaries",
				t.ev(m, "/HostConfig/SecurityOpt")))
		}
		ports, where := d.NetworkSettings.Ports, "/NetworkSettings/Ports/"
		if len(ports) == 0 {
			ports, where = hc.PortBindings, "/HostConfig/PortBindings/"
		}
		keys := make([]string, 0, len(ports))
		for k := range ports {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			for i, b := range ports[k] {
				if b.HostIP != "" && b.HostIP != "0.0.0.0" && b.HostIP != "::" {
					continue
				}
				e := t.ev(m, where+model.JSONPointer(k)[1:]+"/"+strconv.Itoa(i))
				e.Text = fmt.Sprintf("%s:%s -> %s", b.HostIP, b.HostPort, k)
				out = append(out, t.finding(c, "port-published-all-addresses", SeverityMedium, fmt.Sprintf("Port %s published on all host addresses", k),
					"the port is reachable on every address of the host, not only where it was meant to be; Docker's rules bypass the host firewall's INPUT chain", e))
			}
		}
	}
	return out
}

func hasSecurityOpt(opts []string, key string) bool {
	for _, so := range opts {
		k, v, _ := strings.Cut(strings.ReplaceAll(so, ":", "="), "=")
		if k == key && v != "false" {
			return true
		}
	}
	return false
}

// secretNamePattern matches environment variable names that usually hold
// a secret.
var secretNamePattern = regexp.MustCompile(`(?i)(PASSW(OR)?D|PASSPHRASE|SECRET|TOKEN|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIAL|AUTH_?KEY|_PWD$|^PWD_|DSN$|CONNECTION_?STRING)`)

// secretValuePattern matches values shaped like a credential whatever the
// variable's name.
var secretValuePattern = regexp.MustCompile(`^(AKIA|ASIA)[0-9A-Z]{16}$|^gh[pousr]_[A-Za-z0-9]{30,}|^xox[abpr]-|^sk_live_|^-----BEGIN [A-Z ]*PRIVATE KEY|^eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.|://[^/:@\s]+:[^/@\s]+@`)

// RedactEnv returns an environment entry with its value replaced by its
// length: NAME=…(redacted, 40 chars).
func RedactEnv(entry string) string {
	name, value, _ := strings.Cut(entry, "=")
	return fmt.Sprintf("%s=…(redacted, %d chars)", name, len([]rune(value)))
}

// isSecretEnv reports whether an environment entry looks like it holds a
// secret.
func isSecretEnv(entry string) bool {
	name, value, ok := strings.Cut(entry, "=")
	if !ok || value == "" {
		return false
	}
	if secretNamePattern.MatchString(name) && !strings.HasSuffix(strings.ToUpper(name), "_FILE") {
		return true
	}
	return secretValuePattern.MatchString(value)
}

func (t *state) envRules() []Finding {
	var out []Finding
	for _, c := range t.h.Containers {
		d := t.inspect(c)
		if d == nil {
			continue
		}
		for i, env := range d.Config.Env {
			if !isSecretEnv(env) {
				continue
			}
			e := t.ev(inspectMember(c.ID), "/Config/Env/"+strconv.Itoa(i))
			e.Text = RedactEnv(env)
			name, _, _ := strings.Cut(env, "=")
			out = append(out, t.finding(c, "secret-in-environment", SeverityMedium, "Secret in environment variable "+name,
				"environment variables are readable by anyone who can inspect the container or read /proc/<pid>/environ, and end up in images and logs; after a compromise this secret must be rotated (its value is redacted here)", e))
		}
	}
	return out
}

// secretPairPattern finds NAME=VALUE and "NAME": "VALUE" pairs in free text
// (command lines): the value is redacted when the name looks secret.
var secretPairPattern = regexp.MustCompile(`("?)([A-Za-z_][A-Za-z0-9_.-]*)("?\s*[:=]\s*"?)([^"\s,}]+)`)

// RedactSecrets returns text (a command line, say) with the values of
// secret-looking NAME=VALUE and JSON "NAME": "VALUE" pairs, and values
// shaped like credentials, replaced by their length.
func RedactSecrets(text string) string {
	return secretPairPattern.ReplaceAllStringFunc(text, func(m string) string {
		sub := secretPairPattern.FindStringSubmatch(m)
		name, value := sub[2], sub[4]
		if !isSecretEnv(strings.TrimLeft(name, "-") + "=" + value) {
			return m
		}
		return sub[1] + name + sub[3] + fmt.Sprintf("…(redacted, %d chars)", len([]rune(value)))
	})
}
