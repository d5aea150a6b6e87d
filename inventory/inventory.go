package inventory

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/fabric/wwn"
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
	if why, ok := s.cfg.NodeInUse(id); ok {
		return fmt.Errorf("host %q is in use: %s: %w", id, why, ErrConflict)
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
