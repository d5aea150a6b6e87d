package thin

import (
	"errors"
	"slices"
	"testing"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/devices"
	"github.com/sanmob/sanmob/inventory"
)

// world is two sites. Thin rooms: a1/p1 800,000; a1/p2 1,900,000 (an empty
// 500,000-byte pool at ratio 4); b1/p3 400,000 (ceiling 1,900,000).
// Thick rooms: 350,000; 475,000; 200,000.
func world() []Array {
	return []Array{
		{ID: "a1", Site: "east", Obs: &devices.ArrayObs{Pools: []array.Pool{
			pool,
			{ID: "p2", PhysicalBytes: 500_000, MaxOvercommit: 4, ReservedPercent: 5},
		}}},
		{ID: "b1", Site: "west", Obs: &devices.ArrayObs{Pools: []array.Pool{
			{ID: "p3", PhysicalBytes: 500_000, UsedBytes: 275_000, ProvisionedBytes: 1_500_000, MaxOvercommit: 4, ReservedPercent: 5},
		}}},
	}
}

func placer(arrays []Array) Placer { return Placer{Arrays: slices.Values(arrays)} }

func names(cs []Candidate) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Array+"/"+c.Pool.ID)
	}
	return out
}

func TestCandidates(t *testing.T) {
	tests := []struct {
		name   string
		filter Filter
		want   []string
		rooms  []int64
	}{
		{"thin, most room first", Filter{Thin: true}, []string{"a1/p2", "a1/p1", "b1/p3"}, []int64{1_900_000, 800_000, 400_000}},
		{"thick, most room first", Filter{}, []string{"a1/p2", "a1/p1", "b1/p3"}, []int64{475_000, 350_000, 200_000}},
		{"site", Filter{Site: "west", Thin: true}, []string{"b1/p3"}, []int64{400_000}},
		{"array", Filter{Array: "a1", Thin: true}, []string{"a1/p2", "a1/p1"}, []int64{1_900_000, 800_000}},
		{"pool", Filter{Pool: "p1", Thin: true}, []string{"a1/p1"}, []int64{800_000}},
		{"unknown pool", Filter{Pool: "nope", Thin: true}, nil, nil},
		{"array at another site", Filter{Site: "west", Array: "a1", Thin: true}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := placer(world()).Candidates(tt.filter)
			var rooms []int64
			for _, c := range got {
				rooms = append(rooms, c.Room)
			}
			if !slices.Equal(names(got), tt.want) || !slices.Equal(rooms, tt.rooms) {
				t.Fatalf("Candidates(%+v) = %v %v, want %v %v", tt.filter, names(got), rooms, tt.want, tt.rooms)
			}
		})
	}
}

func TestPlace(t *testing.T) {
	unread := append(world(), Array{ID: "c1", Site: "east"}) // never answered
	tests := []struct {
		name   string
		arrays []Array
		filter Filter
		size   int64
		want   []string
		err    error
		msg    string
	}{
		{"every pool fits", world(), Filter{Thin: true}, 400_000, []string{"a1/p2", "a1/p1", "b1/p3"}, nil, ""},
		{"only the roomier fit", world(), Filter{Thin: true}, 800_000, []string{"a1/p2", "a1/p1"}, nil, ""},
		{"site without room", world(), Filter{Site: "west", Thin: true}, 400_001, nil, array.ErrNoCapacity,
			"pool p3 (array b1) cannot take 400001 more bytes thin: 1500000 provisioned of 500000 physical, 5% reserved, max overcommit 4, room for 400000 bytes: array: no capacity"},
		{"no pool has room", world(), Filter{Thin: true}, 1_900_001, nil, array.ErrNoCapacity,
			"none of the 3 pools can take 1900001 bytes thin; the one with the most room: pool p2 (array a1) cannot take 1900001 more bytes thin: 0 provisioned of 500000 physical, 5% reserved, max overcommit 4, room for 1900000 bytes: array: no capacity"},
		{"thick past room", world(), Filter{Array: "a1"}, 475_001, nil, array.ErrNoCapacity,
			"none of the 2 pools (array a1) can take 475001 bytes thick; the one with the most room: pool p2 (array a1) cannot take 475001 more bytes thick: 0 used of 500000 physical, 5% reserved, room for 475000 bytes: array: no capacity"},
		{"at the largest ceiling is no room, not invalid", world(), Filter{Thin: true}, 3_800_000, nil, array.ErrNoCapacity, ""},
		{"past every ceiling is invalid", world(), Filter{Site: "west", Thin: true}, 3_800_001, nil, inventory.ErrInvalid,
			"sizeBytes: 3800001 bytes thin is more than any pool could ever hold: the largest, pool p1 (array a1), holds at most 3800000 even empty (3000000 provisioned of 1000000 physical, 5% reserved, max overcommit 4)"},
		{"thick past every ceiling is invalid", world(), Filter{Thin: false}, 950_001, nil, inventory.ErrInvalid,
			"sizeBytes: 950001 bytes thick is more than any pool could ever hold: the largest, pool p1 (array a1), holds at most 950000 even empty (600000 used of 1000000 physical, 5% reserved)"},
		{"an unread array may be larger: no room, not invalid", unread, Filter{Thin: true}, 3_800_001, nil, array.ErrNoCapacity, ""},
		{"nothing observed", []Array{{ID: "c1", Site: "east"}}, Filter{Thin: true}, 1, nil, array.ErrNoCapacity,
			"no pool is observed to take 1 bytes thin: array: no capacity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := placer(tt.arrays).Place(tt.filter, tt.size)
			if tt.err == nil {
				if err != nil || !slices.Equal(names(got), tt.want) {
					t.Fatalf("Place = %v, %v; want %v", names(got), err, tt.want)
				}
				return
			}
			if !errors.Is(err, tt.err) || (tt.msg != "" && err.Error() != tt.msg) {
				t.Fatalf("Place = %v,\nwant %v: %s", err, tt.err, tt.msg)
			}
			if tt.err == inventory.ErrInvalid && errors.Is(err, array.ErrNoCapacity) {
				t.Fatalf("an impossible size must not also be no-capacity: %v", err)
			}
			if tt.err == array.ErrNoCapacity {
				var r *Refusal
				if tt.msg != "" && errors.As(err, &r) && r.Room >= tt.size {
					t.Fatalf("refusal %+v has room for %d", r, tt.size)
				}
			}
		})
	}
}

// TestPlaceCeilingOfTheNamedPool: a size more than the pool (or array) the
// client named could ever hold is the client's error, even when another
// pool elsewhere could hold it; with only a site named it is "no room".
func TestPlaceCeilingOfTheNamedPool(t *testing.T) {
	small := array.Pool{ID: "small", PhysicalBytes: 1000, MaxOvercommit: 1}
	big := array.Pool{ID: "big", PhysicalBytes: 10000, MaxOvercommit: 1}
	p := Placer{Arrays: slices.Values([]Array{
		{ID: "a1", Site: "east", Obs: &devices.ArrayObs{Pools: []array.Pool{small}}},
		{ID: "a2", Site: "west", Obs: &devices.ArrayObs{Pools: []array.Pool{big}}},
	})}
	tests := []struct {
		name    string
		f       Filter
		invalid bool
	}{
		{"pool named", Filter{Pool: "small", Thin: true}, true},
		{"array named", Filter{Array: "a1", Thin: true}, true},
		{"site only", Filter{Site: "east", Thin: true}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := p.Place(tt.f, 5000)
			if got := errors.Is(err, inventory.ErrInvalid); got != tt.invalid {
				t.Fatalf("Place(%+v, 5000) = %v; invalid %v, want %v", tt.f, err, got, tt.invalid)
			}
			if !tt.invalid && !errors.Is(err, array.ErrNoCapacity) {
				t.Fatalf("Place(%+v, 5000) = %v, want no capacity", tt.f, err)
			}
		})
	}
}
