package host

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Clock is the time reference of a collection: it lets an analyst turn the
// kernel's relative times (conntrack timestamps, process start ticks, log
// offsets) into wall time and judge how far the host's wall clock can be
// trusted.
type Clock struct {
	// Wall is CLOCK_REALTIME in UTC, read between the monotonic and the
	// boottime readings so that the three describe the same instant to
	// within microseconds.
	Wall time.Time `json:"wall"`
	// Monotonic is CLOCK_MONOTONIC: time since boot, not counting suspend.
	Monotonic time.Duration `json:"monotonic_ns"`
	// Boottime is CLOCK_BOOTTIME: time since boot, counting suspend.
	Boottime time.Duration `json:"boottime_ns"`
	// BootTime is Wall minus Boottime: when the host booted, by its own clock.
	BootTime time.Time `json:"boot_time"`

	// TimeZone is the abbreviation of the collector's local zone at Wall
	// (from TZ or /etc/localtime) and UTCOffsetSeconds its offset east of UTC.
	TimeZone         string `json:"time_zone"`
	UTCOffsetSeconds int    `json:"utc_offset_seconds"`
	// TZEnv is the TZ environment variable of the collector, if set.
	TZEnv string `json:"tz_env,omitempty"`
	// Localtime is the target of the /etc/localtime symlink, which usually
	// names the zone (e.g. /usr/share/zoneinfo/Europe/Berlin).
	Localtime string `json:"localtime_link,omitempty"`

	Hostname      string `json:"hostname"`
	KernelName    string `json:"kernel_name"`
	KernelRelease string `json:"kernel_release"`
	KernelVersion string `json:"kernel_version"`
	Machine       string `json:"machine"`

	NTP NTPState `json:"ntp"`

	Collector BuildInfo `json:"collector"`
}

// NTPState is the kernel's view of clock discipline, read with adjtimex(2)
// in read-only mode (modes = 0).
type NTPState struct {
	// Synchronized is true when the kernel's STA_UNSYNC bit is clear and the
	// clock state is not TIME_ERROR, i.e. an NTP daemon disciplines the clock.
	Synchronized bool `json:"synchronized"`
	// State is the adjtimex return value by name (TIME_OK, TIME_ERROR, …).
	State string `json:"state"`
	// Status is the raw status word and StatusFlags its set bits by name.
	Status      int32    `json:"status"`
	StatusFlags []string `json:"status_flags"`
	// MaxErrorMicros and EstErrorMicros are the kernel's maximum and
	// estimated error of the wall clock, in microseconds.
	MaxErrorMicros int64 `json:"max_error_us"`
	EstErrorMicros int64 `json:"est_error_us"`
	// Offset is the last measured offset (ns when STA_NANO is set, else µs,
	// normalised here to nanoseconds).
	Offset time.Duration `json:"offset_ns"`
	// FreqPPM is the frequency correction in parts per million.
	FreqPPM float64 `json:"freq_ppm"`
	// TAIOffsetSeconds is TAI minus UTC as known to the kernel.
	TAIOffsetSeconds int32 `json:"tai_offset_s"`
}

// BuildInfo identifies the collector binary that produced a bundle.
type BuildInfo struct {
	GoVersion   string `json:"go_version"`
	Module      string `json:"module,omitempty"`
	Version     string `json:"version,omitempty"`
	VCSRevision string `json:"vcs_revision,omitempty"`
	VCSTime     string `json:"vcs_time,omitempty"`
	VCSModified bool   `json:"vcs_modified,omitempty"`
	GOOS        string `json:"goos"`
	GOARCH      string `json:"goarch"`
	CGOEnabled  string `json:"cgo_enabled,omitempty"`
}

// clockStateNames are the adjtimex return values (include/uapi/linux/timex.h).
var clockStateNames = map[int]string{
	unix.TIME_OK:    "TIME_OK",
	unix.TIME_INS:   "TIME_INS",
	unix.TIME_DEL:   "TIME_DEL",
	unix.TIME_OOP:   "TIME_OOP",
	unix.TIME_WAIT:  "TIME_WAIT",
	unix.TIME_ERROR: "TIME_ERROR",
}

// clockStatusBits are the adjtimex status bits (include/uapi/linux/timex.h).
var clockStatusBits = []struct {
	bit  int32
	name string
}{
	{unix.STA_PLL, "STA_PLL"},
	{unix.STA_PPSFREQ, "STA_PPSFREQ"},
	{unix.STA_PPSTIME, "STA_PPSTIME"},
	{unix.STA_FLL, "STA_FLL"},
	{unix.STA_INS, "STA_INS"},
	{unix.STA_DEL, "STA_DEL"},
	{unix.STA_UNSYNC, "STA_UNSYNC"},
	{unix.STA_FREQHOLD, "STA_FREQHOLD"},
	{unix.STA_PPSSIGNAL, "STA_PPSSIGNAL"},
	{unix.STA_PPSJITTER, "STA_PPSJITTER"},
	{unix.STA_PPSWANDER, "STA_PPSWANDER"},
	{unix.STA_PPSERROR, "STA_PPSERROR"},
	{unix.STA_CLOCKERR, "STA_CLOCKERR"},
	{unix.STA_NANO, "STA_NANO"},
	{unix.STA_MODE, "STA_MODE"},
	{unix.STA_CLK, "STA_CLK"},
}

// ReadClock reads the host's clocks, time zone, kernel identity, NTP state
// and the collector's own build. It changes nothing: adjtimex is called with
// modes = 0, which only reads. Fields that could not be read are left zero
// and named in the returned error.
func ReadClock() (Clock, error) {
	var c Clock
	var errs []error

	var mono, boot, wall unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &mono); err != nil {
		errs = append(errs, fmt.Errorf("clock_gettime monotonic: %w", err))
	}
	if err := unix.ClockGettime(unix.CLOCK_REALTIME, &wall); err != nil {
		errs = append(errs, fmt.Errorf("clock_gettime realtime: %w", err))
	}
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &boot); err != nil {
		errs = append(errs, fmt.Errorf("clock_gettime boottime: %w", err))
	}
	c.Wall = time.Unix(wall.Unix()).UTC()
	c.Monotonic = time.Duration(mono.Nano())
	c.Boottime = time.Duration(boot.Nano())
	c.BootTime = c.Wall.Add(-c.Boottime)

	c.TimeZone, c.UTCOffsetSeconds = c.Wall.In(time.Local).Zone()
	c.TZEnv = os.Getenv("TZ")
	if target, err := os.Readlink("/etc/localtime"); err == nil {
		c.Localtime = target
	}

	host, err := os.Hostname()
	if err != nil {
		errs = append(errs, fmt.Errorf("hostname: %w", err))
	}
	c.Hostname = host

	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		errs = append(errs, fmt.Errorf("uname: %w", err))
	} else {
		c.KernelName = unix.ByteSliceToString(uts.Sysname[:])
		c.KernelRelease = unix.ByteSliceToString(uts.Release[:])
		c.KernelVersion = unix.ByteSliceToString(uts.Version[:])
		c.Machine = unix.ByteSliceToString(uts.Machine[:])
	}

	ntp, err := clockReadNTP()
	if err != nil {
		errs = append(errs, err)
	}
	c.NTP = ntp

	c.Collector = ReadBuildInfo()
	return c, errors.Join(errs...)
}

func clockReadNTP() (NTPState, error) {
	var tx unix.Timex // Modes stays 0: read only, never adjust the host's clock
	state, err := unix.Adjtimex(&tx)
	if err != nil {
		return NTPState{}, fmt.Errorf("adjtimex: %w", err)
	}
	n := NTPState{
		State:            clockStateNames[state],
		Status:           tx.Status,
		MaxErrorMicros:   tx.Maxerror,
		EstErrorMicros:   tx.Esterror,
		TAIOffsetSeconds: tx.Tai,
		// Freq is in units of 2^-16 ppm (timex.h "scaled ppm").
		FreqPPM: float64(tx.Freq) / 65536,
	}
	if n.State == "" {
		n.State = fmt.Sprintf("UNKNOWN_%d", state)
	}
	n.Offset = time.Duration(tx.Offset) * time.Microsecond
	if tx.Status&unix.STA_NANO != 0 {
		n.Offset = time.Duration(tx.Offset)
	}
	n.StatusFlags = []string{}
	for _, b := range clockStatusBits {
		if tx.Status&b.bit != 0 {
			n.StatusFlags = append(n.StatusFlags, b.name)
		}
	}
	n.Synchronized = tx.Status&unix.STA_UNSYNC == 0 && state != unix.TIME_ERROR
	return n, nil
}

func ReadBuildInfo() BuildInfo {
	b := BuildInfo{GoVersion: runtime.Version(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	b.GoVersion = info.GoVersion
	b.Module = info.Main.Path
	b.Version = info.Main.Version
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			b.VCSRevision = s.Value
		case "vcs.time":
			b.VCSTime = s.Value
		case "vcs.modified":
			b.VCSModified = strings.EqualFold(s.Value, "true")
		case "CGO_ENABLED":
			b.CGOEnabled = s.Value
		}
	}
	return b
}
