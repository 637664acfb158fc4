package triage

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/dockcase/dockcase/analyze/layer"
	"github.com/dockcase/dockcase/analyze/model"
)

const (
	memberCommits = "preservation/commits.json"
	// maxCommitsJSONBytes bounds preservation/commits.json: one record of
	// a few hundred bytes per committed container.
	maxCommitsJSONBytes = 16 << 20
)

// commitDoc is one record of preservation/commits.json.
type commitDoc struct {
	Container string `json:"container"`
	ImageID   string `json:"image_id"`
	Name      string `json:"name"`
	Member    string `json:"member"`
	Error     string `json:"error"`
}

// CommittedLayers reads the top layer of every image the collector
// committed, keyed by container id. Layers that cannot be read are
// skipped; the problems are returned.
func CommittedLayers(h *model.Host) (map[string]*layer.Layer, []string) {
	t := &state{h: h, src: h.Source()}
	return t.committedLayers(), t.problems
}

// committedLayers reads and caches the committed layers.
func (t *state) committedLayers() map[string]*layer.Layer {
	if t.layersOK {
		return t.layers
	}
	t.layersOK = true
	t.layers = map[string]*layer.Layer{}
	data, ok := t.readMember(memberCommits, maxCommitsJSONBytes)
	if !ok {
		return t.layers
	}
	var commits []commitDoc
	if err := json.Unmarshal(data, &commits); err != nil {
		t.problem("%s: %v", memberCommits, err)
		return t.layers
	}
	for _, cm := range commits {
		if cm.Member == "" || cm.Error != "" || !t.src.Has(cm.Member) {
			continue
		}
		f, err := t.src.Open(cm.Member)
		if err != nil {
			t.problem("%s: %v", cm.Member, err)
			continue
		}
		l, err := layer.ReadTop(f)
		f.Close()
		if err != nil {
			t.problem("%s: %v", cm.Member, err)
			if l == nil {
				continue
			}
		}
		l.Container, l.Member, l.MemberSHA256 = cm.Container, cm.Member, t.src.SHA256(cm.Member)
		for _, p := range l.Problems {
			t.problem("%s: %s", cm.Member, p)
		}
		t.layers[cm.Container] = l
	}
	return t.layers
}

// LayerEvidence cites one file of a committed layer as the file findings
// cite it; the timeline tags its file events by the same citation.
func LayerEvidence(l *layer.Layer, f *layer.File) model.Evidence {
	return model.Evidence{Member: l.Member, SHA256: l.MemberSHA256, Text: fmt.Sprintf("layer %s entry %s", l.Entry, f.Entry)}
}

// webRoots are the usual document roots of web servers in images.
var webRoots = []string{"/var/www/", "/usr/share/nginx/", "/usr/local/apache2/htdocs/", "/srv/", "/usr/local/tomcat/webapps/", "/opt/tomcat/webapps/", "/var/lib/tomcat", "/app/", "/usr/src/app/"}

var webshellExt = map[string]bool{".php": true, ".phtml": true, ".php5": true, ".phar": true, ".jsp": true, ".jspx": true, ".asp": true, ".aspx": true, ".ashx": true, ".cgi": true}

// webshellPatterns are content shapes of webshells: code evaluated from
// request input, directly or decoded.
var webshellPatterns = regexp.MustCompile(`(?i)(eval|assert|create_function|preg_replace)\s*\(\s*(@?\$_(POST|GET|REQUEST|COOKIE|SERVER)|(base64_decode|gzinflate|gzuncompress|str_rot13|hex2bin)\s*\()` +
	`|\b(system|shell_exec|passthru|exec|popen|proc_open)\s*\(\s*@?\$_(POST|GET|REQUEST|COOKIE)` +
	`|Runtime\.getRuntime\(\)\.exec\s*\(\s*request\.getParameter|ProcessBuilder\s*\(.*request\.getParameter`)

// cronPaths and systemdPaths hold persistence.
var cronPaths = []string{"/etc/crontab", "/etc/cron.d/", "/etc/cron.hourly/", "/etc/cron.daily/", "/etc/cron.weekly/", "/etc/cron.monthly/", "/etc/anacrontab", "/var/spool/cron/", "/etc/periodic/"}
var systemdPaths = []string{"/etc/systemd/system/", "/lib/systemd/system/", "/usr/lib/systemd/system/", "/etc/systemd/user/", "/etc/init.d/", "/etc/rc.local", "/etc/profile.d/"}

func underAny(p string, prefixes []string) bool {
	for _, pre := range prefixes {
		if p == strings.TrimSuffix(pre, "/") || strings.HasPrefix(p, pre) || (!strings.HasSuffix(pre, "/") && strings.HasPrefix(p, pre+"/")) {
			return true
		}
	}
	return false
}

func (t *state) fileRules() []Finding {
	var out []Finding
	layers := t.committedLayers()
	for _, c := range t.h.Containers {
		if l := layers[c.ID]; l != nil {
			out = append(out, t.layerRules(c, l)...)
			continue
		}
		out = append(out, t.diffRules(c)...)
	}
	return out
}

// layerRules checks the files of a container's committed top layer.
func (t *state) layerRules(c *model.Container, l *layer.Layer) []Finding {
	var out []Finding
	for i := range l.Files {
		f := &l.Files[i]
		if f.Type == layer.Dir || f.Type == layer.Opaque {
			continue
		}
		e := LayerEvidence(l, f)
		add := func(id, sev, title, why string) {
			fc := *f
			tf := t.finding(c, id, sev, title, why, e)
			tf.File = &fc
			out = append(out, tf)
		}
		p := f.Path
		deleted := f.Type == layer.Whiteout
		if !deleted && inTmpDir(p) && f.Executable() {
			add("executable-in-tmp", SeverityHigh, "Executable added in a temporary directory: "+p,
				"an executable file appeared in /tmp, /dev/shm or /var/tmp while the container ran: a dropped tool or payload")
		}
		if !deleted && f.Type == layer.Regular && (webshellExt[path.Ext(p)] || underAny(p, webRoots)) && webshellPatterns.Match(f.Head()) {
			add("webshell", SeverityCritical, "Webshell shape in "+p,
				"the file evaluates or executes input from an HTTP request: a webshell gives anyone who knows its URL command execution")
		}
		if underAny(p, cronPaths) {
			add("cron-persistence", SeverityHigh, changeVerb(f)+" cron entry "+p,
				"a cron entry written at run time re-runs the attacker's code on a schedule and survives restarts of the process")
		}
		if underAny(p, systemdPaths) {
			add("service-persistence", SeverityHigh, changeVerb(f)+" service or boot script "+p,
				"a systemd unit or boot script written at run time starts the attacker's code again at boot")
		}
		if base := path.Base(p); base == "authorized_keys" || base == "authorized_keys2" {
			keys := authorizedKeysSummary(f.Head())
			if keys != "" {
				e2 := e
				e2.Text = e.Text + ": " + keys
				tf := t.finding(c, "authorized-keys-changed", SeverityHigh, changeVerb(f)+" SSH authorized_keys "+p,
					"a key added to authorized_keys gives its owner a login without a password; compare each key with the ones the owner expects", e2)
				fc := *f
				tf.File = &fc
				out = append(out, tf)
			} else {
				add("authorized-keys-changed", SeverityHigh, changeVerb(f)+" SSH authorized_keys "+p,
					"a key added to authorized_keys gives its owner a login without a password; compare each key with the ones the owner expects")
			}
		}
		if p == "/etc/ld.so.preload" && !deleted {
			add("ld-so-preload", SeverityCritical, "/etc/ld.so.preload written",
				"every dynamically linked program loads the libraries it names: the usual way a userland rootkit hides processes and files")
		}
		if f.Type == layer.Regular && f.Mode&(fs.ModeSetuid|fs.ModeSetgid) != 0 {
			add("suid-sgid-added", SeverityHigh, "SUID/SGID file added or changed: "+p,
				"a setuid or setgid file written at run time is a way back to root for any user of the container")
		}
		if f.SHA256 != "" && t.opts.BadHashes[f.SHA256] {
			add("known-bad-hash", SeverityCritical, "File hash is on the hash list: "+p,
				"the file's SHA-256 is in the list of known-bad hashes given with --hash-file")
		}
	}
	return out
}

// changeVerb says how a layer file changed.
func changeVerb(f *layer.File) string {
	if f.Type == layer.Whiteout {
		return "Deleted"
	}
	return "Written"
}

// authorizedKeysSummary lists the key types and comments of an
// authorized_keys file (never the key material, which is long and not what
// a reader compares).
func authorizedKeysSummary(data []byte) string {
	var keys []string
	for _, line := range bytes.Split(data, []byte("\n")) {
		fs := strings.Fields(string(line))
		if len(fs) < 2 || strings.HasPrefix(fs[0], "#") {
			continue
		}
		i := 0
		for i < len(fs) && !strings.HasPrefix(fs[i], "ssh-") && !strings.HasPrefix(fs[i], "ecdsa-") && !strings.HasPrefix(fs[i], "sk-") {
			i++
		}
		if i+1 >= len(fs) {
			continue
		}
		k := fs[i]
		if i+2 < len(fs) {
			k += " " + strings.Join(fs[i+2:], " ")
		}
		keys = append(keys, truncateText(k, 200))
		if len(keys) == 20 {
			keys = append(keys, "…")
			break
		}
	}
	if len(keys) == 0 {
		return ""
	}
	return strconv.Itoa(len(keys)) + " key(s): " + strings.Join(keys, "; ")
}

// diffRules checks docker diff when no committed layer is in the bundle:
// paths only, no content, mode or hash.
func (t *state) diffRules(c *model.Container) []Finding {
	member := "docker/containers/" + c.ID + "/diff.json"
	d := t.h.Diff(c.ID)
	if d.ReadErr != nil {
		if !errors.Is(d.ReadErr, fs.ErrNotExist) {
			t.problem("%s: %v", member, d.ReadErr)
		}
		return nil
	}
	if d.DecodeErr != nil {
		t.problem("%s: %v", member, d.DecodeErr)
		return nil
	}
	diffs := d.Entries
	var out []Finding
	for i, d := range diffs {
		if d.Kind == 2 {
			continue
		}
		p := path.Clean("/" + d.Path)
		e := t.ev(member, "/"+strconv.Itoa(i))
		e.Text = fmt.Sprintf("%s %s", map[int]string{0: "C", 1: "A"}[d.Kind], p)
		add := func(id, sev, title, why string) {
			out = append(out, t.finding(c, id, sev, title, why+" (from docker diff: no committed image in the bundle, so no content, mode or hash)", e))
		}
		switch {
		case d.Kind == 1 && inTmpDir(p) && strings.Count(strings.TrimPrefix(p, "/"), "/") >= 1 && !isDirInDiff(diffs, p):
			add("file-in-tmp", SeverityMedium, "File added in a temporary directory: "+p,
				"a file appeared in /tmp, /dev/shm or /var/tmp while the container ran; collect with images to see whether it is executable")
		case underAny(p, cronPaths) && !isDirInDiff(diffs, p):
			add("cron-persistence", SeverityHigh, "Written cron entry "+p, "a cron entry written at run time re-runs code on a schedule")
		case underAny(p, systemdPaths) && !isDirInDiff(diffs, p):
			add("service-persistence", SeverityHigh, "Written service or boot script "+p, "a unit or boot script written at run time starts code again at boot")
		case path.Base(p) == "authorized_keys" || path.Base(p) == "authorized_keys2":
			add("authorized-keys-changed", SeverityHigh, "Written SSH authorized_keys "+p, "a key added to authorized_keys gives its owner a login without a password")
		case p == "/etc/ld.so.preload":
			add("ld-so-preload", SeverityCritical, "/etc/ld.so.preload written", "every dynamically linked program loads the libraries it names")
		}
	}
	return out
}

// isDirInDiff reports whether another diff entry lies under p (so p is a
// directory).
func isDirInDiff(diffs []model.DiffEntry, p string) bool {
	for _, d := range diffs {
		if strings.HasPrefix(path.Clean("/"+d.Path), p+"/") {
			return true
		}
	}
	return false
}

// ChangedFiles lists every file the committed layers hold, per container,
// sorted by container and path: the path, size, mode, mtime and SHA-256 of
// each file a container added or changed.
func ChangedFiles(layers map[string]*layer.Layer) []*layer.Layer {
	out := make([]*layer.Layer, 0, len(layers))
	for _, l := range layers {
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Container < out[j].Container })
	return out
}
