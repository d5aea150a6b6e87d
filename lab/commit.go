package lab

import (
	"context"
	"fmt"
	"iter"
	"math"
	"slices"
	"strings"

	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/fabric/wwn"
	"github.com/sanmob/sanmob/internal/clockwait"
)

// Commit applies txn as one fabric-wide transaction, as a Brocade fabric
// does: all of it or none of it, against the checksum it was planned on.
//
// It holds the fabric lock from start to end, so a second commit meanwhile
// is refused as busy, and takes the config's CommitLatency of virtual time.
// The next zone DB is built before that wait, aside, under the read lock
// only: readers keep reading the old one until it is swapped in at the end,
// when the checksum is checked again, so that an administrator's change
// during the wait makes the commit conflict.
func (s *Switch) Commit(ctx context.Context, txn fabric.Txn) (string, error) {
	// The edits, then the enable. The first fault that fires decides; an
	// applied-timeout applies the transaction and then reports its error,
	// unless the switch refuses the transaction, which it then reports:
	// nothing was applied.
	applyThenFail, faultErr := s.w.fault(ctx, fabric.ErrUnavailable, OpZone, s.id)
	if faultErr == nil {
		applyThenFail, faultErr = s.w.fault(ctx, fabric.ErrUnavailable, OpCommit, s.id)
	}
	if faultErr != nil && !applyThenFail {
		return "", faultErr
	}
	if !s.locked.CompareAndSwap(false, true) {
		return "", fmt.Errorf("lab: %s: fabric busy: zoning transaction in progress: %w", s.id, fabric.ErrUnavailable)
	}
	defer s.locked.Store(false)

	next, puts, dels, err := s.plan(txn)
	if err != nil {
		return "", err
	}
	if err := clockwait.Sleep(ctx, s.w.clock, s.w.cfg.CommitLatency); err != nil {
		return "", fmt.Errorf("lab: commit on fabric %s: %w", s.id, err)
	}
	s.mu.Lock()
	if s.checksum != txn.Checksum {
		defer s.mu.Unlock()
		return "", fmt.Errorf("lab: fabric %s: the zone DB changed during the commit (checksum %s, now %s); nothing applied: %w",
			s.id, txn.Checksum, s.checksum, fabric.ErrConflict)
	}
	s.zoning = next
	s.commits++
	if err := s.unlockPersist(&op{Kind: opCommit, Dev: s.id, At: s.w.now(), Cfg: next.cfgName, Put: puts, Del: dels}); err != nil {
		return "", err
	}
	if faultErr != nil {
		return "", faultErr
	}
	return next.checksum, nil
}

// Abort has nothing to cancel: a lab commit is a single call that applies
// all or nothing and releases the fabric lock before it returns, so no
// transaction is ever left open on the switch.
func (s *Switch) Abort(context.Context) error { return nil }

// PeerZones reports that the lab's switches accept peer zones, as FOS >= 7.4.
func (s *Switch) PeerZones() bool { return true }

// Commits counts the commits that took effect.
func (s *Switch) Commits() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.commits
}

// plan checks txn against the zone DB and builds the zone DB it makes. The
// order of refusals is a switch's: a stale checksum, then content, then size.
func (s *Switch) plan(txn fabric.Txn) (next zoning, puts []fabric.Zone, dels []string, err error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.checksum != txn.Checksum {
		return zoning{}, nil, nil, fmt.Errorf("lab: fabric %s: zone DB checksum %s is stale (now %s); nothing applied: %w",
			s.id, txn.Checksum, s.checksum, fabric.ErrConflict)
	}
	cfg := s.cfgName
	if cfg == "" {
		if err := fabric.CheckZoneName(txn.Cfg); err != nil {
			return zoning{}, nil, nil, fmt.Errorf("lab: fabric %s has no effective configuration to edit; creating one: %w", s.id, err)
		}
		cfg = txn.Cfg
	}
	puts, dels, err = checkTxn(txn, cfg)
	if err != nil {
		return zoning{}, nil, nil, fmt.Errorf("lab: fabric %s: %w", s.id, err)
	}
	next = s.zoning.apply(cfg, puts, dels)
	if limit := s.w.cfg.ZoneDBMaxBytes; next.size > limit {
		return zoning{}, nil, nil, fmt.Errorf("lab: fabric %s: the zone DB would grow to %d bytes, more than its %d; nothing applied: %w",
			s.id, next.size, limit, fabric.ErrFull)
	}
	return next, puts, dels, nil
}

// checkTxn refuses content a switch refuses, before anything changes, and
// returns the zones to put and the names to delete, each sorted by name.
// Peer zones need no check: the lab supports them (PeerZones).
func checkTxn(txn fabric.Txn, cfg string) (puts []fabric.Zone, dels []string, err error) {
	for i := range txn.Put {
		z := &txn.Put[i]
		if err := fabric.CheckZoneName(z.Name); err != nil {
			return nil, nil, err
		}
		switch {
		case z.Name == cfg:
			return nil, nil, fmt.Errorf("%w: zone %q has the name of the configuration", fabric.ErrInvalid, z.Name)
		case len(z.Members) == 0:
			return nil, nil, fmt.Errorf("%w: zone %q has no members", fabric.ErrInvalid, z.Name)
		case len(z.Members) > math.MaxUint16 || len(z.Principals) > math.MaxUint16:
			return nil, nil, fmt.Errorf("%w: zone %q has %d members and %d principals, more than %d", fabric.ErrInvalid,
				z.Name, len(z.Members), len(z.Principals), math.MaxUint16)
		case slices.Contains(z.Members, wwn.WWN{}) || slices.Contains(z.Principals, wwn.WWN{}):
			return nil, nil, fmt.Errorf("%w: zone %q has a zero WWN", fabric.ErrInvalid, z.Name)
		}
	}
	puts = slices.Clone(txn.Put)
	slices.SortFunc(puts, func(a, b fabric.Zone) int { return strings.Compare(a.Name, b.Name) })
	for i := 1; i < len(puts); i++ {
		if puts[i].Name == puts[i-1].Name {
			return nil, nil, fmt.Errorf("%w: zone %q is put twice", fabric.ErrInvalid, puts[i].Name)
		}
	}
	dels = slices.Clone(txn.Delete)
	slices.Sort(dels)
	dels = slices.Compact(dels)
	for _, p := range puts {
		if _, ok := slices.BinarySearch(dels, p.Name); ok {
			return nil, nil, fmt.Errorf("%w: zone %q is both put and deleted", fabric.ErrInvalid, p.Name)
		}
	}
	return puts, dels, nil
}

// apply returns the zone DB with the zones of puts defined and effective in
// cfg (replacing zones of the same name) and those of dels removed, in a
// fresh arena sized exactly: the holes DeleteZone left go too.
func (db *zoning) apply(cfg string, puts []fabric.Zone, dels []string) zoning {
	nz, nm, nameLen := 0, 0, 0
	for old, put := range db.merge(puts, dels) {
		nz++
		if old != nil {
			nm += int(old.nm) + int(old.np)
		} else {
			nm += len(put.Members) + len(put.Principals)
			nameLen += len(put.Name)
		}
	}
	// The new names share one string, as the built ones do.
	var b strings.Builder
	b.Grow(nameLen)
	for i := range puts {
		b.WriteString(puts[i].Name)
	}
	names := b.String()

	next := zoning{cfgName: cfg, zones: make([]zone, 0, nz), members: make([]wwn.WWN, 0, nm)}
	for old, put := range db.merge(puts, dels) {
		off := int32(len(next.members))
		if old != nil {
			z := *old
			z.off = off
			next.members = append(next.members, db.members[old.off:old.off+int32(old.nm)+int32(old.np)]...)
			next.zones = append(next.zones, z)
			continue
		}
		var name string
		name, names = names[:len(put.Name)], names[len(put.Name):]
		next.members = append(next.members, put.Members...)
		next.members = append(next.members, put.Principals...)
		next.zones = append(next.zones, zone{name: name, off: off, nm: uint16(len(put.Members)),
			np: uint16(len(put.Principals)), effective: true})
	}
	next.recomputeChecksum()
	return next
}

// merge yields the zones of the DB after a transaction, by name: each either
// a zone kept from db or one of puts. puts and dels are sorted by name.
func (db *zoning) merge(puts []fabric.Zone, dels []string) iter.Seq2[*zone, *fabric.Zone] {
	return func(yield func(*zone, *fabric.Zone) bool) {
		i, j, d := 0, 0, 0
		for i < len(db.zones) || j < len(puts) {
			if j < len(puts) && (i == len(db.zones) || puts[j].Name <= db.zones[i].name) {
				if i < len(db.zones) && puts[j].Name == db.zones[i].name {
					i++ // replaced
				}
				if !yield(nil, &puts[j]) {
					return
				}
				j++
				continue
			}
			old := &db.zones[i]
			i++
			for d < len(dels) && dels[d] < old.name {
				d++
			}
			if d < len(dels) && dels[d] == old.name {
				continue
			}
			if !yield(old, nil) {
				return
			}
		}
	}
}
