package mobility

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

// fabricObs is one consistent read of a fabric. It is immutable once built,
// so readers share it without locks and a refresh swaps in a new one.
type fabricObs struct {
	at          time.Time
	info        fabric.Info
	logins      []fabric.Login
	npivPerPort map[wwn.WWN]int // NPIV logins carried by each physical port
	db          fabric.ZoneDB
	zonePos     []int32 // zone positions grouped by member, spanned by portInfo.zones
	// byWWPN answers both questions a topology asks of a port — is it
	// logged in, which zones hold it — in one lookup; its values hold no
	// pointers, so the GC never scans it.
	byWWPN map[wwn.WWN]portInfo
	// pathGen is equal for two reads of the fabric that agree on all a
	// path depends on (the zone DB, and who is logged in through which
	// port), so that paths traced on the first stay valid on the second.
	pathGen uint64
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
	zones span  // of zonePos
}

// readFabric reads a fabric; when the driver can tell the zone DB's checksum
// alone and it equals prev's, the zone DB and its index are reused rather
// than read again (on a 200,000-zone fabric that is most of a refresh).
func readFabric(ctx context.Context, d fabric.Driver, now time.Time, prev *fabricObs) (*fabricObs, error) {
	info, err := d.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("info: %w", err)
	}
	logins, err := d.Logins(ctx)
	if err != nil {
		return nil, fmt.Errorf("name server: %w", err)
	}
	o := &fabricObs{at: now, info: info, logins: logins, npivPerPort: map[wwn.WWN]int{}}
	var zoneSpans map[wwn.WWN]span
	reused := false
	if cr, ok := d.(fabric.ChecksumReader); ok && prev != nil {
		sum, err := cr.ZoneDBChecksum(ctx)
		if err != nil {
			return nil, fmt.Errorf("zone db checksum: %w", err)
		}
		if sum == prev.db.Checksum {
			o.db, o.zonePos, reused = prev.db, prev.zonePos, true
			zoneSpans = make(map[wwn.WWN]span, len(prev.byWWPN))
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
		o.db = db
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
			o.npivPerPort[l.PhysicalWWPN]++
		}
	}
	o.pathGen = samePathGen(prev.gen(), reused && sameLogins(prev.logins, logins))
	return o, nil
}

// sameLogins reports whether two name-server reads agree on what a path
// depends on: which WWPNs are logged in, in what order, through which port.
func sameLogins(a, b []fabric.Login) bool {
	return slices.EqualFunc(a, b, func(x, y fabric.Login) bool {
		return x.WWPN == y.WWPN && x.PhysicalWWPN == y.PhysicalWWPN
	})
}

// port returns what the fabric knows of w: its login, if any, and the
// positions of the zones that hold it.
func (o *fabricObs) port(w wwn.WWN) (fabric.Login, bool, []int32) {
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
	return o.logins[pi.login], true, zones
}

// loggedIn reports whether w is logged in to the fabric; false for a
// fabric never read.
func (o *fabricObs) loggedIn(w wwn.WWN) bool {
	_, ok := o.login(w)
	return ok
}

func (o *fabricObs) login(w wwn.WWN) (fabric.Login, bool) {
	l, ok, _ := o.port(w)
	return l, ok
}

// arrayObs is one consistent read of an array, immutable like fabricObs.
type arrayObs struct {
	at         time.Time
	info       array.Info
	ports      []array.TargetPort
	portIdx    map[wwn.WWN]int32
	pools      []array.Pool
	volumes    []array.Volume
	snaps      []array.Snapshot
	mappings   []array.Mapping
	mapsByInit index[wwn.WWN] // initiator → mapping positions
	// byVolume answers everything a topology asks of a volume in one lookup.
	byVolume map[string]volInfo
	snapPos  []int32 // snapshot positions grouped by volume
	mapPos   []int32 // mapping positions grouped by volume
	pathGen  uint64  // as fabricObs.pathGen: equal while ports and mappings are
}

// volInfo is what an array knows of one volume id.
type volInfo struct {
	vol   int32 // position in volumes; -1 when only snapshots or mappings name it
	snaps span  // of snapPos
	maps  span  // of mapPos
}

// readArray reads an array; prev, the read before (or nil), only decides
// whether paths traced on it stay valid.
func readArray(ctx context.Context, d array.Driver, now time.Time, prev *arrayObs) (*arrayObs, error) {
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
	o := &arrayObs{
		at: now, info: info, ports: ports, pools: pools, volumes: vols, snaps: snaps, mappings: maps,
		portIdx:  make(map[wwn.WWN]int32, len(ports)),
		byVolume: make(map[string]volInfo, len(vols)),
	}
	for i, p := range ports {
		o.portIdx[p.WWPN] = int32(i)
	}
	for i, v := range vols {
		o.byVolume[v.ID] = volInfo{vol: int32(i)}
	}
	entry := func(id string) volInfo {
		if vi, ok := o.byVolume[id]; ok {
			return vi
		}
		return volInfo{vol: -1}
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
	o.mapsByInit = newWWNIndex(byInit)
	x = newIndex(byVolMap, compareString)
	o.mapPos = x.pos
	for id, sp := range x.spans {
		vi := entry(id)
		vi.maps = sp
		o.byVolume[id] = vi
	}
	o.pathGen = samePathGen(prev.gen(), prev != nil && samePresentation(prev, o))
	return o, nil
}

// samePresentation reports whether two reads of an array agree on what a
// path depends on: its target ports and its mappings, in the same order.
func samePresentation(a, b *arrayObs) bool {
	return slices.EqualFunc(a.ports, b.ports, func(x, y array.TargetPort) bool { return x.WWPN == y.WWPN }) &&
		slices.EqualFunc(a.mappings, b.mappings, func(x, y array.Mapping) bool {
			return x.Volume == y.Volume && x.LUN == y.LUN &&
				slices.Equal(x.Initiators, y.Initiators) && slices.Equal(x.TargetPorts, y.TargetPorts)
		})
}

// volume returns what the array reports of one volume id: the volume (ok
// false when the array does not report it) and the entry that finds its
// snapshots and mappings, which only some callers need.
func (o *arrayObs) volume(id string) (v array.Volume, ok bool, vi volInfo) {
	if o == nil {
		return array.Volume{}, false, volInfo{vol: -1}
	}
	vi, found := o.byVolume[id]
	if !found {
		return array.Volume{}, false, volInfo{vol: -1}
	}
	if vi.vol >= 0 {
		v, ok = o.volumes[vi.vol], true
	}
	return v, ok, vi
}

// snapshotsOf returns a volume's snapshots in the order the array listed them.
func (o *arrayObs) snapshotsOf(vi volInfo) []array.Snapshot {
	snaps := make([]array.Snapshot, 0, vi.snaps.hi-vi.snaps.lo)
	for _, p := range o.snapPos[vi.snaps.lo:vi.snaps.hi] {
		snaps = append(snaps, o.snaps[p])
	}
	return snaps
}

// mappingsOf returns the positions of the mappings that present a volume.
func (o *arrayObs) mappingsOf(vi volInfo) []int32 {
	return o.mapPos[vi.maps.lo:vi.maps.hi:vi.maps.hi]
}

// computeObs is the hypervisor manager's view, used to notice where the
// inventory and the hypervisor disagree.
type computeObs struct {
	at      time.Time
	hosts   []compute.Host
	vms     []compute.VM
	vmIdx   map[string]int32
	hostIdx map[string]int32
}

func readCompute(ctx context.Context, d compute.Driver, now time.Time) (*computeObs, error) {
	hosts, err := d.Hosts(ctx)
	if err != nil {
		return nil, fmt.Errorf("hosts: %w", err)
	}
	vms, err := d.VMs(ctx)
	if err != nil {
		return nil, fmt.Errorf("vms: %w", err)
	}
	o := &computeObs{at: now, hosts: hosts, vms: vms, vmIdx: make(map[string]int32, len(vms)), hostIdx: make(map[string]int32, len(hosts))}
	for i, h := range hosts {
		o.hostIdx[h.ID] = int32(i)
	}
	for i, v := range vms {
		o.vmIdx[v.ID] = int32(i)
	}
	return o, nil
}
