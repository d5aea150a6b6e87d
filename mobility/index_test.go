package mobility

import (
	"slices"
	"testing"

	"github.com/sanmob/sanmob/fabric/wwn"
)

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
		if got := x.get(tt.key); !slices.Equal(got, tt.want) {
			t.Errorf("get(%v) = %v, want %v", tt.key, got, tt.want)
		}
	}
	// A caller appending to a result must not overwrite the next key's run.
	got := append(x.get(b), 99)
	if !slices.Equal(x.get(a), []int32{0, 2, 4}) || len(got) != 3 {
		t.Fatalf("append through get clobbered the index: %v", x.get(a))
	}
	if empty := newIndex[string](nil, compareString); empty.get("x") != nil {
		t.Fatal("empty index answered")
	}
}
