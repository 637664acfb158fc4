// Package collect snapshots a live Docker host into an evidence bundle.
//
// Run gathers, in order of volatility (RFC 3227), each step into members of
// the bundle:
//
//	host/clock.json                      clock, kernel, NTP state, collector build
//	host/conntrack.json                  the conntrack table, both tuples, counters
//	host/conntrack-sysctl.json           conntrack's clock: its timeouts, acct, timestamp
//	host/processes.json                  every process: ids, cmdline, exe, namespaces, container
//	netns/<inode>/netns.json             links, addresses, routes, rules, neighbours,
//	                                     bridge ports and FDB of one network namespace
//	netns/<inode>/sockets.json           its sockets, each with the processes owning it
//	netns/index.json                     namespaces: inode, a PID inside, containers sharing it
//	capture/socket-samples.json          while the capture runs, every namespace's TCP, UDP
//	                                     and raw sockets every 2 s: first and last sighting,
//	                                     states, owners (pid, comm, cmdline, container)
//	host/firewall/<command>.txt|.json    iptables-save -c, ip6tables-save -c (and the
//	                                     legacy/nft variants), nft -j list ruleset
//	host/firewall/firewall.json          the commands' records and forwarding sysctls
//	docker/version.json, info.json       the engine
//	docker/engine.json                   which engine (docker, podman), its version, API version
//	podman/info.json, networks.json      on Podman: libpod info (network backend, cgroup
//	                                     manager) and networks (bridge names, network_interface)
//	docker/containers.json               every container, stopped ones too
//	docker/containers/<id>/inspect.json  and top.json, diff.json, logs.txt (on Podman top.json
//	                                     is read from the host's /proc: its top execs ps)
//	docker/networks.json, volumes.json, images.json, events.jsonl
//	docker/stats.json                    docker stats of each running container at the
//	                                     snapshot and at the capture's end
//	preservation/commits.json            images committed from running containers, and
//	                                     the volumes and bind mounts they do not hold
//	images/<name>-<id12>.tar             docker save of each committed image (chunked)
//	capture/capture.pcapng               packets captured while the snapshot runs
//	capture/interfaces.json              the interfaces captured and their roles
//	capture/conntrack-events.jsonl       conntrack events during the capture
//	capture/docker-events.jsonl          the engine's events while the capture runs
//	capture/containers/<id>/inspect.json each container started while the capture
//	capture/containers/<id>/netns.json   runs, inspected at its start, and the links
//	                                     of its namespace (veths' host ifindex)
//	capture/containers/index.json        the containers of the window, what was got
//	containment/actions.json             pause and network disconnect, when asked
//
// Collection is read-only except for the commits (and the containment the
// responder asks for). A step that fails is recorded in the custody log and
// as a gap of the bundle, and the collection goes on.
package collect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/dockcase/dockcase/bundle"
	"github.com/dockcase/dockcase/collect/docker"
	"github.com/dockcase/dockcase/collect/host"
)

// Options say what to collect.
type Options struct {
	CaseID string
	// Containers selects containers (names or ids, or unique id prefixes)
	// for logs, diff, top, preservation and containment; empty means all.
	// Host-wide state and inspect of every container are always collected,
	// because attribution needs them.
	Containers  []string
	NoImages    bool
	EventsSince time.Duration
	LogsMax     int64
	DockerHost  string
	Pause       bool
	Isolate     bool
	// StepTimeout bounds each step but image saving, which ImageTimeout
	// bounds per image.
	StepTimeout  time.Duration
	ImageTimeout time.Duration
	// Progress receives one line per step and image; nil discards.
	Progress io.Writer
	// ProgressTTY says that Progress is a terminal: the capture then
	// counts down the time it has left.
	ProgressTTY bool

	// Capture, when positive, captures packets for this long from right
	// after the clock step, while the snapshot runs; preservation starts
	// after it ended. See capture.Options for the other fields.
	Capture         time.Duration
	CaptureIfaces   []string // nil or {"auto"}: bridges, container veths, uplinks
	CaptureFilter   string   // final tcpdump expression, SSH exclusion included
	CaptureMaxBytes int64
	Snaplen         int
}

// Defaults for Options' zero values.
const (
	DefaultStepTimeout  = 2 * time.Minute
	DefaultImageTimeout = 30 * time.Minute
	DefaultEventsSince  = 72 * time.Hour
	DefaultLogsMax      = 10 << 20
	// DefaultCapture is the command's default capture: about a minute, so
	// that a plain collect has packets to attribute.
	DefaultCapture = 60 * time.Second
)

// ErrInterrupted marks a collection stopped by a signal (context canceled).
var ErrInterrupted = errors.New("collection interrupted")

// Run collects the host into w and reports the gaps; it does not close w.
// When ctx is canceled the running step stops, the remaining steps are
// recorded as interrupted, and Run returns so that the caller can still sign
// the bundle.
func Run(ctx context.Context, w *bundle.Writer, opts Options) (gaps []string) {
	if opts.StepTimeout <= 0 {
		opts.StepTimeout = DefaultStepTimeout
	}
	if opts.ImageTimeout <= 0 {
		opts.ImageTimeout = DefaultImageTimeout
	}
	if opts.EventsSince <= 0 {
		opts.EventsSince = DefaultEventsSince
	}
	if opts.LogsMax <= 0 {
		opts.LogsMax = DefaultLogsMax
	}
	if opts.Progress == nil {
		opts.Progress = io.Discard
	}
	c := &collector{w: w, opts: opts, started: time.Now()}
	steps := []struct {
		name string
		run  func(context.Context, *step) error
	}{
		{"clock", c.clock},
		{"conntrack", c.conntrack},
		{"processes", c.processes},
		{"namespaces", c.namespaces},
		{"firewall", c.firewall},
		{"docker", c.dockerAPI},
		{"stats", c.stats},
		{"preservation", c.preserve},
		{"containment", c.contain},
	}
	for i, s := range steps {
		if s.name == "stats" {
			// The second stats sample is the capture's end; commits pause
			// containers: not while capturing.
			c.finishCapture()
		}
		fmt.Fprintf(opts.Progress, "dockcase: [%d/%d] %s\n", i+1, len(steps), s.name)
		c.runStep(ctx, s.name, s.run)
		if s.name == "clock" {
			c.startCapture(ctx)
		}
	}
	return c.gaps
}

type collector struct {
	w       *bundle.Writer
	opts    Options
	started time.Time
	gaps    []string

	procs      []host.Process
	hostNetNS  uint64
	docker     *docker.Client
	containers []docker.ContainerRef
	selected   []docker.ContainerRef // running or not, matched by --containers
	capture    *captureRun           // while a capture runs
	// statsFirst is the docker step's stats sample, and statsFirstErr
	// what the engine refused of it; the stats step writes both samples.
	statsFirst    *StatsSample
	statsFirstErr error
}

// step is what a step function writes through.
type step struct {
	c      *collector
	name   string
	calls  []bundle.Call
	errs   []error
	detail any
}

// partialError is returned by a step that got some but not all of its data.
type partialError struct{ errs []error }

func (e *partialError) Error() string { return errors.Join(e.errs...).Error() }

func (c *collector) runStep(parent context.Context, name string, run func(context.Context, *step) error) {
	rec := bundle.StepRecord{Name: name, Started: time.Now().UTC()}
	s := &step{c: c, name: name}
	var err error
	if parent.Err() != nil {
		err = ErrInterrupted
	} else {
		ctx, cancel := context.WithTimeout(parent, c.opts.StepTimeout)
		if name == "preservation" {
			// Image saves have their own per-image timeout.
			ctx, cancel = context.WithCancel(parent)
		}
		err = run(ctx, s)
		if err == nil && len(s.errs) > 0 {
			err = &partialError{s.errs}
		}
		if err != nil && parent.Err() != nil {
			err = fmt.Errorf("%w: %v", ErrInterrupted, err)
		} else if err != nil && ctx.Err() == context.DeadlineExceeded {
			err = fmt.Errorf("timed out after %s: %w", c.opts.StepTimeout, err)
		}
		cancel()
	}
	rec.Ended = time.Now().UTC()
	rec.Called = s.calls
	rec.Detail = s.detail
	var pe *partialError
	var se *skipError
	switch {
	case err == nil:
		rec.Status = bundle.StepOK
	case errors.Is(err, ErrInterrupted):
		rec.Status = bundle.StepInterrupted
		rec.Error = err.Error()
		c.gap(fmt.Sprintf("%s: interrupted before it finished", name))
	case errors.As(err, &se):
		rec.Status = bundle.StepSkipped
		rec.Error = se.reason
		if se.gap {
			c.gap(fmt.Sprintf("%s: skipped: %s", name, se.reason))
		}
	case errors.As(err, &pe):
		rec.Status = bundle.StepPartial
		rec.Error = err.Error()
		c.gap(fmt.Sprintf("%s: partial: %v", name, err))
	default:
		rec.Status = bundle.StepFailed
		rec.Error = err.Error()
		c.gap(fmt.Sprintf("%s: failed: %v", name, err))
	}
	if rec.Status != bundle.StepOK && rec.Status != bundle.StepSkipped {
		fmt.Fprintf(c.opts.Progress, "dockcase: %s: %s: %s\n", name, rec.Status, firstLine(rec.Error))
	}
	c.w.Record(rec)
}

// skipError is a step that did not run; gap says whether that leaves a hole
// in the evidence (Docker unreachable) or was asked for (--no-images).
type skipError struct {
	reason string
	gap    bool
}

func (e *skipError) Error() string { return "skipped: " + e.reason }

func (c *collector) gap(s string) {
	c.gaps = append(c.gaps, s)
	c.w.Gap(s)
}

// addJSON writes v as a member of this step.
func (s *step) addJSON(name string, src bundle.Source, v any) error {
	return s.c.w.AddJSON(name, bundle.MemberInfo{Step: s.name, Source: src}, v)
}

// add writes bytes as a member of this step.
func (s *step) add(name string, src bundle.Source, data []byte, note string) error {
	return s.c.w.Add(name, bundle.MemberInfo{Step: s.name, Source: src, Note: note}, data)
}

// keep records a non-fatal error: the step goes on and ends partial.
func (s *step) keep(err error) {
	if err != nil {
		s.errs = append(s.errs, err)
	}
}

func (s *step) call(kind, ref string, err error) {
	c := bundle.Call{Kind: kind, Ref: ref}
	if err != nil {
		c.Error = err.Error()
	}
	s.calls = append(s.calls, c)
}

func (c *collector) clock(ctx context.Context, s *step) error {
	clk, err := host.ReadClock()
	s.call("syscall", "clock_gettime, adjtimex, uname", err)
	s.keep(err)
	return s.addJSON("host/clock.json", bundle.Source{Kind: "syscall", Ref: "clock_gettime(REALTIME, MONOTONIC, BOOTTIME), adjtimex, uname"}, clk)
}

func (c *collector) conntrack(ctx context.Context, s *step) error {
	table, err := host.ReadConntrack()
	s.call("netlink", "NFNL_SUBSYS_CTNETLINK IPCTNL_MSG_CT_GET dump ("+table.Source+")", err)
	// The settings right after the table: the entries' remaining timeouts
	// count from this moment. A setting that is missing is a gap.
	sys, sysErr := host.ReadConntrackSysctl()
	s.call("file", "/proc/sys/net/netfilter/nf_conntrack_{*timeout*,acct,timestamp}", sysErr)
	if len(table.Entries) > 0 || err == nil {
		s.keep(err)
		if err := s.addJSON("host/conntrack.json", bundle.Source{Kind: "netlink", Ref: table.Source}, table); err != nil {
			return err
		}
		err = nil
	}
	if sysErr != nil {
		s.keep(fmt.Errorf("conntrack settings: %w", sysErr))
	}
	if err := s.addJSON("host/conntrack-sysctl.json", bundle.Source{Kind: "file", Ref: "/proc/sys/net/netfilter"}, sys); err != nil {
		return err
	}
	return err
}

func (c *collector) processes(ctx context.Context, s *step) error {
	procs, err := host.ReadProcesses()
	s.call("file", "/proc/*/{stat,status,cmdline,exe,cwd,ns/*,cgroup}", err)
	if len(procs) == 0 {
		return fmt.Errorf("no process could be read: %w", err)
	}
	s.keep(err)
	c.procs = procs
	// The collector runs in the host's network namespace; PID 1 may be
	// unreadable even to root (a process with capabilities outside ours).
	c.hostNetNS, err = host.NetNSInode(os.Getpid())
	s.keep(err)
	return s.addJSON("host/processes.json", bundle.Source{Kind: "file", Ref: "/proc"}, procs)
}

// SocketRecord is a socket with the processes that hold it.
type SocketRecord struct {
	host.Socket
	Owners []host.SocketOwner `json:"owners,omitempty"`
}

func (c *collector) namespaces(ctx context.Context, s *step) error {
	if c.procs == nil {
		return errors.New("no process list: the processes step failed")
	}
	index := host.GroupNamespaces(c.procs, c.hostNetNS)
	for _, ns := range index {
		sort.Strings(ns.Containers)
	}
	// Each namespace's socket tables, then at once the descriptors of its
	// processes, then those of every other process (owners in another
	// namespace, as dockerd of a container's DNS sockets); the netlink reads
	// come after. A socket is looked up a moment after it was listed: a
	// beaconing process may replace its connection every half second, and
	// scanning the whole host takes longer than that on a busy one.
	socks := make([][]host.Socket, len(index))
	sockErrs := make([]error, len(index))
	scan := host.NewSocketOwnerScan()
	for i, ns := range index {
		socks[i], sockErrs[i] = ns.ReadSockets()
		scan.Scan(ns.PIDs)
	}
	owners, err := scan.Rest()
	s.call("file", "/proc/*/fd", err)
	s.keep(err)
	for i, ns := range index {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		dir := fmt.Sprintf("netns/%d/", ns.Inode)
		n, err := ns.ReadNetNS()
		s.call("netlink", fmt.Sprintf("RTM_GET{LINK,ADDR,ROUTE,RULE,NEIGH} in the net namespace of pid %d", ns.PID), err)
		if err != nil {
			ns.Error = err.Error()
			s.keep(fmt.Errorf("namespace %d (pid %d): %w", ns.Inode, ns.PID, err))
		}
		if err := s.addJSON(dir+"netns.json", bundle.Source{Kind: "netlink", Ref: fmt.Sprintf("/proc/%d/ns/net", ns.PID)}, n); err != nil {
			return err
		}
		s.call("file", fmt.Sprintf("/proc/%d/net/{tcp,tcp6,udp,udp6,raw,raw6,unix}", ns.PID), sockErrs[i])
		if sockErrs[i] != nil {
			s.keep(fmt.Errorf("sockets of namespace %d (pid %d): %w", ns.Inode, ns.PID, sockErrs[i]))
		}
		recs := make([]SocketRecord, len(socks[i]))
		for j, so := range socks[i] {
			recs[j] = SocketRecord{Socket: so, Owners: owners[so.Inode]}
		}
		if err := s.addJSON(dir+"sockets.json", bundle.Source{Kind: "file", Ref: fmt.Sprintf("/proc/%d/net", ns.PID)}, recs); err != nil {
			return err
		}
	}
	return s.addJSON("netns/index.json", bundle.Source{Kind: "collector", Ref: "net namespaces of every process"}, index)
}

func (c *collector) firewall(ctx context.Context, s *step) error {
	fw, err := host.ReadFirewall(ctx)
	s.keep(err)
	for _, cmd := range fw.Commands {
		exit := cmd.ExitCode
		s.calls = append(s.calls, bundle.Call{
			Kind: "command", Argv: cmd.Argv, Binary: cmd.ResolvedPath, BinarySHA256: cmd.SHA256,
			Version: cmd.Version, ExitCode: &exit, Error: cmd.Error,
		})
		if cmd.SHA256 == "" && cmd.Stdout == nil {
			continue // not installed or never ran: recorded in firewall.json
		}
		ext := ".txt"
		if cmd.Name == "nft" {
			ext = ".json"
		}
		name := "host/firewall/" + cmd.Name + ext
		note := ""
		if cmd.StdoutTruncated {
			note = "output truncated"
		}
		if err := s.add(name, bundle.Source{Kind: "command", Ref: cmd.ResolvedPath, Argv: cmd.Argv}, cmd.Stdout, note); err != nil {
			return err
		}
	}
	return s.addJSON("host/firewall/firewall.json", bundle.Source{Kind: "collector", Ref: "firewall commands and /proc/sys"}, fw)
}

func (c *collector) dockerAPI(ctx context.Context, s *step) error {
	d, err := docker.Dial(ctx, c.opts.DockerHost)
	s.call("api", "GET /_ping", err)
	if err != nil {
		return fmt.Errorf("docker unreachable: %w", err)
	}
	c.docker = d
	api := func(member, ref string, get func(context.Context) ([]byte, error)) {
		b, err := get(ctx)
		s.call("api", ref, err)
		if err != nil {
			s.keep(fmt.Errorf("%s: %w", ref, err))
			return
		}
		s.keep(s.add(member, bundle.Source{Kind: "api", Ref: ref}, b, ""))
	}
	eng := c.engine(ctx, s, d)
	api("docker/info.json", "GET /info", d.Info)
	c.containers, err = d.Containers(ctx)
	s.call("api", "GET /containers/json?all=1", err)
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	if err := s.addJSON("docker/containers.json", bundle.Source{Kind: "api", Ref: "GET /containers/json?all=1"}, c.containers); err != nil {
		return err
	}
	c.selected, err = selectContainers(c.containers, c.opts.Containers)
	if err != nil {
		s.keep(err)
	}
	selected := map[string]bool{}
	for _, ct := range c.selected {
		selected[ct.ID] = true
	}
	var inspects [][]byte
	for _, ct := range c.containers {
		dir := "docker/containers/" + ct.ID + "/"
		id := ct.ID
		b, err := d.InspectListed(ctx, ct)
		s.call("api", "GET /containers/"+id+"/json", err)
		if docker.IsNotFound(err) && ct.State == "created" {
			s.keep(fmt.Errorf("container %s (%s) was listed while being created and never found: its creation failed or it was removed during collection", docker.ShortID(id), ct.Name))
			continue
		}
		if docker.IsNotFound(err) {
			s.keep(fmt.Errorf("container %s (%s) was removed during collection", docker.ShortID(id), ct.Name))
			continue
		}
		if err == nil {
			inspects = append(inspects, b)
		}
		if err != nil {
			s.keep(err)
		} else if err := s.add(dir+"inspect.json", bundle.Source{Kind: "api", Ref: "GET /containers/" + id + "/json"}, b, ""); err != nil {
			return err
		}
		if !selected[id] {
			continue
		}
		switch {
		case ct.State != "running" && ct.State != "paused":
		case eng.IsPodman():
			// Podman's top execs ps in the container: never run the
			// suspect's binaries.
			b, err := hostTop(c.procs, id)
			s.call("file", "/proc/*/cgroup of container "+id, err)
			s.keep(err)
			if err == nil {
				s.keep(s.add(dir+"top.json", bundle.Source{Kind: "file", Ref: topSourceHostProc}, b,
					"the engine's top was not asked: Podman runs ps inside the container for it"))
			}
		default:
			api(dir+"top.json", "GET /containers/"+id+"/top", func(ctx context.Context) ([]byte, error) { return d.Top(ctx, id) })
		}
		api(dir+"diff.json", "GET /containers/"+id+"/changes", func(ctx context.Context) ([]byte, error) { return d.Diff(ctx, id) })
		if err := c.logs(ctx, s, d, id, dir+"logs.txt"); err != nil {
			return err
		}
	}
	api("docker/networks.json", "GET /networks + inspect", d.Networks)
	api("docker/volumes.json", "GET /volumes", d.Volumes)
	api("docker/images.json", "GET /images/json + inspect + history", d.Images)
	since := c.started.Add(-c.opts.EventsSince)
	ref := d.EventsQuery(since, c.started)
	mw, err := c.w.Create("docker/events.jsonl", bundle.MemberInfo{Step: s.name, Source: bundle.Source{Kind: "api", Ref: ref}})
	if err != nil {
		return err
	}
	n, err := d.Events(ctx, since, c.started, mw)
	s.call("api", ref, err)
	if err != nil {
		s.keep(fmt.Errorf("events: %w", err))
		mw.Abort(err.Error())
	} else if err := mw.Close(); err != nil {
		return err
	}
	if active := activityIn(inspects, since, c.started); err == nil && n == 0 && active > 0 {
		// An engine may answer an events query with nothing and no error
		// (Podman with a past until): the history is missing, not empty.
		s.keep(fmt.Errorf("events: the engine returned no events from %s to %s, though %d containers were created, started or stopped in that time",
			since.UTC().Format(time.RFC3339), c.started.UTC().Format(time.RFC3339), active))
	}
	// The first stats sample last: a one-shot sample takes the engine a
	// second or more a container, and what the engine said of its
	// containers and networks is more volatile than their CPU counters.
	first, err := sampleStats(ctx, d, c.containers, StatsAtSnapshot, s)
	c.statsFirst, c.statsFirstErr = &first, err
	s.detail = map[string]any{"api_version": d.APIVersion(), "engine": eng.Name, "containers": len(c.containers), "selected": len(c.selected), "events": n}
	return nil
}

func (c *collector) logs(ctx context.Context, s *step, d *docker.Client, id, member string) error {
	ref := "GET /containers/" + id + "/logs?stdout=1&stderr=1&timestamps=1"
	mw, err := c.w.Create(member, bundle.MemberInfo{Step: s.name, Source: bundle.Source{Kind: "api", Ref: ref}})
	if err != nil {
		return err
	}
	st, err := d.Logs(ctx, id, mw, c.opts.LogsMax)
	s.call("api", ref, err)
	if err != nil {
		s.keep(fmt.Errorf("logs of %s: %w", docker.ShortID(id), err))
		return mw.Abort(err.Error())
	}
	if st.DroppedBytes > 0 {
		return mw.Abort(fmt.Sprintf("log truncated to its last %d bytes (--logs-max); %d earlier bytes dropped", c.opts.LogsMax, st.DroppedBytes))
	}
	return mw.Close()
}

// selectContainers matches --containers against names, ids and id prefixes.
func selectContainers(all []docker.ContainerRef, want []string) ([]docker.ContainerRef, error) {
	if len(want) == 0 {
		return all, nil
	}
	var out []docker.ContainerRef
	var missing []string
	for _, w := range want {
		w = strings.TrimPrefix(strings.TrimSpace(w), "/")
		var match []docker.ContainerRef
		for _, ct := range all {
			if strings.TrimPrefix(ct.Name, "/") == w || ct.ID == w || (len(w) >= 4 && strings.HasPrefix(ct.ID, w)) {
				match = append(match, ct)
			}
		}
		switch len(match) {
		case 0:
			missing = append(missing, w)
		case 1:
			if !slices.ContainsFunc(out, func(c docker.ContainerRef) bool { return c.ID == match[0].ID }) {
				out = append(out, match[0])
			}
		default:
			return out, fmt.Errorf("--containers %q matches %d containers", w, len(match))
		}
	}
	if len(missing) > 0 {
		return out, fmt.Errorf("--containers: no container named %s", strings.Join(missing, ", "))
	}
	return out, nil
}

// CommitRecord is what preservation did for one container.
type CommitRecord struct {
	docker.CommitResult
	Name      string `json:"name"`
	Member    string `json:"member,omitempty"`
	SavedSize int64  `json:"saved_bytes,omitempty"`
	Error     string `json:"error,omitempty"`
}

func (c *collector) preserve(ctx context.Context, s *step) error {
	if c.opts.NoImages {
		return &skipError{reason: "--no-images"}
	}
	if c.docker == nil {
		return &skipError{reason: "docker unreachable", gap: true}
	}
	var recs []CommitRecord
	for _, ct := range c.selected {
		if ct.State != "running" && ct.State != "paused" {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		rec := CommitRecord{Name: ct.Name}
		rec.Container = ct.ID
		cctx, cancel := context.WithTimeout(ctx, c.opts.ImageTimeout)
		err := c.preserveOne(cctx, s, ct, &rec)
		cancel()
		if err != nil {
			rec.Error = err.Error()
			s.keep(fmt.Errorf("preserve %s: %w", ct.Name, err))
		}
		recs = append(recs, rec)
	}
	note := "docker commit pauses each container while it commits (the engine's default); volumes and bind mounts are not in a commit: see not_in_commit"
	if err := s.c.w.AddJSON("preservation/commits.json", bundle.MemberInfo{Step: s.name, Source: bundle.Source{Kind: "api", Ref: "POST /commit, GET /images/get"}, Note: note}, recs); err != nil {
		return err
	}
	return ctx.Err()
}

func (c *collector) preserveOne(ctx context.Context, s *step, ct docker.ContainerRef, rec *CommitRecord) error {
	res, err := c.docker.Commit(ctx, ct.ID, c.opts.CaseID)
	s.call("api", "POST /commit?container="+ct.ID+"&pause=1", err)
	if err != nil {
		return err
	}
	rec.CommitResult = res
	rc, err := c.docker.SaveImage(ctx, res.ImageID)
	s.call("api", "GET /images/get?names="+res.ImageID, err)
	if err != nil {
		return err
	}
	defer rc.Close()
	name := fmt.Sprintf("images/%s-%s.tar", safeName(ct.Name), docker.ShortID(ct.ID))
	mw, err := c.w.Create(name, bundle.MemberInfo{Step: s.name, Source: bundle.Source{Kind: "api", Ref: "GET /images/get?names=" + res.ImageID}})
	if err != nil {
		return err
	}
	pw := &progressWriter{w: mw, out: c.opts.Progress, label: name}
	n, err := io.CopyBuffer(pw, rc, make([]byte, 1<<20))
	rec.Member, rec.SavedSize = name, n
	if err != nil {
		mw.Abort("image save failed part-way: " + err.Error())
		return fmt.Errorf("save image: %w", err)
	}
	fmt.Fprintf(c.opts.Progress, "dockcase: saved %s (%d MiB)\n", name, n>>20)
	return mw.Close()
}

// ContainmentAction is one containment action taken.
type ContainmentAction struct {
	Time      time.Time `json:"time"`
	Action    string    `json:"action"` // pause, disconnect
	Container string    `json:"container"`
	Name      string    `json:"name"`
	Networks  []string  `json:"networks,omitempty"`
	Error     string    `json:"error,omitempty"`
}

func (c *collector) contain(ctx context.Context, s *step) error {
	if !c.opts.Pause && !c.opts.Isolate {
		return &skipError{reason: "no containment asked (--pause, --isolate)"}
	}
	if c.docker == nil {
		return errors.New("docker unreachable: no containment possible")
	}
	var acts []ContainmentAction
	for _, ct := range c.selected {
		if ct.State != "running" && ct.State != "paused" {
			continue
		}
		if c.opts.Isolate {
			nets, err := c.docker.DisconnectAll(ctx, ct.ID)
			acts = append(acts, action("disconnect", ct, nets, err))
			s.call("api", "POST /networks/*/disconnect container="+ct.ID, err)
			s.keep(err)
		}
		if c.opts.Pause && ct.State == "running" {
			err := c.docker.Pause(ctx, ct.ID)
			acts = append(acts, action("pause", ct, nil, err))
			s.call("api", "POST /containers/"+ct.ID+"/pause", err)
			s.keep(err)
		}
	}
	s.detail = acts
	return s.addJSON("containment/actions.json", bundle.Source{Kind: "api", Ref: "containment"}, acts)
}

func action(kind string, ct docker.ContainerRef, nets []string, err error) ContainmentAction {
	a := ContainmentAction{Time: time.Now().UTC(), Action: kind, Container: ct.ID, Name: ct.Name, Networks: nets}
	if err != nil {
		a.Error = err.Error()
	}
	return a
}

// progressWriter reports every 64 MiB written.
type progressWriter struct {
	w     io.Writer
	out   io.Writer
	label string
	n     int64
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	before := p.n
	p.n += int64(n)
	if p.n>>26 != before>>26 {
		fmt.Fprintf(p.out, "dockcase: %s: %d MiB\n", p.label, p.n>>20)
	}
	return n, err
}

// safeName keeps a container name usable in a member path.
func safeName(name string) string {
	name = strings.TrimPrefix(name, "/")
	var b strings.Builder
	for _, r := range name {
		if r == '-' || r == '_' || r == '.' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	s := strings.Trim(b.String(), ".")
	if s == "" {
		s = "container"
	}
	return s[:min(len(s), 64)]
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
