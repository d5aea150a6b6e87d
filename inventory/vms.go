package inventory

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/fabric/wwn"
	"github.com/sanmob/sanmob/store"
)

// --- VMs ----------------------------------------------------------------------

// VMFilter narrows VMs.
type VMFilter struct{ Host, Site string }

// VMs lists VMs in id order, with login state from the name servers.
func (s *Inventory) VMs(f VMFilter) []VM {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return listed(s.vms, func(v *VM) bool {
		return (f.Host == "" || v.Host == f.Host) && (f.Site == "" || v.Site == f.Site)
	}, s.vmView)
}

// VM returns one VM.
func (s *Inventory) VM(id string) (VM, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return lookup(s.vms, "vm", id, s.vmView)
}

func (s *Inventory) vmView(v *VM) VM {
	out := *v
	out.Vports = append([]Vport{}, v.Vports...)
	out.Volumes = append([]VolumeRef{}, v.Volumes...)
	for i := range out.Vports {
		p := &out.Vports[i]
		if f := s.fabrics[p.Fabric]; f != nil {
			if l, ok := f.Obs.Load().Login(p.WWPN); ok {
				p.LoggedIn = true
				p.HBA = l.PhysicalWWPN
				if !l.LoggedInAt.IsZero() {
					t := l.LoggedInAt
					p.LoggedInAt = &t
				}
			}
		}
	}
	return out
}

// VMSpec is what a client gives to create a VM. Vports may be left out:
// sanmob then generates an NPIV pair (sets a and b) on every fabric the
// host's HBAs are on.
type VMSpec struct {
	ID      string      `json:"id,omitempty"`
	Name    string      `json:"name"`
	Host    string      `json:"host"`
	Vports  []VportSpec `json:"vports,omitempty"`
	Volumes []VolumeRef `json:"volumes,omitempty"`
	Shares  int         `json:"shares,omitempty"`
}

// VportSpec is one vport of a VMSpec.
type VportSpec struct {
	Fabric string  `json:"fabric"`
	WWPN   wwn.WWN `json:"wwpn"`
	WWNN   wwn.WWN `json:"wwnn"`
	Set    string  `json:"set"`
	Active *bool   `json:"active,omitempty"`
}

// VMPatch changes a VM; nil fields stay as they are. Changing Host records
// that the VM now runs elsewhere (an inventory correction, not a migration).
type VMPatch struct {
	Name    *string      `json:"name,omitempty"`
	Host    *string      `json:"host,omitempty"`
	Vports  *[]VportSpec `json:"vports,omitempty"`
	Volumes *[]VolumeRef `json:"volumes,omitempty"`
	Shares  *int         `json:"shares,omitempty"`
}

// CreateVM validates and persists a new VM.
func (s *Inventory) CreateVM(spec VMSpec) (VM, error) {
	if spec.ID == "" {
		spec.ID = newID("vm")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := ValidID(spec.ID); err != nil {
		return VM{}, err
	}
	if _, dup := s.vms[spec.ID]; dup {
		return VM{}, fmt.Errorf("vm %q already exists: %w", spec.ID, ErrConflict)
	}
	generated := len(spec.Vports) == 0
	v, err := s.buildVM(spec)
	if err != nil {
		return VM{}, err
	}
	if err := s.checkVportRoom(v); err != nil {
		return VM{}, err
	}
	err = s.st.Update(func(tx *store.Tx) error {
		if err := tx.Create(KindVM, v.ID, v); err != nil {
			return err
		}
		if generated {
			// The cursor goes with the record, so a restart never hands the
			// same names out again, even after this VM is deleted.
			return tx.Put(kindMeta, metaVportCursor, s.gen.Cursor())
		}
		return nil
	})
	if err != nil {
		return VM{}, StoreErr(err)
	}
	s.putVMLocked(v, nil)
	return s.vmView(v), nil
}

// UpdateVM applies a patch.
func (s *Inventory) UpdateVM(id string, p VMPatch) (VM, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.vms[id]
	if !ok {
		return VM{}, notFound("vm", id)
	}
	spec := VMSpec{ID: id, Name: old.Name, Host: old.Host, Volumes: old.Volumes, Shares: old.Shares}
	for _, vp := range old.Vports {
		active := vp.Active
		spec.Vports = append(spec.Vports, VportSpec{Fabric: vp.Fabric, WWPN: vp.WWPN, WWNN: vp.WWNN, Set: vp.Set, Active: &active})
	}
	if p.Name != nil {
		spec.Name = *p.Name
	}
	if p.Host != nil {
		spec.Host = *p.Host
	}
	if p.Vports != nil {
		spec.Vports = *p.Vports
		if len(spec.Vports) == 0 {
			return VM{}, invalid("vports", "cannot be emptied; delete the VM instead")
		}
	}
	if p.Volumes != nil {
		spec.Volumes = *p.Volumes
	}
	if p.Shares != nil {
		spec.Shares = *p.Shares
		if spec.Shares == 0 {
			return VM{}, invalid("shares", "must be 1-10000")
		}
	}
	v, err := s.buildVM(spec)
	if err != nil {
		return VM{}, err
	}
	if v.Host != old.Host {
		// The record would move while the VM's logins stay on the old
		// host's HBAs: a later login on the new host would duplicate them.
		// Logins through the new host's own HBAs are what the record is
		// being corrected to (the hypervisor moved the VM, and its vports
		// with it): those may stay.
		var newHBAs []wwn.WWN
		if h, ok := s.hosts[v.Host]; ok {
			for _, hba := range h.HBAs {
				newHBAs = append(newHBAs, hba.WWPN)
			}
		}
		for _, vp := range append(slices.Clone(old.Vports), v.Vports...) {
			if fid, l, ok := s.loginAnywhere(vp.WWPN); ok && !slices.Contains(newHBAs, l.PhysicalWWPN) {
				return VM{}, fmt.Errorf("vm %q cannot move to host %q by PATCH: its vport %s is logged in to fabric %s through HBA %s; move a running VM with POST /v1/migrations, or log its vports out first: %w",
					id, v.Host, vp.WWPN, fid, l.PhysicalWWPN, ErrConflict)
			}
		}
		if err := s.checkVportRoom(v); err != nil {
			return VM{}, err
		}
	}
	v.CreatedAt = old.CreatedAt
	if err := s.st.Put(KindVM, v.ID, v); err != nil {
		return VM{}, StoreErr(err)
	}
	s.putVMLocked(v, old)
	return s.vmView(v), nil
}

const metaVportCursor = "vport-generator"

// DeleteVM forgets a VM. It does not touch the devices: zones and masking
// are released by detach (a later issue), or as orphans by a reconcile.
func (s *Inventory) DeleteVM(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.vms[id]
	if !ok {
		return notFound("vm", id)
	}
	if why, ok := s.cfg.NodeInUse(id); ok {
		return fmt.Errorf("vm %q is in use: %s: %w", id, why, ErrConflict)
	}
	if err := s.st.Delete(KindVM, id); err != nil {
		return StoreErr(err)
	}
	for _, p := range v.Vports {
		delete(s.wwpnOwner, p.WWPN)
	}
	delete(s.vms, id)
	s.forgetPaths(id)
	// Its adopted zones stay on the switches: a reconcile shows them as
	// orphans, and ?apply=true removes them.
	s.zoner.Forget(owner{"vm", id}.String())
	return nil
}

func (s *Inventory) putVMLocked(v, old *VM) {
	if old != nil {
		for _, p := range old.Vports {
			delete(s.wwpnOwner, p.WWPN)
		}
	}
	for _, p := range v.Vports {
		s.wwpnOwner[p.WWPN] = owner{"vm", v.ID}
	}
	s.vms[v.ID] = v
}

// buildVM validates a spec under s.mu.
func (s *Inventory) buildVM(spec VMSpec) (*VM, error) {
	if strings.TrimSpace(spec.Name) == "" {
		spec.Name = spec.ID
	}
	if len(spec.Name) > 253 {
		return nil, invalid("name", "at most 253 characters")
	}
	h, ok := s.hosts[spec.Host]
	if !ok {
		return nil, invalid("host", "unknown host %q", spec.Host)
	}
	if spec.Shares == 0 {
		spec.Shares = 1000
	}
	if spec.Shares < 1 || spec.Shares > 10000 {
		return nil, invalid("shares", "must be 1-10000")
	}
	now := s.clk.Now()
	v := &VM{ID: spec.ID, Name: spec.Name, Host: h.ID, Site: h.Site, Shares: spec.Shares, CreatedAt: now, UpdatedAt: now}
	hostFabrics := map[string]bool{}
	for _, b := range h.HBAs {
		hostFabrics[b.Fabric] = true
	}
	if len(spec.Vports) == 0 {
		vports, err := s.generateVports(h)
		if err != nil {
			return nil, err
		}
		v.Vports = vports
	}
	seen := map[wwn.WWN]bool{}
	sets := map[string]bool{} // fabric+set
	for i, p := range spec.Vports {
		field := fmt.Sprintf("vports[%d]", i)
		if !hostFabrics[p.Fabric] {
			return nil, invalid(field+".fabric", "host %q has no HBA on fabric %q", h.ID, p.Fabric)
		}
		if p.WWPN.IsZero() {
			return nil, invalid(field+".wwpn", "required")
		}
		if p.WWNN.IsZero() {
			return nil, invalid(field+".wwnn", "required")
		}
		if seen[p.WWPN] {
			return nil, invalid(field+".wwpn", "%s listed twice", p.WWPN)
		}
		seen[p.WWPN] = true
		if o, taken := s.wwpnOwner[p.WWPN]; taken && o != (owner{"vm", spec.ID}) {
			return nil, fmt.Errorf("%s.wwpn %s already belongs to %s: %w", field, p.WWPN, o, ErrConflict)
		}
		if fid, l, ok := s.loginAnywhere(p.WWPN); ok && !l.NPIV {
			return nil, fmt.Errorf("%s.wwpn %s is logged in to fabric %s as a physical %s port, not a vport: %w", field, p.WWPN, fid, l.Kind, ErrConflict)
		}
		if p.Set != "a" && p.Set != "b" {
			return nil, invalid(field+".set", "must be \"a\" or \"b\"")
		}
		if sets[p.Fabric+"/"+p.Set] {
			return nil, invalid(field+".set", "fabric %q already has a set %q vport", p.Fabric, p.Set)
		}
		sets[p.Fabric+"/"+p.Set] = true
		active := p.Set == "a"
		if p.Active != nil {
			active = *p.Active
		}
		v.Vports = append(v.Vports, Vport{Fabric: p.Fabric, WWPN: p.WWPN, WWNN: p.WWNN, Set: p.Set, Active: active})
	}
	activeOn := map[string]int{}
	for _, p := range v.Vports {
		if p.Active {
			activeOn[p.Fabric]++
		}
	}
	for fab, n := range activeOn {
		if n > 1 {
			return nil, invalid("vports", "fabric %q has %d active vports; one set is active at a time", fab, n)
		}
	}
	luns := map[int]string{}
	vols := map[string]bool{}
	for i, ref := range spec.Volumes {
		field := fmt.Sprintf("volumes[%d]", i)
		vol, ok := s.volumes[ref.ID]
		if !ok {
			return nil, invalid(field+".id", "unknown volume %q", ref.ID)
		}
		if vols[ref.ID] {
			return nil, invalid(field+".id", "volume %q listed twice", ref.ID)
		}
		vols[ref.ID] = true
		if ref.LUN < 0 || ref.LUN > 16383 {
			return nil, invalid(field+".lun", "must be 0-16383")
		}
		if other, dup := luns[ref.LUN]; dup {
			return nil, invalid(field+".lun", "LUN %d is already volume %q's", ref.LUN, other)
		}
		luns[ref.LUN] = vol.ID
		v.Volumes = append(v.Volumes, VolumeRef{ID: ref.ID, LUN: ref.LUN})
	}
	return v, nil
}

// generateVports allocates an NPIV pair (sets a and b) on every fabric the
// host has an HBA on, from the configured pools, skipping every name that is
// in the inventory or logged in on any fabric.
func (s *Inventory) generateVports(h *Host) ([]Vport, error) {
	var out []Vport
	fabs := map[string]bool{}
	for _, b := range h.HBAs {
		if fabs[b.Fabric] {
			continue
		}
		fabs[b.Fabric] = true
		for _, set := range []string{"a", "b"} {
			pn, nn, err := s.gen.Pair()
			if err != nil {
				return nil, fmt.Errorf("vport names: %w", err)
			}
			out = append(out, Vport{Fabric: b.Fabric, WWPN: pn, WWNN: nn, Set: set, Active: set == "a"})
		}
	}
	return out, nil
}

// loginAnywhere finds a WWPN in the name servers as last observed.
func (s *Inventory) loginAnywhere(w wwn.WWN) (string, fabric.Login, bool) {
	for _, id := range s.fabIDs {
		if l, ok := s.fabrics[id].Obs.Load().Login(w); ok {
			return id, l, true
		}
	}
	return "", fabric.Login{}, false
}

// wwpnTaken is the generator's collision check. It runs under s.mu (the
// generator is only called from buildVM).
func (s *Inventory) wwpnTaken(w wwn.WWN) bool {
	if _, ok := s.wwpnOwner[w]; ok {
		return true
	}
	if _, _, loggedIn := s.loginAnywhere(w); loggedIn {
		return true
	}
	// A WWPN some zone names is someone's, logged in or not (an
	// administrator's zone of a powered-off host, a leftover): handing it
	// to a new VM would give that VM the zone's access.
	for _, id := range s.fabIDs {
		if _, _, zones := s.fabrics[id].Obs.Load().Port(w); len(zones) > 0 {
			return true
		}
	}
	return false
}

func StoreErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrConflict):
		return fmt.Errorf("%w: %w", ErrConflict, err)
	default:
		return fmt.Errorf("%w: store: %w", ErrUnavailable, err)
	}
}

// checkVportRoom refuses to place v on a host whose HBA on some fabric would
// then carry more active vports than its NPIV limit: the VM's vport could
// never log in there. s.mu is held.
func (s *Inventory) checkVportRoom(v *VM) error {
	h := s.hosts[v.Host]
	need := map[string]int{}
	for _, p := range v.Vports {
		if p.Active {
			need[p.Fabric]++
		}
	}
	if len(need) == 0 {
		return nil
	}
	for _, o := range s.vms {
		if o.Host != v.Host || o.ID == v.ID {
			continue
		}
		for _, p := range o.Vports {
			if p.Active && need[p.Fabric] > 0 {
				need[p.Fabric]++
			}
		}
	}
	for _, b := range h.HBAs {
		if n := need[b.Fabric]; b.MaxVports > 0 && n > b.MaxVports {
			return fmt.Errorf("host %s: HBA %s on fabric %s would carry %d active vports, more than its limit of %d: %w",
				h.ID, b.WWPN, b.Fabric, n, b.MaxVports, ErrConflict)
		}
	}
	return nil
}
