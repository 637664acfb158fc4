package triage

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dockcase/dockcase/analyze/model"
)

// usageStats is docker/stats.json with two samples of the test container,
// cpu ns of CPU used over window, the second sample's stats "err" when
// refused.
func usageStats(cpu int64, window time.Duration, err string) []byte {
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	t1 := t0.Add(window)
	second := fmt.Sprintf(`"stats":{"read":%q,"cpu_stats":{"cpu_usage":{"total_usage":%d}},"memory_stats":{"usage":1048576,"limit":2097152},"pids_stats":{"current":3}}`,
		t1.Format(time.RFC3339Nano), 5000000000+cpu)
	if err != "" {
		second = fmt.Sprintf(`"error":%q`, err)
	}
	return []byte(fmt.Sprintf(`{"samples":[
		{"moment":"snapshot","containers":[{"id":%q,"name":"/web","taken":%q,"stats":{"read":%q,"cpu_stats":{"cpu_usage":{"total_usage":5000000000}}}}]},
		{"moment":"capture-end","containers":[{"id":%q,"name":"/web","taken":%q,%s}]}]}`,
		triageTestID, t0.Format(time.RFC3339Nano), t0.Format(time.RFC3339Nano), triageTestID, t1.Format(time.RFC3339Nano), second))
}

func TestUsageRules(t *testing.T) {
	const plain = `{"Id":"` + triageTestID + `","Name":"/web","State":{"Status":"running","Pid":100}}`
	const halfCore = `{"Id":"` + triageTestID + `","Name":"/web","State":{"Status":"running","Pid":100},"HostConfig":{"NanoCpus":500000000}}`
	const quota = `{"Id":"` + triageTestID + `","Name":"/web","State":{"Status":"running","Pid":100},"HostConfig":{"CpuQuota":25000,"CpuPeriod":100000}}`
	tests := []struct {
		name    string
		inspect string
		stats   []byte
		want    bool
	}{
		{"a core busy for a minute", plain, usageStats(58e9, time.Minute, ""), true},
		{"two cores busy", plain, usageStats(120e9, time.Minute, ""), true},
		{"half a core", plain, usageStats(30e9, time.Minute, ""), false},
		{"half a core under a half-core limit", halfCore, usageStats(29e9, time.Minute, ""), true},
		{"a tenth of a core under a quarter-core quota", quota, usageStats(6e9, time.Minute, ""), false},
		{"a quarter-core quota used up", quota, usageStats(14e9, time.Minute, ""), true},
		{"window too short to tell", plain, usageStats(5e8, 500*time.Millisecond, ""), false},
		{"second sample refused", plain, usageStats(60e9, time.Minute, "engine refused"), false},
		{"no stats member", plain, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			extra := map[string][]byte{}
			if tt.stats != nil {
				extra[model.MemberStats] = tt.stats
			}
			fs := triageRun(t, triageTestMembers(t, tt.inspect, extra), Input{}, Options{})
			var got *Finding
			for i := range fs {
				if fs[i].ID == "cpu-pegged" {
					got = &fs[i]
				}
			}
			if (got != nil) != tt.want {
				t.Fatalf("cpu-pegged found = %v, want %v (findings %q)", got != nil, tt.want, triageIDs(fs))
			}
			if got == nil {
				return
			}
			if got.ContainerName != "web" || len(got.Evidence) != 2 || got.Evidence[0].Member != model.MemberStats {
				t.Errorf("finding = %+v, want the container web and both samples as evidence", got)
			}
			if !strings.Contains(got.Why, "cores over the 1m0s") {
				t.Errorf("Why = %q", got.Why)
			}
		})
	}
}

// TestLoadUsage checks the counters the model keeps of a sample.
func TestLoadUsage(t *testing.T) {
	const plain = `{"Id":"` + triageTestID + `","Name":"/web","State":{"Status":"running","Pid":100}}`
	h := model.LoadSource(triageTestMembers(t, plain, map[string][]byte{model.MemberStats: usageStats(30e9, time.Minute, "")}))
	u := h.UsageOf(triageTestID)
	if u == nil || len(u.Samples) != 2 {
		t.Fatalf("UsageOf = %+v", u)
	}
	if u.CPUWindow != time.Minute || u.CPUCores < 0.49 || u.CPUCores > 0.51 {
		t.Errorf("CPU %.3f cores over %s, want 0.5 over 1m", u.CPUCores, u.CPUWindow)
	}
	if s := u.Samples[1]; s.MemoryBytes != 1<<20 || s.MemoryLimitBytes != 2<<20 || s.PIDs != 3 || s.Moment != "capture-end" {
		t.Errorf("second sample = %+v", s)
	}
}
