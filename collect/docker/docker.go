// Package docker is the collector's client of the Docker Engine API: a
// bounded reader of what the engine says of its containers, networks,
// volumes, images and events, and the few calls that preserve and contain
// (commit, save, pause, disconnect).
package docker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errhttp"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
)

// Bounds on what the engine may send. The engine reports what containers
// wrote (labels, env, names, log lines), so its answers are attacker-influenced
// and every read is capped.
const (
	// dockerMaxObjectBytes caps one object's JSON (inspect, history, top,
	// version, info): real ones are a few KiB; 16 MiB leaves room for
	// containers with huge env or label sets while bounding memory.
	dockerMaxObjectBytes = 16 << 20
	// MaxListBytes caps list endpoints and diff: about 2 KiB per
	// container in /containers/json, so 64 MiB covers ~30k containers, and
	// ~50 B per changed path covers ~1M changed files in a diff.
	MaxListBytes = 64 << 20
	// MaxEventBytes caps one event line: events are well under 4 KiB,
	// but carry every container label as attributes.
	MaxEventBytes = 1 << 20
	// dockerMaxLogLineBytes caps a log line held while waiting for its
	// newline, so a container writing without newlines cannot grow memory;
	// the engine itself splits messages at 16 KiB.
	dockerMaxLogLineBytes = 1 << 20
	// dockerMaxErrorBytes caps the error body read from a failed request.
	dockerMaxErrorBytes = 64 << 10
)

// ErrUnreachable is wrapped by Dial errors when the engine cannot
// be reached at all (socket missing, permission denied, daemon down), so the
// caller can record "Docker unreachable" and go on with host-side steps.
var ErrUnreachable = errors.New("docker daemon unreachable")

// Client is a connection to one Docker engine, speaking the API version
// negotiated at dial time. Methods return the engine's own JSON bytes so that
// fields this client does not know survive into the bundle.
type Client struct {
	cli     *client.Client
	http    *http.Client
	baseURL url.URL // scheme, host and base path of raw requests
	host    string  // Host header; the client's placeholder for unix sockets
	engine  string  // EnginePodman once Engine said so; "" is Docker
	// libpodAPI is Podman's own API version, at which /libpod/ paths
	// are asked: some refuse the compatible one.
	libpodAPI string
}

// Dial connects to the engine at host ("" means DOCKER_HOST or the
// default socket), pings it and negotiates the API version. Errors when the
// socket is missing or not accessible say so and wrap ErrUnreachable.
func Dial(ctx context.Context, host string) (*Client, error) {
	opts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	if host != "" {
		opts = append(opts, client.WithHost(host))
	}
	cli, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	d, err := dockerNew(cli)
	if err != nil {
		cli.Close()
		return nil, err
	}
	if err := d.ping(ctx); err != nil {
		cli.Close()
		return nil, err
	}
	return d, nil
}

func dockerNew(cli *client.Client) (*Client, error) {
	u, err := client.ParseHostURL(cli.DaemonHost())
	if err != nil {
		return nil, fmt.Errorf("docker host %q: %w", cli.DaemonHost(), err)
	}
	d := &Client{cli: cli, http: cli.HTTPClient()}
	switch u.Scheme {
	case "unix", "npipe":
		// The transport dials the socket whatever the URL says; the client
		// uses this placeholder host, and so do we.
		d.baseURL = url.URL{Scheme: "http", Host: client.DummyHost}
		d.host = client.DummyHost
	default:
		// The client's own rule: TLS is configured from DOCKER_CERT_PATH.
		scheme := "http"
		if os.Getenv(client.EnvOverrideCertPath) != "" {
			scheme = "https"
		}
		d.baseURL = url.URL{Scheme: scheme, Host: u.Host, Path: u.Path}
		d.host = u.Host
	}
	return d, nil
}

func (d *Client) ping(ctx context.Context) error {
	host := d.cli.DaemonHost()
	u, _ := client.ParseHostURL(host)
	if u != nil && u.Scheme == "unix" {
		// The client reports a missing socket as a generic "cannot connect",
		// so look first.
		fi, err := os.Stat(u.Host)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("%w: socket %s does not exist (is dockerd running? is --docker-host right?): %w",
				ErrUnreachable, u.Host, err)
		case err != nil:
			return fmt.Errorf("%w: socket %s: %w", ErrUnreachable, u.Host, err)
		case fi.Mode().Type() != fs.ModeSocket:
			return fmt.Errorf("%w: %s is not a socket", ErrUnreachable, u.Host)
		}
	}
	p, err := d.cli.Ping(ctx)
	if err != nil {
		return dockerDialError(host, err)
	}
	d.cli.NegotiateAPIVersionPing(p)
	return nil
}

// dockerDialError words a failed ping for the responder.
func dockerDialError(host string, err error) error {
	if errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("%w: permission denied on %s (run as root or as a member of the docker group): %w",
			ErrUnreachable, host, err)
	}
	return fmt.Errorf("%w: ping %s: %w", ErrUnreachable, host, err)
}

// Close releases the client's idle connections.
func (d *Client) Close() error {
	return d.cli.Close()
}

// APIVersion returns the API version negotiated with the engine.
func (d *Client) APIVersion() string {
	return d.cli.ClientVersion()
}

// IsNotFound reports whether err says the object (container, image, network)
// does not exist, e.g. because it was removed during collection.
func IsNotFound(err error) bool {
	return cerrdefs.IsNotFound(err)
}

// IsNotRunning reports whether err is the engine's refusal of an action that
// needs a running container (top, pause of a stopped container): the
// container exited during collection.
func IsNotRunning(err error) bool {
	return cerrdefs.IsConflict(err)
}

// dockerAPIError is a non-2xx answer to a raw request. It matches the errdefs
// class of its status code, so IsNotFound works on it as on client errors.
type dockerAPIError struct {
	Method  string
	Path    string
	Status  int
	Message string
}

func (e *dockerAPIError) Error() string {
	m := e.Method
	if m == "" {
		m = http.MethodGet
	}
	return fmt.Sprintf("%s %q: engine answered %d: %q", m, e.Path, e.Status, e.Message)
}

func (e *dockerAPIError) Is(target error) bool {
	native := errhttp.ToNative(e.Status)
	return native != nil && errors.Is(native, target)
}

// Open sends a GET at the negotiated version through the client's own
// transport. The caller closes the body.
func (d *Client) Open(ctx context.Context, path string, query url.Values) (*http.Response, error) {
	return d.do(ctx, http.MethodGet, path, query, nil)
}

// do sends a request at the negotiated version through the client's own
// transport and turns a non-2xx answer into a *dockerAPIError. The caller
// closes the body.
func (d *Client) do(ctx context.Context, method, path string, query url.Values, body []byte) (*http.Response, error) {
	u := d.baseURL
	version := d.APIVersion()
	if strings.HasPrefix(path, "/libpod/") && d.libpodAPI != "" {
		// Podman's own endpoints refuse some compatible API versions.
		version = d.libpodAPI
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/v" + version + path
	u.RawQuery = query.Encode()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Host = d.host
	resp, err := d.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", method, path, err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	msgBody, _ := io.ReadAll(io.LimitReader(resp.Body, dockerMaxErrorBytes))
	var msg struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(msgBody, &msg) != nil || msg.Message == "" {
		msg.Message = strings.TrimSpace(string(msgBody))
	}
	return nil, &dockerAPIError{Method: method, Path: path, Status: resp.StatusCode, Message: msg.Message}
}

// get returns the body of a GET, at most limit bytes.
func (d *Client) Get(ctx context.Context, path string, query url.Values, limit int64) ([]byte, error) {
	resp, err := d.Open(ctx, path, query)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("GET %q: read: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("GET %q: answer exceeds %d bytes", path, limit)
	}
	if !json.Valid(b) {
		return nil, fmt.Errorf("GET %q: answer is not valid JSON", path)
	}
	return bytes.TrimRight(b, "\r\n"), nil
}

// Version returns the engine's /version JSON.
func (d *Client) Version(ctx context.Context) ([]byte, error) {
	return d.Get(ctx, "/version", nil, dockerMaxObjectBytes)
}

// Info returns the engine's /info JSON.
func (d *Client) Info(ctx context.Context) ([]byte, error) {
	return d.Get(ctx, "/info", nil, dockerMaxObjectBytes)
}

// ContainerRef names one container as listed by the engine.
type ContainerRef struct {
	ID     string            `json:"id"`
	Name   string            `json:"name"`
	Image  string            `json:"image"`
	State  string            `json:"state"`
	Pid    int               `json:"pid"` // 0 unless running (or paused)
	Labels map[string]string `json:"labels"`
}

// Containers lists every container, stopped ones too. Pid comes from each
// container's inspect; a container removed between list and inspect keeps
// its listed state and Pid 0, and the caller finds out from InspectContainer.
func (d *Client) Containers(ctx context.Context) ([]ContainerRef, error) {
	raw, err := d.Get(ctx, "/containers/json", url.Values{"all": {"1"}}, MaxListBytes)
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	var list []struct {
		ID     string            `json:"Id"`
		Names  []string          `json:"Names"`
		Image  string            `json:"Image"`
		State  string            `json:"State"`
		Labels map[string]string `json:"Labels"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	refs := make([]ContainerRef, 0, len(list))
	for _, c := range list {
		ref := ContainerRef{ID: c.ID, Image: c.Image, State: c.State, Labels: c.Labels}
		if len(c.Names) > 0 {
			// Linked containers have extra names "/other/alias"; the
			// container's own name is the one without an inner slash.
			ref.Name = strings.TrimPrefix(c.Names[0], "/")
			for _, n := range c.Names {
				if !strings.Contains(n[min(1, len(n)):], "/") {
					ref.Name = strings.TrimPrefix(n, "/")
					break
				}
			}
		}
		if c.State == "running" || c.State == "paused" || c.State == "restarting" {
			st, err := d.containerState(ctx, c.ID)
			switch {
			case IsNotFound(err):
			case err != nil:
				return nil, fmt.Errorf("list containers: %w", err)
			default:
				ref.Pid, ref.State = st.State.Pid, st.State.Status
			}
		}
		refs = append(refs, ref)
	}
	return refs, nil
}

// dockerInspectFields holds the few inspect fields this file acts on.
type dockerInspectFields struct {
	ID    string `json:"Id"`
	Name  string `json:"Name"`
	State struct {
		Status string `json:"Status"`
		Pid    int    `json:"Pid"`
	} `json:"State"`
	Config struct {
		Tty bool `json:"Tty"`
	} `json:"Config"`
	Mounts          []container.MountPoint `json:"Mounts"`
	NetworkSettings struct {
		Networks map[string]struct {
			NetworkID string `json:"NetworkID"`
		} `json:"Networks"`
	} `json:"NetworkSettings"`
}

func (d *Client) containerState(ctx context.Context, id string) (*dockerInspectFields, error) {
	raw, err := d.InspectContainer(ctx, id)
	if err != nil {
		return nil, err
	}
	var f dockerInspectFields
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("inspect container %q: %w", id, err)
	}
	return &f, nil
}

// InspectContainer returns the engine's inspect JSON of one container.
func (d *Client) InspectContainer(ctx context.Context, id string) ([]byte, error) {
	b, err := d.Get(ctx, "/containers/"+url.PathEscape(id)+"/json", nil, dockerMaxObjectBytes)
	if err != nil {
		return nil, fmt.Errorf("inspect container %q: %w", id, err)
	}
	return b, nil
}

// dockerCreatedWait bounds how long InspectListed waits for a container
// listed as created that the engine cannot inspect yet.
var dockerCreatedWait = 3 * time.Second

// InspectListed inspects a container as the list gave it. Engines up to
// 20.10 list a container while they are still creating it, before inspect
// can find it (the listed view is saved before the container is
// registered), which on a loaded host can last seconds. So a container
// listed as created that inspect does not find is asked for again for up
// to dockerCreatedWait; for any other, not found means removed.
func (d *Client) InspectListed(ctx context.Context, ref ContainerRef) ([]byte, error) {
	b, err := d.InspectContainer(ctx, ref.ID)
	if ref.State != "created" {
		return b, err
	}
	for deadline := time.Now().Add(dockerCreatedWait); IsNotFound(err) && time.Now().Before(deadline); {
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(100 * time.Millisecond):
		}
		b, err = d.InspectContainer(ctx, ref.ID)
	}
	return b, err
}

// Top returns the engine's process list of a running container; the engine
// refuses stopped ones (IsNotRunning).
func (d *Client) Top(ctx context.Context, id string) ([]byte, error) {
	b, err := d.Get(ctx, "/containers/"+url.PathEscape(id)+"/top", nil, dockerMaxObjectBytes)
	if err != nil {
		return nil, fmt.Errorf("top %q: %w", id, err)
	}
	return b, nil
}

// Stats returns one sample of the engine's resource usage of a running
// container (GET /containers/{id}/stats, stream=false, one-shot=true: the
// engine answers at once, without waiting a second to fill precpu_stats, so
// a CPU rate takes two samples).
func (d *Client) Stats(ctx context.Context, id string) ([]byte, error) {
	q := url.Values{"stream": {"false"}, "one-shot": {"true"}}
	b, err := d.Get(ctx, "/containers/"+url.PathEscape(id)+"/stats", q, dockerMaxObjectBytes)
	if err != nil {
		return nil, fmt.Errorf("stats %q: %w", id, err)
	}
	return b, nil
}

// Diff returns the engine's list of paths changed in the container's
// writable layer (Kind 0 modified, 1 added, 2 deleted).
func (d *Client) Diff(ctx context.Context, id string) ([]byte, error) {
	b, err := d.Get(ctx, "/containers/"+url.PathEscape(id)+"/changes", nil, MaxListBytes)
	if err != nil {
		return nil, fmt.Errorf("diff %q: %w", id, err)
	}
	return b, nil
}

// LogStats describes what Logs wrote.
type LogStats struct {
	Bytes        int64 `json:"bytes"`         // written to w
	Lines        int64 `json:"lines"`         // written to w
	DroppedBytes int64 `json:"dropped_bytes"` // oldest output left out to honour maxBytes
	TTY          bool  `json:"tty"`           // stdout and stderr were one terminal stream
}

// Logs writes the container's log as lines "<RFC3339Nano> stdout|stderr
// <text>", timestamps from the engine. When the log exceeds maxBytes (> 0)
// the most recent maxBytes are kept, cut at a line start, because the end of
// the log is closest to the incident; memory use is up to maxBytes. A TTY
// container has a single stream, which the engine stores as stdout.
func (d *Client) Logs(ctx context.Context, id string, w io.Writer, maxBytes int64) (LogStats, error) {
	var st LogStats
	f, err := d.containerState(ctx, id)
	if err != nil {
		return st, fmt.Errorf("logs %q: %w", id, err)
	}
	st.TTY = f.Config.Tty
	rc, err := d.cli.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true, Timestamps: true})
	if err != nil {
		return st, fmt.Errorf("logs %q: %w", id, err)
	}
	defer rc.Close()

	var tail *dockerLogTail
	var dst io.Writer = w
	if maxBytes > 0 {
		tail = &dockerLogTail{max: int(maxBytes)}
		dst = tail
	}
	cw := &dockerCountWriter{w: dst}
	if err := dockerCopyLogs(cw, rc, st.TTY); err != nil {
		return st, fmt.Errorf("logs %q: %w", id, err)
	}
	if tail == nil {
		st.Bytes, st.Lines = cw.n, cw.lines
		return st, nil
	}
	kept := tail.bytes()
	st.DroppedBytes = cw.n - int64(len(kept))
	n, err := w.Write(kept)
	st.Bytes = int64(n)
	st.Lines = int64(bytes.Count(kept[:n], []byte{'\n'}))
	if err != nil {
		return st, fmt.Errorf("logs %q: write: %w", id, err)
	}
	return st, nil
}

// dockerCopyLogs demultiplexes the engine's log stream src (a raw stream
// when tty) into tagged lines on dst.
func dockerCopyLogs(dst io.Writer, src io.Reader, tty bool) error {
	stdout := &dockerLogStream{name: "stdout", w: dst}
	stderr := &dockerLogStream{name: "stderr", w: dst}
	var err error
	if tty {
		_, err = io.Copy(stdout, src)
	} else {
		_, err = stdcopy.StdCopy(stdout, stderr, src)
	}
	if err == nil {
		err = stdout.flush()
	}
	if err == nil {
		err = stderr.flush()
	}
	return err
}

// dockerLogStream turns one demultiplexed stream into tagged lines.
type dockerLogStream struct {
	name    string
	w       io.Writer
	pending []byte
}

func (s *dockerLogStream) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		chunk := p[:min(len(p), dockerMaxLogLineBytes-len(s.pending))]
		if i := bytes.IndexByte(chunk, '\n'); i >= 0 {
			s.pending = append(s.pending, chunk[:i+1]...)
			p = p[i+1:]
			if err := s.emit(); err != nil {
				return 0, err
			}
			continue
		}
		s.pending = append(s.pending, chunk...)
		p = p[len(chunk):]
		if len(s.pending) >= dockerMaxLogLineBytes {
			if err := s.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

// flush emits a line that has no newline yet (end of log, or over
// dockerMaxLogLineBytes), ending it with one.
func (s *dockerLogStream) flush() error {
	if len(s.pending) == 0 {
		return nil
	}
	s.pending = append(s.pending, '\n')
	return s.emit()
}

func (s *dockerLogStream) emit() error {
	line := s.pending
	s.pending = s.pending[:0]
	ts, rest, ok := bytes.Cut(line, []byte{' '})
	if _, err := time.Parse(time.RFC3339Nano, string(ts)); !ok || err != nil {
		// Only the continuation of an over-long line lacks the engine's
		// timestamp; "-" marks that rather than inventing a time.
		ts, rest = []byte{'-'}, line
	}
	out := make([]byte, 0, len(ts)+len(s.name)+len(rest)+2)
	out = append(out, ts...)
	out = append(out, ' ')
	out = append(out, s.name...)
	out = append(out, ' ')
	out = append(out, rest...)
	_, err := s.w.Write(out)
	return err
}

// dockerCountWriter counts bytes and lines passing through.
type dockerCountWriter struct {
	w        io.Writer
	n, lines int64
}

func (c *dockerCountWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.lines += int64(bytes.Count(p[:n], []byte{'\n'}))
	return n, err
}

// dockerLogTail keeps the last max bytes written to it: a buffer growing to
// max, then a ring.
type dockerLogTail struct {
	max         int
	buf         []byte
	w           int  // next write position once full
	full        bool // buf holds max bytes and wraps
	dropped     bool // some output was overwritten
	lastDropped byte // the newest byte overwritten
}

func (r *dockerLogTail) Write(p []byte) (int, error) {
	n := len(p)
	if !r.full {
		k := min(r.max-len(r.buf), len(p))
		r.buf = append(r.buf, p[:k]...)
		p = p[k:]
		if len(r.buf) == r.max {
			r.full = true
		}
	}
	for len(p) > 0 {
		k := min(r.max-r.w, len(p))
		r.lastDropped, r.dropped = r.buf[r.w+k-1], true
		copy(r.buf[r.w:], p[:k])
		p = p[k:]
		r.w = (r.w + k) % r.max
	}
	return n, nil
}

// bytes returns the kept tail in order. When older output was dropped
// mid-line, the partial first line goes too, unless it is all there is.
func (r *dockerLogTail) bytes() []byte {
	if !r.dropped {
		return r.buf
	}
	out := append(slices.Clone(r.buf[r.w:]), r.buf[:r.w]...)
	if r.lastDropped != '\n' {
		if i := bytes.IndexByte(out, '\n'); i >= 0 && i < len(out)-1 {
			out = out[i+1:]
		}
	}
	return out
}

// Networks returns a JSON array holding each network's inspect, verbose
// (swarm services and tasks where the engine has them). A network removed
// between list and inspect appears as {"Id":…, "dockcase_error":…}.
func (d *Client) Networks(ctx context.Context) ([]byte, error) {
	raw, err := d.Get(ctx, "/networks", nil, MaxListBytes)
	if err != nil {
		return nil, fmt.Errorf("list networks: %w", err)
	}
	var list []struct {
		ID string `json:"Id"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("list networks: %w", err)
	}
	out := make([]json.RawMessage, 0, len(list))
	for _, n := range list {
		b, err := d.Get(ctx, "/networks/"+url.PathEscape(n.ID), url.Values{"verbose": {"true"}}, dockerMaxObjectBytes)
		if err != nil {
			if !IsNotFound(err) {
				return nil, fmt.Errorf("inspect network %q: %w", n.ID, err)
			}
			b, _ = json.Marshal(map[string]string{"Id": n.ID, "dockcase_error": err.Error()})
		}
		out = append(out, b)
	}
	return json.Marshal(out)
}

// Volumes returns the engine's volume list JSON (volumes and warnings).
func (d *Client) Volumes(ctx context.Context) ([]byte, error) {
	b, err := d.Get(ctx, "/volumes", nil, MaxListBytes)
	if err != nil {
		return nil, fmt.Errorf("list volumes: %w", err)
	}
	return b, nil
}

// dockerImageEntry is one element of Images: the engine's inspect and
// history of one image, or the error that replaced them.
type dockerImageEntry struct {
	ID      string          `json:"id"`
	Inspect json.RawMessage `json:"inspect,omitempty"`
	History json.RawMessage `json:"history,omitempty"`
	Error   string          `json:"error,omitempty"`
}

// Images returns a JSON array of {"id", "inspect", "history"} for every
// image; an image removed during collection carries "error" instead.
func (d *Client) Images(ctx context.Context) ([]byte, error) {
	raw, err := d.Get(ctx, "/images/json", nil, MaxListBytes)
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	var list []struct {
		ID string `json:"Id"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	out := make([]dockerImageEntry, 0, len(list))
	for _, im := range list {
		e := dockerImageEntry{ID: im.ID}
		p := "/images/" + url.PathEscape(im.ID)
		e.Inspect, err = d.Get(ctx, p+"/json", nil, dockerMaxObjectBytes)
		if err == nil {
			e.History, err = d.Get(ctx, p+"/history", nil, dockerMaxObjectBytes)
		}
		if err != nil {
			if !IsNotFound(err) {
				return nil, fmt.Errorf("inspect image %q: %w", im.ID, err)
			}
			e = dockerImageEntry{ID: im.ID, Error: err.Error()}
		}
		out = append(out, e)
	}
	return json.Marshal(out)
}

// Events writes the engine's events between since and until as JSON lines
// and returns how many. A zero since asks for all the engine still holds (it
// keeps only a bounded history in memory); a zero until means now.
//
// Podman treats until as a deadline for the stream rather than a bound on
// the history, and answers a past until with nothing; on Podman the history
// is asked for with stream=false (which Docker ignores) and no until, and
// the lines after until are dropped here.
func (d *Client) Events(ctx context.Context, since, until time.Time, w io.Writer) (int, error) {
	if until.IsZero() {
		until = time.Now()
	}
	q := url.Values{"until": {UnixTime(until)}}
	if d.engine == EnginePodman {
		q = url.Values{"stream": {"false"}}
	}
	if !since.IsZero() {
		q.Set("since", UnixTime(since))
	}
	resp, err := d.Open(ctx, "/events", q)
	if err != nil {
		return 0, fmt.Errorf("events: %w", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), MaxEventBytes)
	n := 0
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if !json.Valid(line) {
			return n, fmt.Errorf("events: line %d is not JSON: %q", n+1, line[:min(len(line), 80)])
		}
		if d.engine == EnginePodman && eventAfter(line, until) {
			continue
		}
		if _, err := w.Write(append(line, '\n')); err != nil {
			return n, fmt.Errorf("events: write: %w", err)
		}
		n++
	}
	if err := sc.Err(); err != nil {
		return n, fmt.Errorf("events: %w", err)
	}
	return n, nil
}

// EventsQuery is the query Events sends, for the bundle's record of it.
func (d *Client) EventsQuery(since, until time.Time) string {
	if d.engine == EnginePodman {
		return fmt.Sprintf("GET /events?since=%d&stream=false (events after %d dropped)", since.Unix(), until.Unix())
	}
	return fmt.Sprintf("GET /events?since=%d&until=%d", since.Unix(), until.Unix())
}

// eventAfter reports whether the event line's time is after t. A line
// without a time is kept.
func eventAfter(line []byte, t time.Time) bool {
	var ev struct {
		Time     int64 `json:"time"`
		TimeNano int64 `json:"timeNano"`
	}
	if json.Unmarshal(line, &ev) != nil {
		return false
	}
	switch {
	case ev.TimeNano != 0:
		return ev.TimeNano > t.UnixNano()
	case ev.Time != 0:
		return ev.Time > t.Unix()
	}
	return false
}

func UnixTime(t time.Time) string {
	return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond())
}

// Mount is a volume, bind or tmpfs mount of a container: its content
// is not in a commit.
type Mount struct {
	Type        string `json:"type"`
	Name        string `json:"name,omitempty"`   // volume name
	Source      string `json:"source,omitempty"` // host path; empty for tmpfs
	Destination string `json:"destination"`
	RW          bool   `json:"rw"`
}

// CommitResult describes a preservation commit.
type CommitResult struct {
	Container string `json:"container"`
	ImageID   string `json:"image_id"`
	Reference string `json:"reference"`
	// Names are the names the engine gave the image (its RepoTags), which
	// may differ from Reference: Podman qualifies it with docker.io/.
	Names       []string `json:"image_names,omitempty"`
	Paused      bool     `json:"paused"`        // the engine paused the container during the commit
	NotInCommit []Mount  `json:"not_in_commit"` // mounts whose content the image lacks
}

// Commit preserves the container's filesystem as an image tagged
// "dockcase/<case>:<container name>", labelled dockcase.case=<caseID> on top
// of the container's own labels. The engine pauses the container for the
// commit (its default, kept so the filesystem is consistent), which the
// result records. Mounted volumes and bind mounts are not in the image;
// the result lists them with their host paths.
func (d *Client) Commit(ctx context.Context, id, caseID string) (CommitResult, error) {
	if strings.ContainsFunc(caseID, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return CommitResult{}, fmt.Errorf("commit %q: case id %q has control characters", id, caseID)
	}
	f, err := d.containerState(ctx, id)
	if err != nil {
		return CommitResult{}, fmt.Errorf("commit %q: %w", id, err)
	}
	name := strings.TrimPrefix(f.Name, "/")
	res := CommitResult{
		Container: f.ID,
		Reference: "dockcase/" + dockerRepoComponent(caseID) + ":" + dockerTag(name, f.ID),
		Paused:    true,
	}
	for _, m := range f.Mounts {
		res.NotInCommit = append(res.NotInCommit, Mount{
			Type: string(m.Type), Name: m.Name, Source: m.Source, Destination: m.Destination, RW: m.RW,
		})
	}
	// A Dockerfile LABEL change applies on top of the container's config,
	// so its labels and the rest of its config stay as they are; passing a
	// Config instead would rebuild it from a partial merge.
	opts := container.CommitOptions{
		Reference: res.Reference,
		Comment:   fmt.Sprintf("dockcase case %s: preservation of container %s (%s)", caseID, name, f.ID),
		Author:    "dockcase",
		Changes:   []string{"LABEL dockcase.case=" + dockerfileQuote(caseID)},
		Pause:     true,
	}
	if d.engine == EnginePodman {
		res.ImageID, err = d.podmanCommit(ctx, id, opts)
	} else {
		var resp container.CommitResponse
		resp, err = d.cli.ContainerCommit(ctx, id, opts)
		res.ImageID = resp.ID
	}
	if err != nil {
		return res, fmt.Errorf("commit %q: %w", id, err)
	}
	// The engine may name the image otherwise than asked: Podman puts it
	// under docker.io/. What it gave is what a responder looks it up by.
	raw, err := d.Get(ctx, "/images/"+url.PathEscape(res.ImageID)+"/json", nil, dockerMaxObjectBytes)
	if err != nil {
		return res, fmt.Errorf("commit %q: inspect image %q: %w", id, res.ImageID, err)
	}
	var im struct {
		RepoTags []string `json:"RepoTags"`
	}
	if err := json.Unmarshal(raw, &im); err != nil {
		return res, fmt.Errorf("commit %q: inspect image %q: %w", id, res.ImageID, err)
	}
	res.Names = im.RepoTags
	return res, nil
}

// podmanCommit is POST /commit as Podman's compatible API takes it: with a
// body, even an empty one ({}), where Docker's client sends none (Podman
// then fails to decode it with EOF). An empty config changes nothing of
// the container's.
func (d *Client) podmanCommit(ctx context.Context, id string, opts container.CommitOptions) (string, error) {
	ref, tag, _ := strings.Cut(opts.Reference, ":")
	q := url.Values{
		"container": {id}, "repo": {ref}, "tag": {tag}, "comment": {opts.Comment},
		"author": {opts.Author}, "changes": opts.Changes, "pause": {"1"},
	}
	resp, err := d.do(ctx, http.MethodPost, "/commit", q, []byte("{}"))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		ID string `json:"Id"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, dockerMaxObjectBytes)).Decode(&out); err != nil {
		return "", fmt.Errorf("read commit answer: %w", err)
	}
	if out.ID == "" {
		return "", errors.New("commit answer has no image id")
	}
	return out.ID, nil
}

// dockerfileQuote quotes s as one Dockerfile word, with no variable
// expansion.
func dockerfileQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `$`, `\$`)
	return `"` + r.Replace(s) + `"`
}

// dockerRepoComponent turns s into a repository path component
// ([a-z0-9]+ runs joined by "-"), "case" when nothing is left.
func dockerRepoComponent(s string) string {
	var b strings.Builder
	sep := false
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if sep && b.Len() > 0 {
				b.WriteByte('-')
			}
			sep = false
			b.WriteRune(r)
			continue
		}
		sep = true
	}
	out := b.String()
	if len(out) > 128 {
		out = strings.TrimRight(out[:128], "-")
	}
	if out == "" {
		return "case"
	}
	return out
}

// dockerTag turns a container name into a tag ([A-Za-z0-9_][A-Za-z0-9_.-]
// up to 128), falling back to the short id.
func dockerTag(name, id string) string {
	b := []byte(name)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			b[i] = '_'
		}
	}
	if len(b) > 0 && (b[0] == '.' || b[0] == '-') {
		b = append([]byte{'_'}, b...)
	}
	if len(b) > 128 {
		b = b[:128]
	}
	if len(b) == 0 {
		return id[:min(12, len(id))]
	}
	return string(b)
}

// SaveImage streams the image as a docker-save tar. Saving by reference
// rather than id records the tag in the tar's manifest.
func (d *Client) SaveImage(ctx context.Context, imageID string) (io.ReadCloser, error) {
	rc, err := d.cli.ImageSave(ctx, []string{imageID})
	if err != nil {
		return nil, fmt.Errorf("save image %q: %w", imageID, err)
	}
	return rc, nil
}

// Pause freezes every process of the container.
func (d *Client) Pause(ctx context.Context, id string) error {
	if err := d.cli.ContainerPause(ctx, id); err != nil {
		return fmt.Errorf("pause %q: %w", id, err)
	}
	return nil
}

// DisconnectAll force-disconnects the container from every network it is
// attached to and returns the names of those it left, sorted. It goes on
// after a failure (host and none networks cannot be left) and returns all
// errors joined.
func (d *Client) DisconnectAll(ctx context.Context, id string) ([]string, error) {
	f, err := d.containerState(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("disconnect %q: %w", id, err)
	}
	names := make([]string, 0, len(f.NetworkSettings.Networks))
	for n := range f.NetworkSettings.Networks {
		names = append(names, n)
	}
	slices.Sort(names)
	var done []string
	var errs []error
	for _, n := range names {
		netID := f.NetworkSettings.Networks[n].NetworkID
		if netID == "" {
			netID = n
		}
		if err := d.cli.NetworkDisconnect(ctx, netID, id, true); err != nil {
			errs = append(errs, fmt.Errorf("disconnect %q from %q: %w", id, n, err))
			continue
		}
		done = append(done, n)
	}
	return done, errors.Join(errs...)
}

// ShortID is the 12-character form of a container or image ID.
func ShortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
