package flow

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSelectOldest checks the selection of the least recently active
// flows against a sort, for every k, on runs that are random, in order,
// reversed, and with equal times told apart by the frame.
func TestSelectOldest(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	gen := map[string]func(i, n int) lastSeen{
		"random":   func(i, n int) lastSeen { return lastSeen{last: r.Int64N(1000), frame: uint64(i)} },
		"sorted":   func(i, n int) lastSeen { return lastSeen{last: int64(i), frame: uint64(i)} },
		"reversed": func(i, n int) lastSeen { return lastSeen{last: int64(n - i), frame: uint64(n - i)} },
		"one time": func(i, n int) lastSeen { return lastSeen{last: 7, frame: uint64(r.IntN(1 << 30))} },
	}
	for name, g := range gen {
		for _, n := range []int{0, 1, 2, 3, 10, 97, 1000} {
			s := make([]lastSeen, n)
			for i := range s {
				s[i] = g(i, n)
				s[i].idx = uint32(i)
			}
			want := slices.Clone(s)
			slices.SortFunc(want, lastSeen.compare)
			for k := 0; k <= n; k++ {
				got := slices.Clone(s)
				selectOldest(got, k)
				slices.SortFunc(got[:k], lastSeen.compare)
				if !slices.Equal(got[:k], want[:k]) {
					t.Fatalf("%s, n=%d: selectOldest(k=%d) kept %v, want %v", name, n, k, got[:k], want[:k])
				}
			}
		}
	}
}
