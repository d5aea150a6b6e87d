package mobility

import (
	"cmp"
	"slices"
	"strings"

	"github.com/sanmob/sanmob/fabric/wwn"
)

// span is a run of positions in an index's pos slice.
type span struct{ lo, hi int32 }

// index groups positions (into some slice of device records) by key without
// a slice per key: all positions sorted by key in one slice, and each key's
// span of it. On a large fabric that is a few allocations instead of
// hundreds of thousands, and with WWN keys the map holds no pointers at all,
// so the garbage collector never has to scan it.
type index[K comparable] struct {
	pos   []int32
	spans map[K]span
}

type keyPos[K comparable] struct {
	key K
	pos int32
}

// newIndex builds an index; positions of one key keep their order.
func newIndex[K comparable](pairs []keyPos[K], compare func(a, b K) int) index[K] {
	slices.SortFunc(pairs, func(a, b keyPos[K]) int {
		return cmp.Or(compare(a.key, b.key), cmp.Compare(a.pos, b.pos))
	})
	x := index[K]{pos: make([]int32, len(pairs)), spans: make(map[K]span)}
	for i := 0; i < len(pairs); {
		j := i
		for j < len(pairs) && pairs[j].key == pairs[i].key {
			x.pos[j] = pairs[j].pos
			j++
		}
		x.spans[pairs[i].key] = span{int32(i), int32(j)}
		i = j
	}
	return x
}

// get returns the positions of key, in order; nil when it has none.
func (x index[K]) get(key K) []int32 {
	s, ok := x.spans[key]
	if !ok {
		return nil
	}
	return x.pos[s.lo:s.hi:s.hi]
}

func compareWWN(a, b wwn.WWN) int { return cmp.Compare(a.Uint64(), b.Uint64()) }

var compareString = strings.Compare
