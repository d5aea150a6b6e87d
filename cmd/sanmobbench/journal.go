package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/fabric/wwn"
	"github.com/sanmob/sanmob/lab"
)

// labConfig is the lab world sanmobd builds for the flags sanmobbench
// starts it with (cmd/sanmobd/config.go labConfig: --lab-size, the default
// --lab-seed 1 and --lab-speed 60, Dir <data-dir>/lab).
func labConfig(dataDir, size string) lab.Config {
	lc := lab.Small()
	if size == "large" {
		lc = lab.Large()
	}
	lc.Seed, lc.Speed = 1, 60
	lc.Dir = filepath.Join(dataDir, "lab")
	return lc
}

// journalChanges opens the lab the daemon keeps under dataDir (the daemon
// must be stopped) and makes n device changes through the lab's driver
// methods, each journaled and synced before it returns, so that the next
// start of the daemon replays them. The mix repeats every 50 changes, a
// day of attaches and VM moves:
//
//   - 12 × (create a thin volume, map it to a new host group, log a VM's
//     idle vport in on its fabric, log it out again), round-robin over the
//     arrays, VMs and fabrics;
//   - 1 expand of a volume created before;
//   - 1 zone commit on one fabric (round-robin) putting a zone per vport
//     logged in since the last commit there (vport + a target port), as
//     a group commit would.
//
// Volumes and zones stay; vports end logged out, as they started.
//
// It then opens the lab again, as the daemon will, and returns how long
// that took (build and replay) and how many of the volumes it made the
// replayed lab holds: a check that the changes are in the journal.
func journalChanges(dataDir, size string, n int) (took, reopen time.Duration, vols int, err error) {
	if n == 0 {
		return 0, 0, 0, nil
	}
	t0 := time.Now()
	w, err := lab.New(labConfig(dataDir, size))
	if err != nil {
		return 0, 0, 0, err
	}
	jerr := journal(w, n)
	if err := w.Close(); err != nil && jerr == nil {
		jerr = err
	}
	took = time.Since(t0)
	if jerr != nil {
		return took, 0, 0, jerr
	}
	t1 := time.Now()
	w, err = lab.New(labConfig(dataDir, size))
	if err != nil {
		return took, 0, 0, err
	}
	reopen = time.Since(t1)
	defer w.Close()
	for _, a := range w.Arrays() {
		vs, err := a.Array.Volumes(context.Background())
		if err != nil {
			return took, reopen, 0, err
		}
		for _, v := range vs {
			if strings.HasPrefix(v.ID, "benchj-") {
				vols++
			}
		}
	}
	return took, reopen, vols, nil
}

type benchArray struct {
	a     *lab.Array
	pool  string
	ports []wwn.WWN
}

type benchVport struct {
	fabric       string
	phys, p, nod wwn.WWN
}

func journal(w *lab.World, n int) error {
	ctx := context.Background()
	var arrays []benchArray
	for _, r := range w.Arrays() {
		pools, err := r.Array.Pools(ctx)
		if err != nil {
			return err
		}
		tps, err := r.Array.TargetPorts(ctx)
		if err != nil {
			return err
		}
		if len(pools) == 0 || len(tps) == 0 {
			return fmt.Errorf("array %s has no pool or no target port", r.ID)
		}
		arrays = append(arrays, benchArray{a: r.Array, pool: pools[0].ID, ports: []wwn.WWN{tps[0].WWPN, tps[len(tps)/2].WWPN}})
	}
	// Per fabric: its switch, which physical ports are logged in to it and
	// a target port zoned on it.
	type fab struct {
		s      *lab.Switch
		target wwn.WWN
		zones  []fabric.Zone // waiting for the next commit
	}
	fabs := map[string]*fab{}
	var fabIDs []string
	phys := map[wwn.WWN]string{}
	for _, f := range w.Fabrics() {
		x := &fab{s: f.Switch}
		for _, l := range f.Switch.TruthLogins() {
			if !l.NPIV {
				phys[l.WWPN] = f.ID
			}
		}
		for _, z := range f.Switch.TruthZoneDB().Zones {
			if strings.HasPrefix(z.Name, fabric.OwnedPrefix) && len(z.Members) > 1 {
				x.target = z.Members[len(z.Members)-1]
				break
			}
		}
		if x.target.IsZero() {
			return fmt.Errorf("fabric %s has no sanmob zone to take a target port from", f.ID)
		}
		fabs[f.ID] = x
		fabIDs = append(fabIDs, f.ID)
	}
	hosts, err := w.Compute().Hosts(ctx)
	if err != nil {
		return err
	}
	hostHBA := map[string]map[string]wwn.WWN{} // host -> fabric -> physical port
	for _, h := range hosts {
		m := map[string]wwn.WWN{}
		for _, b := range h.HBAs {
			if f, ok := phys[b.WWPN]; ok {
				m[f] = b.WWPN
			}
		}
		hostHBA[h.ID] = m
	}
	vms, err := w.Compute().VMs(ctx)
	if err != nil {
		return err
	}
	// Idle vports (not instantiated on an HBA), spread over the VMs.
	var idle []benchVport
	stride := max(1, len(vms)/4096)
	for i := 0; i < len(vms); i += stride {
		v := vms[i]
		for _, p := range v.Vports {
			if p.HBA.IsZero() && !hostHBA[v.Host][p.Fabric].IsZero() {
				idle = append(idle, benchVport{fabric: p.Fabric, phys: hostHBA[v.Host][p.Fabric], p: p.WWPN, nod: p.WWNN})
				break
			}
		}
	}
	if len(idle) == 0 {
		return errors.New("no idle vport to log in")
	}

	done := 0
	step := func(err error) (bool, error) {
		if err != nil {
			return false, fmt.Errorf("journaled change %d: %w", done+1, err)
		}
		done++
		return done >= n, nil
	}
	var created []benchArrayVol
	for cycle := 0; ; cycle++ {
		for k := range 12 {
			i := cycle*12 + k
			ba := arrays[i%len(arrays)]
			id := fmt.Sprintf("benchj-%06d", i)
			_, err := ba.a.CreateVolume(ctx, array.VolumeSpec{ID: id, Name: id, Pool: ba.pool, SizeBytes: 1 << 30, Thin: true})
			if stop, err := step(err); stop || err != nil {
				return err
			}
			created = append(created, benchArrayVol{a: ba.a, id: id})
			init := 0x10000000c9100000 + 2*uint64(i)
			err = ba.a.Map(ctx, array.MapSpec{Volume: id, HostGroup: fmt.Sprintf("benchj-hg-%06d", i), LUN: 1,
				Initiators: []wwn.WWN{wwn.FromUint64(init), wwn.FromUint64(init + 1)}, TargetPorts: ba.ports})
			if stop, err := step(err); stop || err != nil {
				return err
			}
			vp := idle[i%len(idle)]
			f := fabs[vp.fabric]
			if stop, err := step(f.s.LoginVport(ctx, vp.phys, vp.p, vp.nod)); stop || err != nil {
				return err
			}
			f.zones = append(f.zones, fabric.Zone{Name: fmt.Sprintf("benchj_%s_%06d", vp.fabric, i), Members: []wwn.WWN{vp.p, f.target}})
			if stop, err := step(f.s.LogoutVport(ctx, vp.p)); stop || err != nil {
				return err
			}
		}
		v := created[(cycle*7)%len(created)]
		_, err := v.a.ExpandVolume(ctx, v.id, int64(2+cycle)<<30)
		if stop, err := step(err); stop || err != nil {
			return err
		}
		f := fabs[fabIDs[cycle%len(fabIDs)]]
		if len(f.zones) > 0 {
			sum, err := f.s.ZoneDBChecksum(ctx)
			if err != nil {
				return err
			}
			_, err = f.s.Commit(ctx, fabric.Txn{Checksum: sum, Put: f.zones})
			f.zones = nil
			if stop, err := step(err); stop || err != nil {
				return err
			}
		}
	}
}

type benchArrayVol struct {
	a  *lab.Array
	id string
}
