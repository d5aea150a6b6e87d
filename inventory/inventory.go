package inventory

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/fabric/wwn"
	"github.com/sanmob/sanmob/store"
)

var idPattern = regexp.MustCompile(`^[a-z0-9-]{1,63}$`)

func ValidID(id string) error {
	if !idPattern.MatchString(id) {
		return invalid("id", "%q must be 1-63 lowercase letters, digits or '-'", id)
	}
	return nil
}

func newID(prefix string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

func VolumeFromDevice(arrayID string, v array.Volume, now time.Time) *Volume {
	created := v.CreatedAt
	if created.IsZero() {
		created = now
	}
	// UsedBytes is observed, not stored: it changes with every write.
	return &Volume{ID: v.ID, Name: v.Name, Array: arrayID, Pool: v.Pool, SizeBytes: v.SizeBytes, WWN: v.WWN, Thin: v.Thin, CreatedAt: created}
}

// --- sites, links -----------------------------------------------------------

// Sites lists the configured sites.
func (s *Inventory) Sites() []Site {
	out := make([]Site, 0, len(s.sites))
	for _, site := range s.sites {
		out = append(out, site)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Site returns one site.
func (s *Inventory) Site(id string) (Site, error) {
	site, ok := s.sites[id]
	if !ok {
		return Site{}, notFound("site", id)
	}
	return site, nil
}

// Links lists the inter-site links.
func (s *Inventory) Links() []Link { return slices.Clone(s.cfg.Links) }

// --- hosts --------------------------------------------------------------------

// HostFilter narrows Hosts.
type HostFilter struct{ Site string }

// Counts reports how many hosts, VMs and volumes the inventory holds.
func (s *Inventory) Counts() map[string]int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return map[string]int{"hosts": len(s.hosts), "vms": len(s.vms), "volumes": len(s.volumes)}
}

// Hosts lists hosts in id order, with HBA login state from the name servers.
func (s *Inventory) Hosts(f HostFilter) []Host {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return listed(s.hosts, func(h *Host) bool { return f.Site == "" || h.Site == f.Site }, s.hostView)
}

// Host returns one host.
func (s *Inventory) Host(id string) (Host, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return lookup(s.hosts, "host", id, s.hostView)
}

// listed returns the views of the records keep accepts, in id order. Ids
// are sorted before views are built: cheaper than sorting the views.
func listed[R, V any](records map[string]*R, keep func(*R) bool, view func(*R) V) []V {
	ids := make([]string, 0, len(records))
	for id, r := range records {
		if keep(r) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	out := make([]V, len(ids))
	for i, id := range ids {
		out[i] = view(records[id])
	}
	return out
}

// all keeps every record.
func all[R any](*R) bool { return true }

// lookup returns the view of one record, or ErrNotFound naming kind and id.
func lookup[R, V any](records map[string]*R, kind, id string, view func(*R) V) (V, error) {
	r, ok := records[id]
	if !ok {
		var zero V
		return zero, notFound(kind, id)
	}
	return view(r), nil
}

func (s *Inventory) hostView(h *Host) Host {
	v := *h
	v.HBAs = slices.Clone(h.HBAs)
	for i := range v.HBAs {
		hba := &v.HBAs[i]
		if f := s.fabrics[hba.Fabric]; f != nil {
			o := f.Obs.Load()
			if _, ok := o.Login(hba.WWPN); ok {
				hba.LoggedIn = true
				hba.VportsInUse = o.NPIVPerPort[hba.WWPN]
			}
		}
	}
	return v
}

// HostSpec is what a client gives to create a host.
type HostSpec struct {
	ID   string    `json:"id,omitempty"`
	Name string    `json:"name"`
	Site string    `json:"site"`
	HBAs []HBASpec `json:"hbas"`
}

// HBASpec is one HBA port of a HostSpec.
type HBASpec struct {
	Name      string  `json:"name,omitempty"`
	WWPN      wwn.WWN `json:"wwpn"`
	WWNN      wwn.WWN `json:"wwnn"`
	Fabric    string  `json:"fabric"`
	MaxVports int     `json:"maxVports,omitempty"`
}

// CreateHost validates and persists a new host.
func (s *Inventory) CreateHost(spec HostSpec) (Host, error) {
	if spec.ID == "" {
		spec.ID = newID("host")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	h, err := s.buildHost(spec, nil)
	if err != nil {
		return Host{}, err
	}
	if _, dup := s.hosts[h.ID]; dup {
		return Host{}, fmt.Errorf("host %q already exists: %w", h.ID, ErrConflict)
	}
	if err := s.st.Create(kindHost, h.ID, h); err != nil {
		return Host{}, StoreErr(err)
	}
	s.putHostLocked(h, nil)
	return s.hostView(h), nil
}

// HostPatch changes a host; nil fields stay as they are.
type HostPatch struct {
	Name *string    `json:"name,omitempty"`
	Site *string    `json:"site,omitempty"`
	HBAs *[]HBASpec `json:"hbas,omitempty"`
}

// UpdateHost applies a patch.
func (s *Inventory) UpdateHost(id string, p HostPatch) (Host, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.hosts[id]
	if !ok {
		return Host{}, notFound("host", id)
	}
	spec := HostSpec{ID: id, Name: old.Name, Site: old.Site}
	for _, b := range old.HBAs {
		spec.HBAs = append(spec.HBAs, HBASpec{Name: b.Name, WWPN: b.WWPN, WWNN: b.WWNN, Fabric: b.Fabric, MaxVports: b.MaxVports})
	}
	if p.Name != nil {
		spec.Name = *p.Name
	}
	if p.Site != nil {
		spec.Site = *p.Site
	}
	if p.HBAs != nil {
		spec.HBAs = *p.HBAs
	}
	if spec.Site != old.Site {
		for _, vm := range s.vms {
			if vm.Host == id {
				return Host{}, fmt.Errorf("host %q runs VM %q; move it before changing the host's site: %w", id, vm.ID, ErrConflict)
			}
		}
	}
	h, err := s.buildHost(spec, old)
	if err != nil {
		return Host{}, err
	}
	h.CreatedAt = old.CreatedAt
	if err := s.st.Put(kindHost, h.ID, h); err != nil {
		return Host{}, StoreErr(err)
	}
	s.putHostLocked(h, old)
	return s.hostView(h), nil
}

// DeleteHost removes a host that runs no VM.
func (s *Inventory) DeleteHost(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := s.hosts[id]
	if !ok {
		return notFound("host", id)
	}
	for _, vm := range s.vms {
		if vm.Host == id {
			return fmt.Errorf("host %q still runs VM %q: %w", id, vm.ID, ErrConflict)
		}
	}
	if vol, ok := s.cfg.NodeInUse(id); ok {
		return fmt.Errorf("host %q has volume %q attached; detach it first: %w", id, vol, ErrConflict)
	}
	if err := s.st.Delete(kindHost, id); err != nil {
		return StoreErr(err)
	}
	for _, b := range h.HBAs {
		delete(s.wwpnOwner, b.WWPN)
	}
	delete(s.hosts, id)
	s.zoner.Forget(owner{"host", id}.String())
	return nil
}

func (s *Inventory) putHostLocked(h, old *Host) {
	if old != nil {
		for _, b := range old.HBAs {
			delete(s.wwpnOwner, b.WWPN)
		}
	}
	for _, b := range h.HBAs {
		s.wwpnOwner[b.WWPN] = owner{"host", h.ID}
	}
	s.hosts[h.ID] = h
}

// buildHost validates a spec under s.mu; old is the record being replaced.
func (s *Inventory) buildHost(spec HostSpec, old *Host) (*Host, error) {
	if err := ValidID(spec.ID); err != nil {
		return nil, err
	}
	if strings.TrimSpace(spec.Name) == "" {
		spec.Name = spec.ID
	}
	if len(spec.Name) > 253 {
		return nil, invalid("name", "at most 253 characters")
	}
	if _, ok := s.sites[spec.Site]; !ok {
		return nil, invalid("site", "unknown site %q", spec.Site)
	}
	if len(spec.HBAs) == 0 {
		return nil, invalid("hbas", "a host needs at least one HBA port")
	}
	now := s.clk.Now()
	h := &Host{ID: spec.ID, Name: spec.Name, Site: spec.Site, CreatedAt: now, UpdatedAt: now}
	seen := map[wwn.WWN]bool{}
	for i, b := range spec.HBAs {
		field := fmt.Sprintf("hbas[%d]", i)
		if b.WWPN.IsZero() {
			return nil, invalid(field+".wwpn", "required")
		}
		if b.WWNN.IsZero() {
			return nil, invalid(field+".wwnn", "required")
		}
		if seen[b.WWPN] {
			return nil, invalid(field+".wwpn", "%s listed twice", b.WWPN)
		}
		seen[b.WWPN] = true
		if o, taken := s.wwpnOwner[b.WWPN]; taken && o != (owner{"host", spec.ID}) {
			return nil, fmt.Errorf("%s.wwpn %s already belongs to %s: %w", field, b.WWPN, o, ErrConflict)
		}
		f := s.fabrics[b.Fabric]
		if f == nil {
			return nil, invalid(field+".fabric", "unknown fabric %q", b.Fabric)
		}
		if fid, l, ok := s.loginAnywhere(b.WWPN); ok {
			switch {
			case l.Kind == fabric.Target:
				return nil, fmt.Errorf("%s.wwpn %s is an array target port logged in to fabric %s: %w", field, b.WWPN, fid, ErrConflict)
			case l.NPIV:
				return nil, fmt.Errorf("%s.wwpn %s is an NPIV virtual port logged in to fabric %s, not a physical HBA: %w", field, b.WWPN, fid, ErrConflict)
			case fid != b.Fabric:
				return nil, invalid(field+".fabric", "%s is logged in to fabric %q, not %q", b.WWPN, fid, b.Fabric)
			}
		}
		if f.Site != spec.Site {
			return nil, invalid(field+".fabric", "fabric %q is at site %q, the host at %q", b.Fabric, f.Site, spec.Site)
		}
		if b.MaxVports == 0 {
			b.MaxVports = 64
		}
		if b.MaxVports < 0 || b.MaxVports > 255 {
			return nil, invalid(field+".maxVports", "must be 0-255 (NPIV allows 255 per N_Port)")
		}
		h.HBAs = append(h.HBAs, HBA{Name: b.Name, WWPN: b.WWPN, WWNN: b.WWNN, Fabric: b.Fabric, MaxVports: b.MaxVports})
	}
	return h, nil
}

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
	if vol, ok := s.cfg.NodeInUse(id); ok {
		return fmt.Errorf("vm %q has volume %q attached; detach it first: %w", id, vol, ErrConflict)
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
