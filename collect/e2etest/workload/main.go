// Command workload is the one static program of the end-to-end scenario. In a
// container it beacons to the C2 over TCP and UDP, serves HTTP, resolves names
// and drops files; in the C2 network namespace it is the listener that answers
// the beacons and the DNS server that answers for the C2 domain. It logs every
// event as one JSON object per line on stdout, so tests can read the C2 log
// file and the container logs alike, and it runs until it is killed. With no
// flags it only idles, which is all a test needs of a container that must
// stay up.
//
// For tests of container logs it can also write plain numbered lines on
// stdout and stderr (-chatter) with the JSON log turned off (-quiet), and exit
// after one round instead of running (-once).
//
// For tests of what happens between two snapshot moments it opens one TCP
// connection each time it gets SIGUSR1 (-connect-on-usr1), holds it open for
// -hold and closes it, so a test decides when a connection exists.
//
// For tests of a session that sits idle (a reverse shell waiting for its
// operator) it opens one TCP connection at start (-hold-tcp), sends one line
// and then holds the connection without a packet, keep-alives off on both
// ends, until it is killed.
//
// Positional arguments after the flags are ignored on purpose: a test can give
// the process a command line of any shape (a reverse shell, a miner) and the
// program still does only what its flags say.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

const (
	// maxBeaconLineBytes bounds one beacon line read by the listener: beacons
	// are about 60 bytes, anything longer is not ours.
	maxBeaconLineBytes = 512
	// maxDatagramBytes bounds a UDP beacon or a DNS query: both fit in one
	// unfragmented datagram and EDNS clients advertise at most 4096 bytes.
	maxDatagramBytes = 4096
	// maxLoggedDataBytes bounds the payload copied into a log line, so a
	// stray sender cannot make the log grow without bound.
	maxLoggedDataBytes = 256
	// ioTimeout bounds every network wait of a beacon, so a dead C2 delays
	// the next beacon by at most this much.
	ioTimeout = 2 * time.Second
	// idleConnTimeout closes listener connections whose client went silent;
	// a beacon keeps its connection only until the next beacon.
	idleConnTimeout = 30 * time.Second
	// dnsTTLSeconds is the TTL of DNS answers: short, so a resolver asks
	// again and every lookup shows up in the C2 log.
	dnsTTLSeconds = 1
	// holdLine begins the one line a -hold-tcp session sends.
	holdLine = "hold"
)

// event is one log line.
type event struct {
	Time   time.Time `json:"time"`
	Event  string    `json:"event"`
	Name   string    `json:"name,omitempty"`
	Proto  string    `json:"proto,omitempty"`
	Local  string    `json:"local,omitempty"`
	Remote string    `json:"remote,omitempty"`
	Data   string    `json:"data,omitempty"`
	Addrs  []string  `json:"addrs,omitempty"`
	Err    string    `json:"err,omitempty"`
}

// logger writes events as JSON lines; one mutex keeps lines whole.
type logger struct {
	mu   sync.Mutex
	enc  *json.Encoder
	name string
}

func (l *logger) log(e event) {
	e.Time = time.Now().UTC()
	e.Name = l.name
	if len(e.Data) > maxLoggedDataBytes {
		e.Data = e.Data[:maxLoggedDataBytes]
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	_ = l.enc.Encode(e)
}

// listFlag collects a repeatable string flag.
type listFlag []string

func (f *listFlag) String() string     { return strings.Join(*f, ",") }
func (f *listFlag) Set(v string) error { *f = append(*f, v); return nil }

type options struct {
	name       string
	beaconTCP  string
	beaconUDP  string
	interval   time.Duration
	serve      string
	resolve    string
	listenTCP  string
	listenUDP  string
	dnsServe   string
	dnsAnswers listFlag
	drops      listFlag
	writes     listFlag
	chmods     listFlag
	chatter    bool
	quiet      bool
	once       bool
	spin       bool
	connectUSR string
	hold       time.Duration
	holdTCP    string
}

func main() {
	var o options
	fs := flag.NewFlagSet("workload", flag.ContinueOnError)
	fs.StringVar(&o.name, "name", "", "tag written into beacons and log lines")
	fs.StringVar(&o.beaconTCP, "beacon-tcp", "", "beacon over TCP to `ADDR:PORT` every interval")
	fs.StringVar(&o.beaconUDP, "beacon-udp", "", "beacon over UDP to `ADDR:PORT` every interval")
	fs.DurationVar(&o.interval, "interval", 500*time.Millisecond, "time between beacons and lookups")
	fs.StringVar(&o.serve, "serve", "", "serve HTTP on `ADDR` (e.g. :8080)")
	fs.StringVar(&o.resolve, "resolve", "", "look up `NAME` through the system resolver every interval")
	fs.StringVar(&o.listenTCP, "listen-tcp", "", "accept TCP beacons on `ADDR`")
	fs.StringVar(&o.listenUDP, "listen-udp", "", "accept UDP beacons on `ADDR`")
	fs.StringVar(&o.dnsServe, "dns-serve", "", "serve DNS over UDP on `ADDR`")
	fs.Var(&o.dnsAnswers, "dns-answer", "answer A queries for `NAME=IP` (repeatable)")
	fs.Var(&o.drops, "drop", "copy this executable to `PATH` with mode 0755 (repeatable)")
	fs.Var(&o.writes, "write", "append a line to a file, `PATH=TEXT` (repeatable)")
	fs.Var(&o.chmods, "chmod", "set a file's mode bits, setuid and setgid included, after the drops and writes, `PATH=OCTAL` (repeatable)")
	fs.BoolVar(&o.chatter, "chatter", false, "print \"out N\" on stdout and \"err N\" on stderr every interval, N counting from 0, as a program with a plain-text log does")
	fs.BoolVar(&o.quiet, "quiet", false, "write no JSON event log, so stdout carries only the -chatter lines; a fatal error still goes to stderr")
	fs.BoolVar(&o.once, "once", false, "exit after the drops, writes, chmods and one round of -chatter instead of running until killed; not with the listeners, beacons or lookups")
	fs.BoolVar(&o.spin, "spin", false, "keep one core busy until killed, as a miner does")
	fs.StringVar(&o.connectUSR, "connect-on-usr1", "", "on each SIGUSR1, open one TCP connection to `ADDR:PORT`, send a line, hold it for -hold, close it")
	fs.DurationVar(&o.hold, "hold", 4*time.Second, "how long a -connect-on-usr1 connection stays open")
	fs.StringVar(&o.holdTCP, "hold-tcp", "", "at start, open one TCP connection to `ADDR:PORT`, send a line and hold it idle (no keep-alives) until killed")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if o.interval <= 0 || o.hold <= 0 {
		fmt.Fprintln(os.Stderr, "workload: -interval and -hold must be positive")
		os.Exit(2)
	}
	if o.once && (o.beaconTCP != "" || o.beaconUDP != "" || o.serve != "" || o.resolve != "" ||
		o.listenTCP != "" || o.listenUDP != "" || o.dnsServe != "" || o.connectUSR != "" || o.holdTCP != "") {
		fmt.Fprintln(os.Stderr, "workload: -once does not go with the listeners, beacons or lookups")
		os.Exit(2)
	}
	var logOut io.Writer = os.Stdout
	if o.quiet {
		logOut = io.Discard
	}
	l := &logger{enc: json.NewEncoder(logOut), name: o.name}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, l); err != nil {
		l.log(event{Event: "fatal", Err: err.Error()})
		if o.quiet {
			fmt.Fprintln(os.Stderr, "workload:", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, o options, l *logger) error {
	answers, err := parseDNSAnswers(o.dnsAnswers)
	if err != nil {
		return err
	}
	for _, p := range o.drops {
		if err := dropSelf(p); err != nil {
			return err
		}
		l.log(event{Event: "drop", Data: p})
	}
	for _, w := range o.writes {
		path, text, ok := strings.Cut(w, "=")
		if !ok {
			return fmt.Errorf("-write %q: want PATH=TEXT", w)
		}
		if err := appendLine(path, text); err != nil {
			return err
		}
		l.log(event{Event: "write", Data: path})
	}
	for _, c := range o.chmods {
		path, mode, ok := strings.Cut(c, "=")
		bits, err := strconv.ParseUint(mode, 8, 32)
		if !ok || err != nil || bits > 0o7777 {
			return fmt.Errorf("-chmod %q: want PATH=OCTAL", c)
		}
		// syscall.Chmod takes the raw bits; os.Chmod would want Go's
		// ModeSetuid and ModeSetgid instead.
		if err := syscall.Chmod(path, uint32(bits)); err != nil {
			return fmt.Errorf("chmod %q: %w", path, err)
		}
		l.log(event{Event: "chmod", Data: c})
	}
	if o.once {
		if o.chatter {
			chatter(ctx, o.interval, true)
		}
		return nil
	}

	// Bind everything before reporting ready, so a test that waits for the
	// ready line knows the listeners accept.
	var starters []func()
	if o.listenTCP != "" {
		ln, err := net.Listen("tcp", o.listenTCP)
		if err != nil {
			return fmt.Errorf("listen tcp: %w", err)
		}
		starters = append(starters, func() { serveTCPBeacons(ctx, ln, l) })
	}
	if o.listenUDP != "" {
		pc, err := net.ListenPacket("udp", o.listenUDP)
		if err != nil {
			return fmt.Errorf("listen udp: %w", err)
		}
		starters = append(starters, func() { serveUDPBeacons(ctx, pc, l) })
	}
	if o.dnsServe != "" {
		pc, err := net.ListenPacket("udp", o.dnsServe)
		if err != nil {
			return fmt.Errorf("listen dns: %w", err)
		}
		starters = append(starters, func() { serveDNS(ctx, pc, answers, l) })
	}
	if o.serve != "" {
		ln, err := net.Listen("tcp", o.serve)
		if err != nil {
			return fmt.Errorf("listen http: %w", err)
		}
		starters = append(starters, func() { serveHTTP(ctx, ln, o.name, l) })
	}
	if o.spin {
		starters = append(starters, func() { spin(ctx) })
	}
	if o.connectUSR != "" {
		// Registered before the ready line, so a signal sent after it is
		// never lost.
		usr1 := make(chan os.Signal, 4)
		signal.Notify(usr1, syscall.SIGUSR1)
		starters = append(starters, func() { connectOnSignal(ctx, usr1, o.connectUSR, o.name, o.hold, l) })
	}
	if o.holdTCP != "" {
		// Connected before the ready line, so a test that waits for it
		// knows the session exists.
		c, err := holdConnect(o.holdTCP, o.name)
		if err != nil {
			return err
		}
		l.log(event{Event: "connect", Proto: "tcp", Local: c.LocalAddr().String(), Remote: c.RemoteAddr().String()})
		starters = append(starters, func() { <-ctx.Done(); c.Close() })
	}
	if o.beaconTCP != "" {
		starters = append(starters, func() { beaconTCP(ctx, o.beaconTCP, o.name, o.interval, l) })
	}
	if o.beaconUDP != "" {
		starters = append(starters, func() { beaconUDP(ctx, o.beaconUDP, o.name, o.interval, l) })
	}
	if o.resolve != "" {
		starters = append(starters, func() { resolveLoop(ctx, o.resolve, o.interval, l) })
	}
	if o.chatter {
		starters = append(starters, func() { chatter(ctx, o.interval, false) })
	}
	var wg sync.WaitGroup
	for _, start := range starters {
		wg.Add(1)
		go func() { defer wg.Done(); start() }()
	}
	l.log(event{Event: "ready"})
	<-ctx.Done()
	wg.Wait()
	return nil
}

func parseDNSAnswers(list []string) (map[string]netip.Addr, error) {
	m := make(map[string]netip.Addr)
	for _, a := range list {
		name, ip, ok := strings.Cut(a, "=")
		if !ok {
			return nil, fmt.Errorf("-dns-answer %q: want NAME=IP", a)
		}
		addr, err := netip.ParseAddr(ip)
		if err != nil || !addr.Is4() {
			return nil, fmt.Errorf("-dns-answer %q: want an IPv4 address", a)
		}
		m[canonicalName(name)] = addr
	}
	return m, nil
}

// canonicalName lowercases a DNS name and gives it the trailing dot, the form
// the DNS parser returns.
func canonicalName(s string) string {
	s = strings.ToLower(s)
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

func dropSelf(path string) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("drop %q: %w", path, err)
	}
	src, err := os.Open(self)
	if err != nil {
		return fmt.Errorf("drop %q: %w", path, err)
	}
	defer src.Close()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("drop %q: %w", path, err)
	}
	dst, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		return fmt.Errorf("drop %q: %w", path, err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return fmt.Errorf("drop %q: %w", path, err)
	}
	if err := dst.Close(); err != nil {
		return fmt.Errorf("drop %q: %w", path, err)
	}
	return nil
}

func appendLine(path, text string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("write %q: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("write %q: %w", path, err)
	}
	if _, err := f.WriteString(text + "\n"); err != nil {
		f.Close()
		return fmt.Errorf("write %q: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %q: %w", path, err)
	}
	return nil
}

// closeOnDone closes c when ctx ends, which unblocks its Accept or Read.
func closeOnDone(ctx context.Context, c io.Closer) {
	go func() { <-ctx.Done(); c.Close() }()
}

func serveTCPBeacons(ctx context.Context, ln net.Listener, l *logger) {
	closeOnDone(ctx, ln)
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() == nil {
				l.log(event{Event: "error", Proto: "tcp", Err: err.Error()})
			}
			return
		}
		go handleTCPBeacon(c, l)
	}
}

// handleTCPBeacon logs every line the client sends and answers each with
// "ok"; the connection stays open until the client closes it, as a beacon
// keeps its last connection until the next one. A held session (its line
// begins with holdLine) is kept without a read deadline or keep-alives, so
// that it stays open and silent as long as its client holds it.
func handleTCPBeacon(c net.Conn, l *logger) {
	defer c.Close()
	r := bufio.NewReaderSize(io.LimitReader(c, 1<<20), maxBeaconLineBytes)
	held := false
	for {
		deadline := time.Now().Add(idleConnTimeout)
		if held {
			deadline = time.Time{}
		}
		_ = c.SetReadDeadline(deadline)
		line, err := r.ReadSlice('\n')
		if len(line) > 0 {
			l.log(event{Event: "contact", Proto: "tcp", Local: c.LocalAddr().String(),
				Remote: c.RemoteAddr().String(), Data: strings.TrimSpace(string(line))})
			if strings.HasPrefix(string(line), holdLine+" ") {
				held = true
				if tc, ok := c.(*net.TCPConn); ok {
					_ = tc.SetKeepAlive(false)
				}
			}
			if _, werr := c.Write([]byte("ok\n")); werr != nil {
				return
			}
		}
		if err != nil {
			// bufio.ErrBufferFull: the line is longer than any beacon; it
			// was logged truncated and the connection is not ours.
			return
		}
	}
}

func serveUDPBeacons(ctx context.Context, pc net.PacketConn, l *logger) {
	closeOnDone(ctx, pc)
	buf := make([]byte, maxDatagramBytes)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			if ctx.Err() == nil {
				l.log(event{Event: "error", Proto: "udp", Err: err.Error()})
			}
			return
		}
		l.log(event{Event: "contact", Proto: "udp", Local: pc.LocalAddr().String(),
			Remote: from.String(), Data: strings.TrimSpace(string(buf[:n]))})
		_, _ = pc.WriteTo([]byte("ok\n"), from)
	}
}

func serveDNS(ctx context.Context, pc net.PacketConn, answers map[string]netip.Addr, l *logger) {
	closeOnDone(ctx, pc)
	buf := make([]byte, maxDatagramBytes)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			if ctx.Err() == nil {
				l.log(event{Event: "error", Proto: "dns", Err: err.Error()})
			}
			return
		}
		resp, q, err := dnsAnswer(buf[:n], answers)
		if err != nil {
			l.log(event{Event: "contact", Proto: "dns", Local: pc.LocalAddr().String(),
				Remote: from.String(), Err: err.Error()})
			continue
		}
		l.log(event{Event: "contact", Proto: "dns", Local: pc.LocalAddr().String(),
			Remote: from.String(), Data: strings.TrimPrefix(q.Type.String(), "Type") + " " + q.Name.String()})
		_, _ = pc.WriteTo(resp, from)
	}
}

// dnsAnswer builds the reply to one query: an A record for a configured name,
// an empty answer for its other types, NXDOMAIN for every other name. It never
// forwards, so no lookup leaves the C2 namespace.
func dnsAnswer(query []byte, answers map[string]netip.Addr) ([]byte, dnsmessage.Question, error) {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil, dnsmessage.Question{}, fmt.Errorf("parse dns header: %w", err)
	}
	q, err := p.Question()
	if err != nil {
		return nil, dnsmessage.Question{}, fmt.Errorf("parse dns question: %w", err)
	}
	rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired,
		RecursionAvailable: true}
	addr, known := answers[strings.ToLower(q.Name.String())]
	if !known {
		rh.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, rh)
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, q, fmt.Errorf("build dns reply: %w", err)
	}
	if err := b.Question(q); err != nil {
		return nil, q, fmt.Errorf("build dns reply: %w", err)
	}
	if known && q.Type == dnsmessage.TypeA && q.Class == dnsmessage.ClassINET {
		if err := b.StartAnswers(); err != nil {
			return nil, q, fmt.Errorf("build dns reply: %w", err)
		}
		rrh := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: dnsTTLSeconds}
		if err := b.AResource(rrh, dnsmessage.AResource{A: addr.As4()}); err != nil {
			return nil, q, fmt.Errorf("build dns reply: %w", err)
		}
	}
	msg, err := b.Finish()
	if err != nil {
		return nil, q, fmt.Errorf("build dns reply: %w", err)
	}
	return msg, q, nil
}

func serveHTTP(ctx context.Context, ln net.Listener, name string, l *logger) {
	srv := &http.Server{
		ReadHeaderTimeout: ioTimeout,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			l.log(event{Event: "http", Proto: "tcp", Remote: r.RemoteAddr, Data: r.Method + " " + r.URL.Path})
			fmt.Fprintf(w, "ok %s\n", name)
		}),
	}
	go func() { <-ctx.Done(); srv.Close() }()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		l.log(event{Event: "error", Proto: "http", Err: err.Error()})
	}
}

// beaconTCP opens a new connection every interval, sends one line and reads
// the answer. It keeps that connection open until the next beacon, so at any
// moment the process owns one established connection to the C2 (what a socket
// table must show) while the C2 still sees one new connection per interval
// (what a beaconing detector looks for).
func beaconTCP(ctx context.Context, addr, name string, interval time.Duration, l *logger) {
	var prev net.Conn
	defer func() {
		if prev != nil {
			prev.Close()
		}
	}()
	d := net.Dialer{Timeout: ioTimeout}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for seq := 0; ; seq++ {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			err = beaconExchange(c, fmt.Sprintf("beacon name=%s seq=%d proto=tcp\n", name, seq))
			if err != nil {
				c.Close()
			} else {
				if prev != nil {
					prev.Close()
				}
				prev = c
			}
		}
		if err != nil && ctx.Err() == nil {
			l.log(event{Event: "beacon-error", Proto: "tcp", Remote: addr, Err: err.Error()})
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// connectOnSignal opens one connection to addr for each signal on sig,
// sends one line, reads the answer, holds the connection for hold and
// closes it, logging "connect" with both ends and "close" when it closed.
// Signals that come while a connection is held are taken after it.
func connectOnSignal(ctx context.Context, sig <-chan os.Signal, addr, name string, hold time.Duration, l *logger) {
	d := net.Dialer{Timeout: ioTimeout}
	for seq := 0; ; seq++ {
		select {
		case <-ctx.Done():
			return
		case <-sig:
		}
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			err = beaconExchange(c, fmt.Sprintf("connect name=%s seq=%d proto=tcp\n", name, seq))
			if err != nil {
				c.Close()
			}
		}
		if err != nil {
			l.log(event{Event: "connect-error", Proto: "tcp", Remote: addr, Err: err.Error()})
			continue
		}
		l.log(event{Event: "connect", Proto: "tcp", Local: c.LocalAddr().String(), Remote: c.RemoteAddr().String()})
		select {
		case <-ctx.Done():
		case <-time.After(hold):
		}
		c.Close()
		l.log(event{Event: "close", Proto: "tcp", Local: c.LocalAddr().String(), Remote: c.RemoteAddr().String()})
	}
}

// holdConnect opens the -hold-tcp connection with keep-alives off, sends
// the line the listener knows a held session by and reads the answer.
func holdConnect(addr, name string) (net.Conn, error) {
	d := net.Dialer{Timeout: ioTimeout, KeepAlive: -1}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("hold tcp: %w", err)
	}
	if err := beaconExchange(c, fmt.Sprintf("%s name=%s proto=tcp\n", holdLine, name)); err != nil {
		c.Close()
		return nil, fmt.Errorf("hold tcp: %w", err)
	}
	return c, nil
}

func beaconExchange(c net.Conn, line string) error {
	if err := c.SetDeadline(time.Now().Add(ioTimeout)); err != nil {
		return err
	}
	if _, err := io.WriteString(c, line); err != nil {
		return err
	}
	ack := make([]byte, 3)
	if _, err := io.ReadFull(c, ack); err != nil {
		return fmt.Errorf("read ack: %w", err)
	}
	return c.SetDeadline(time.Time{})
}

// beaconUDP sends one datagram every interval from one socket, so conntrack
// shows a single long-lived flow and the socket table one UDP socket owned by
// this process.
func beaconUDP(ctx context.Context, addr, name string, interval time.Duration, l *logger) {
	var c net.Conn
	tick := time.NewTicker(interval)
	defer tick.Stop()
	buf := make([]byte, maxDatagramBytes)
	for seq := 0; ; seq++ {
		var err error
		if c == nil {
			c, err = net.Dial("udp", addr)
		}
		if err == nil {
			_, err = fmt.Fprintf(c, "beacon name=%s seq=%d proto=udp\n", name, seq)
		}
		if err == nil {
			// The answer is read only to consume it; a lost one is not an error
			// worth a log line every interval.
			_ = c.SetReadDeadline(time.Now().Add(interval / 2))
			_, _ = c.Read(buf)
		}
		if err != nil && ctx.Err() == nil {
			l.log(event{Event: "beacon-error", Proto: "udp", Remote: addr, Err: err.Error()})
		}
		select {
		case <-ctx.Done():
			if c != nil {
				c.Close()
			}
			return
		case <-tick.C:
		}
	}
}

// chatter prints "out N" on stdout and "err N" on stderr every interval, the
// lines a test of container logs can tell apart by stream and order; with
// once it prints only round 0. Each line is one write, so it stays whole
// next to the JSON log.
func chatter(ctx context.Context, interval time.Duration, once bool) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for seq := 0; ; seq++ {
		fmt.Fprintf(os.Stdout, "out %d\n", seq)
		fmt.Fprintf(os.Stderr, "err %d\n", seq)
		if once {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func resolveLoop(ctx context.Context, name string, interval time.Duration, l *logger) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		lctx, cancel := context.WithTimeout(ctx, ioTimeout)
		addrs, err := net.DefaultResolver.LookupHost(lctx, name)
		cancel()
		if ctx.Err() != nil {
			return
		}
		e := event{Event: "resolve", Data: name, Addrs: addrs}
		if err != nil {
			e.Err = err.Error()
		}
		l.log(e)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// spin keeps one core busy until ctx ends, checking it every few million
// rounds so that a signal still stops it at once.
func spin(ctx context.Context) {
	x := uint64(1)
	for ctx.Err() == nil {
		for i := 0; i < 1<<22; i++ {
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	if x == 0 {
		fmt.Fprintln(os.Stderr, "unreachable")
	}
}
