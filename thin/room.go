package thin

import (
	"fmt"
	"math"
	"strconv"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/inventory"
)

// Reserve is the physical space a pool holds back from allocation:
// floor(physical · reserved% / 100), the percentage taken within 0–100.
func Reserve(p array.Pool) int64 {
	pct := int64(min(max(p.ReservedPercent, 0), 100))
	phys := max(p.PhysicalBytes, 0)
	// phys·pct/100 without the product overflowing.
	return phys/100*pct + phys%100*pct/100
}

// Overcommit is the pool's maximum overcommit (provisioned / physical less
// the reserve) as admission uses it: MaxOvercommit, or 1 — no
// overcommit — when the pool reports none.
func Overcommit(p array.Pool) float64 {
	if p.MaxOvercommit > 0 {
		return p.MaxOvercommit
	}
	return 1
}

// Ceiling is the most a pool could ever take of one volume of the kind:
// its room were it empty. Thin: (physical − reserve) · overcommit; thick:
// physical − reserve.
func Ceiling(p array.Pool, thin bool) int64 {
	net := max(p.PhysicalBytes-Reserve(p), 0)
	if !thin {
		return net
	}
	return mulFloor(net, Overcommit(p))
}

// Room is what a pool can still take of a volume of the kind (Cinder's
// capacity rule, DOMAIN.md). Thin: (physical − reserve) · overcommit −
// provisioned, the virtual free space; thick: physical − reserve − used, the
// free physical space outside the reserve. Never negative.
func Room(p array.Pool, thin bool) int64 {
	if !thin {
		return max(Ceiling(p, false)-max(p.UsedBytes, 0), 0)
	}
	return max(Ceiling(p, true)-max(p.ProvisionedBytes, 0), 0)
}

// mulFloor is floor(n · f), at most math.MaxInt64.
func mulFloor(n int64, f float64) int64 {
	v := math.Floor(float64(n) * f)
	if v >= math.MaxInt64 {
		return math.MaxInt64
	}
	return max(int64(v), 0)
}

// Admit says whether a pool takes extra more bytes of the kind — a new
// volume's size, or a volume's growth: nil when they fit its Room (or extra
// is not positive), else a *Refusal, which wraps array.ErrNoCapacity.
func Admit(p array.Pool, extra int64, thin bool) error {
	if extra <= 0 {
		return nil
	}
	if room := Room(p, thin); extra > room {
		return refusal("", p, extra, thin)
	}
	return nil
}

// AdmitGrowth says whether a volume of the kind in pool p may grow from
// from to to bytes: a FieldError on sizeBytes (inventory.ErrInvalid) when to
// is more than the pool's Ceiling, which no waiting makes fit; else what
// Admit says of the to − from more bytes.
func AdmitGrowth(p array.Pool, from, to int64, thin bool) error {
	if c := Ceiling(p, thin); to > c {
		return inventory.Invalid("sizeBytes", "%d bytes %s is more than pool %s could ever hold: at most %d even empty (%s)",
			to, kind(thin), p.ID, c, limits(p, thin))
	}
	return Admit(p, to-from, thin)
}

// Refusal is a pool's "no room" with the numbers that decided it. It wraps
// array.ErrNoCapacity.
type Refusal struct {
	Array     string // the pool's array, when known
	Pool      string
	Thin      bool
	Requested int64 // the bytes asked for on top of what the pool holds
	Room      int64 // what the pool could still take of the kind

	PhysicalBytes    int64
	UsedBytes        int64
	ProvisionedBytes int64
	ReservedPercent  int
	MaxOvercommit    float64 // as admission used it (Overcommit)
}

func refusal(arrayID string, p array.Pool, extra int64, thin bool) *Refusal {
	return &Refusal{Array: arrayID, Pool: p.ID, Thin: thin, Requested: extra, Room: Room(p, thin),
		PhysicalBytes: p.PhysicalBytes, UsedBytes: p.UsedBytes, ProvisionedBytes: p.ProvisionedBytes,
		ReservedPercent: p.ReservedPercent, MaxOvercommit: Overcommit(p)}
}

func (r *Refusal) Error() string {
	where := "pool " + r.Pool
	if r.Array != "" {
		where += " (array " + r.Array + ")"
	}
	p := array.Pool{PhysicalBytes: r.PhysicalBytes, UsedBytes: r.UsedBytes, ProvisionedBytes: r.ProvisionedBytes,
		ReservedPercent: r.ReservedPercent, MaxOvercommit: r.MaxOvercommit}
	return fmt.Sprintf("%s cannot take %d more bytes %s: %s, room for %d bytes: %v",
		where, r.Requested, kind(r.Thin), limits(p, r.Thin), r.Room, array.ErrNoCapacity)
}

// Unwrap makes errors.Is(err, array.ErrNoCapacity) true: the edges answer
// 507 and RESOURCE_EXHAUSTED.
func (r *Refusal) Unwrap() error { return array.ErrNoCapacity }

// limits are the numbers a pool's room comes from.
func limits(p array.Pool, thin bool) string {
	if thin {
		return fmt.Sprintf("%d provisioned of %d physical, %d%% reserved, max overcommit %s",
			p.ProvisionedBytes, p.PhysicalBytes, p.ReservedPercent, strconv.FormatFloat(Overcommit(p), 'g', -1, 64))
	}
	return fmt.Sprintf("%d used of %d physical, %d%% reserved", p.UsedBytes, p.PhysicalBytes, p.ReservedPercent)
}

func kind(thin bool) string {
	if thin {
		return "thin"
	}
	return "thick"
}
