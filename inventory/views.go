package inventory

import (
	"math"
	"sort"
	"time"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/devices"
	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/fabric/wwn"
)

// Fabric is a fabric as the API shows it.
type Fabric struct {
	ID             string               `json:"id"`
	Site           string               `json:"site"`
	Driver         string               `json:"driver"`
	Switch         fabric.Info          `json:"switch"`
	ZoneCount      int                  `json:"zoneCount"`
	ZoneDBBytes    int                  `json:"zoneDbBytes"`
	ZoneDBMaxBytes int                  `json:"zoneDbMaxBytes"`
	EffectiveCfg   string               `json:"effectiveCfg"`
	Checksum       string               `json:"checksum"`
	LoginCount     int                  `json:"loginCount"`
	LastCommitAt   *time.Time           `json:"lastCommitAt"` // set once sanmob commits to this fabric
	ZonePolicy     string               `json:"zonePolicy"`   // sist | peer
	ZoneCommits    int                  `json:"zoneCommits"`  // transactions sanmob committed since it started
	Status         devices.DeviceStatus `json:"status"`
}

// Fabrics lists the configured fabrics.
func (s *Inventory) Fabrics() []Fabric {
	return listed(s.fabrics, all[devices.FabricDev], s.fabricView)
}

// Fabric returns one fabric.
func (s *Inventory) Fabric(id string) (Fabric, error) {
	return lookup(s.fabrics, "fabric", id, s.fabricView)
}

func (s *Inventory) fabricView(f *devices.FabricDev) Fabric {
	v := Fabric{ID: f.ID, Site: f.Site, Driver: f.DriverName}
	var at time.Time
	if o := f.Obs.Load(); o != nil {
		at = o.At
		v.Switch = o.Info
		v.ZoneCount = len(o.DB.Zones)
		v.ZoneDBBytes = o.DB.SizeBytes
		v.ZoneDBMaxBytes = o.DB.MaxBytes
		v.EffectiveCfg = o.DB.EffectiveCfg
		v.Checksum = o.DB.Checksum
		v.LoginCount = len(o.Logins)
	}
	v.Status = devices.StatusOf(at, f.Status.Load())
	if st, ok := s.zoner.Stats(f.ID); ok {
		v.ZonePolicy = string(st.Policy)
		v.ZoneCommits = st.Commits
		if !st.LastCommitAt.IsZero() {
			t := st.LastCommitAt
			v.LastCommitAt = &t
		}
	}
	return v
}

// Logins returns a fabric's name server as last observed.
func (s *Inventory) Logins(fabricID string) ([]fabric.Login, *time.Time, error) {
	f, ok := s.fabrics[fabricID]
	if !ok {
		return nil, nil, notFound("fabric", fabricID)
	}
	o := f.Obs.Load()
	if o == nil {
		return nil, nil, devices.NotObserved("fabric", fabricID, f.Status.Load())
	}
	at := o.At
	return o.Logins, &at, nil
}

// ZoneView is a zone with who owns it and who relies on it.
type ZoneView struct {
	Name      string    `json:"name"`
	Members   []wwn.WWN `json:"members"`
	Peer      []wwn.WWN `json:"peer,omitempty"` // a peer zone's principals
	Effective bool      `json:"effective"`
	Owner     string    `json:"owner"` // sanmob | external
	Users     []string  `json:"users"`
}

// Zones returns a fabric's zones as last observed, each with its owner and
// the inventory objects whose WWPNs it admits.
func (s *Inventory) Zones(fabricID string) ([]ZoneView, *time.Time, error) {
	f, ok := s.fabrics[fabricID]
	if !ok {
		return nil, nil, notFound("fabric", fabricID)
	}
	o := f.Obs.Load()
	if o == nil {
		return nil, nil, devices.NotObserved("fabric", fabricID, f.Status.Load())
	}
	eff := make(map[string]bool, len(o.DB.Effective))
	for _, n := range o.DB.Effective {
		eff[n] = true
	}
	held := s.zoner.UsersByContent(fabricID) // by content: a switch keeps the name a zone was committed with
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]ZoneView, 0, len(o.DB.Zones))
	for _, z := range o.DB.Zones {
		zv := ZoneView{Name: z.Name, Members: z.Members, Peer: z.Principals, Effective: eff[z.Name], Owner: "external", Users: []string{}}
		if fabric.Owned(z.Name) {
			zv.Owner = "sanmob"
		}
		seen := map[string]bool{}
		var users []string
		if fabric.Owned(z.Name) {
			users = held[fabric.ContentKey(z)]
		}
		for _, u := range users {
			seen[u] = true
			zv.Users = append(zv.Users, u)
		}
		for _, m := range append(append([]wwn.WWN(nil), z.Principals...), z.Members...) {
			if o, ok := s.wwpnOwner[m]; ok && !seen[o.String()] {
				seen[o.String()] = true
				zv.Users = append(zv.Users, o.String())
			}
		}
		sort.Strings(zv.Users)
		out = append(out, zv)
	}
	at := o.At
	return out, &at, nil
}

// TargetPortView is an array port with the fabric it is logged in to.
type TargetPortView struct {
	Name       string  `json:"name"`
	WWPN       wwn.WWN `json:"wwpn"`
	WWNN       wwn.WWN `json:"wwnn"`
	Fabric     string  `json:"fabric"` // from the name servers; empty when logged in nowhere
	QueueLimit int     `json:"queueLimit"`
}

// Array is an array as the API shows it.
type Array struct {
	ID          string               `json:"id"`
	Site        string               `json:"site"`
	Driver      string               `json:"driver"`
	Info        array.Info           `json:"info"`
	TargetPorts []TargetPortView     `json:"targetPorts"`
	Pools       []string             `json:"pools"`
	VolumeCount int                  `json:"volumeCount"`
	Status      devices.DeviceStatus `json:"status"`
}

// Arrays lists the configured arrays.
func (s *Inventory) Arrays() []Array { return listed(s.arrays, all[devices.ArrayDev], s.arrayView) }

// Array returns one array.
func (s *Inventory) Array(id string) (Array, error) {
	return lookup(s.arrays, "array", id, s.arrayView)
}

func (s *Inventory) arrayView(a *devices.ArrayDev) Array {
	v := Array{ID: a.ID, Site: a.Site, Driver: a.DriverName, TargetPorts: []TargetPortView{}, Pools: []string{}}
	var at time.Time
	if o := a.Obs.Load(); o != nil {
		at = o.At
		v.Info = o.Info
		for _, p := range o.Ports {
			fid, _, _ := s.loginAnywhere(p.WWPN)
			v.TargetPorts = append(v.TargetPorts, TargetPortView{Name: p.Name, WWPN: p.WWPN, WWNN: p.WWNN, Fabric: fid, QueueLimit: p.QueueLimit})
		}
		for _, p := range o.Pools {
			v.Pools = append(v.Pools, p.ID)
		}
		v.VolumeCount = len(o.Volumes)
	}
	v.Status = devices.StatusOf(at, a.Status.Load())
	return v
}

// Pool is a pool as the API shows it; the forecast fields belong to the thin
// package and stay empty until it samples history.
type Pool struct {
	ID               string  `json:"id"`
	Name             string  `json:"name"`
	Array            string  `json:"array"`
	Site             string  `json:"site"`
	PhysicalBytes    int64   `json:"physicalBytes"`
	UsedBytes        int64   `json:"usedBytes"`
	ProvisionedBytes int64   `json:"provisionedBytes"`
	FreeBytes        int64   `json:"freeBytes"`
	Overcommit       float64 `json:"overcommit"`
	MaxOvercommit    float64 `json:"maxOvercommit"`
	ReservedPercent  int     `json:"reservedPercent"`
	Media            string  `json:"media,omitempty"` // flash or disk, as the array says
	// OvercommitPercentOfMax is the share of Cinder's total_available —
	// (physical − reserve) · maxOvercommit — provisioned (thin); null when
	// the whole pool is reserved.
	OvercommitPercentOfMax *float64  `json:"overcommitPercentOfMax"`
	UsedPercent            float64   `json:"usedPercent"`
	DaysToFull             *float64  `json:"daysToFull"`
	Forecast               any       `json:"forecast"`
	ObservedAt             time.Time `json:"observedAt"`
}

// Pools lists every pool of every array that has answered.
func (s *Inventory) Pools(arrayID string) []Pool {
	var out []Pool
	for _, id := range s.arrIDs {
		if arrayID != "" && id != arrayID {
			continue
		}
		a := s.arrays[id]
		o := a.Obs.Load()
		if o == nil {
			continue
		}
		for _, p := range o.Pools {
			out = append(out, poolView(a, o, p))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Pool returns one pool.
func (s *Inventory) Pool(id string) (Pool, error) {
	for _, p := range s.Pools("") {
		if p.ID == id {
			return p, nil
		}
	}
	return Pool{}, notFound("pool", id)
}

func poolView(a *devices.ArrayDev, o *devices.ArrayObs, p array.Pool) Pool {
	v := Pool{ID: p.ID, Name: p.Name, Array: a.ID, Site: a.Site, Media: p.Media}
	v.SetReading(p, o.At)
	return v
}

// SetReading sets v's byte counts, limits and the figures derived from
// them from p as read at at (a newer reading than the devices' refresh).
func (v *Pool) SetReading(p array.Pool, at time.Time) {
	v.PhysicalBytes, v.UsedBytes, v.ProvisionedBytes = p.PhysicalBytes, p.UsedBytes, p.ProvisionedBytes
	v.FreeBytes, v.MaxOvercommit, v.ReservedPercent = p.PhysicalBytes-p.UsedBytes, p.MaxOvercommit, p.ReservedPercent
	v.ObservedAt, v.Overcommit, v.UsedPercent = at, 0, 0
	if p.PhysicalBytes > 0 {
		v.Overcommit = round2(float64(p.ProvisionedBytes) / float64(p.PhysicalBytes))
		v.UsedPercent = round2(100 * float64(p.UsedBytes) / float64(p.PhysicalBytes))
	}
}

// Limits is the part of v that capacity rules read, as an array reports a
// pool.
func (v *Pool) Limits() array.Pool {
	return array.Pool{ID: v.ID, Name: v.Name, PhysicalBytes: v.PhysicalBytes, UsedBytes: v.UsedBytes,
		ProvisionedBytes: v.ProvisionedBytes, MaxOvercommit: v.MaxOvercommit, ReservedPercent: v.ReservedPercent}
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }

// VolumeFilter narrows Volumes.
type VolumeFilter struct{ Array, Pool string }

// Volumes lists volume records in id order with used bytes from the arrays.
func (s *Inventory) Volumes(f VolumeFilter) []Volume {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return listed(s.volumes, func(v *Volume) bool {
		return (f.Array == "" || v.Array == f.Array) && (f.Pool == "" || v.Pool == f.Pool)
	}, s.VolumeView)
}

// Volume returns one volume.
func (s *Inventory) Volume(id string) (Volume, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return lookup(s.volumes, "volume", id, s.VolumeView)
}

func (s *Inventory) VolumeView(v *Volume) Volume {
	out := *v
	if a := s.arrays[v.Array]; a != nil {
		if dv, ok, _ := a.Obs.Load().Volume(v.ID); ok {
			out.UsedBytes = dv.UsedBytes
		}
	}
	return out
}

// SnapshotView is a snapshot with the array it lives on.
type SnapshotView struct {
	array.Snapshot
	Array string `json:"array"`
}

// Snapshots lists the snapshots every array reports, optionally of one volume.
func (s *Inventory) Snapshots(volume string) []SnapshotView {
	out := []SnapshotView{}
	for _, id := range s.arrIDs {
		o := s.arrays[id].Obs.Load()
		if o == nil {
			continue
		}
		if volume != "" {
			_, _, vi := o.Volume(volume)
			for _, sn := range o.SnapshotsOf(vi) {
				out = append(out, SnapshotView{sn, id})
			}
			continue
		}
		for _, sn := range o.Snaps {
			out = append(out, SnapshotView{sn, id})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
