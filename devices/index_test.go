package devices

import (
	"cmp"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/sanmob/sanmob/fabric/wwn"
)

// compareWWN orders WWNs for newIndex, the comparison sort newWWNIndex is
// held to.
func compareWWN(a, b wwn.WWN) int { return cmp.Compare(a.Uint64(), b.Uint64()) }

func TestIndex(t *testing.T) {
	a, b, c := wwn.FromUint64(3), wwn.FromUint64(1), wwn.FromUint64(2)
	x := newIndex([]keyPos[wwn.WWN]{{a, 4}, {b, 1}, {a, 0}, {a, 2}, {b, 3}}, compareWWN)
	tests := []struct {
		key  wwn.WWN
		want []int32
	}{
		{a, []int32{0, 2, 4}},
		{b, []int32{1, 3}},
		{c, nil},
	}
	for _, tt := range tests {
		if got := x.Get(tt.key); !slices.Equal(got, tt.want) {
			t.Errorf("get(%v) = %v, want %v", tt.key, got, tt.want)
		}
	}
	// A caller appending to a result must not overwrite the next key's run.
	got := append(x.Get(b), 99)
	if !slices.Equal(x.Get(a), []int32{0, 2, 4}) || len(got) != 3 {
		t.Fatalf("append through get clobbered the index: %v", x.Get(a))
	}
	if empty := newIndex[string](nil, compareString); empty.Get("x") != nil {
		t.Fatal("empty index answered")
	}
}

// TestWWNIndexMatchesIndex holds the radix-sorted index to the comparison
// sort's, on keys that differ in every 16-bit digit or share some, with
// duplicates, in position order and not.
func TestWWNIndexMatchesIndex(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for round := range 200 {
		n := r.IntN(3000)
		pairs := make([]keyPos[wwn.WWN], n)
		for i := range pairs {
			k := r.Uint64()
			switch round % 4 {
			case 1:
				k = 0x500a098000000000 | k&0xffff // one vendor: only the low digit varies
			case 2:
				k %= 17 // many duplicates
			}
			pairs[i] = keyPos[wwn.WWN]{wwn.FromUint64(k), int32(i)}
		}
		if round%3 == 0 {
			r.Shuffle(n, func(i, j int) { pairs[i], pairs[j] = pairs[j], pairs[i] })
		}
		want := newIndex(slices.Clone(pairs), compareWWN)
		got := newWWNIndex(pairs)
		if !slices.Equal(got.pos, want.pos) || !maps.Equal(got.spans, want.spans) {
			t.Fatalf("round %d (%d pairs): radix index differs from the sorted one", round, n)
		}
	}
}

// BenchmarkWWNIndex indexes 400,000 pairs, a large-lab fabric's zone
// members: the radix sort against the comparison sort it replaced.
func BenchmarkWWNIndex(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	pairs := make([]keyPos[wwn.WWN], 400000)
	for i := range pairs {
		pairs[i] = keyPos[wwn.WWN]{wwn.FromUint64(0x5001a4a400000000 | r.Uint64()&0xffffffff), int32(i / 2)}
	}
	b.Run("radix", func(b *testing.B) {
		for b.Loop() {
			newWWNIndex(slices.Clone(pairs))
		}
	})
	b.Run("comparison", func(b *testing.B) {
		for b.Loop() {
			newIndex(slices.Clone(pairs), compareWWN)
		}
	})
}
