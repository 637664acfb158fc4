package flow

import (
	"math/bits"
	"math/rand/v2"
)

// slotIndex maps flow keys to slots of a Table. It is an open-addressing
// hash table with linear probing whose 8-byte entries hold the upper half of
// the key's hash and the slot number; the key itself is compared in the
// flow's state, which an update reads anyway. Compared with a Go map keyed
// by the 40-byte Key this halves the memory per flow and costs one cache
// miss per lookup instead of two. The table keeps at most half its entries
// used. Captures are attacker-controlled, so the hash is seeded per index:
// a capture cannot be built to make every key collide.
type slotIndex struct {
	entries []uint64 // 0: empty; else hash>>32<<32 | slot+1
	mask    uint64
	n       int
	seed    [2]uint64
}

// indexMinEntries is the size of a new index: 4096 entries (32 KiB).
const indexMinEntries = 4096

func newSlotIndex() slotIndex {
	x := slotIndex{seed: [2]uint64{rand.Uint64() | 1, rand.Uint64() | 1}}
	x.reset(indexMinEntries)
	return x
}

func (x *slotIndex) reset(size int) {
	x.entries = make([]uint64, size)
	x.mask = uint64(size - 1)
	x.n = 0
}

// mix folds a 128-bit product: the mixing step of wyhash-style hashes.
func mix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// hash returns the key's hash; its upper 32 bits pick the home entry and tag it.
func (x *slotIndex) hash(k *Key) uint64 {
	misc := uint64(k.aPort)<<48 | uint64(k.bPort)<<32 | uint64(k.iface)<<16 | uint64(k.proto)<<8
	if k.v6 {
		misc |= 1
	}
	h := mix(k.aLo^x.seed[0], k.bLo^misc^x.seed[1])
	if k.v6 {
		h ^= mix(k.aHi^x.seed[1], k.bHi^x.seed[0])
	}
	return mix(h^x.seed[0], misc^x.seed[1])
}

// home returns the first entry to probe for hash h.
func (x *slotIndex) home(h uint64) uint64 { return (h >> 32) & x.mask }

// find returns the slot of key k in table t, whose state holds the keys.
func (x *slotIndex) find(t *Table, k *Key, h uint64) (uint32, bool) {
	tag := h >> 32 << 32
	for i := x.home(h); ; i = (i + 1) & x.mask {
		e := x.entries[i]
		if e == 0 {
			return 0, false
		}
		if e&^0xffffffff == tag {
			slot := uint32(e) - 1
			if t.slot(slot).key == *k {
				return slot, true
			}
		}
	}
}

// insert adds a slot known to be absent, growing the index first when it
// would be more than half full.
func (x *slotIndex) insert(h uint64, slot uint32) {
	if 2*(x.n+1) > len(x.entries) {
		x.grow()
	}
	x.put(h>>32<<32 | uint64(slot) + 1)
}

func (x *slotIndex) put(e uint64) {
	i := (e >> 32) & x.mask
	for x.entries[i] != 0 {
		i = (i + 1) & x.mask
	}
	x.entries[i] = e
	x.n++
}

// grow doubles the index; entries carry the hash bits their place needs, so no
// key is hashed again (the home is at most 32 bits: 2^32 entries).
func (x *slotIndex) grow() {
	x.rebuild(2*len(x.entries), nil)
}

// rebuild makes the index size entries long (a power of two) and fills it with
// its entries, keeping those of the slots live says are live (nil: all).
func (x *slotIndex) rebuild(size int, live func(slot uint32) bool) {
	old := x.entries
	x.reset(size)
	for _, e := range old {
		if e != 0 && (live == nil || live(uint32(e)-1)) {
			x.put(e)
		}
	}
}
