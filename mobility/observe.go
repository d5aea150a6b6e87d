package mobility

import (
	"context"
	"fmt"
	"time"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/compute"
	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/fabric/wwn"
)

// fabricObs is one consistent read of a fabric. It is immutable once built,
// so readers share it without locks and a refresh swaps in a new one.
type fabricObs struct {
	at            time.Time
	info          fabric.Info
	logins        []fabric.Login
	loginIdx      map[wwn.WWN]int32
	npivPerPort   map[wwn.WWN]int // NPIV logins carried by each physical port
	db            fabric.ZoneDB
	zonesByMember map[wwn.WWN][]int32
}

func readFabric(ctx context.Context, d fabric.Driver, now time.Time) (*fabricObs, error) {
	info, err := d.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("info: %w", err)
	}
	logins, err := d.Logins(ctx)
	if err != nil {
		return nil, fmt.Errorf("name server: %w", err)
	}
	db, err := d.ZoneDB(ctx)
	if err != nil {
		return nil, fmt.Errorf("zone db: %w", err)
	}
	o := &fabricObs{
		at:            now,
		info:          info,
		logins:        logins,
		loginIdx:      make(map[wwn.WWN]int32, len(logins)),
		npivPerPort:   map[wwn.WWN]int{},
		db:            db,
		zonesByMember: make(map[wwn.WWN][]int32, 2*len(db.Zones)),
	}
	for i, l := range logins {
		o.loginIdx[l.WWPN] = int32(i)
		if l.NPIV {
			o.npivPerPort[l.PhysicalWWPN]++
		}
	}
	for i, z := range db.Zones {
		for _, m := range z.Members {
			o.zonesByMember[m] = append(o.zonesByMember[m], int32(i))
		}
		for _, m := range z.Principals {
			o.zonesByMember[m] = append(o.zonesByMember[m], int32(i))
		}
	}
	return o, nil
}

func (o *fabricObs) login(w wwn.WWN) (fabric.Login, bool) {
	if o == nil {
		return fabric.Login{}, false
	}
	i, ok := o.loginIdx[w]
	if !ok {
		return fabric.Login{}, false
	}
	return o.logins[i], true
}

// arrayObs is one consistent read of an array, immutable like fabricObs.
type arrayObs struct {
	at         time.Time
	info       array.Info
	ports      []array.TargetPort
	portIdx    map[wwn.WWN]int32
	pools      []array.Pool
	volumes    []array.Volume
	volIdx     map[string]int32
	snapsByVol map[string][]array.Snapshot
	mappings   []array.Mapping
	mapsByVol  map[string][]int32
	mapsByInit map[wwn.WWN][]int32
}

func readArray(ctx context.Context, d array.Driver, now time.Time) (*arrayObs, error) {
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
		at: now, info: info, ports: ports, pools: pools, volumes: vols, mappings: maps,
		portIdx:    make(map[wwn.WWN]int32, len(ports)),
		volIdx:     make(map[string]int32, len(vols)),
		snapsByVol: make(map[string][]array.Snapshot, len(vols)),
		mapsByVol:  make(map[string][]int32, len(maps)),
		mapsByInit: make(map[wwn.WWN][]int32, 2*len(maps)),
	}
	for i, p := range ports {
		o.portIdx[p.WWPN] = int32(i)
	}
	for i, v := range vols {
		o.volIdx[v.ID] = int32(i)
	}
	for _, s := range snaps {
		o.snapsByVol[s.Volume] = append(o.snapsByVol[s.Volume], s)
	}
	for i, m := range maps {
		o.mapsByVol[m.Volume] = append(o.mapsByVol[m.Volume], int32(i))
		for _, w := range m.Initiators {
			o.mapsByInit[w] = append(o.mapsByInit[w], int32(i))
		}
	}
	return o, nil
}

func (o *arrayObs) volume(id string) (array.Volume, bool) {
	if o == nil {
		return array.Volume{}, false
	}
	i, ok := o.volIdx[id]
	if !ok {
		return array.Volume{}, false
	}
	return o.volumes[i], true
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
