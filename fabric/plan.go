package fabric

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/sanmob/sanmob/fabric/wwn"
	"github.com/sanmob/sanmob/internal/clockwait"
)

// zkey identifies a desired zone: a SIST zone by its pair, a peer zone by
// its target alone (ini zero).
type zkey = pair

func (f *fabricZoner) keyOf(p pair) zkey {
	if f.policy == PeerZones {
		return zkey{tgt: p.tgt}
	}
	return p
}

// desiredZone is a zone the desired state wants, with the pairs it serves.
type desiredZone struct {
	zone  Zone
	pairs []pair
}

// zoneFor builds the zone of key k from pairs; ok is false when no user
// needs it.
func (f *fabricZoner) zoneFor(pairs map[pair]use, k zkey) (desiredZone, bool) {
	if f.policy != PeerZones {
		u, ok := pairs[k]
		if !ok {
			return desiredZone{}, false
		}
		return desiredZone{
			zone:  Zone{Name: SISTZoneName(u.iniLabel, k.ini, u.tgtLabel, k.tgt), Members: []wwn.WWN{k.ini, k.tgt}},
			pairs: []pair{k},
		}, true
	}
	var dz desiredZone
	label := ""
	for p, u := range pairs {
		if p.tgt != k.tgt {
			continue
		}
		dz.pairs = append(dz.pairs, p)
		dz.zone.Members = append(dz.zone.Members, p.ini)
		if label == "" || u.tgtLabel < label {
			label = u.tgtLabel
		}
	}
	if len(dz.pairs) == 0 {
		return desiredZone{}, false
	}
	slices.SortFunc(dz.zone.Members, wwn.WWN.Compare)
	slices.SortFunc(dz.pairs, pair.compare)
	dz.zone.Name = PeerZoneName(label, k.tgt)
	dz.zone.Principals = []wwn.WWN{k.tgt}
	return dz, true
}

// desiredOf lists every zone the state wants, by name.
func (f *fabricZoner) desiredOf(pairs map[pair]use) []desiredZone {
	seen := map[zkey]bool{}
	var out []desiredZone
	for p := range pairs {
		k := f.keyOf(p)
		if seen[k] {
			continue
		}
		seen[k] = true
		if dz, ok := f.zoneFor(pairs, k); ok {
			out = append(out, dz)
		}
	}
	slices.SortFunc(out, func(a, b desiredZone) int { return strings.Compare(a.zone.Name, b.zone.Name) })
	return out
}

// ContentKey is a zone's content as a map key: equal for two zones with
// the same members and principals, whatever their names and order. The
// Zoner takes an owned zone on a switch with the content of a desired one
// for that zone, under whatever name it was committed.
func ContentKey(z Zone) string { return signature(z) }

// signature is a zone's content, independent of member order and name: two
// owned zones with one signature are the same zone. Raw bytes, one
// allocation: a large fabric has hundreds of thousands of zones to index.
func signature(z Zone) string {
	b := make([]byte, 0, 8*(len(z.Members)+len(z.Principals))+1)
	add := func(ws []wwn.WWN) {
		at := len(b)
		for _, w := range ws {
			b = append(b, w[:]...)
		}
		if len(ws) > 1 {
			// Sort the 8-byte words in place (zones are small).
			for i := 1; i < len(ws); i++ {
				for j := i; j > 0 && string(b[at+8*j:at+8*j+8]) < string(b[at+8*(j-1):at+8*j]); j-- {
					var t [8]byte
					copy(t[:], b[at+8*j:])
					copy(b[at+8*j:at+8*j+8], b[at+8*(j-1):at+8*j])
					copy(b[at+8*(j-1):], t[:])
				}
			}
		}
	}
	add(z.Members)
	b = append(b, '|')
	add(z.Principals)
	return string(b)
}

// device indexes the owned zones of a zone DB.
type device struct {
	db     ZoneDB
	byName map[string]int
	// sist: owned zones of exactly two members, by the pair in WWN order —
	// nearly every zone sanmob makes, indexed without an allocation each;
	// sistMore holds the rare duplicates.
	sist     map[pair]int
	sistMore map[pair][]int
	bySig    map[string][]int // the other owned zones, by signature
	// byPrincipal: owned peer zones by their (single) principal.
	byPrincipal map[wwn.WWN][]int
}

func sistKey(a, b wwn.WWN) pair {
	if b.Compare(a) < 0 {
		a, b = b, a
	}
	return pair{a, b}
}

func indexDevice(db ZoneDB) *device {
	d := &device{db: db, byName: make(map[string]int, len(db.Zones)), sist: make(map[pair]int, len(db.Zones)),
		sistMore: map[pair][]int{}, bySig: map[string][]int{}, byPrincipal: map[wwn.WWN][]int{}}
	for i, z := range db.Zones {
		d.byName[z.Name] = i
		if !Owned(z.Name) {
			continue
		}
		switch {
		case len(z.Members) == 2 && len(z.Principals) == 0:
			k := sistKey(z.Members[0], z.Members[1])
			if _, dup := d.sist[k]; dup {
				d.sistMore[k] = append(d.sistMore[k], i)
			} else {
				d.sist[k] = i
			}
		default:
			sig := signature(z)
			d.bySig[sig] = append(d.bySig[sig], i)
			if len(z.Principals) == 1 {
				d.byPrincipal[z.Principals[0]] = append(d.byPrincipal[z.Principals[0]], i)
			}
		}
	}
	return d
}

// Drift is what a reconcile found on one fabric: the difference between the
// zones sanmob wants and the switch's zone DB.
type Drift struct {
	Fabric   string       `json:"fabric"`
	Checksum string       `json:"checksum"` // of the zone DB compared
	Missing  []Zone       `json:"missing"`  // wanted, not on the switch
	Changed  []ZoneChange `json:"changed"`  // sanmob's zone, members changed behind its back
	// Orphans are sanmob-named zones that no user needs.
	Orphans []string `json:"orphans"`
	// External are zones sanmob does not own that admit a WWPN sanmob
	// zones; they are reported, never touched.
	External []string `json:"external"`
	Repaired bool     `json:"repaired"`
	// Users names, for each missing or changed zone, who needs it: the
	// VMs, attachments and zoning claims that lose a path while it differs.
	Users map[string][]string `json:"users,omitempty"`
}

// Empty reports whether the fabric matches the desired state (external
// zones are not drift).
func (d Drift) Empty() bool { return len(d.Missing) == 0 && len(d.Changed) == 0 && len(d.Orphans) == 0 }

// ZoneChange is a sanmob zone whose content differs from what it should be.
type ZoneChange struct {
	Name string `json:"name"`
	Want Zone   `json:"want"`
	Have Zone   `json:"have"`
}

// plan computes the transaction that brings the zones of scope (every zone,
// owned orphans included, when scope is nil) to the desired state in pairs,
// and the drift it repairs.
func (f *fabricZoner) plan(d *device, pairs map[pair]use, scope map[zkey]struct{}) (Txn, Drift) {
	txn := Txn{Checksum: d.db.Checksum, Cfg: "cfg_sanmob_" + f.id}
	drift := Drift{Fabric: f.id, Checksum: d.db.Checksum, Missing: []Zone{}, Changed: []ZoneChange{}, Orphans: []string{}, External: []string{}}
	claimed := make([]bool, len(d.db.Zones))
	del := map[string]bool{}
	var keys []zkey
	if scope == nil {
		seen := make(map[zkey]bool, len(pairs))
		for p := range pairs {
			if k := f.keyOf(p); !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	} else {
		keys = slices.Collect(maps.Keys(scope))
	}
	put := func(z Zone) {
		if i, named := d.byName[z.Name]; named {
			claimed[i] = true
			drift.Changed = append(drift.Changed, ZoneChange{Name: z.Name, Want: z, Have: d.db.Zones[i]})
		} else {
			drift.Missing = append(drift.Missing, z)
		}
		txn.Put = append(txn.Put, z)
	}
	putSIST := map[pair]bool{}
	for _, k := range keys {
		if f.policy != PeerZones {
			// Any owned zone of exactly these two ports will do, whatever
			// its name; further ones are duplicates.
			sk := sistKey(k.ini, k.tgt)
			first, have := d.sist[sk]
			if _, want := pairs[k]; !want {
				if _, rev := pairs[pair{k.tgt, k.ini}]; rev {
					// The same two ports, the other way round: their zone
					// serves that pair (a SIST zone has no direction).
					if have {
						claimed[first] = true
					}
					continue
				}
				if have {
					del[d.db.Zones[first].Name] = true
				}
				for _, i := range d.sistMore[sk] {
					del[d.db.Zones[i].Name] = true
				}
			} else if have {
				claimed[first] = true
			} else if !putSIST[sk] { // once for a pair and its reverse
				putSIST[sk] = true
				dz, _ := f.zoneFor(pairs, k)
				put(dz.zone)
			}
			continue
		}
		// A peer zone is found by its principal: its peers change over time.
		have := d.byPrincipal[k.tgt]
		dz, want := f.zoneFor(pairs, k)
		if !want {
			for _, i := range have {
				del[d.db.Zones[i].Name] = true
			}
			continue
		}
		sig := signature(dz.zone)
		ok := false
		for _, i := range have {
			if !ok && signature(d.db.Zones[i]) == sig {
				ok = true
				claimed[i] = true
			}
		}
		if !ok {
			put(dz.zone)
		}
		// Any other owned peer zone of this principal is superseded.
		for _, i := range have {
			if !claimed[i] && d.db.Zones[i].Name != dz.zone.Name {
				del[d.db.Zones[i].Name] = true
			}
		}
	}
	if scope == nil {
		watched := make(map[wwn.WWN]bool, len(pairs))
		for p := range pairs {
			watched[p.ini] = true
		}
		isWatched := func(w wwn.WWN) bool { return watched[w] }
		for i, z := range d.db.Zones {
			switch {
			case Owned(z.Name) && !claimed[i] && !del[z.Name]:
				if f.z.cfg.InUse != nil && f.z.cfg.InUse(f.id, z) {
					continue // sanmob's, explained by the inventory
				}
				drift.Orphans = append(drift.Orphans, z.Name)
				del[z.Name] = true
			case !Owned(z.Name) && (slices.ContainsFunc(z.Members, isWatched) || slices.ContainsFunc(z.Principals, isWatched)):
				drift.External = append(drift.External, z.Name)
			}
		}
	}
	for _, z := range txn.Put {
		delete(del, z.Name)
	}
	byName := func(a, b Zone) int { return strings.Compare(a.Name, b.Name) }
	slices.SortFunc(txn.Put, byName)
	slices.SortFunc(drift.Missing, byName)
	slices.SortFunc(drift.Changed, func(a, b ZoneChange) int { return strings.Compare(a.Name, b.Name) })
	txn.Delete = slices.Sorted(maps.Keys(del))
	return txn, drift
}

func (t Txn) empty() bool { return len(t.Put) == 0 && len(t.Delete) == 0 }

// zoneBytes estimates what a zone costs in a zone DB — its definition and
// its entry in the effective configuration — on the high side of what FOS
// and the lab count, so that a refusal here comes before the switch's.
func zoneBytes(z Zone) int {
	return 2*len(z.Name) + 24*(len(z.Members)+len(z.Principals)) + 16
}

// apply changes state by o: it records in o which references were new or
// gone, and returns the keys of the zones o names — every one, not only
// those whose references changed: an Ensure of a pair its user already
// holds still makes a zone the switch lost, and a Release of one it no
// longer holds (a restart rebuilt the state from records already past it)
// still removes the zone nobody holds. A use's users slice is never changed
// in place — states share them.
func (f *fabricZoner) apply(state map[pair]use, o *op) []zkey {
	o.added, o.removed = nil, nil
	keys := make([]zkey, 0, len(o.add)+len(o.remove))
	for _, in := range o.add {
		p := pair{in.Initiator, in.Target}
		keys = append(keys, f.keyOf(p))
		u, ok := state[p]
		if ok && slices.Contains(u.users, o.user) {
			continue
		}
		if !ok {
			u = use{iniLabel: in.InitiatorLabel, tgtLabel: in.TargetLabel}
		}
		u.users = append(slices.Clip(u.users), o.user)
		state[p] = u
		o.added = append(o.added, in)
	}
	for _, in := range o.remove {
		p := pair{in.Initiator, in.Target}
		keys = append(keys, f.keyOf(p))
		u, ok := state[p]
		i := slices.Index(u.users, o.user)
		if !ok || i < 0 {
			continue
		}
		if len(u.users) == 1 {
			delete(state, p)
		} else {
			u.users = slices.Delete(slices.Clone(u.users), i, i+1)
			state[p] = u
		}
		o.removed = append(o.removed, in)
	}
	return keys
}

// admit applies the batch's ops to a copy of the committed state, in order,
// refusing with ErrFull each op whose new zones would not fit the zone DB.
// It returns the state to commit, the ops accepted, and the keys touched.
func (f *fabricZoner) admit(db ZoneDB, batch []*op) (map[pair]use, []*op, map[zkey]struct{}) {
	f.mu.Lock()
	state := maps.Clone(f.pairs)
	f.mu.Unlock()
	scope := map[zkey]struct{}{}
	room := db.MaxBytes - db.SizeBytes
	var accepted []*op
	for _, o := range batch {
		o.err = nil
		if o.repair {
			accepted = append(accepted, o)
			continue
		}
		type was struct {
			u  use
			ok bool
		}
		undo := map[pair]was{}
		for _, in := range append(slices.Clone(o.add), o.remove...) {
			p := pair{in.Initiator, in.Target}
			if _, ok := undo[p]; !ok {
				u, ok := state[p]
				undo[p] = was{u, ok}
			}
		}
		before := map[zkey]int{}
		keysOf := func() []zkey {
			var ks []zkey
			for p := range undo {
				ks = append(ks, f.keyOf(p))
			}
			return ks
		}
		for _, k := range keysOf() {
			if dz, ok := f.zoneFor(state, k); ok {
				before[k] = zoneBytes(dz.zone)
			}
		}
		keys := f.apply(state, o)
		grow := 0
		for _, k := range keysOf() {
			after := 0
			if dz, ok := f.zoneFor(state, k); ok {
				after = zoneBytes(dz.zone)
			}
			grow += after - before[k]
		}
		if db.MaxBytes > 0 && grow > 0 && grow > room {
			for p, w := range undo {
				if w.ok {
					state[p] = w.u
				} else {
					delete(state, p)
				}
			}
			o.added, o.removed = nil, nil
			o.err = fmt.Errorf("fabric %s: %w: the zones of this request need ~%d bytes and the zone database has %d of %d left", f.id, ErrFull, grow, max(room, 0), db.MaxBytes)
			continue
		}
		room -= grow
		for _, k := range keys {
			scope[k] = struct{}{}
		}
		accepted = append(accepted, o)
	}
	return state, accepted, scope
}

// commitBatch brings the fabric to the state the batch asks for in one
// transaction, retrying on a stale checksum and on transient failures, and
// verifying by reading back; then it answers every op of the batch.
func (f *fabricZoner) commitBatch(ctx context.Context, batch []*op) {
	f.mu.Lock()
	f.busySince = f.z.cfg.Clock.Now()
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.busySince = time.Time{}
		f.mu.Unlock()
		for _, o := range batch {
			close(o.done)
		}
	}()
	fail := func(ops []*op, err error) {
		for _, o := range ops {
			if o.err == nil {
				o.err = fmt.Errorf("fabric %s: %w", f.id, err)
			}
		}
	}
	repair := slices.ContainsFunc(batch, func(o *op) bool { return o.repair })
	var (
		lastErr   error
		committed bool // the last Commit returned success: verify it
		tried     bool // a Commit was sent: it may have taken effect
		readBack  int  // reads retried to learn a commit's outcome
		planned   bool // the drift found before any change is recorded
		wait      = f.z.cfg.Backoff
	)
	call := func(do func(context.Context) error) error {
		c, cancel := context.WithTimeout(ctx, f.z.cfg.Timeout)
		defer cancel()
		return do(c)
	}
	for attempt := 0; ; {
		var db ZoneDB
		err := call(func(c context.Context) (err error) { db, err = f.drv.ZoneDB(c); return err })
		fromRead := err != nil // whether a failure below is the read's, not a commit's
		if err == nil {
			d := indexDevice(db)
			state, accepted, scope := f.admit(db, batch)
			if repair {
				scope = nil
			}
			txn, drift := f.plan(d, state, scope)
			if !planned {
				planned = true
				for _, o := range accepted {
					o.drift = drift
				}
			}
			if txn.empty() {
				f.mu.Lock()
				for _, o := range accepted {
					f.apply(f.pairs, o)
				}
				f.gen++
				if tried {
					f.commits++
					f.lastCommit = f.z.cfg.Clock.Now()
				}
				f.mu.Unlock()
				for _, o := range accepted {
					o.drift.Repaired = o.repair && !o.drift.Empty()
				}
				return
			}
			if committed {
				f.log.WithField("put", len(txn.Put)).WithField("delete", len(txn.Delete)).Warn("zoning commit did not verify: the switch does not show what it acknowledged; retrying")
				lastErr = errors.New("the commit was acknowledged but reading back does not show it")
				committed = false
			}
			if attempt == f.z.cfg.Attempts {
				fail(accepted, fmt.Errorf("gave up after %d attempts: %w", attempt, lastErr))
				return
			}
			attempt++
			f.log.WithField("put", len(txn.Put)).WithField("delete", len(txn.Delete)).WithField("requests", len(accepted)).Debug("zoning commit")
			tried = true
			fromRead = false
			err = call(func(c context.Context) error { _, err := f.drv.Commit(c, txn); return err })
			if err == nil {
				committed = true
				continue
			}
			if errors.Is(err, ErrConflict) {
				lastErr = err
				continue
			}
		}
		if !IsTransient(err) || ctx.Err() != nil {
			if ctx.Err() != nil {
				err = fmt.Errorf("%w: %w", ErrClosed, err)
			}
			fail(batch, err)
			return
		}
		lastErr = err
		switch {
		case tried && readBack < 3*f.z.cfg.Attempts:
			// A commit was sent and may have taken effect: the answer
			// must come from reading back, or the caller is told a
			// failure that is not one. Reads get a budget of their own.
			readBack++
		case attempt >= f.z.cfg.Attempts:
			if tried {
				err = fmt.Errorf("%w (the last commit's outcome is unknown; a reconcile repairs any difference)", err)
			}
			fail(batch, fmt.Errorf("gave up after %d attempts: %w", attempt, err))
			return
		case fromRead:
			attempt++ // a failed read counts as an attempt too
		}
		if err := call(f.drv.Abort); err != nil {
			f.log.WithError(err).Debug("abort after a transient failure")
		}
		f.log.WithError(err).WithField("retryIn", wait).Info("zoning: transient failure; reading back and retrying")
		if clockwait.Sleep(ctx, f.z.cfg.Clock, wait) != nil {
			fail(batch, fmt.Errorf("%w: %w", ErrClosed, lastErr))
			return
		}
		wait = min(2*wait, 30*time.Second)
	}
}

// Reconcile compares the fabric's zone DB with the desired state. With
// apply, the difference in sanmob's own zones is committed (missing zones
// made, changed ones put back, orphans deleted) through the fabric's worker,
// after any commit in flight; the drift returned is what was found before.
// Zones sanmob does not own are never touched.
func (z *Zoner) Reconcile(ctx context.Context, fabricID string, apply bool) (Drift, error) {
	f, ok := z.fabrics[fabricID]
	if !ok {
		return Drift{}, fmt.Errorf("%w: fabric %q", ErrNotFound, fabricID)
	}
	if apply {
		o := &op{repair: true, done: make(chan struct{})}
		f.enqueue(o)
		if err := o.wait(ctx); err != nil {
			return o.drift, err
		}
		return o.drift, nil
	}
	db, err := f.drv.ZoneDB(ctx)
	if err != nil {
		return Drift{}, fmt.Errorf("fabric %s: %w", fabricID, err)
	}
	return z.Drift(fabricID, db)
}

// Drift compares a zone DB already read (the observed one) with the
// fabric's desired state, without touching the switch.
// DriftAsOf is Drift for a zone DB read at readAt, compared with the
// desired state of that moment only: sure is false (and the drift empty)
// when the read is older than the fabric's last commit, or started while a
// commit was under way — it may miss a change sanmob made, or show one
// before the desired state does, and would report drift that is not. gen is
// the desired state's generation it compared against.
func (z *Zoner) DriftAsOf(fabricID string, db ZoneDB, readAt time.Time) (d Drift, gen uint64, sure bool, err error) {
	return z.driftOf(fabricID, db, func(f *fabricZoner) bool { return f.currentLocked(readAt) })
}

// ReadIsCurrent reports whether a read of the fabric made at readAt shows
// what sanmob committed: it is not older than the last commit and did not
// start while one was under way.
func (z *Zoner) ReadIsCurrent(fabricID string, readAt time.Time) bool {
	f, ok := z.fabrics[fabricID]
	if !ok {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.currentLocked(readAt)
}

func (f *fabricZoner) currentLocked(readAt time.Time) bool {
	return !readAt.Before(f.lastCommit) && (f.busySince.IsZero() || readAt.Before(f.busySince))
}

func (z *Zoner) Drift(fabricID string, db ZoneDB) (Drift, error) {
	d, _, _, err := z.driftOf(fabricID, db, nil)
	return d, err
}

// driftOf compares db with the fabric's desired state, taken with its
// generation under the fabric's lock; with current set, only when current
// holds then (sure false otherwise).
func (z *Zoner) driftOf(fabricID string, db ZoneDB, current func(*fabricZoner) bool) (d Drift, gen uint64, sure bool, err error) {
	f, ok := z.fabrics[fabricID]
	if !ok {
		return Drift{}, 0, false, fmt.Errorf("%w: fabric %q", ErrNotFound, fabricID)
	}
	f.mu.Lock()
	if current != nil && !current(f) {
		f.mu.Unlock()
		return Drift{}, 0, false, nil
	}
	state, gen := maps.Clone(f.pairs), f.gen
	f.mu.Unlock()
	_, d = f.plan(indexDevice(db), state, nil)
	return d, gen, true, nil
}

func sortedKeys[K cmp.Ordered, V any](m map[K]V) []K {
	return slices.Sorted(maps.Keys(m))
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
