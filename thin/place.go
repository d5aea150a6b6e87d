package thin

import (
	"cmp"
	"fmt"
	"iter"
	"slices"
	"strings"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/devices"
	"github.com/sanmob/sanmob/inventory"
)

// Array is one array as placement sees it.
type Array struct {
	ID   string
	Site string
	Obs  *devices.ArrayObs // its last observation; nil until it first answered
}

// Placer chooses pools over the arrays Arrays lists, in a stable order (ties
// in room keep it). It only reads what it is given.
type Placer struct {
	Arrays iter.Seq[Array]
}

// Filter narrows placement: each of Site, Array and Pool, when set, keeps
// only the pools that match it. Thin is the kind of volume.
type Filter struct {
	Site, Array, Pool string
	Thin              bool
}

// Candidate is a pool a volume may go to, with its room for the kind.
type Candidate struct {
	Array string
	Site  string
	Pool  array.Pool
	Room  int64
}

// Candidates lists every observed pool that f allows, most room first,
// whatever their room. An empty list with f.Pool set means no observed
// array has that pool.
func (p Placer) Candidates(f Filter) []Candidate {
	var out []Candidate
	for a := range p.Arrays {
		if a.Obs == nil || (f.Site != "" && a.Site != f.Site) || (f.Array != "" && a.ID != f.Array) {
			continue
		}
		for _, pool := range a.Obs.Pools {
			if f.Pool != "" && pool.ID != f.Pool {
				continue
			}
			out = append(out, Candidate{Array: a.ID, Site: a.Site, Pool: pool, Room: Room(pool, f.Thin)})
		}
	}
	slices.SortStableFunc(out, func(a, b Candidate) int { return cmp.Compare(b.Room, a.Room) })
	return out
}

// Place lists the pools f allows that admit a volume of size bytes, most
// room first. Errors:
//   - a FieldError on sizeBytes (inventory.ErrInvalid) when size is more
//     than every pool could hold even empty (Ceiling): a client's mistake
//     that no waiting fixes. The pools are those of the array and the pool
//     f names, when it names them (the client chose them), else of every
//     array — not narrowed by site, so that a caller that tries its sites in
//     turn (the CSI controller) hears "no room here" rather than "never",
//     and goes on to the next. Decided only when every array has been
//     observed and has pools, so that an array not yet read never makes a
//     size look impossible;
//   - array.ErrNoCapacity when no allowed pool has the room now: a *Refusal
//     with the numbers of the pool with the most room, or, when no pool is
//     observed at all, array.ErrNoCapacity itself.
func (p Placer) Place(f Filter, size int64) ([]Candidate, error) {
	var biggest Candidate // the pool with the highest ceiling, Room holding it
	all, pools := true, 0
	for a := range p.Arrays {
		if a.Obs == nil {
			all = false
			continue
		}
		if f.Array != "" && a.ID != f.Array {
			continue
		}
		for _, pool := range a.Obs.Pools {
			if f.Pool != "" && pool.ID != f.Pool {
				continue
			}
			pools++
			if c := Ceiling(pool, f.Thin); pools == 1 || c > biggest.Room {
				biggest = Candidate{Array: a.ID, Site: a.Site, Pool: pool, Room: c}
			}
		}
	}
	if all && pools > 0 && size > biggest.Room {
		return nil, inventory.Invalid("sizeBytes", "%d bytes %s is more than any pool%s could ever hold: the largest, pool %s (array %s), holds at most %d even empty (%s)",
			size, kind(f.Thin), ceilingScope(f), biggest.Pool.ID, biggest.Array, biggest.Room, limits(biggest.Pool, f.Thin))
	}
	cands := p.Candidates(f)
	fit := slices.DeleteFunc(slices.Clone(cands), func(c Candidate) bool { return c.Room < size })
	switch {
	case len(fit) > 0:
		return fit, nil
	case len(cands) == 0:
		return nil, fmt.Errorf("no pool%s is observed to take %d bytes %s: %w", f, size, kind(f.Thin), array.ErrNoCapacity)
	case len(cands) == 1:
		return nil, refusal(cands[0].Array, cands[0].Pool, size, f.Thin)
	}
	return nil, fmt.Errorf("none of the %d pools%s can take %d bytes %s; the one with the most room: %w",
		len(cands), f, size, kind(f.Thin), refusal(cands[0].Array, cands[0].Pool, size, f.Thin))
}

// String is the placement in words, " (site east, array east-arr1)", or ""
// when nothing narrows it.
func (f Filter) String() string {
	var parts []string
	for _, p := range [][2]string{{"site", f.Site}, {"array", f.Array}, {"pool", f.Pool}} {
		if p[1] != "" {
			parts = append(parts, p[0]+" "+p[1])
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// ceilingScope names the pools a ceiling was taken over.
func ceilingScope(f Filter) string {
	switch {
	case f.Pool != "":
		return " named (" + f.Pool + ")"
	case f.Array != "":
		return " of array " + f.Array
	}
	return ""
}
