package inventory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
	"k8s.io/utils/clock"

	"github.com/sanmob/sanmob/devices"
	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/fabric/wwn"
	"github.com/sanmob/sanmob/store"
)

// Config wires the inventory to its store, clock and devices.
type Config struct {
	Store   *store.Store
	Clock   clock.PassiveClock // the lab's virtual clock in lab mode
	Log     logrus.FieldLogger
	Sites   []Site
	Links   []Link
	Devices *devices.Devices
	// VportPools are where generated NPIV names come from (default: QEMU OUI).
	VportPools []wwn.Pool
	// NodeInUse says whether a host or VM still has something attached (a
	// volume id), which forbids deleting it; nil means never.
	NodeInUse func(id string) (string, bool)
}

// Inventory holds the records of sites, links, hosts, VMs and volumes, the
// WWPN index and allocator, and answers the topology query.
type Inventory struct {
	cfg     Config
	st      *store.Store
	clk     clock.PassiveClock
	log     logrus.FieldLogger
	sites   map[string]Site
	fabrics map[string]*devices.FabricDev
	arrays  map[string]*devices.ArrayDev
	fabIDs  []string
	arrIDs  []string

	dev         *devices.Devices
	zoner       *fabric.Zoner
	computeDiff atomic.Pointer[computeDiff]
	discovered  atomic.Bool

	gen *wwn.Generator

	mu        sync.RWMutex // guards the inventory below
	hosts     map[string]*Host
	vms       map[string]*VM
	volumes   map[string]*Volume
	wwpnOwner map[wwn.WWN]owner // every WWPN in the inventory → its host or VM
	vmZoned   map[string]bool   // VMs whose zoning a migration placed (vmzoning.go)

	replicaState atomic.Pointer[ReplicaStateFunc]
	deletedAt    map[string]time.Time // volumes deleted through the API; under mu

	tablesMu sync.Mutex
	tables   map[string]*pathTable // by VM id; see pathTable
}

// owner is the inventory object a WWPN belongs to. It shares the record's id
// string, so the index costs no allocation per WWPN.
type owner struct{ kind, id string }

func (o owner) String() string { return o.kind + "/" + o.id }

// New checks the configuration; it does no I/O.
func New(cfg Config) (*Inventory, error) {
	if cfg.Store == nil {
		return nil, errors.New("inventory: a store is required")
	}
	if cfg.Devices == nil {
		return nil, errors.New("inventory: devices are required")
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Log == nil {
		cfg.Log = logrus.StandardLogger()
	}
	if len(cfg.VportPools) == 0 {
		cfg.VportPools = []wwn.Pool{{OUI: wwn.OUIQEMU, First: 1 << 32, Last: 1<<36 - 1}}
	}
	if cfg.NodeInUse == nil {
		cfg.NodeInUse = func(string) (string, bool) { return "", false }
	}
	dev := cfg.Devices
	s := &Inventory{
		cfg: cfg, st: cfg.Store, clk: cfg.Clock, log: cfg.Log,
		sites:     map[string]Site{},
		dev:       dev,
		fabrics:   dev.Fabrics(),
		arrays:    dev.Arrays(),
		fabIDs:    dev.FabricIDs(),
		arrIDs:    dev.ArrayIDs(),
		hosts:     map[string]*Host{},
		vms:       map[string]*VM{},
		volumes:   map[string]*Volume{},
		wwpnOwner: map[wwn.WWN]owner{},
		vmZoned:   map[string]bool{},
		deletedAt: map[string]time.Time{},
		tables:    map[string]*pathTable{},
	}
	for _, site := range cfg.Sites {
		if err := ValidID(site.ID); err != nil {
			return nil, fmt.Errorf("inventory: site: %w", err)
		}
		if _, dup := s.sites[site.ID]; dup {
			return nil, fmt.Errorf("inventory: site %q configured twice", site.ID)
		}
		s.sites[site.ID] = site
	}
	for _, l := range cfg.Links {
		if _, ok := s.sites[l.From]; !ok {
			return nil, fmt.Errorf("inventory: link %s-%s: unknown site %q", l.From, l.To, l.From)
		}
		if _, ok := s.sites[l.To]; !ok {
			return nil, fmt.Errorf("inventory: link %s-%s: unknown site %q", l.From, l.To, l.To)
		}
	}
	gen, err := wwn.NewGenerator(s.wwpnTaken, cfg.VportPools...)
	if err != nil {
		return nil, fmt.Errorf("inventory: vport pools: %w", err)
	}
	s.gen = gen
	dev.OnRefresh(s.afterRefresh)
	return s, nil
}

// KnownSite reports whether a site is configured.
func (s *Inventory) KnownSite(id string) bool { _, ok := s.sites[id]; return ok }

// SetZoner gives the inventory the Zoner whose adopted intents it loads and
// whose intents it forgets with a deleted host or VM. Call it before Start.
func (s *Inventory) SetZoner(z *fabric.Zoner) { s.zoner = z }

// Start loads the inventory from the store, reads every device once and, on
// the very first start, discovers the inventory from the devices. loaded, if
// not nil, runs after the records are in memory and before the inventory
// counts as discovered (the layers above load their own records there). A
// device that does not answer does not fail Start: the inventory stays
// not-ready and the refresh loop keeps trying.
func (s *Inventory) Start(ctx context.Context, loaded func() error) error {
	for _, site := range s.cfg.Sites {
		if err := s.st.Put(kindSite, site.ID, site); err != nil {
			return fmt.Errorf("inventory: save site: %w", err)
		}
	}
	for _, l := range s.cfg.Links {
		if err := s.st.Put(kindLink, l.From+"-"+l.To, l); err != nil {
			return fmt.Errorf("inventory: save link: %w", err)
		}
	}
	var cursor []uint64
	switch err := s.st.Get(kindMeta, metaVportCursor, &cursor); {
	case err == nil:
		s.gen.Advance(cursor)
	case !errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("inventory: %w", err)
	}
	var mark struct{ At time.Time }
	switch err := s.st.Get(kindMeta, "discovered", &mark); {
	case err == nil:
		// The store and the devices are read side by side: on a large
		// inventory each takes about as long as the other.
		var wg sync.WaitGroup
		var chunks []adoptedChunk
		var placed []VMZoning
		var adoptErr, placedErr error
		wg.Go(func() { s.dev.ReadAll(ctx) })
		wg.Go(func() { chunks, adoptErr = s.loadAdopted() })
		wg.Go(func() { placed, placedErr = s.loadVMZoning() })
		err := s.load()
		wg.Wait()
		if err := errors.Join(err, adoptErr, placedErr); err != nil {
			return err
		}
		s.mu.Lock()
		for _, z := range placed {
			s.vmZoned[z.VM] = true
		}
		s.mu.Unlock()
		s.mu.RLock()
		s.adoptLoaded(chunks)
		s.adoptPlaced(placed)
		s.mu.RUnlock()
		if loaded != nil {
			if err := loaded(); err != nil {
				return err
			}
		}
		s.discovered.Store(true)
		if err := s.reconcileVolumes(); err != nil {
			s.log.WithError(err).Warn("volume records not updated")
		}
		s.diffCompute()
	case errors.Is(err, store.ErrNotFound):
		s.dev.Refresh(ctx)
	default:
		return fmt.Errorf("inventory: %w", err)
	}
	return nil
}

// afterRefresh runs after every full re-read of the devices (under the
// refresh, so never twice at once): discovery on the first, then the volume
// reconcile and the compute diff.
func (s *Inventory) afterRefresh(context.Context) {
	defer s.diffCompute()
	if !s.discovered.Load() {
		if err := s.discover(); err != nil {
			s.log.WithError(err).Warn("discovery postponed")
		}
		return
	}
	if err := s.reconcileVolumes(); err != nil {
		s.log.WithError(err).Warn("volume records not updated")
	}
}

// Discovered reports whether the inventory has been discovered or loaded.
func (s *Inventory) Discovered() bool { return s.discovered.Load() }

// load reads the inventory records into memory, the kinds side by side.
func (s *Inventory) load() error {
	hosts := map[string]*Host{}
	vms := map[string]*VM{}
	volumes := map[string]*Volume{}
	var wg sync.WaitGroup
	errs := make([]error, 3)
	wg.Go(func() { errs[0] = LoadKind(s.st, kindHost, func(h *Host) { hosts[h.ID] = h }) })
	wg.Go(func() { errs[1] = LoadKind(s.st, KindVM, func(v *VM) { vms[v.ID] = v }) })
	wg.Go(func() { errs[2] = LoadKind(s.st, KindVolume, func(v *Volume) { volumes[v.ID] = v }) })
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hosts, s.vms, s.volumes = hosts, vms, volumes
	s.indexOwnersLocked()
	s.log.WithFields(logrus.Fields{"hosts": len(hosts), "vms": len(vms), "volumes": len(volumes)}).Info("inventory loaded")
	return nil
}

// indexOwnersLocked rebuilds the WWPN → owner index; s.mu is held.
func (s *Inventory) indexOwnersLocked() { s.wwpnOwner = ownersOf(s.hosts, s.vms) }

func ownersOf(hosts map[string]*Host, vms map[string]*VM) map[wwn.WWN]owner {
	out := make(map[wwn.WWN]owner, len(hosts)*2+len(vms)*4)
	for _, h := range hosts {
		for _, hba := range h.HBAs {
			out[hba.WWPN] = owner{"host", h.ID}
		}
	}
	for _, v := range vms {
		for _, p := range v.Vports {
			out[p.WWPN] = owner{"vm", v.ID}
		}
	}
	return out
}

// RLock, RUnlock, Lock and Unlock guard the records for callers that change
// several of them as one step (attach and detach): the *Locked methods need
// the lock held.
func (s *Inventory) RLock()   { s.mu.RLock() }
func (s *Inventory) RUnlock() { s.mu.RUnlock() }
func (s *Inventory) Lock()    { s.mu.Lock() }
func (s *Inventory) Unlock()  { s.mu.Unlock() }

// HostLocked returns the host record; never change it in place.
func (s *Inventory) HostLocked(id string) (*Host, bool) { h, ok := s.hosts[id]; return h, ok }

// VMLocked returns the VM record; never change it in place.
func (s *Inventory) VMLocked(id string) (*VM, bool) { v, ok := s.vms[id]; return v, ok }

// VolumeLocked returns the volume record; never change it in place.
func (s *Inventory) VolumeLocked(id string) (*Volume, bool) { v, ok := s.volumes[id]; return v, ok }

// SetVMLocked replaces a VM's record in memory (the caller has stored it).
func (s *Inventory) SetVMLocked(v *VM) { s.vms[v.ID] = v }

// VMsLocked calls f with every VM record, in no order, until f returns
// false; the caller holds the lock and must not change the records.
func (s *Inventory) VMsLocked(f func(*VM) bool) {
	for _, v := range s.vms {
		if !f(v) {
			return
		}
	}
}

// SetVolumeLocked replaces a volume's record in memory (the caller has
// stored it).
func (s *Inventory) SetVolumeLocked(v *Volume) { s.volumes[v.ID] = v }

// OwnerLocked names the host or VM ("host/ID", "vm/ID") that owns a WWPN.
func (s *Inventory) OwnerLocked(w wwn.WWN) (string, bool) {
	o, ok := s.wwpnOwner[w]
	if !ok {
		return "", false
	}
	return o.String(), true
}

// OwnsWWPNOn says whether w is a port of the inventory on fabric: a VM's
// vport or a host's HBA recorded there. A zone naming a VM's vport on a
// fabric the VM has left is no path of it.
func (s *Inventory) OwnsWWPNOn(fabric string, w wwn.WWN) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	o, ok := s.wwpnOwner[w]
	switch {
	case !ok:
		return false
	case o.kind == "vm":
		v := s.vms[o.id]
		return v != nil && slices.ContainsFunc(v.Vports, func(p Vport) bool { return p.WWPN == w && p.Fabric == fabric })
	case o.kind == "host":
		h := s.hosts[o.id]
		return h != nil && slices.ContainsFunc(h.HBAs, func(b HBA) bool { return b.WWPN == w && b.Fabric == fabric })
	}
	return false
}

// Store is the store the inventory keeps its records in.
func (s *Inventory) Store() *store.Store { return s.st }

// DeleteVolumeLocked forgets a volume's record in memory, remembering when,
// so that a refresh that still sees it on the array does not bring it back.
// The caller has deleted the stored record.
func (s *Inventory) DeleteVolumeLocked(id string) {
	delete(s.volumes, id)
	s.deletedAt[id] = s.clk.Now()
}
