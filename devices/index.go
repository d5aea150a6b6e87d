package devices

import (
	"cmp"
	"slices"
	"strings"

	"github.com/sanmob/sanmob/fabric/wwn"
)

// Span is a run of positions in an index's pos slice.
type Span struct{ lo, hi int32 }

// Index groups positions (into some slice of device records) by key without
// a slice per key: all positions sorted by key in one slice, and each key's
// span of it. On a large fabric that is a few allocations instead of
// hundreds of thousands, and with WWN keys the map holds no pointers at all,
// so the garbage collector never has to scan it.
type Index[K comparable] struct {
	pos   []int32
	spans map[K]Span
}

type keyPos[K comparable] struct {
	key K
	pos int32
}

// newIndex builds an index; positions of one key keep their order.
func newIndex[K comparable](pairs []keyPos[K], compare func(a, b K) int) Index[K] {
	slices.SortFunc(pairs, func(a, b keyPos[K]) int {
		return cmp.Or(compare(a.key, b.key), cmp.Compare(a.pos, b.pos))
	})
	return grouped(pairs)
}

// newWWNIndex is newIndex for WWN keys, by radix sort: a fabric's zone
// members and an array's initiators are hundreds of thousands of pairs,
// and sorting them through a comparison function was a sixth of a cold
// start's CPU on the large lab.
func newWWNIndex(pairs []keyPos[wwn.WWN]) Index[wwn.WWN] {
	// Radix sort is stable: pairs in position order end in (key, position)
	// order, as newIndex orders them. Callers list pairs in position
	// order; any other order is put right first.
	if !slices.IsSortedFunc(pairs, func(a, b keyPos[wwn.WWN]) int { return cmp.Compare(a.pos, b.pos) }) {
		slices.SortStableFunc(pairs, func(a, b keyPos[wwn.WWN]) int { return cmp.Compare(a.pos, b.pos) })
	}
	radixSortWWN(pairs)
	return grouped(pairs)
}

// radixSortWWN sorts pairs by key, stably: four passes of 16 bits, least
// significant first, skipping a pass whose digit is the same in every key
// (WWNs from one vendor share their high bytes).
func radixSortWWN(pairs []keyPos[wwn.WWN]) {
	if len(pairs) < 2 {
		return
	}
	tmp := make([]keyPos[wwn.WWN], len(pairs))
	var count [1 << 16]int
	src, dst := pairs, tmp
	for shift := uint(0); shift < 64; shift += 16 {
		clear(count[:])
		for _, p := range src {
			count[p.key.Uint64()>>shift&0xffff]++
		}
		if count[src[0].key.Uint64()>>shift&0xffff] == len(src) {
			continue // one digit for all: this pass would not move anything
		}
		sum := 0
		for i, c := range count {
			count[i] = sum
			sum += c
		}
		for _, p := range src {
			d := p.key.Uint64() >> shift & 0xffff
			dst[count[d]] = p
			count[d]++
		}
		src, dst = dst, src
	}
	if &src[0] != &pairs[0] {
		copy(pairs, src)
	}
}

// grouped builds the index of pairs sorted by key, then position.
func grouped[K comparable](pairs []keyPos[K]) Index[K] {
	x := Index[K]{pos: make([]int32, len(pairs)), spans: make(map[K]Span)}
	for i := 0; i < len(pairs); {
		j := i
		for j < len(pairs) && pairs[j].key == pairs[i].key {
			x.pos[j] = pairs[j].pos
			j++
		}
		x.spans[pairs[i].key] = Span{int32(i), int32(j)}
		i = j
	}
	return x
}

// Get returns the positions of key, in order; nil when it has none.
func (x Index[K]) Get(key K) []int32 {
	s, ok := x.spans[key]
	if !ok {
		return nil
	}
	return x.pos[s.lo:s.hi:s.hi]
}

var compareString = strings.Compare
