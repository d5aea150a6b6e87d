package thin

import (
	"errors"
	"math"
	"testing"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/inventory"
)

// pool is the pool of most cases: 1,000,000 bytes physical, 5 % reserved
// (50,000), so 950,000 net; overcommit 4 allows 3,800,000 provisioned, of
// which 3,000,000 are; 600,000 are used.
var pool = array.Pool{ID: "p1", PhysicalBytes: 1_000_000, UsedBytes: 600_000, ProvisionedBytes: 3_000_000,
	MaxOvercommit: 4, ReservedPercent: 5}

func with(f func(*array.Pool)) array.Pool {
	p := pool
	f(&p)
	return p
}

func TestRoomAndCeiling(t *testing.T) {
	tests := []struct {
		name                   string
		pool                   array.Pool
		reserve                int64
		thinRoom, thickRoom    int64
		thinCeiling, thickCeil int64
	}{
		{"overcommitted pool", pool, 50_000, 800_000, 350_000, 3_800_000, 950_000},
		{"no reserve", with(func(p *array.Pool) { p.ReservedPercent = 0 }), 0, 1_000_000, 400_000, 4_000_000, 1_000_000},
		{"reserve rounds down", with(func(p *array.Pool) { p.PhysicalBytes = 1_000_019 }), 50_000, 800_076, 350_019, 3_800_076, 950_019},
		{"no ratio reported is no overcommit", with(func(p *array.Pool) { p.MaxOvercommit = 0; p.ProvisionedBytes = 900_000 }), 50_000, 50_000, 350_000, 950_000, 950_000},
		{"fractional ratio", with(func(p *array.Pool) { p.MaxOvercommit = 1.5; p.ProvisionedBytes = 1_000_000 }), 50_000, 425_000, 350_000, 1_425_000, 950_000},
		{"provisioned past the ratio has no room", with(func(p *array.Pool) { p.ProvisionedBytes = 5_000_000 }), 50_000, 0, 350_000, 3_800_000, 950_000},
		{"used past the reserve has no thick room", with(func(p *array.Pool) { p.UsedBytes = 990_000 }), 50_000, 800_000, 0, 3_800_000, 950_000},
		{"whole pool reserved", with(func(p *array.Pool) { p.ReservedPercent = 100 }), 1_000_000, 0, 0, 0, 0},
		{"reserve above 100 % is 100 %", with(func(p *array.Pool) { p.ReservedPercent = 250 }), 1_000_000, 0, 0, 0, 0},
		{"empty pool", array.Pool{ID: "e", PhysicalBytes: 1 << 40, MaxOvercommit: 20, ReservedPercent: 10},
			109_951_162_777, 19_791_209_299_980, 989_560_464_999, 19_791_209_299_980, 989_560_464_999},
		{"no overflow", array.Pool{ID: "h", PhysicalBytes: math.MaxInt64, MaxOvercommit: 20}, 0, math.MaxInt64, math.MaxInt64, math.MaxInt64, math.MaxInt64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Reserve(tt.pool); got != tt.reserve {
				t.Errorf("Reserve = %d, want %d", got, tt.reserve)
			}
			if got := Room(tt.pool, true); got != tt.thinRoom {
				t.Errorf("Room thin = %d, want %d", got, tt.thinRoom)
			}
			if got := Room(tt.pool, false); got != tt.thickRoom {
				t.Errorf("Room thick = %d, want %d", got, tt.thickRoom)
			}
			if got := Ceiling(tt.pool, true); got != tt.thinCeiling {
				t.Errorf("Ceiling thin = %d, want %d", got, tt.thinCeiling)
			}
			if got := Ceiling(tt.pool, false); got != tt.thickCeil {
				t.Errorf("Ceiling thick = %d, want %d", got, tt.thickCeil)
			}
		})
	}
}

func TestAdmit(t *testing.T) {
	tests := []struct {
		name  string
		extra int64
		thin  bool
		want  string // "" admits
	}{
		{"thin exactly the room", 800_000, true, ""},
		{"thin one byte past the room", 800_001, true,
			"pool p1 cannot take 800001 more bytes thin: 3000000 provisioned of 1000000 physical, 5% reserved, max overcommit 4, room for 800000 bytes: array: no capacity"},
		{"thick exactly the room", 350_000, false, ""},
		{"thick one byte past the room", 350_001, false,
			"pool p1 cannot take 350001 more bytes thick: 600000 used of 1000000 physical, 5% reserved, room for 350000 bytes: array: no capacity"},
		{"nothing more", 0, true, ""},
		{"negative is nothing", -5, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Admit(pool, tt.extra, tt.thin)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Admit = %v, want nil", err)
				}
				return
			}
			if err == nil || err.Error() != tt.want {
				t.Fatalf("Admit = %v,\nwant %s", err, tt.want)
			}
			var r *Refusal
			if !errors.Is(err, array.ErrNoCapacity) || errors.Is(err, inventory.ErrInvalid) || !errors.As(err, &r) {
				t.Fatalf("Admit = %#v: want a *Refusal wrapping array.ErrNoCapacity only", err)
			}
			if r.Requested != tt.extra || r.Pool != "p1" || r.Thin != tt.thin {
				t.Errorf("refusal %+v", r)
			}
		})
	}
}

func TestAdmitGrowth(t *testing.T) {
	tests := []struct {
		name     string
		from, to int64
		thin     bool
		want     error
		msg      string
	}{
		{"thin growth within room", 100_000, 900_000, true, nil, ""},
		{"thin growth past room", 100_000, 900_001, true, array.ErrNoCapacity,
			"pool p1 cannot take 800001 more bytes thin: 3000000 provisioned of 1000000 physical, 5% reserved, max overcommit 4, room for 800000 bytes: array: no capacity"},
		{"thin size at the ceiling is only no room", 3_000_000, 3_800_000, true, nil, ""},
		{"thin size past the ceiling is invalid", 100_000, 3_800_001, true, inventory.ErrInvalid,
			"sizeBytes: 3800001 bytes thin is more than pool p1 could ever hold: at most 3800000 even empty (3000000 provisioned of 1000000 physical, 5% reserved, max overcommit 4)"},
		{"thick size past the ceiling is invalid", 100_000, 950_001, false, inventory.ErrInvalid,
			"sizeBytes: 950001 bytes thick is more than pool p1 could ever hold: at most 950000 even empty (600000 used of 1000000 physical, 5% reserved)"},
		{"thick growth past room", 100_000, 450_001, false, array.ErrNoCapacity,
			"pool p1 cannot take 350001 more bytes thick: 600000 used of 1000000 physical, 5% reserved, room for 350000 bytes: array: no capacity"},
		{"same size", 100_000, 100_000, true, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := AdmitGrowth(pool, tt.from, tt.to, tt.thin)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("AdmitGrowth = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tt.want) || err.Error() != tt.msg {
				t.Fatalf("AdmitGrowth = %v,\nwant %s (%v)", err, tt.msg, tt.want)
			}
			var fe *inventory.FieldError
			if tt.want == inventory.ErrInvalid && (!errors.As(err, &fe) || fe.Field != "sizeBytes" || errors.Is(err, array.ErrNoCapacity)) {
				t.Fatalf("AdmitGrowth = %#v: want a FieldError on sizeBytes, not no-capacity", err)
			}
		})
	}
}
