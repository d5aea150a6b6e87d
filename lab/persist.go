package lab

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/fabric/wwn"
)

// Persistence. A world with a Dir keeps its devices' changes there (see
// journal.go for the files): the world is the one the seed makes, then every
// change recorded since, replayed at New through the same code that made it
// — with no faults, no commit latency and the virtual time each change
// happened at. Replay costs per change, not per world: a zone commit
// replayed only records its zones, and each fabric's zone DB is rebuilt
// once, at the end. Faults are not device state and are not kept. The
// journal is never compacted: it grows by one record per change.

// clockSaveEvery is the real time between two saves of the virtual clock.
const clockSaveEvery = 2 * time.Second

// header is the journal's first record: what the seeded world depends on.
// A journal is refused by a config that differs in any of it. Speed,
// commit latency and the links' figures are not part of it: they change no
// device's state.
type header struct {
	Format               int      `json:"format"`
	Seed                 int64    `json:"seed"`
	Sites                []string `json:"sites"`
	ArraysPerSite        int      `json:"arraysPerSite"`
	HostsPerSite         int      `json:"hostsPerSite"`
	VMsPerSite           int      `json:"vmsPerSite"`
	TargetPortsPerFabric int      `json:"targetPortsPerFabric"`
	TargetsPerVport      int      `json:"targetsPerVport"`
	MaxVportsPerHBA      int      `json:"maxVportsPerHBA"`
	ZoneDBMaxBytes       int      `json:"zoneDBMaxBytes"`
	EpochUnixNano        int64    `json:"epochUnixNano"`
	// FabricPairsPerSite is kept only when above 1, so that the header of a
	// world of one pair is the one written before pairs existed, and a
	// directory made then resumes.
	FabricPairsPerSite int `json:"fabricPairsPerSite,omitempty"`
	// Workloads is Config.workloadsHeader: empty without workloads, so
	// that a directory made before they existed resumes.
	Workloads string `json:"workloads,omitempty"`
}

func headerOf(c Config) header {
	h := header{Format: journalFormat, Seed: c.Seed, Sites: c.Sites, ArraysPerSite: c.ArraysPerSite,
		HostsPerSite: c.HostsPerSite, VMsPerSite: c.VMsPerSite, TargetPortsPerFabric: c.TargetPortsPerFabric,
		TargetsPerVport: c.TargetsPerVport, MaxVportsPerHBA: c.MaxVportsPerHBA, ZoneDBMaxBytes: c.ZoneDBMaxBytes,
		EpochUnixNano: c.Epoch.UnixNano(), Workloads: c.workloadsHeader()}
	if p := c.fabricPairs(); p > 1 {
		h.FabricPairsPerSite = p
	}
	return h
}

// differences names the fields in which h, made for another world, differs
// from want; the epoch counts only when want has one.
func (h header) differences(want header) []string {
	var d []string
	add := func(name string, got, wanted any) {
		d = append(d, fmt.Sprintf("%s %v (this config: %v)", name, got, wanted))
	}
	if h.Format != want.Format {
		add("format", h.Format, want.Format)
	}
	if h.Seed != want.Seed {
		add("seed", h.Seed, want.Seed)
	}
	if !slices.Equal(h.Sites, want.Sites) {
		add("sites", h.Sites, want.Sites)
	}
	for _, f := range []struct {
		name      string
		got, want int
	}{
		{"arraysPerSite", h.ArraysPerSite, want.ArraysPerSite},
		{"hostsPerSite", h.HostsPerSite, want.HostsPerSite},
		{"vmsPerSite", h.VMsPerSite, want.VMsPerSite},
		{"targetPortsPerFabric", h.TargetPortsPerFabric, want.TargetPortsPerFabric},
		{"targetsPerVport", h.TargetsPerVport, want.TargetsPerVport},
		{"maxVportsPerHBA", h.MaxVportsPerHBA, want.MaxVportsPerHBA},
		{"zoneDBMaxBytes", h.ZoneDBMaxBytes, want.ZoneDBMaxBytes},
		{"fabricPairsPerSite", max(h.FabricPairsPerSite, 1), max(want.FabricPairsPerSite, 1)},
	} {
		if f.got != f.want {
			add(f.name, f.got, f.want)
		}
	}
	if h.Workloads != want.Workloads {
		add("workloads", cmp.Or(h.Workloads, "none"), cmp.Or(want.Workloads, "none"))
	}
	if want.EpochUnixNano != 0 && h.EpochUnixNano != want.EpochUnixNano {
		add("epoch", time.Unix(0, h.EpochUnixNano).UTC(), time.Unix(0, want.EpochUnixNano).UTC())
	}
	return d
}

// Kinds of change.
const (
	opCommit  = "commit"
	opDelZone = "deleteZone"
	opLogin   = "login"
	opLogout  = "logout"
	opPlug    = "plug"   // a port cabled in by hand (ports.go)
	opUnplug  = "unplug" // a plugged port pulled
	opMkVol   = "createVolume"
	opRmVol   = "deleteVolume"
	opGrowVol = "expandVolume"
	opMkSnaps = "createSnapshots"
	opRmSnap  = "deleteSnapshot"
	opMap     = "map"
	opUnmap   = "unmap"
)

// op is one journal record after the header: one change of one device.
type op struct {
	Kind string        `json:"op"`
	Dev  string        `json:"dev"` // fabric or array id; a VM's id for the hypervisor's changes (mover.go)
	At   time.Duration `json:"at"`  // virtual time since the epoch when it applied
	// Zoning: the zones a commit put and the names it (or DeleteZone) deleted.
	Cfg string        `json:"cfg,omitempty"`
	Put []fabric.Zone `json:"put,omitempty"`
	Del []string      `json:"del,omitempty"`
	// Logins; a plugged port's switch port and whether it is a target.
	Phys   wwn.WWN `json:"phys,omitzero"`
	WWPN   wwn.WWN `json:"wwpn,omitzero"`
	WWNN   wwn.WWN `json:"wwnn,omitzero"`
	Port   int32   `json:"port,omitempty"`
	Target bool    `json:"target,omitempty"`
	// Arrays.
	Volume    *array.VolumeSpec    `json:"volume,omitempty"`
	ID        string               `json:"id,omitempty"`
	Size      int64                `json:"size,omitempty"`
	Group     string               `json:"group,omitempty"`
	Snapshots []array.SnapshotSpec `json:"snapshots,omitempty"`
	Map       *array.MapSpec       `json:"map,omitempty"`
	// Replication (replication.go): the group a create made, the array a
	// promote named, a volume's write rate (bytes per second; a pointer so
	// that 0 is kept).
	Repl  *array.ReplicationGroupSpec `json:"repl,omitempty"`
	Array string                      `json:"array,omitempty"`
	Rate  *float64                    `json:"rate,omitempty"`
	// The hypervisor: where a moved VM runs, a VM's power state.
	Host  string `json:"host,omitempty"`
	Power string `json:"power,omitempty"`
}

// now is the virtual time since the epoch: during replay, the time of the
// change being replayed.
func (w *World) now() time.Duration {
	if w.replaying {
		return w.replayAt
	}
	return w.clock.Since(w.cfg.Epoch)
}

// record appends o to the journal. The caller holds the lock that orders o
// among the changes of its device (a Switch's or an Array's mu, or
// loginMu), and passes the sequence number to persisted once it has let go.
// A world without a Dir, or replaying, records nothing.
func (w *World) record(o *op) (uint64, error) {
	if w.j == nil || w.replaying {
		return 0, nil
	}
	b, err := json.Marshal(o)
	if err != nil {
		return 0, fmt.Errorf("lab: encoding a journal record: %w", err)
	}
	return w.j.append(b)
}

// persisted returns once record seq is on disk.
func (w *World) persisted(seq uint64) error {
	if w.j == nil {
		return nil
	}
	return w.j.sync(seq)
}

// persistErr is how a device reports a change it made but could not keep:
// transient, as a real device that lost its reply; the caller re-reads.
func persistErr(dev string, err, class error) error {
	return fmt.Errorf("lab: %s applied the change but could not record it: %w: %w", dev, err, class)
}

// unlockPersist records o, a change made under s.mu held for writing,
// unlocks, and waits for the record to be on disk.
func (s *Switch) unlockPersist(o *op) error {
	seq, err := s.w.record(o)
	s.mu.Unlock()
	if err == nil {
		err = s.w.persisted(seq)
	}
	if err != nil {
		return persistErr("fabric "+s.id, err, fabric.ErrUnavailable)
	}
	return nil
}

// unlockPersist records o (nil: nothing changed), a change made under a.mu
// held for writing, unlocks, and waits for the record to be on disk.
func (a *Array) unlockPersist(o *op) error {
	var seq uint64
	var err error
	if o != nil {
		seq, err = a.w.record(o)
	}
	a.mu.Unlock()
	if err == nil {
		err = a.w.persisted(seq)
	}
	if err != nil {
		return persistErr("array "+a.id, err, array.ErrUnavailable)
	}
	return nil
}

// restore opens cfg.Dir: it checks the journal is this world's, fills in
// cfg.Epoch from it, and returns the journal and its change records.
func restore(cfg *Config) (*journal, [][]byte, error) {
	if cfg.Reset {
		if err := removeState(cfg.Dir); err != nil {
			return nil, nil, err
		}
	}
	want := headerOf(*cfg)
	if cfg.Epoch.IsZero() {
		want.EpochUnixNano = time.Now().UnixNano()
	}
	hb, err := json.Marshal(want)
	if err != nil {
		return nil, nil, err
	}
	j, recs, err := openJournal(cfg.Dir, hb)
	if err != nil {
		return nil, nil, fmt.Errorf("%w; to start the lab again from its seed, discard it (sanmobd --lab-reset)", err)
	}
	var h header
	if err := json.Unmarshal(recs[0], &h); err != nil {
		_ = j.close()
		return nil, nil, fmt.Errorf("%w: %s/%s: the header does not decode: %v; to start the lab again from its seed, discard it (sanmobd --lab-reset)",
			ErrJournal, cfg.Dir, journalFile, err)
	}
	if cfg.Epoch.IsZero() {
		want.EpochUnixNano = 0
	}
	if d := h.differences(want); len(d) > 0 {
		_ = j.close()
		return nil, nil, fmt.Errorf("%w: %s holds the devices of another lab world (%s); start with the config it was made with, or discard it and start again from the seed (sanmobd --lab-reset)",
			ErrJournal, cfg.Dir, strings.Join(d, "; "))
	}
	if cfg.Epoch.IsZero() {
		cfg.Epoch = time.Unix(0, h.EpochUnixNano)
	}
	return j, recs[1:], nil
}

// decodeOps decodes the journal's change records.
func decodeOps(dir string, recs [][]byte) ([]op, error) {
	ops := make([]op, len(recs))
	for i, raw := range recs {
		if err := json.Unmarshal(raw, &ops[i]); err != nil {
			return nil, fmt.Errorf("%w: %s/%s: record %d does not decode: %v; to start the lab again from its seed, discard it (sanmobd --lab-reset)",
				ErrJournal, dir, journalFile, i+1, err)
		}
	}
	return ops, nil
}

// rezoned names the fabrics whose zone DB the journal changes: replay
// rebuilds and checksums them once, so the build need not checksum them.
func rezoned(ops []op) map[string]bool {
	m := map[string]bool{}
	for i := range ops {
		if ops[i].Kind == opCommit || ops[i].Kind == opDelZone {
			m[ops[i].Dev] = true
		}
	}
	return m
}

// replay applies the journal's change records to the freshly built world
// and returns the latest virtual time among them.
func (w *World) replay(ops []op) (time.Duration, error) {
	w.replaying = true
	defer func() { w.replaying = false }()
	type pending struct {
		cfg   string
		zones map[string]*fabric.Zone // nil: deleted
	}
	zoning := map[*Switch]*pending{}
	pendingOf := func(s *Switch) *pending {
		p := zoning[s]
		if p == nil {
			p = &pending{cfg: s.cfgName, zones: map[string]*fabric.Zone{}}
			zoning[s] = p
		}
		return p
	}
	var last time.Duration
	for i := range ops {
		o := &ops[i]
		w.replayAt, last = o.At, max(last, o.At)
		err := w.replayOne(o, func(s *Switch) {
			p := pendingOf(s)
			if p.cfg == "" {
				p.cfg = o.Cfg
			}
			for k := range o.Put {
				p.zones[o.Put[k].Name] = &o.Put[k]
			}
			for _, n := range o.Del {
				p.zones[n] = nil
			}
			if o.Kind == opCommit {
				s.commits++
			}
		})
		if err != nil {
			return 0, fmt.Errorf("%w: %s/%s: record %d (%s on %s) does not apply to the world the config makes: %v; to start the lab again from its seed, discard it (sanmobd --lab-reset)",
				ErrJournal, w.cfg.Dir, journalFile, i+1, o.Kind, o.Dev, err)
		}
	}
	// Each changed fabric's zone DB is rebuilt once, in parallel, as build does.
	var wg sync.WaitGroup
	for s, p := range zoning {
		wg.Go(func() {
			var puts []fabric.Zone
			var dels []string
			for _, name := range slices.Sorted(maps.Keys(p.zones)) {
				if z := p.zones[name]; z != nil {
					puts = append(puts, *z)
				} else {
					dels = append(dels, name)
				}
			}
			s.zoning = s.zoning.apply(p.cfg, puts, dels)
		})
	}
	wg.Wait()
	return last, nil
}

// replayOne applies one change; zoning changes go to zone, to be applied
// together at the end.
func (w *World) replayOne(o *op, zone func(*Switch)) error {
	if o.Kind == opMoveVM || o.Kind == opPowerVM {
		return w.hv.replayOne(o)
	}
	if replOps[o.Kind] {
		return w.replayRepl(o)
	}
	if s, ok := w.Switch(o.Dev); ok {
		switch o.Kind {
		case opCommit, opDelZone:
			zone(s)
			return nil
		case opLogin:
			_, err := s.loginVport(o.Phys, o.WWPN, o.WWNN)
			return err
		case opLogout:
			_, err := s.logoutVport(o.WWPN)
			return err
		case opPlug:
			_, _, err := s.plug(o.WWPN, o.WWNN, o.Target, o.Port)
			return err
		case opUnplug:
			_, err := s.unplug(o.WWPN)
			return err
		}
		return fmt.Errorf("no change %q on a fabric", o.Kind)
	}
	a, ok := w.Array(o.Dev)
	if !ok {
		return errors.New("no such device")
	}
	now := a.lock()
	defer a.mu.Unlock()
	switch o.Kind {
	case opMkVol:
		if o.Volume == nil {
			return errors.New("no volume")
		}
		if err := checkVolumeSpec(*o.Volume); err != nil {
			return err
		}
		_, _, err := a.createVolume(*o.Volume, now)
		return err
	case opRmVol:
		_, err := a.deleteVolume(o.ID)
		return err
	case opGrowVol:
		_, _, err := a.expandVolume(o.ID, o.Size)
		return err
	case opMkSnaps:
		if err := checkSnapshotSpecs(o.Group, o.Snapshots); err != nil {
			return err
		}
		_, _, err := a.createSnapshots(o.Group, o.Snapshots, now)
		return err
	case opRmSnap:
		a.deleteSnapshot(o.ID)
		return nil
	case opMap:
		if o.Map == nil {
			return errors.New("no map")
		}
		inits, ports, err := checkMapSpec(*o.Map)
		if err != nil {
			return err
		}
		return a.mapVolume(*o.Map, inits, ports)
	case opUnmap:
		a.unmap(o.ID, o.Group)
		return nil
	}
	return fmt.Errorf("no change %q on an array", o.Kind)
}

// saveClock records the virtual time in the clock file.
func (w *World) saveClock() error {
	if w.clockFile == nil {
		return nil
	}
	return w.clockFile.save(w.clock.Since(w.cfg.Epoch))
}

// keepClock saves the virtual clock every clockSaveEvery until Close.
func (w *World) keepClock() {
	defer close(w.clockDone)
	t := time.NewTicker(clockSaveEvery)
	defer t.Stop()
	for {
		select {
		case <-w.stopClock:
			return
		case <-t.C:
			_ = w.saveClock() // a failure leaves the last saved time, which the next save may fix
		}
	}
}

// Close saves the virtual clock and closes the world's files; the devices
// take no more changes. A world without a Dir has nothing to close. Not
// closing is a crash: everything the devices acknowledged is already on
// disk.
func (w *World) Close() error {
	if w.j == nil {
		return nil
	}
	var err error
	w.closeOnce.Do(func() {
		close(w.stopClock)
		<-w.clockDone
		err = errors.Join(w.saveClock(), w.clockFile.close(), w.j.close())
	})
	return err
}
