package indicator

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Limits of a list of indicators.
const (
	// MaxListBytes bounds a list: 64 MiB is about a million indicators,
	// more than any feed a responder pastes in.
	MaxListBytes = 64 << 20
	// MaxLineBytes bounds one line of a list: 4 KiB, far above the longest
	// domain (253 bytes), CIDR or indicator URL.
	MaxLineBytes = 4 << 10
)

// ParseList reads indicators one a line, as Parse takes them; blank lines
// and text after a "#" are ignored. Errors name the list and the line
// ("iocs.txt:12: ..."). The list is read up to MaxListBytes, each line up to
// MaxLineBytes.
func ParseList(r io.Reader, name string) ([]Indicator, error) {
	sc := bufio.NewScanner(io.LimitReader(r, MaxListBytes+1))
	sc.Buffer(make([]byte, 0, 4096), MaxLineBytes)
	var out []Indicator
	line, total := 0, 0
	for sc.Scan() {
		line++
		total += len(sc.Bytes()) + 1
		if total > MaxListBytes {
			return nil, fmt.Errorf("%s: larger than %d bytes", name, MaxListBytes)
		}
		text, _, _ := strings.Cut(sc.Text(), "#")
		if strings.TrimSpace(text) == "" {
			continue
		}
		i, err := Parse(text)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		out = append(out, i)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("%s:%d: a line longer than %d bytes: %w", name, line+1, MaxLineBytes, err)
		}
		return nil, fmt.Errorf("%s:%d: %w", name, line+1, err)
	}
	return out, nil
}
