package devices

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/compute"
	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/fabric/wwn"
)

// FabricObs is one consistent read of a fabric. It is immutable once built,
// so readers share it without locks and a refresh swaps in a new one.
type FabricObs struct {
	At          time.Time
	Info        fabric.Info
	Logins      []fabric.Login
	NPIVPerPort map[wwn.WWN]int // NPIV logins carried by each physical port
	DB          fabric.ZoneDB
	zonePos     []int32 // zone positions grouped by member, spanned by portInfo.zones
	// byWWPN answers both questions a topology asks of a port — is it
	// logged in, which zones hold it — in one lookup; its values hold no
	// pointers, so the GC never scans it.
	byWWPN map[wwn.WWN]portInfo
	// PathGen is equal for two reads of the fabric that agree on all a
	// path depends on (the zone DB, and who is logged in through which
	// port), so that paths traced on the first stay valid on the second.
	PathGen uint64
}

// pathGens numbers the distinct device states paths are traced from; 0 is
// no state at all (a device never read).
var pathGens atomic.Uint64

// samePathGen returns prev's path generation when keep holds, a new one
// otherwise (always for prev 0, no read before).
func samePathGen(prev uint64, keep bool) uint64 {
	if keep && prev != 0 {
		return prev
	}
	return pathGens.Add(1)
}

// portInfo is what a fabric knows of one WWPN.
type portInfo struct {
	login int32 // position in logins; -1 when not logged in
	zones Span  // of zonePos
}

// ReadFabric reads a fabric; when the driver can tell the zone DB's checksum
// alone and it equals prev's, the zone DB and its index are reused rather
// than read again (on a 200,000-zone fabric that is most of a refresh).
func ReadFabric(ctx context.Context, d fabric.Driver, now time.Time, prev *FabricObs) (*FabricObs, error) {
	info, err := d.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("info: %w", err)
	}
	logins, err := d.Logins(ctx)
	if err != nil {
		return nil, fmt.Errorf("name server: %w", err)
	}
	o := &FabricObs{At: now, Info: info, Logins: logins, NPIVPerPort: map[wwn.WWN]int{}}
	var zoneSpans map[wwn.WWN]Span
	reused := false
	if cr, ok := d.(fabric.ChecksumReader); ok && prev != nil {
		sum, err := cr.ZoneDBChecksum(ctx)
		if err != nil {
			return nil, fmt.Errorf("zone db checksum: %w", err)
		}
		if sum == prev.DB.Checksum {
			o.DB, o.zonePos, reused = prev.DB, prev.zonePos, true
			zoneSpans = make(map[wwn.WWN]Span, len(prev.byWWPN))
			for w, pi := range prev.byWWPN {
				if pi.zones.hi > pi.zones.lo {
					zoneSpans[w] = pi.zones
				}
			}
		}
	}
	if !reused {
		db, err := d.ZoneDB(ctx)
		if err != nil {
			return nil, fmt.Errorf("zone db: %w", err)
		}
		o.DB = db
		pairs := make([]keyPos[wwn.WWN], 0, 2*len(db.Zones))
		for i, z := range db.Zones {
			for _, m := range z.Members {
				pairs = append(pairs, keyPos[wwn.WWN]{m, int32(i)})
			}
			for _, m := range z.Principals {
				pairs = append(pairs, keyPos[wwn.WWN]{m, int32(i)})
			}
		}
		x := newWWNIndex(pairs)
		o.zonePos, zoneSpans = x.pos, x.spans
	}
	o.byWWPN = make(map[wwn.WWN]portInfo, len(zoneSpans)+len(logins))
	for w, sp := range zoneSpans {
		o.byWWPN[w] = portInfo{login: -1, zones: sp}
	}
	for i, l := range logins {
		pi, ok := o.byWWPN[l.WWPN]
		if !ok {
			pi = portInfo{login: -1}
		}
		pi.login = int32(i)
		o.byWWPN[l.WWPN] = pi
		if l.NPIV {
			o.NPIVPerPort[l.PhysicalWWPN]++
		}
	}
	o.PathGen = samePathGen(prev.Gen(), reused && sameLogins(prev.Logins, logins))
	return o, nil
}

// sameLogins reports whether two name-server reads agree on what a path
// depends on: which WWPNs are logged in, in what order, through which port.
func sameLogins(a, b []fabric.Login) bool {
	return slices.EqualFunc(a, b, func(x, y fabric.Login) bool {
		return x.WWPN == y.WWPN && x.PhysicalWWPN == y.PhysicalWWPN
	})
}

// Port returns what the fabric knows of w: its login, if any, and the
// positions of the zones that hold it.
func (o *FabricObs) Port(w wwn.WWN) (fabric.Login, bool, []int32) {
	if o == nil {
		return fabric.Login{}, false, nil
	}
	pi, ok := o.byWWPN[w]
	if !ok {
		return fabric.Login{}, false, nil
	}
	zones := o.zonePos[pi.zones.lo:pi.zones.hi:pi.zones.hi]
	if pi.login < 0 {
		return fabric.Login{}, false, zones
	}
	return o.Logins[pi.login], true, zones
}

// LoggedIn reports whether w is logged in to the fabric; false for a
// fabric never read.
func (o *FabricObs) LoggedIn(w wwn.WWN) bool {
	_, ok := o.Login(w)
	return ok
}

func (o *FabricObs) Login(w wwn.WWN) (fabric.Login, bool) {
	l, ok, _ := o.Port(w)
	return l, ok
}

// ArrayObs is one consistent read of an array, immutable like fabricObs.
type ArrayObs struct {
	At         time.Time
	Info       array.Info
	Ports      []array.TargetPort
	PortIdx    map[wwn.WWN]int32
	Pools      []array.Pool
	Volumes    []array.Volume
	Snaps      []array.Snapshot
	Mappings   []array.Mapping
	MapsByInit Index[wwn.WWN] // initiator → mapping positions
	// byVolume answers everything a topology asks of a volume in one lookup.
	byVolume map[string]VolInfo
	snapPos  []int32 // snapshot positions grouped by volume
	mapPos   []int32 // mapping positions grouped by volume
	PathGen  uint64  // as fabricObs.pathGen: equal while ports and mappings are
}

// VolInfo is what an array knows of one volume id.
type VolInfo struct {
	Vol   int32 // position in volumes; -1 when only snapshots or mappings name it
	snaps Span  // of snapPos
	maps  Span  // of mapPos
}

// ReadArray reads an array; prev, the read before (or nil), only decides
// whether paths traced on it stay valid.
func ReadArray(ctx context.Context, d array.Driver, now time.Time, prev *ArrayObs) (*ArrayObs, error) {
	info, err := d.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("info: %w", err)
	}
	ports, err := d.TargetPorts(ctx)
	if err != nil {
		return nil, fmt.Errorf("target ports: %w", err)
	}
	pools, err := d.Pools(ctx)
	if err != nil {
		return nil, fmt.Errorf("pools: %w", err)
	}
	vols, err := d.Volumes(ctx)
	if err != nil {
		return nil, fmt.Errorf("volumes: %w", err)
	}
	snaps, err := d.Snapshots(ctx)
	if err != nil {
		return nil, fmt.Errorf("snapshots: %w", err)
	}
	maps, err := d.Mappings(ctx)
	if err != nil {
		return nil, fmt.Errorf("mappings: %w", err)
	}
	o := &ArrayObs{
		At: now, Info: info, Ports: ports, Pools: pools, Volumes: vols, Snaps: snaps, Mappings: maps,
		PortIdx:  make(map[wwn.WWN]int32, len(ports)),
		byVolume: make(map[string]VolInfo, len(vols)),
	}
	for i, p := range ports {
		o.PortIdx[p.WWPN] = int32(i)
	}
	for i, v := range vols {
		o.byVolume[v.ID] = VolInfo{Vol: int32(i)}
	}
	entry := func(id string) VolInfo {
		if vi, ok := o.byVolume[id]; ok {
			return vi
		}
		return VolInfo{Vol: -1}
	}
	byVol := make([]keyPos[string], len(snaps))
	for i, sn := range snaps {
		byVol[i] = keyPos[string]{sn.Volume, int32(i)}
	}
	x := newIndex(byVol, compareString)
	o.snapPos = x.pos
	for id, sp := range x.spans {
		vi := entry(id)
		vi.snaps = sp
		o.byVolume[id] = vi
	}
	byInit := make([]keyPos[wwn.WWN], 0, 4*len(maps))
	byVolMap := make([]keyPos[string], len(maps))
	for i, m := range maps {
		for _, w := range m.Initiators {
			byInit = append(byInit, keyPos[wwn.WWN]{w, int32(i)})
		}
		byVolMap[i] = keyPos[string]{m.Volume, int32(i)}
	}
	o.MapsByInit = newWWNIndex(byInit)
	x = newIndex(byVolMap, compareString)
	o.mapPos = x.pos
	for id, sp := range x.spans {
		vi := entry(id)
		vi.maps = sp
		o.byVolume[id] = vi
	}
	o.PathGen = samePathGen(prev.Gen(), prev != nil && samePresentation(prev, o))
	return o, nil
}

// samePresentation reports whether two reads of an array agree on what a
// path depends on: its target ports and its mappings, in the same order.
func samePresentation(a, b *ArrayObs) bool {
	return slices.EqualFunc(a.Ports, b.Ports, func(x, y array.TargetPort) bool { return x.WWPN == y.WWPN }) &&
		slices.EqualFunc(a.Mappings, b.Mappings, func(x, y array.Mapping) bool {
			return x.Volume == y.Volume && x.LUN == y.LUN &&
				slices.Equal(x.Initiators, y.Initiators) && slices.Equal(x.TargetPorts, y.TargetPorts)
		})
}

// Volume returns what the array reports of one Volume id: the Volume (ok
// false when the array does not report it) and the entry that finds its
// snapshots and mappings, which only some callers need.
func (o *ArrayObs) Volume(id string) (v array.Volume, ok bool, vi VolInfo) {
	if o == nil {
		return array.Volume{}, false, VolInfo{Vol: -1}
	}
	vi, found := o.byVolume[id]
	if !found {
		return array.Volume{}, false, VolInfo{Vol: -1}
	}
	if vi.Vol >= 0 {
		v, ok = o.Volumes[vi.Vol], true
	}
	return v, ok, vi
}

// SnapshotsOf returns a volume's snapshots in the order the array listed them.
func (o *ArrayObs) SnapshotsOf(vi VolInfo) []array.Snapshot {
	snaps := make([]array.Snapshot, 0, vi.snaps.hi-vi.snaps.lo)
	for _, p := range o.snapPos[vi.snaps.lo:vi.snaps.hi] {
		snaps = append(snaps, o.Snaps[p])
	}
	return snaps
}

// MappingsOf returns the positions of the mappings that present a volume.
func (o *ArrayObs) MappingsOf(vi VolInfo) []int32 {
	return o.mapPos[vi.maps.lo:vi.maps.hi:vi.maps.hi]
}

// ComputeObs is the hypervisor manager's view, used to notice where the
// inventory and the hypervisor disagree.
type ComputeObs struct {
	At      time.Time
	Hosts   []compute.Host
	VMs     []compute.VM
	VMIdx   map[string]int32
	HostIdx map[string]int32
}

// VM returns the VM of that id as the hypervisor manager reported it; false
// when it did not, or when o is nil (not read yet).
func (o *ComputeObs) VM(id string) (compute.VM, bool) {
	if o == nil {
		return compute.VM{}, false
	}
	i, ok := o.VMIdx[id]
	if !ok {
		return compute.VM{}, false
	}
	return o.VMs[i], true
}

func ReadCompute(ctx context.Context, d compute.Driver, now time.Time) (*ComputeObs, error) {
	hosts, err := d.Hosts(ctx)
	if err != nil {
		return nil, fmt.Errorf("hosts: %w", err)
	}
	vms, err := d.VMs(ctx)
	if err != nil {
		return nil, fmt.Errorf("vms: %w", err)
	}
	o := &ComputeObs{At: now, Hosts: hosts, VMs: vms, VMIdx: make(map[string]int32, len(vms)), HostIdx: make(map[string]int32, len(hosts))}
	for i, h := range hosts {
		o.HostIdx[h.ID] = int32(i)
	}
	for i, v := range vms {
		o.VMIdx[v.ID] = int32(i)
	}
	return o, nil
}

// Gen is the observation's path generation; 0 for none (nil).
func (o *FabricObs) Gen() uint64 {
	if o == nil {
		return 0
	}
	return o.PathGen
}

// Gen is the observation's path generation; 0 for none (nil).
func (o *ArrayObs) Gen() uint64 {
	if o == nil {
		return 0
	}
	return o.PathGen
}
