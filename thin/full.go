package thin

import (
	"fmt"

	"github.com/sanmob/sanmob/array"
)

// PastFull is the refusal of a thick volume (or a thick volume's growth)
// that would take a pool's used bytes past its full threshold (AIQUM's
// Full, 90 % by default): thick volumes allocate at once. It wraps
// array.ErrNoCapacity.
type PastFull struct {
	Pool          string
	Requested     int64
	UsedBytes     int64
	PhysicalBytes int64
	FullPercent   float64
	// Thin: the pool is past full already, and a thin volume there could
	// not be written.
	Thin bool
}

func (e *PastFull) Error() string {
	if e.Thin {
		return fmt.Sprintf("pool %s takes no thin volume: %d used of %d physical is %.1f%%, past the full threshold of %g%%, so its writes would find no room: %v",
			e.Pool, e.UsedBytes, e.PhysicalBytes, 100*float64(e.UsedBytes)/float64(e.PhysicalBytes), e.FullPercent, array.ErrNoCapacity)
	}
	return fmt.Sprintf("pool %s cannot take %d more bytes thick: %d used of %d physical would become %.1f%%, past the full threshold of %g%%: %v",
		e.Pool, e.Requested, e.UsedBytes, e.PhysicalBytes, 100*float64(e.UsedBytes+e.Requested)/float64(e.PhysicalBytes), e.FullPercent, array.ErrNoCapacity)
}

// Unwrap makes errors.Is(err, array.ErrNoCapacity) true.
func (e *PastFull) Unwrap() error { return array.ErrNoCapacity }

// AdmitFull says whether a pool takes extra more bytes of the kind without
// its used bytes passing fullPercent of physical. A thin volume allocates
// as it is written (PoolFullSoon watches that), so it counts as nothing —
// but a pool already past full takes no thin volume either: its first
// writes would find no room. nil for extra not positive, or when they fit;
// else a *PastFull.
func AdmitFull(p array.Pool, extra int64, thin bool, fullPercent float64) error {
	if extra <= 0 || fullPercent <= 0 || p.PhysicalBytes <= 0 {
		return nil
	}
	if thin {
		if float64(p.UsedBytes) >= fullPercent/100*float64(p.PhysicalBytes) {
			return &PastFull{Pool: p.ID, Requested: extra, UsedBytes: p.UsedBytes, PhysicalBytes: p.PhysicalBytes, FullPercent: fullPercent, Thin: true}
		}
		return nil
	}
	if float64(p.UsedBytes+extra) > fullPercent/100*float64(p.PhysicalBytes) {
		return &PastFull{Pool: p.ID, Requested: extra, UsedBytes: p.UsedBytes, PhysicalBytes: p.PhysicalBytes, FullPercent: fullPercent}
	}
	return nil
}
