package lab

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/fabric/wwn"
)

// The write side of the arrays. Every write consults the fault table first
// (OpVolume for volumes and snapshots, OpMask for Map and Unmap), then
// checks its request in full, and only then changes anything: a refusal
// applies nothing, and an applied-timeout applies and then reports its
// transient error, as Switch.Commit does.
//
// Thin accounting. A thin volume's used bytes are what its workload wrote.
// Every volume presented through at least one LUN map is written to at a
// steady rate of its own, 1 to 10 parts in 10,000 of its size per virtual
// hour, drawn from a hash of its WWN and so from the seed, scaled hour by
// hour by its pool's workload when the world has workloads (workload.go:
// linear, weekly seasonal, step, bursts or flat); it accrues in
// whole virtual hours since the epoch, lazily, when the array is next read
// or written (accrue), until the volume is full. A pool's logical bytes
// (its thin volumes' and snapshots') follow, and its physical usage with
// them through the pool's data-reduction ratio; a thick volume takes its
// whole size physically when it is created and counts as fully used. A
// pool that runs out of physical space takes no more writes, the lab's
// stand-in for a thin pool erroring I/O when it fills. A new snapshot
// shares every block with its volume and so holds no bytes of its own.
//
// Whole hours make usage a function of the virtual time and of the changes
// sanmob made, not of when the array happened to be read (until a pool
// fills, when the volumes that come first take what room is left): two
// worlds from one seed, driven alike, answer alike.

const (
	writeStep = time.Hour
	maxIDLen  = 128
)

// index finds things by name for the write side. Reads never need it, so
// the first write builds it: a large world pays for it only on the arrays
// sanmob changes. It holds live things only; the caller holds a.mu.
type index struct {
	vols, snaps, groups map[string]int32
	owner               map[wwn.WWN]int32 // initiator → its host group
	mapAt               map[pair]int32    // {group, volume} → its LUN map in a.luns
	volAt               map[pair]int32    // {group, LUN id} → volume
	maps                []int32           // LUN maps per host group, by group
}

type pair [2]int32

func (a *Array) index() *index {
	if a.ix != nil {
		return a.ix
	}
	ix := &index{
		vols:   make(map[string]int32, len(a.vols)-a.deadVols),
		snaps:  make(map[string]int32, len(a.snaps)-a.deadSnaps),
		groups: make(map[string]int32, len(a.groups)),
		owner:  make(map[wwn.WWN]int32, 4*len(a.groups)),
		mapAt:  make(map[pair]int32, len(a.luns)),
		volAt:  make(map[pair]int32, len(a.luns)),
		maps:   make([]int32, len(a.groups)),
	}
	for i := range a.vols {
		if !a.vols[i].deleted {
			ix.vols[a.vols[i].id] = int32(i)
		}
	}
	for i := range a.snaps {
		if !a.snaps[i].deleted {
			ix.snaps[a.snaps[i].id] = int32(i)
		}
	}
	for i := range a.groups {
		g := &a.groups[i]
		if len(g.wwpns) == 0 {
			continue
		}
		ix.groups[g.name] = int32(i)
		for _, p := range g.wwpns[:g.nInit] {
			ix.owner[p] = int32(i)
		}
	}
	for i, l := range a.luns {
		ix.mapAt[pair{l.group, l.vol}] = int32(i)
		ix.volAt[pair{l.group, l.lun}] = l.vol
		ix.maps[l.group]++
	}
	a.ix = ix
	return ix
}

// now is the virtual time since the epoch.
func (a *Array) now() time.Duration { return a.w.now() }

// lock write-locks the array, its usage brought up to the present, and
// returns the present.
func (a *Array) lock() time.Duration {
	a.mu.Lock()
	now := a.now() // under the lock: writes are stamped in the order they apply
	a.accrue(int64(now / writeStep))
	return now
}

// rlock read-locks the array, its usage brought up to the present. A reader
// that finds hours unaccounted for accrues them under the write lock first,
// which happens at most once per virtual hour: reads stay shared.
func (a *Array) rlock() {
	h := int64(a.now() / writeStep)
	a.mu.RLock()
	if h <= a.hours {
		return
	}
	a.mu.RUnlock()
	a.mu.Lock()
	a.accrue(h)
	a.mu.Unlock()
	a.mu.RLock()
}

// accrue applies the writes of mapped thin volumes up to virtual hour h,
// each volume capped at its size and each pool at its free physical space.
// A pool whose volumes' writes fit in its room takes them at once; one they
// would overflow takes them hour by hour, the volumes that come first
// taking what room each hour leaves, until it is full. Either way the
// result is the one of accruing every hour in turn, so that usage is a
// function of the hour, never of when the array was read. The caller holds
// a.mu for writing.
func (a *Array) accrue(h int64) {
	if h <= a.hours {
		return
	}
	h0 := a.hours
	a.hours = h
	n := len(a.pools)
	c0, c1, need := make([]int64, n), make([]int64, n), make([]int64, n)
	for i := range a.pools {
		c0[i], c1[i] = a.pools[i].g.cum(h0), a.pools[i].g.cum(h)
	}
	for i := range a.vols {
		v := &a.vols[i]
		need[v.pool] = satAdd(need[v.pool], v.gain(c0[v.pool], c1[v.pool]))
	}
	fits := make([]bool, n)
	for i := range a.pools {
		fits[i] = need[i] <= a.pools[i].logicalRoom()
	}
	for i := range a.vols {
		v := &a.vols[i]
		if fits[v.pool] {
			g := v.gain(c0[v.pool], c1[v.pool])
			v.used += g
			a.pools[v.pool].logical += g
		}
	}
	for p := range a.pools {
		if !fits[p] {
			a.accrueHourly(int32(p), h0, h, c0[p])
		}
	}
}

// accrueHourly accrues pool p's volumes hour by hour from h0, whose C is
// c0, to h, or until the pool is full.
func (a *Array) accrueHourly(p int32, h0, h, c0 int64) {
	pl := &a.pools[p]
	for k := h0; k < h; k++ {
		room := pl.logicalRoom()
		if room == 0 {
			return // and stays so: nothing but a change frees space
		}
		c1 := pl.g.cum(k + 1)
		for i := range a.vols {
			v := &a.vols[i]
			if v.pool != p {
				continue
			}
			g := min(v.gain(c0, c1), room)
			v.used += g
			pl.logical += g
			room -= g
		}
		c0 = c1
	}
}

// gain is what v writes between the hours whose C are c0 and c1 (W(c1) −
// W(c0) of workload.go; r an hour without workloads), capped at its size:
// nothing unless it is a mapped thin volume.
func (v *volume) gain(c0, c1 int64) int64 {
	if v.deleted || !v.thin || v.maps == 0 || v.used >= v.size || c1 == c0 {
		return 0
	}
	r := v.writeRate()
	if r == 0 {
		return 0
	}
	return min(written(r, c1)-written(r, c0), v.size-v.used)
}

// writeRate is the bytes v's workload writes per virtual hour while it is
// mapped: 1 to 10 parts in 10,000 of its size.
func (v *volume) writeRate() int64 {
	// splitmix64's finalizer: neighbouring WWNs get unrelated rates.
	x := binary.BigEndian.Uint64(v.wwn[:8])*0x9e3779b97f4a7c15 ^ binary.BigEndian.Uint64(v.wwn[8:])
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	perTenK := 1 + 9*float64(x>>11)/(1<<53)
	return int64(float64(v.size) * perTenK / 10000)
}

// usedBytes is the pool's physical usage: what it held when the build sized
// it, plus the logical bytes written since over the data-reduction ratio,
// plus its thick volumes.
func (p *pool) usedBytes() int64 {
	thin := p.used0 + int64(math.Round(float64(p.logical-p.logical0)/p.reduction))
	return max(thin, 0) + p.thick
}

// logicalRoom is the logical bytes the pool can still take: its free
// physical space times the reduction ratio, less a byte for rounding.
func (p *pool) logicalRoom() int64 {
	free := p.physical - p.usedBytes() - 1
	if free <= 0 {
		return 0
	}
	return int64(float64(free) * p.reduction)
}

// reserve is the physical space held back from allocation.
func (p *pool) reserve() int64 { return p.physical * int64(p.reservedPercent) / 100 }

// checkGrow refuses extra more bytes provisioned in p as Cinder's capacity
// filter does. Thin: total_available = (physical − floor(physical ·
// reserved% / 100)) · MaxOvercommit must cover provisioned + extra, which is
// (provisioned + extra) / (physical − reserve) ≤ MaxOvercommit. Thick: the
// free physical space outside the reserve must hold extra.
func (p *pool) checkGrow(extra int64, thin bool) error {
	net := p.physical - p.reserve()
	if thin {
		limit := float64(net) * p.maxOvercommit
		if float64(p.prov)+float64(extra) > limit {
			return fmt.Errorf("pool %s: %d bytes more would provision %.0f, past its %.0f: %d physical less %d%% reserved, times overcommit %g: %w",
				p.id, extra, float64(p.prov)+float64(extra), limit, p.physical, p.reservedPercent, p.maxOvercommit, array.ErrNoCapacity)
		}
		return nil
	}
	if free := net - p.usedBytes(); extra > free {
		return fmt.Errorf("pool %s: %d bytes thick, %d physical bytes free outside the %d%% reserve: %w",
			p.id, extra, max(free, 0), p.reservedPercent, array.ErrNoCapacity)
	}
	return nil
}

// grow provisions extra more bytes, checked by checkGrow.
func (p *pool) grow(extra int64, thin bool) {
	p.prov += extra
	if !thin {
		p.thick += extra
	}
}

// checkID accepts the ids sanmob gives and whatever CSI names become: any
// non-empty UTF-8 string of at most 128 bytes without control characters.
func checkID(what, s string) error {
	if s == "" || len(s) > maxIDLen || !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl) {
		return fmt.Errorf("%s %q: want 1 to %d bytes of UTF-8 without control characters: %w", what, s, maxIDLen, array.ErrInvalid)
	}
	return nil
}

// checkName accepts an empty name, which means the id.
func checkName(what, s string) error {
	if s == "" {
		return nil
	}
	return checkID(what, s)
}

// CreateVolume creates a thin or thick volume; see array.Driver.
func (a *Array) CreateVolume(ctx context.Context, spec array.VolumeSpec) (array.Volume, error) {
	applyThenFail, faultErr := a.w.fault(ctx, array.ErrUnavailable, OpVolume, a.id)
	if faultErr != nil && !applyThenFail {
		return array.Volume{}, faultErr
	}
	if err := checkVolumeSpec(spec); err != nil {
		return array.Volume{}, fmt.Errorf("lab: array %s: %w", a.id, err)
	}
	now := a.lock()
	v, changed, err := a.createVolume(spec, now)
	if err != nil {
		a.mu.Unlock()
		return array.Volume{}, err
	}
	var o *op
	if changed {
		o = &op{Kind: opMkVol, Dev: a.id, At: now, Volume: &spec}
	}
	if err := a.unlockPersist(o); err != nil {
		return array.Volume{}, err
	}
	if faultErr != nil {
		return array.Volume{}, faultErr
	}
	return v, nil
}

func checkVolumeSpec(spec array.VolumeSpec) error {
	if err := checkID("volume id", spec.ID); err != nil {
		return err
	}
	if err := checkName("volume name", spec.Name); err != nil {
		return err
	}
	if err := checkID("pool id", spec.Pool); err != nil {
		return err
	}
	if spec.SizeBytes <= 0 {
		return fmt.Errorf("volume %s: size %d: %w", spec.ID, spec.SizeBytes, array.ErrInvalid)
	}
	if spec.WWN != "" {
		if _, err := parseNAA6(spec.WWN); err != nil {
			return fmt.Errorf("volume %s: %w", spec.ID, err)
		}
	}
	return nil
}

// parseNAA6 reads a volume identity as the arrays present it: "naa." then
// 32 hex digits (either case), the first 6 (NAA IEEE Registered Extended).
func parseNAA6(s string) (b [16]byte, err error) {
	h, ok := strings.CutPrefix(s, "naa.")
	if ok && len(h) == 32 && (h[0] == '6') {
		if _, err := hex.Decode(b[:], []byte(h)); err == nil {
			return b, nil
		}
	}
	return b, fmt.Errorf("WWN %q: want naa.6 and 31 more hex digits: %w", s, array.ErrInvalid)
}

// createVolume creates the volume, or finds it made alike already (changed
// false). The caller holds a.mu for writing, as every lower-case write does.
func (a *Array) createVolume(spec array.VolumeSpec, now time.Duration) (v array.Volume, changed bool, err error) {
	ix := a.index()
	var given [16]byte // the identity spec.WWN asks for, checked by checkVolumeSpec
	if spec.WWN != "" {
		given, _ = parseNAA6(spec.WWN)
	}
	if i, ok := ix.vols[spec.ID]; ok {
		v := &a.vols[i]
		if p := a.pools[v.pool].id; p != spec.Pool || v.size != spec.SizeBytes || v.thin != spec.Thin {
			return array.Volume{}, false, fmt.Errorf("lab: array %s: volume %s exists in pool %s, %d bytes, thin %t; asked for %s, %d bytes, thin %t: %w",
				a.id, v.id, p, v.size, v.thin, spec.Pool, spec.SizeBytes, spec.Thin, array.ErrConflict)
		}
		// No WWN asked for matches only the identity the array made.
		want := a.newWWN(i)
		if spec.WWN != "" {
			want = given
		}
		if v.wwn != want {
			asked := spec.WWN
			if asked == "" {
				asked = "the array's own"
			}
			return array.Volume{}, false, fmt.Errorf("lab: array %s: volume %s exists presenting %s; asked for %s: %w",
				a.id, v.id, v.wwnText, asked, array.ErrConflict)
		}
		return a.volumeOut(i), false, nil
	}
	if spec.WWN != "" {
		// One array presents an identity once. (A WWN the array makes
		// later is not checked against given ones: its seeded high half
		// makes a clash unlikely unless one was copied from this array.)
		for i := range a.vols {
			if v := &a.vols[i]; !v.deleted && v.wwn == given {
				return array.Volume{}, false, fmt.Errorf("lab: array %s: volume %s presents %s already: %w",
					a.id, v.id, v.wwnText, array.ErrConflict)
			}
		}
	}
	pi := a.poolIndex(spec.Pool)
	if pi < 0 {
		return array.Volume{}, false, fmt.Errorf("lab: array %s has no pool %q: %w", a.id, spec.Pool, array.ErrNotFound)
	}
	var src *volume // the snapshot's volume, whose data the copy starts with
	if spec.FromSnapshot != "" {
		si, ok := ix.snaps[spec.FromSnapshot]
		if !ok {
			return array.Volume{}, false, fmt.Errorf("lab: array %s has no snapshot %q: %w", a.id, spec.FromSnapshot, array.ErrNotFound)
		}
		src = &a.vols[a.snaps[si].vol]
		if spec.SizeBytes < src.size {
			return array.Volume{}, false, fmt.Errorf("lab: array %s: volume %s of %d bytes cannot hold snapshot %s of a %d-byte volume: %w",
				a.id, spec.ID, spec.SizeBytes, spec.FromSnapshot, src.size, array.ErrInvalid)
		}
	}
	p := &a.pools[pi]
	if err := p.checkGrow(spec.SizeBytes, spec.Thin); err != nil {
		return array.Volume{}, false, fmt.Errorf("lab: array %s: volume %s: %w", a.id, spec.ID, err)
	}
	p.grow(spec.SizeBytes, spec.Thin)
	vi := int32(len(a.vols))
	id := a.newWWN(vi)
	if spec.WWN != "" {
		id = given
	}
	nv := volume{id: strings.Clone(spec.ID), pool: pi, group: -1, size: spec.SizeBytes, wwn: id,
		wwnText: volumeWWN(id), created: now, thin: spec.Thin}
	if !spec.Thin {
		nv.used = nv.size
	} else if src != nil && src.used > 0 {
		// The copy holds what the source held (as far as the pool has
		// room: a full pool stops every write), and the pool pays for it.
		nv.used = min(src.used, nv.size, p.logicalRoom())
		p.logical += nv.used
	}
	a.vols = append(a.vols, nv)
	ix.vols[nv.id] = vi
	if spec.Name != "" && spec.Name != spec.ID {
		if a.volNames == nil {
			a.volNames = make(map[int32]string)
		}
		a.volNames[vi] = strings.Clone(spec.Name)
	}
	return a.volumeOut(vi), true, nil
}

func (a *Array) poolIndex(id string) int32 {
	for i := range a.pools {
		if a.pools[i].id == id {
			return int32(i)
		}
	}
	return -1
}

// DeleteVolume deletes an unmapped volume; see array.Driver.
func (a *Array) DeleteVolume(ctx context.Context, id string) error {
	applyThenFail, faultErr := a.w.fault(ctx, array.ErrUnavailable, OpVolume, a.id)
	if faultErr != nil && !applyThenFail {
		return faultErr
	}
	if err := checkID("volume id", id); err != nil {
		return fmt.Errorf("lab: array %s: %w", a.id, err)
	}
	now := a.lock()
	changed, err := a.deleteVolume(id)
	if err != nil {
		a.mu.Unlock()
		return err
	}
	var o *op
	if changed {
		o = &op{Kind: opRmVol, Dev: a.id, At: now, ID: id}
	}
	if err := a.unlockPersist(o); err != nil {
		return err
	}
	return faultErr
}

func (a *Array) deleteVolume(id string) (changed bool, err error) {
	ix := a.index()
	vi, ok := ix.vols[id]
	if !ok {
		return false, nil
	}
	v := &a.vols[vi]
	if v.maps > 0 {
		return false, fmt.Errorf("lab: array %s: volume %s is presented by %d LUN maps; unmap it first: %w", a.id, id, v.maps, array.ErrConflict)
	}
	if v.replicated {
		return false, fmt.Errorf("lab: array %s: volume %s is replicated; delete its replication group first: %w", a.id, id, array.ErrConflict)
	}
	p := &a.pools[v.pool]
	p.prov -= v.size
	if v.thin {
		p.logical -= v.used
	} else {
		p.thick -= v.size
	}
	v.deleted = true
	a.deadVols++
	delete(ix.vols, id)
	delete(a.volNames, vi)
	return true, nil
}

// ExpandVolume grows a volume; see array.Driver.
func (a *Array) ExpandVolume(ctx context.Context, id string, sizeBytes int64) (array.Volume, error) {
	applyThenFail, faultErr := a.w.fault(ctx, array.ErrUnavailable, OpVolume, a.id)
	if faultErr != nil && !applyThenFail {
		return array.Volume{}, faultErr
	}
	if err := checkID("volume id", id); err != nil {
		return array.Volume{}, fmt.Errorf("lab: array %s: %w", a.id, err)
	}
	if sizeBytes <= 0 {
		return array.Volume{}, fmt.Errorf("lab: array %s: volume %s: size %d: %w", a.id, id, sizeBytes, array.ErrInvalid)
	}
	now := a.lock()
	v, changed, err := a.expandVolume(id, sizeBytes)
	if err != nil {
		a.mu.Unlock()
		return array.Volume{}, err
	}
	var o *op
	if changed {
		o = &op{Kind: opGrowVol, Dev: a.id, At: now, ID: id, Size: sizeBytes}
	}
	if err := a.unlockPersist(o); err != nil {
		return array.Volume{}, err
	}
	if faultErr != nil {
		return array.Volume{}, faultErr
	}
	return v, nil
}

func (a *Array) expandVolume(id string, sizeBytes int64) (out array.Volume, changed bool, err error) {
	ix := a.index()
	vi, ok := ix.vols[id]
	if !ok {
		return array.Volume{}, false, fmt.Errorf("lab: array %s has no volume %q: %w", a.id, id, array.ErrNotFound)
	}
	v := &a.vols[vi]
	switch {
	case sizeBytes < v.size:
		return array.Volume{}, false, fmt.Errorf("lab: array %s: volume %s has %d bytes; it cannot shrink to %d: %w",
			a.id, id, v.size, sizeBytes, array.ErrInvalid)
	case sizeBytes > v.size:
		extra := sizeBytes - v.size
		p := &a.pools[v.pool]
		if err := p.checkGrow(extra, v.thin); err != nil {
			return array.Volume{}, false, fmt.Errorf("lab: array %s: volume %s: %w", a.id, id, err)
		}
		p.grow(extra, v.thin)
		v.size = sizeBytes
		if !v.thin {
			v.used = v.size
		}
		changed = true
	}
	return a.volumeOut(vi), changed, nil
}

// CreateSnapshots takes snapshots at one virtual instant, all or none; see
// array.Driver. The array's write lock makes the instant: no write lands
// between the first snapshot and the last.
func (a *Array) CreateSnapshots(ctx context.Context, group string, specs []array.SnapshotSpec) ([]array.Snapshot, error) {
	applyThenFail, faultErr := a.w.fault(ctx, array.ErrUnavailable, OpVolume, a.id)
	if faultErr != nil && !applyThenFail {
		return nil, faultErr
	}
	if err := checkSnapshotSpecs(group, specs); err != nil {
		return nil, fmt.Errorf("lab: array %s: %w", a.id, err)
	}
	now := a.lock()
	out, changed, err := a.createSnapshots(group, specs, now)
	if err != nil {
		a.mu.Unlock()
		return nil, err
	}
	var o *op
	if changed {
		o = &op{Kind: opMkSnaps, Dev: a.id, At: now, Group: group, Snapshots: specs}
	}
	if err := a.unlockPersist(o); err != nil {
		return nil, err
	}
	if faultErr != nil {
		return nil, faultErr
	}
	return out, nil
}

func (a *Array) createSnapshots(group string, specs []array.SnapshotSpec, now time.Duration) (out []array.Snapshot, changed bool, err error) {
	ix := a.index()
	// Every spec is checked before any snapshot is taken. vols[k] is the
	// volume of a snapshot to take, -1 for one that exists.
	vols := make([]int32, len(specs))
	for k, s := range specs {
		if si, ok := ix.snaps[s.ID]; ok {
			if on := a.vols[a.snaps[si].vol].id; on != s.Volume {
				return nil, false, fmt.Errorf("lab: array %s: snapshot %s exists, of volume %s, not %s: %w",
					a.id, s.ID, on, s.Volume, array.ErrConflict)
			}
			vols[k] = -1
			continue
		}
		vi, ok := ix.vols[s.Volume]
		if !ok {
			return nil, false, fmt.Errorf("lab: array %s: snapshot %s: no volume %q: %w", a.id, s.ID, s.Volume, array.ErrNotFound)
		}
		vols[k] = vi
	}
	group = strings.Clone(group)
	out = make([]array.Snapshot, len(specs))
	for k, s := range specs {
		if vols[k] < 0 {
			out[k] = a.snapshotOut(ix.snaps[s.ID])
			continue
		}
		changed = true
		si := int32(len(a.snaps))
		a.snaps = append(a.snaps, snapshot{id: strings.Clone(s.ID), group: group, vol: vols[k], created: now})
		ix.snaps[a.snaps[si].id] = si
		if s.Name != "" && s.Name != s.ID {
			if a.snapNames == nil {
				a.snapNames = make(map[int32]string)
			}
			a.snapNames[si] = strings.Clone(s.Name)
		}
		out[k] = a.snapshotOut(si)
	}
	return out, changed, nil
}

func checkSnapshotSpecs(group string, specs []array.SnapshotSpec) error {
	if len(specs) == 0 {
		return fmt.Errorf("no snapshots to take: %w", array.ErrInvalid)
	}
	if err := checkName("snapshot group", group); err != nil {
		return err
	}
	seen := make(map[string]bool, len(specs))
	for _, s := range specs {
		if err := checkID("snapshot id", s.ID); err != nil {
			return err
		}
		if err := checkID("snapshot volume", s.Volume); err != nil {
			return err
		}
		if err := checkName("snapshot name", s.Name); err != nil {
			return err
		}
		if seen[s.ID] {
			return fmt.Errorf("snapshot %s asked for twice: %w", s.ID, array.ErrInvalid)
		}
		seen[s.ID] = true
	}
	return nil
}

// DeleteSnapshot deletes a snapshot; see array.Driver.
func (a *Array) DeleteSnapshot(ctx context.Context, id string) error {
	applyThenFail, faultErr := a.w.fault(ctx, array.ErrUnavailable, OpVolume, a.id)
	if faultErr != nil && !applyThenFail {
		return faultErr
	}
	if err := checkID("snapshot id", id); err != nil {
		return fmt.Errorf("lab: array %s: %w", a.id, err)
	}
	now := a.lock()
	var o *op
	if a.deleteSnapshot(id) {
		o = &op{Kind: opRmSnap, Dev: a.id, At: now, ID: id}
	}
	if err := a.unlockPersist(o); err != nil {
		return err
	}
	return faultErr
}

func (a *Array) deleteSnapshot(id string) (changed bool) {
	ix := a.index()
	si, ok := ix.snaps[id]
	if !ok {
		return false
	}
	s := &a.snaps[si]
	a.pools[a.vols[s.vol].pool].logical -= s.used
	s.deleted = true
	a.deadSnaps++
	delete(ix.snaps, id)
	delete(a.snapNames, si)
	return true
}
