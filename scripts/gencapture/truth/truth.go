// Package truth is what scripts/gencapture writes with -truth: one JSON
// line for each flow at each capture point and for each DNS response it
// generated, so that tests can hold a reader's results against it.
package truth

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
)

// Flow is one generated flow at one capture point.
type Flow struct {
	Kind       string    `json:"kind"` // "flow"
	File       int       `json:"file"`
	Interface  int       `json:"interface"`
	Proto      uint8     `json:"proto"`
	Client     string    `json:"client"`
	ClientPort uint16    `json:"client_port"`
	Server     string    `json:"server"`
	ServerPort uint16    `json:"server_port"`
	Packets    [2]uint64 `json:"packets"`
	Bytes      [2]uint64 `json:"bytes"`
	TCPFlags   [2]uint8  `json:"tcp_flags"`
	First      int64     `json:"first"`
	Last       int64     `json:"last"`
	FirstFrame uint64    `json:"first_frame"`
	LastFrame  uint64    `json:"last_frame"`
	SNI        string    `json:"sni,omitempty"`
	HTTPHost   string    `json:"http_host,omitempty"`
}

// DNS is one generated DNS response.
type DNS struct {
	Kind    string   `json:"kind"` // "dns"
	File    int      `json:"file"`
	Frame   uint64   `json:"frame"`
	Client  string   `json:"client"`
	QName   string   `json:"qname"`
	Answers []string `json:"answers"` // A addresses in order
	CNAME   string   `json:"cname,omitempty"`
}

// Read parses -truth output into its flows and DNS responses, in the order
// written.
func Read(r io.Reader) (flows []Flow, dns []DNS, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		var kind struct {
			Kind string `json:"kind"`
		}
		line := sc.Bytes()
		if err := json.Unmarshal(line, &kind); err != nil {
			return nil, nil, fmt.Errorf("truth line %d: %w", n, err)
		}
		switch kind.Kind {
		case "flow":
			var f Flow
			if err := json.Unmarshal(line, &f); err != nil {
				return nil, nil, fmt.Errorf("truth line %d: %w", n, err)
			}
			flows = append(flows, f)
		case "dns":
			var d DNS
			if err := json.Unmarshal(line, &d); err != nil {
				return nil, nil, fmt.Errorf("truth line %d: %w", n, err)
			}
			dns = append(dns, d)
		default:
			return nil, nil, fmt.Errorf("truth line %d: kind %q", n, kind.Kind)
		}
	}
	return flows, dns, sc.Err()
}
