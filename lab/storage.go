package lab

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/fabric/wwn"
)

const labVendor = "sanmob-lab"

// Array is a lab storage array: thin pools, volumes, snapshots, host groups
// with their LUN maps, and FC target ports.
type Array struct {
	w    *World
	id   string
	site string
	info array.Info

	// wwnHi and wwnLo make volume WWNs: naa.6 <OUI> <serial>, then a seeded
	// high half and the volume's position + 1, never reused (see newWWN).
	wwnHi, wwnLo uint64

	// mu guards everything below. Deleted volumes, snapshots and host
	// groups stay as tombstones, so that the indices that refer to them
	// never move; a write costs no renumbering whatever the array's size.
	mu     sync.RWMutex
	ports  []array.TargetPort // by fabric of the site (a, b, c...): TargetPortsPerFabric each
	pools  []pool
	vols   []volume
	snaps  []snapshot
	groups []hostGroup
	luns   []lunMap

	deadVols, deadSnaps int
	hours               int64 // virtual hours of writes accrued (see accrue)
	// Names that differ from the id, rare enough to keep aside: built
	// volumes and snapshots are named by their ids.
	volNames, snapNames map[int32]string
	ix                  *index // built by the first write
}

// pool keeps the logical bytes written to it next to the physical bytes they
// occupy: arrays report pool usage after deduplication and compression, so
// the two differ by the pool's data-reduction ratio. Physical usage is
// derived (usedBytes), never summed, so that it cannot drift however often
// volumes grow, come and go.
type pool struct {
	id                    string
	physical, used0, prov int64
	logical, logical0     int64 // thin volumes' and snapshots' bytes: now, when sized
	thick                 int64 // thick volumes' bytes, all of them allocated
	reduction             float64
	maxOvercommit         float64
	reservedPercent       int
	targetOC, targetUsed  float64 // drawn at build, met when the pool is sized
	g                     growth  // its workload (workload.go)
}

type volume struct {
	id      string
	pool    int32
	group   int32 // host group of the VM that owns it, -1 if none
	size    int64
	used    int64
	wwn     [16]byte
	wwnText string        // naa.6…, made once: every read hands the same string out
	created time.Duration // virtual, from the epoch
	thin    bool
	deleted bool
	// readOnly: the volume is a read-only side of a replication group, or
	// was left one when its group was deleted (replication.go); every LUN
	// map presents it read-only. replicated: it is in a group.
	readOnly   bool
	replicated bool
	maps       int32 // LUN maps presenting it: only a mapped volume is written to
}

type snapshot struct {
	id, group string // made once, like volume.wwnText; group "" when not grouped
	vol       int32
	n         uint16 // the volume's nth snapshot: id <volume>-snap<n>
	grouped   bool   // taken with the VM's other volumes: group <vm>-cg<n>
	deleted   bool
	used      int64
	created   time.Duration
}

// hostGroup holds initiators and target ports in one slice — initiators
// first — a capped window of a shared arena: replace it, never write into it.
// It is a masking view: its LUNs share its initiators and ports. A deleted
// one has no wwpns.
type hostGroup struct {
	name  string
	wwpns []wwn.WWN
	nInit int
}

// lunMap presents a volume to a host group. The maps are listed in build
// order, then as changed: Map appends and Unmap moves the last into the gap.
type lunMap struct {
	vol, group, lun int32
	writable        bool
}

// ID is the array id.
func (a *Array) ID() string { return a.id }

// Info identifies the array.
func (a *Array) Info(ctx context.Context) (array.Info, error) {
	if _, err := a.w.fault(ctx, array.ErrUnavailable, OpRead, a.id); err != nil {
		return array.Info{}, err
	}
	return a.info, nil
}

// TargetPorts lists the FC front-end ports.
func (a *Array) TargetPorts(ctx context.Context) ([]array.TargetPort, error) {
	if _, err := a.w.fault(ctx, array.ErrUnavailable, OpRead, a.id); err != nil {
		return nil, err
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	return append([]array.TargetPort(nil), a.ports...), nil
}

// Pools lists the thin pools.
func (a *Array) Pools(ctx context.Context) ([]array.Pool, error) {
	if _, err := a.w.fault(ctx, array.ErrUnavailable, OpRead, a.id); err != nil {
		return nil, err
	}
	a.rlock()
	defer a.mu.RUnlock()
	out := make([]array.Pool, len(a.pools))
	for i := range a.pools {
		p := &a.pools[i]
		out[i] = array.Pool{
			ID:               p.id,
			Name:             p.id,
			PhysicalBytes:    p.physical,
			UsedBytes:        p.usedBytes(),
			ProvisionedBytes: p.prov,
			MaxOvercommit:    p.maxOvercommit,
			ReservedPercent:  p.reservedPercent,
			Media:            poolMedia(p.id),
		}
	}
	return out, nil
}

// Volumes lists the volumes.
func (a *Array) Volumes(ctx context.Context) ([]array.Volume, error) {
	if _, err := a.w.fault(ctx, array.ErrUnavailable, OpRead, a.id); err != nil {
		return nil, err
	}
	rates := a.w.rateOverrides(a.id) // replMu before a.mu
	a.rlock()
	defer a.mu.RUnlock()
	out := make([]array.Volume, 0, len(a.vols)-a.deadVols)
	for i := range a.vols {
		if !a.vols[i].deleted {
			v := a.volumeOut(int32(i))
			if r, ok := rates[v.ID]; ok {
				v.WriteBytesPerSec = r
			}
			out = append(out, v)
		}
	}
	return out, nil
}

// volumeOut is the driver's view of volume i. The caller holds a.mu.
func (a *Array) volumeOut(i int32) array.Volume {
	v := &a.vols[i]
	name, ok := a.volNames[i]
	if !ok {
		name = v.id
	}
	return array.Volume{
		ID:        v.id,
		Name:      name,
		Pool:      a.pools[v.pool].id,
		SizeBytes: v.size,
		UsedBytes: v.used,
		WWN:       v.wwnText,
		Thin:      v.thin,
		CreatedAt: a.w.cfg.Epoch.Add(v.created),
		// The seeded rate; Volumes gives the one SetWriteRate set instead.
		WriteBytesPerSec: seededWriteRate(v),
	}
}

// newSnapshot names the nth snapshot of volume vi once, at creation.
func (a *Array) newSnapshot(vi int32, n uint16, grouped bool, used int64, created time.Duration) snapshot {
	v := &a.vols[vi]
	ns := strconv.Itoa(int(n))
	s := snapshot{id: v.id + "-snap" + ns, vol: vi, n: n, grouped: grouped, used: used, created: created}
	if grouped && v.group >= 0 {
		s.group = a.groups[v.group].name + "-cg" + ns
	}
	return s
}

func volumeWWN(b [16]byte) string { return "naa." + hex.EncodeToString(b[:]) }

// newWWN names the volume at position vi. Positions are never reused
// (deleted volumes stay as tombstones), so neither are WWNs.
func (a *Array) newWWN(vi int32) (b [16]byte) {
	binary.BigEndian.PutUint64(b[:8], a.wwnHi)
	binary.BigEndian.PutUint64(b[8:], a.wwnLo|uint64(vi+1))
	return b
}

// Snapshots lists the snapshots, volume by volume.
func (a *Array) Snapshots(ctx context.Context) ([]array.Snapshot, error) {
	if _, err := a.w.fault(ctx, array.ErrUnavailable, OpRead, a.id); err != nil {
		return nil, err
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	out := make([]array.Snapshot, 0, len(a.snaps)-a.deadSnaps)
	for i := range a.snaps {
		if !a.snaps[i].deleted {
			out = append(out, a.snapshotOut(int32(i)))
		}
	}
	return out, nil
}

// snapshotOut is the driver's view of snapshot i. The caller holds a.mu.
func (a *Array) snapshotOut(i int32) array.Snapshot {
	s := &a.snaps[i]
	name, ok := a.snapNames[i]
	if !ok {
		name = s.id
	}
	return array.Snapshot{
		ID:        s.id,
		Volume:    a.vols[s.vol].id,
		Name:      name,
		Group:     s.group,
		UsedBytes: s.used,
		CreatedAt: a.w.cfg.Epoch.Add(s.created),
	}
}

// Mappings lists the LUN maps joined with their host groups.
func (a *Array) Mappings(ctx context.Context) ([]array.Mapping, error) {
	if _, err := a.w.fault(ctx, array.ErrUnavailable, OpRead, a.id); err != nil {
		return nil, err
	}
	return a.TruthMappings(), nil
}

// TruthMappings is the masking as it is, never faulted; a deep copy. A map
// is writable when it was made so and its volume is not a read-only side of
// replication (see replication.go).
func (a *Array) TruthMappings() []array.Mapping {
	a.mu.RLock()
	defer a.mu.RUnlock()
	n := 0
	for i := range a.luns {
		n += len(a.groups[a.luns[i].group].wwpns)
	}
	arena := make([]wwn.WWN, n)
	out := make([]array.Mapping, len(a.luns))
	for i := range a.luns {
		l := &a.luns[i]
		g := &a.groups[l.group]
		k := len(g.wwpns)
		c := arena[:k:k]
		arena = arena[k:]
		copy(c, g.wwpns)
		out[i] = array.Mapping{
			Volume:      a.vols[l.vol].id,
			LUN:         int(l.lun),
			HostGroup:   g.name,
			Initiators:  c[:g.nInit:g.nInit],
			TargetPorts: c[g.nInit:],
			Writable:    l.writable && !a.vols[l.vol].readOnly,
		}
	}
	return out
}

// size fixes a pool's physical capacity and usage from the targets drawn for
// it: overcommit (provisioned/physical) of about targetOC and usage of about
// targetUsed of physical, the data-reduction ratio absorbing the difference
// between that and what the volumes wrote.
func (p *pool) size() {
	const mib = 1 << 20
	p.logical0 = p.logical
	if p.prov == 0 {
		// Nothing provisioned: an empty pool of a plausible size.
		p.physical, p.used0, p.reduction = 8<<40, 0, 1
		return
	}
	p.physical = int64(math.Round(float64(p.prov)/p.targetOC/mib)) * mib
	p.used0 = int64(math.Round(float64(p.physical)*p.targetUsed/mib) * mib)
	p.reduction = float64(p.logical) / float64(max(p.used0, 1))
}

// poolMedia is what the lab says a pool is made of: every array's first
// pool is all-flash, the others disk.
func poolMedia(id string) string {
	if strings.HasSuffix(id, "-pool1") {
		return "flash"
	}
	return "disk"
}
