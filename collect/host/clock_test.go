package host

import (
	"bufio"
	"encoding/json"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestReadClock(t *testing.T) {
	before := time.Now()
	c, err := ReadClock()
	after := time.Now()
	if err != nil {
		t.Fatalf("ReadClock() error = %v", err)
	}

	if c.Wall.Location() != time.UTC {
		t.Errorf("ReadClock().Wall location = %v, want UTC", c.Wall.Location())
	}
	if c.Wall.Before(before.Add(-time.Second)) || c.Wall.After(after.Add(time.Second)) {
		t.Errorf("ReadClock().Wall = %v, want between %v and %v", c.Wall, before, after)
	}
	if !c.BootTime.Before(c.Wall) {
		t.Errorf("ReadClock().BootTime = %v, want before Wall %v", c.BootTime, c.Wall)
	}
	if c.Monotonic <= 0 || c.Boottime < c.Monotonic {
		t.Errorf("ReadClock() monotonic = %v, boottime = %v, want 0 < monotonic <= boottime", c.Monotonic, c.Boottime)
	}

	// The kernel's own boot time (btime in /proc/stat, whole seconds) is an
	// independent oracle for Wall - Boottime.
	btime := clockTestBtime(t)
	if d := c.BootTime.Sub(btime); d < -2*time.Second || d > 2*time.Second {
		t.Errorf("ReadClock().BootTime = %v, /proc/stat btime = %v (off by %v)", c.BootTime, btime, d)
	}

	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	if c.Hostname != host {
		t.Errorf("ReadClock().Hostname = %q, want %q", c.Hostname, host)
	}
	rel, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.TrimSpace(string(rel)); c.KernelRelease != want {
		t.Errorf("ReadClock().KernelRelease = %q, want %q", c.KernelRelease, want)
	}
	if c.KernelName != "Linux" {
		t.Errorf("ReadClock().KernelName = %q, want Linux", c.KernelName)
	}
	name, off := time.Now().Zone()
	if c.TimeZone != name || c.UTCOffsetSeconds != off {
		t.Errorf("ReadClock() zone = %q %d, want %q %d", c.TimeZone, c.UTCOffsetSeconds, name, off)
	}

	if c.NTP.State == "" || strings.HasPrefix(c.NTP.State, "UNKNOWN") {
		t.Errorf("ReadClock().NTP.State = %q, want a TIME_* name", c.NTP.State)
	}
	unsync := false
	for _, f := range c.NTP.StatusFlags {
		if f == "STA_UNSYNC" {
			unsync = true
		}
	}
	if unsync == c.NTP.Synchronized && c.NTP.State != "TIME_ERROR" {
		t.Errorf("ReadClock().NTP synchronized = %v with flags %v", c.NTP.Synchronized, c.NTP.StatusFlags)
	}
	if c.Collector.GoVersion != runtime.Version() {
		t.Errorf("ReadClock().Collector.GoVersion = %q, want %q", c.Collector.GoVersion, runtime.Version())
	}

	// The lead stores this as JSON: wall time must come out as RFC 3339 UTC.
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	wall, _ := m["wall"].(string)
	if _, err := time.Parse(time.RFC3339Nano, wall); err != nil || !strings.HasSuffix(wall, "Z") {
		t.Errorf("json wall = %q, want RFC 3339 in UTC (err %v)", wall, err)
	}
	t.Logf("clock: %s", b)
}

func clockTestBtime(t *testing.T) time.Time {
	t.Helper()
	f, err := os.Open("/proc/stat")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "btime "); ok {
			s, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return time.Unix(s, 0)
		}
	}
	t.Fatal("no btime in /proc/stat")
	return time.Time{}
}
