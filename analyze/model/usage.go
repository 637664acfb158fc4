package model

import (
	"encoding/json"
	"strings"
	"time"
)

// MemberStats is docker stats of every running container, sampled at the
// snapshot and at the capture's end.
const MemberStats = "docker/stats.json"

// maxStatsJSONBytes bounds docker/stats.json: two samples of ~4 KiB per
// container; 64 MiB is 8k containers.
const maxStatsJSONBytes = 64 << 20

// ContainerUsage is what docker stats said of one container: its samples
// in the order taken, and the CPU it used between the first and the last.
type ContainerUsage struct {
	ID, Name string
	Samples  []UsageSample
	// CPUCores is the CPU time used between the first and last samples
	// over the time between them (1 is one core kept busy); CPUWindow is
	// that time, zero when fewer than two samples have counters.
	CPUCores  float64
	CPUWindow time.Duration
	// CPULimitCores is the container's CPU limit (HostConfig NanoCpus, or
	// CpuQuota over CpuPeriod) in cores; 0 when unlimited or unknown.
	CPULimitCores float64
}

// UsageSample is one docker stats answer of one container.
type UsageSample struct {
	// Moment is the collector's: "snapshot" or "capture-end".
	Moment string
	// Read is when the engine read the counters.
	Read             time.Time
	CPUTotalNS       uint64
	MemoryBytes      uint64
	MemoryLimitBytes uint64
	NetRxBytes       uint64
	NetTxBytes       uint64
	BlockReadBytes   uint64
	BlockWriteBytes  uint64
	PIDs             uint64
	// Error is why the engine gave no sample (a refusal, or the
	// container gone); the counters are then zero.
	Error    string
	Evidence Evidence
}

type statsDoc struct {
	Samples []struct {
		Moment     string `json:"moment"`
		Containers []struct {
			ID    string          `json:"id"`
			Name  string          `json:"name"`
			Taken time.Time       `json:"taken"`
			Stats json.RawMessage `json:"stats"`
			Error string          `json:"error"`
		} `json:"containers"`
	} `json:"samples"`
}

// engineStatsDoc is the part of the engine's stats answer the model reads.
type engineStatsDoc struct {
	Read     time.Time `json:"read"`
	CPUStats struct {
		CPUUsage struct {
			TotalUsage uint64 `json:"total_usage"`
		} `json:"cpu_usage"`
	} `json:"cpu_stats"`
	MemoryStats struct {
		Usage uint64 `json:"usage"`
		Limit uint64 `json:"limit"`
	} `json:"memory_stats"`
	Networks map[string]struct {
		RxBytes uint64 `json:"rx_bytes"`
		TxBytes uint64 `json:"tx_bytes"`
	} `json:"networks"`
	BlkioStats struct {
		IOServiceBytesRecursive []struct {
			Op    string `json:"op"`
			Value uint64 `json:"value"`
		} `json:"io_service_bytes_recursive"`
	} `json:"blkio_stats"`
	PidsStats struct {
		Current uint64 `json:"current"`
	} `json:"pids_stats"`
}

func decodeStats(data []byte) (*statsDoc, error) {
	var d statsDoc
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// loadUsage reads docker/stats.json into Host.Usage. Bundles collected
// before the member existed lack it: nothing is listed as missing.
func (l *loader) loadUsage() {
	if !l.src.Has(MemberStats) {
		return
	}
	data, ok := l.read(MemberStats, maxStatsJSONBytes, "resource usage (docker stats)")
	if !ok {
		return
	}
	d, err := decodeStats(data)
	if err != nil {
		l.missing("%s: %v: resource usage (docker stats) unknown", MemberStats, err)
		return
	}
	byID := map[string]*ContainerUsage{}
	for i, s := range d.Samples {
		for j, c := range s.Containers {
			u := byID[c.ID]
			if u == nil {
				u = &ContainerUsage{ID: c.ID, Name: strings.TrimPrefix(c.Name, "/")}
				byID[c.ID] = u
				l.h.Usage = append(l.h.Usage, u)
			}
			us := UsageSample{Moment: s.Moment, Read: c.Taken.UTC(), Error: c.Error,
				Evidence: l.ev(MemberStats, IndexPointer(IndexPointer("/samples", i, "containers"), j))}
			if c.Error == "" && len(c.Stats) > 0 {
				var e engineStatsDoc
				if err := json.Unmarshal(c.Stats, &e); err != nil {
					us.Error = "malformed stats: " + err.Error()
				} else {
					if !e.Read.IsZero() && e.Read.Year() > 1 {
						us.Read = e.Read.UTC()
					}
					us.CPUTotalNS = e.CPUStats.CPUUsage.TotalUsage
					us.MemoryBytes, us.MemoryLimitBytes = e.MemoryStats.Usage, e.MemoryStats.Limit
					us.PIDs = e.PidsStats.Current
					for _, n := range e.Networks {
						us.NetRxBytes += n.RxBytes
						us.NetTxBytes += n.TxBytes
					}
					for _, b := range e.BlkioStats.IOServiceBytesRecursive {
						switch strings.ToLower(b.Op) {
						case "read":
							us.BlockReadBytes += b.Value
						case "write":
							us.BlockWriteBytes += b.Value
						}
					}
				}
			}
			u.Samples = append(u.Samples, us)
		}
	}
	for _, u := range l.h.Usage {
		u.CPUCores, u.CPUWindow = cpuRate(u.Samples)
		if ct := l.h.byID[u.ID]; ct != nil && ct.Inspect != nil {
			hc := ct.Inspect.HostConfig
			switch {
			case hc.NanoCpus > 0:
				u.CPULimitCores = float64(hc.NanoCpus) / 1e9
			case hc.CPUQuota > 0 && hc.CPUPeriod > 0:
				u.CPULimitCores = float64(hc.CPUQuota) / float64(hc.CPUPeriod)
			case hc.CPUQuota > 0:
				u.CPULimitCores = float64(hc.CPUQuota) / 100000 // the kernel's default period, 100 ms
			}
		}
	}
}

// cpuRate is the CPU used between the first and the last samples that have
// counters, in cores, and the time between them; zero when there are not
// two such samples, or the counter went back (a restarted container).
func cpuRate(samples []UsageSample) (float64, time.Duration) {
	var first, last *UsageSample
	for i := range samples {
		s := &samples[i]
		if s.Error != "" || s.Read.IsZero() {
			continue
		}
		if first == nil {
			first = s
		}
		last = s
	}
	if first == nil || last == first || !last.Read.After(first.Read) || last.CPUTotalNS < first.CPUTotalNS {
		return 0, 0
	}
	window := last.Read.Sub(first.Read)
	return float64(last.CPUTotalNS-first.CPUTotalNS) / float64(window.Nanoseconds()), window
}

// UsageOf returns the resource usage of the container with that id, or nil.
func (h *Host) UsageOf(id string) *ContainerUsage {
	for _, u := range h.Usage {
		if u.ID == id {
			return u
		}
	}
	return nil
}
