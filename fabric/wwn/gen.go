package wwn

import (
	"errors"
	"fmt"
	"sync"
)

// Well-known hypervisor OUIs used for generated virtual WWPNs (libvirt's
// virRandomGenerateWWN uses the same ones).
const (
	OUIQEMU   uint32 = 0x001a4a
	OUIXen    uint32 = 0x00163e
	OUIVMware uint32 = 0x000569
	OUIHyperV uint32 = 0x0050f2
)

// ErrExhausted is returned when a generator's pool has no free name left.
var ErrExhausted = errors.New("wwn: pool exhausted")

// Pool is a range of NAA-5 vendor parts under one OUI: names
// 5<OUI><vendor> with First <= vendor <= Last (36-bit values).
type Pool struct {
	OUI   uint32
	First uint64
	Last  uint64
}

// Validate checks the pool fits the NAA-5 layout.
func (p Pool) Validate() error {
	const maxVendor = 1<<36 - 1
	switch {
	case p.OUI > 0xffffff:
		return fmt.Errorf("%w pool: OUI %#x is wider than 24 bits", ErrInvalid, p.OUI)
	case p.Last > maxVendor:
		return fmt.Errorf("%w pool: last %#x is wider than 36 bits", ErrInvalid, p.Last)
	case p.First > p.Last:
		return fmt.Errorf("%w pool: first %#x is after last %#x", ErrInvalid, p.First, p.Last)
	}
	return nil
}

// NAA5 builds the NAA-5 name for an OUI and a 36-bit vendor part.
func NAA5(oui uint32, vendor uint64) WWN {
	return FromUint64(5<<60 | uint64(oui&0xffffff)<<36 | vendor&(1<<36-1))
}

// Generator hands out NAA-5 WWPN/WWNN pairs from pools, never the same name
// twice and never a name the caller reports as taken (InUse). The WWNN of a
// pair is the WWPN's neighbour, so a pair consumes two consecutive names.
// It is safe for concurrent use.
type Generator struct {
	mu    sync.Mutex
	pools []Pool
	next  []uint64 // next vendor part to try, per pool
	inUse func(WWN) bool
}

// NewGenerator checks the pools; inUse (may be nil) reports names that exist
// elsewhere — on a fabric, in a record — and must be skipped.
func NewGenerator(inUse func(WWN) bool, pools ...Pool) (*Generator, error) {
	if len(pools) == 0 {
		return nil, fmt.Errorf("%w: a generator needs at least one pool", ErrInvalid)
	}
	g := &Generator{pools: pools, next: make([]uint64, len(pools)), inUse: inUse}
	for i, p := range pools {
		if err := p.Validate(); err != nil {
			return nil, err
		}
		for j := 0; j < i; j++ {
			q := pools[j]
			if p.OUI == q.OUI && p.First <= q.Last && q.First <= p.Last {
				return nil, fmt.Errorf("%w: pools %d and %d overlap", ErrInvalid, j, i)
			}
		}
		g.next[i] = p.First
	}
	return g, nil
}

// Cursor returns where each pool will look next. Callers persist it with
// the records that use the names handed out, so that a restarted generator
// never hands a name out again, even one whose owner was deleted since.
func (g *Generator) Cursor() []uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]uint64(nil), g.next...)
}

// Advance moves each pool's cursor forward to a persisted Cursor; it never
// moves one back, and ignores a cursor of another pool layout.
func (g *Generator) Advance(cursor []uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(cursor) != len(g.next) {
		return
	}
	for i, c := range cursor {
		if c > g.next[i] && c <= g.pools[i].Last {
			g.next[i] = c
		}
	}
}

// Pair returns a fresh (wwpn, wwnn).
func (g *Generator) Pair() (wwpn, wwnn WWN, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, p := range g.pools {
		for v := g.next[i]; v < p.Last; v += 2 {
			pn, nn := NAA5(p.OUI, v), NAA5(p.OUI, v+1)
			if g.inUse != nil && (g.inUse(pn) || g.inUse(nn)) {
				continue
			}
			g.next[i] = v + 2
			return pn, nn, nil
		}
		g.next[i] = p.Last
	}
	return WWN{}, WWN{}, ErrExhausted
}
