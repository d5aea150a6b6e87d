package mobility

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sanmob/sanmob/alert"
	"github.com/sanmob/sanmob/devices"
	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/fabric/wwn"
	"github.com/sanmob/sanmob/inventory"
)

func (s *Service) newZoner() (*fabric.Zoner, error) {
	drivers := make(map[string]fabric.Driver, len(s.fabrics))
	for id, f := range s.fabrics {
		drivers[id] = f.Driver
	}
	s.vports = fabric.NewVports(drivers)
	return fabric.NewZoner(fabric.ZonerConfig{
		Fabrics:  drivers,
		Policies: s.cfg.ZonePolicies,
		Mode:     s.cfg.ZoneMode,
		Clock:    s.cfg.Clock,
		Log:      s.log,
		InUse:    s.zoneInUse,
		Timeout:  max(s.cfg.DriverTimeout, time.Minute),
	})
}

// zoneInUse: a sanmob-named zone nothing asked the Zoner for is still in use
// when it admits a port the inventory has on that fabric — the path of a VM
// or host discovered with its zoning. Such zones are never orphans; one
// naming a VM's vport on a fabric the VM has left is.
func (s *Service) zoneInUse(fabricID string, z fabric.Zone) bool {
	for _, m := range z.Members {
		if s.OwnsWWPNOn(fabricID, m) {
			return true
		}
	}
	return false
}

// Close stops the zoning workers; requests not yet committed fail.
func (s *Service) Close() { s.zoner.Close() }

// Zoner is the fabric zoning engine the service drives.
func (s *Service) Zoner() *fabric.Zoner { return s.zoner }

// Alerts lists the firing alerts, then the recently resolved ones.
func (s *Service) Alerts() []alert.Alert { return s.alerts.List() }

// Reconcile compares a fabric's zone DB with the zones sanmob wants; with
// apply it repairs sanmob's own zones, re-reads the fabric and answers the
// drift as it is after the repair: the checksum of the zone DB the repair
// left, what is still missing, changed or orphaned (nothing, unless another
// change came in between), Repaired set. What the repair found is logged.
func (s *Service) Reconcile(ctx context.Context, fabricID string, apply bool) (fabric.Drift, error) {
	f, ok := s.fabrics[fabricID]
	if !ok {
		return fabric.Drift{}, notFound("fabric", fabricID)
	}
	c, cancel := context.WithTimeout(ctx, s.cfg.DriverTimeout)
	defer cancel()
	d, err := s.zoner.Reconcile(c, fabricID, apply)
	if err != nil {
		return d, MarkDevice("fabric", err)
	}
	if apply && d.Repaired {
		s.log.WithField("fabric", fabricID).WithField("missing", len(d.Missing)).WithField("changed", len(d.Changed)).
			WithField("orphans", len(d.Orphans)).WithField("checksumBefore", d.Checksum).Info("reconcile repaired the fabric's zones")
		o, err := s.dev.ReadFabric(ctx, f)
		if err != nil {
			return fabric.Drift{}, MarkDevice("fabric", fmt.Errorf("fabric %s: the zones were repaired, but reading the zone DB back failed (reconcile again to see it): %w", fabricID, err))
		}
		after, err := s.zoner.Drift(fabricID, o.DB)
		if err != nil {
			return fabric.Drift{}, MarkDevice("fabric", err)
		}
		after.Repaired = true
		d = after
	}
	s.driftUsers(fabricID, &d)
	s.raiseDrift(f, d)
	return d, nil
}

// driftUsers names who needs each missing or changed zone of d: a drift
// report then says whose paths it cuts (a VM, an attachment, a claim).
func (s *Service) driftUsers(fabricID string, d *fabric.Drift) {
	if len(d.Missing) == 0 && len(d.Changed) == 0 {
		return
	}
	byName, byContent := map[string][]string{}, map[string][]string{}
	for _, hz := range s.zoner.Held(fabricID) {
		byName[hz.Zone.Name], byContent[fabric.ContentKey(hz.Zone)] = hz.Users, hz.Users
	}
	d.Users = make(map[string][]string, len(d.Missing)+len(d.Changed))
	for _, z := range d.Missing {
		d.Users[z.Name] = byName[z.Name]
	}
	for _, c := range d.Changed {
		d.Users[c.Name] = byContent[fabric.ContentKey(c.Want)]
	}
}

// affected lists who needs the zones a drift misses or changed, at most
// ten of them and then how many more.
func affected(d fabric.Drift) string {
	set := map[string]bool{}
	for _, us := range d.Users {
		for _, u := range us {
			set[u] = true
		}
	}
	names := sortedKeys(set)
	if len(names) > 10 {
		return strings.Join(names[:10], ", ") + fmt.Sprintf(" and %d more", len(names)-10)
	}
	return strings.Join(names, ", ")
}

func (s *Service) readFabricNow(ctx context.Context, f *devices.FabricDev) {
	_, _ = s.dev.ReadFabric(ctx, f)
}

// lastRead is a fabric's last observation (nil before the first read), and
// whether it can tell what sanmob committed: it succeeded, follows the last
// commit there and did not start during one.
func (s *Service) lastRead(fid string) (o *devices.FabricObs, sure bool) {
	f := s.fabrics[fid]
	if o = f.Obs.Load(); o == nil {
		return nil, false
	}
	rs := f.Status.Load()
	return o, s.zoner.ReadIsCurrent(fid, o.At) && (rs == nil || rs.Err == nil)
}

// driftMemo is what a fabric's last drift check compared.
type driftMemo struct {
	checksum string
	gen      uint64
}

// checkDrift compares each fabric's newest observation with the desired
// zoning and raises or resolves FabricDrift.
func (s *Service) checkDrift() {
	for _, id := range s.fabIDs {
		f := s.fabrics[id]
		// A read older than sanmob's own last commit there (or made during
		// one), or a fabric whose last read failed, would show sanmob's
		// verified changes as drift: wait for a read that follows them.
		o, sure := s.lastRead(id)
		if !sure {
			continue
		}
		// Unchanged zone DB and desired state: the last answer stands (on a
		// 200,000-zone fabric the comparison is a tenth of a second).
		st, _ := s.zoner.Stats(id)
		memo := driftMemo{checksum: o.DB.Checksum, gen: st.Generation}
		if last := s.drift[f.ID].Load(); last != nil && *last == memo {
			continue
		}
		// The comparison itself checks the read against the desired state
		// of the same moment: a commit that ended (or began) since the
		// Stats above would otherwise show its own change as drift.
		d, gen, sure, err := s.zoner.DriftAsOf(id, o.DB, o.At)
		if err != nil {
			s.log.WithError(err).WithField("fabric", id).Warn("drift check failed")
			continue
		}
		if !sure {
			continue
		}
		memo.gen = gen
		s.drift[f.ID].Store(&memo)
		s.driftUsers(id, &d)
		s.raiseDrift(f, d)
	}
}

func (s *Service) raiseDrift(f *devices.FabricDev, d fabric.Drift) {
	labels := map[string]string{"alertname": alert.FabricDrift, "severity": alert.Warning, "fabric": f.ID, "site": f.Site}
	firing := !d.Empty() && !d.Repaired
	ann := map[string]string{
		"summary": fmt.Sprintf("fabric %s: %d sanmob zones missing, %d changed, %d orphaned", f.ID, len(d.Missing), len(d.Changed), len(d.Orphans)),
		"missing": strconv.Itoa(len(d.Missing)), "changed": strconv.Itoa(len(d.Changed)), "orphans": strconv.Itoa(len(d.Orphans)),
	}
	if u := affected(d); u != "" {
		ann["users"] = u
	}
	if s.alerts.Set(labels, ann, firing) {
		e := s.log.WithField("fabric", f.ID).WithField("missing", len(d.Missing)).WithField("changed", len(d.Changed)).WithField("orphans", len(d.Orphans))
		if firing {
			e.Warn("fabric drift: the zone DB differs from what sanmob committed")
		} else {
			e.Info("fabric drift resolved")
		}
	}
}

// LoginVport logs one of a VM's vports in through the HBA of the VM's host
// on the vport's fabric. A vport logged in anywhere else is refused before
// any login is tried: sanmob never causes a duplicate WWPN login.
func (s *Service) LoginVport(ctx context.Context, vmID string, w wwn.WWN) error {
	vp, hba, err := s.vportAndHBA(vmID, w)
	if err != nil {
		return err
	}
	return s.loginThrough(ctx, vp.Fabric, hba.WWPN, vp.WWPN, vp.WWNN, hba.MaxVports)
}

// LogoutVport logs a VM's vport out of its fabric.
func (s *Service) LogoutVport(ctx context.Context, vmID string, w wwn.WWN) error {
	vp, _, err := s.vportAndHBA(vmID, w)
	if err != nil {
		return err
	}
	return s.logoutOf(ctx, vp.Fabric, vp.WWPN)
}

// loginThrough logs wwpn in on fabric through the physical HBA port (at
// most maxVports on it), then re-reads the fabric so the model shows it.
func (s *Service) loginThrough(ctx context.Context, fabricID string, hba, wwpn, wwnn wwn.WWN, maxVports int) error {
	c, cancel := context.WithTimeout(ctx, s.cfg.DriverTimeout)
	defer cancel()
	if err := s.vports.Login(c, fabricID, hba, wwpn, wwnn, maxVports); err != nil {
		return MarkDevice("fabric", err)
	}
	s.readFabricNow(ctx, s.fabrics[fabricID])
	return nil
}

// logoutOf logs wwpn out of fabric, then re-reads the fabric.
func (s *Service) logoutOf(ctx context.Context, fabricID string, wwpn wwn.WWN) error {
	c, cancel := context.WithTimeout(ctx, s.cfg.DriverTimeout)
	defer cancel()
	if err := s.vports.Logout(c, fabricID, wwpn); err != nil {
		return MarkDevice("fabric", err)
	}
	s.readFabricNow(ctx, s.fabrics[fabricID])
	return nil
}

func (s *Service) vportAndHBA(vmID string, w wwn.WWN) (inventory.Vport, inventory.HBA, error) {
	s.RLock()
	defer s.RUnlock()
	vm, ok := s.VMLocked(vmID)
	if !ok {
		return inventory.Vport{}, inventory.HBA{}, notFound("vm", vmID)
	}
	i := slices.IndexFunc(vm.Vports, func(p inventory.Vport) bool { return p.WWPN == w })
	if i < 0 {
		return inventory.Vport{}, inventory.HBA{}, notFound("vport", w.String()+" of vm "+vmID)
	}
	vp := vm.Vports[i]
	h, ok := s.HostLocked(vm.Host)
	if !ok {
		return inventory.Vport{}, inventory.HBA{}, fmt.Errorf("vm %s runs on no known host: %w", vmID, ErrConflict)
	}
	j := slices.IndexFunc(h.HBAs, func(b inventory.HBA) bool { return b.Fabric == vp.Fabric })
	if j < 0 {
		return inventory.Vport{}, inventory.HBA{}, fmt.Errorf("host %s has no HBA on fabric %s: %w", h.ID, vp.Fabric, ErrConflict)
	}
	return vp, h.HBAs[j], nil
}
