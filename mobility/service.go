package mobility

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
	"k8s.io/utils/clock"

	"github.com/sanmob/sanmob/alert"
	"github.com/sanmob/sanmob/compute"
	"github.com/sanmob/sanmob/devices"
	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/fabric/wwn"
	"github.com/sanmob/sanmob/internal/keylock"
	"github.com/sanmob/sanmob/store"
)

// Config wires the core to its store, clock and devices.
type Config struct {
	Store   *store.Store
	Clock   clock.PassiveClock // the lab's virtual clock in lab mode
	Log     logrus.FieldLogger
	Sites   []Site
	Links   []Link
	Fabrics []devices.FabricDevice
	Arrays  []devices.ArrayDevice
	Compute compute.Driver
	// DriverTimeout bounds every device read (default 30 s).
	DriverTimeout time.Duration
	// RefreshInterval is how often observed device state is re-read
	// (default 30 s of real time).
	RefreshInterval time.Duration
	// VportPools are where generated NPIV names come from (default: QEMU OUI).
	VportPools []wwn.Pool
	// ZonePolicies choose each fabric's zoning policy (default SIST).
	ZonePolicies map[string]fabric.Policy
	// ZoneMode is how zoning requests become commits (default group commit).
	ZoneMode fabric.Mode
}

// Service is the inventory and its view of the devices.
type Service struct {
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
	computeDiff atomic.Pointer[computeDiff]
	discovered  atomic.Bool
	started     atomic.Bool

	gen *wwn.Generator

	mu        sync.RWMutex // guards the inventory below
	hosts     map[string]*Host
	vms       map[string]*VM
	volumes   map[string]*Volume
	wwpnOwner map[wwn.WWN]owner // every WWPN in the inventory → its host or VM

	zoner  *fabric.Zoner
	vports *fabric.Vports
	alerts *alert.Manager

	attachments map[string]*attachRecord  // by volume/node; under mu
	deletedAt   map[string]time.Time      // volumes deleted through the API; under mu
	reserved    map[string]map[int]string // LUN ids sanmob mapped, by host group; under mu
	volLocks    keylock.Locks[string]     // one attach, detach or delete of a volume at a time
	hgLocks     keylock.Locks[string]     // one LUN choice and map per host group at a time
	nameLocks   keylock.Locks[string]     // one create of a name at a time

	drift map[string]*atomic.Pointer[driftMemo] // by fabric: what the last drift check compared

	tablesMu sync.Mutex
	tables   map[string]*pathTable // by VM id; see pathTable
}

// owner is the inventory object a WWPN belongs to. It shares the record's id
// string, so the index costs no allocation per WWPN.
type owner struct{ kind, id string }

func (o owner) String() string { return o.kind + "/" + o.id }

// New checks the configuration; it does no I/O.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("mobility: a store is required")
	}
	if cfg.Compute == nil {
		return nil, errors.New("mobility: a compute driver is required")
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Log == nil {
		cfg.Log = logrus.StandardLogger()
	}
	if cfg.DriverTimeout <= 0 {
		cfg.DriverTimeout = 30 * time.Second
	}
	if cfg.RefreshInterval <= 0 {
		cfg.RefreshInterval = 30 * time.Second
	}
	if len(cfg.VportPools) == 0 {
		cfg.VportPools = []wwn.Pool{{OUI: wwn.OUIQEMU, First: 1 << 32, Last: 1<<36 - 1}}
	}
	s := &Service{
		cfg: cfg, st: cfg.Store, clk: cfg.Clock, log: cfg.Log,
		sites:     map[string]Site{},
		drift:     map[string]*atomic.Pointer[driftMemo]{},
		hosts:     map[string]*Host{},
		vms:       map[string]*VM{},
		volumes:   map[string]*Volume{},
		wwpnOwner: map[wwn.WWN]owner{},

		attachments: map[string]*attachRecord{},
		deletedAt:   map[string]time.Time{},
		reserved:    map[string]map[int]string{},
		tables:      map[string]*pathTable{},
	}
	for _, site := range cfg.Sites {
		if err := validID(site.ID); err != nil {
			return nil, fmt.Errorf("mobility: site: %w", err)
		}
		if _, dup := s.sites[site.ID]; dup {
			return nil, fmt.Errorf("mobility: site %q configured twice", site.ID)
		}
		s.sites[site.ID] = site
	}
	for _, l := range cfg.Links {
		if _, ok := s.sites[l.From]; !ok {
			return nil, fmt.Errorf("mobility: link %s-%s: unknown site %q", l.From, l.To, l.From)
		}
		if _, ok := s.sites[l.To]; !ok {
			return nil, fmt.Errorf("mobility: link %s-%s: unknown site %q", l.From, l.To, l.To)
		}
	}
	dev, err := devices.New(devices.Config{Clock: cfg.Clock, Log: cfg.Log, Fabrics: cfg.Fabrics, Arrays: cfg.Arrays,
		Compute: cfg.Compute, DriverTimeout: cfg.DriverTimeout, RefreshInterval: cfg.RefreshInterval,
		KnownSite: func(id string) bool { _, ok := s.sites[id]; return ok }})
	if err != nil {
		return nil, fmt.Errorf("mobility: %w", err)
	}
	s.dev, s.fabrics, s.arrays = dev, dev.Fabrics(), dev.Arrays()
	dev.OnRefresh(s.afterRefresh)
	s.fabIDs, s.arrIDs = dev.FabricIDs(), dev.ArrayIDs()
	for _, id := range s.fabIDs {
		s.drift[id] = new(atomic.Pointer[driftMemo])
	}
	gen, err := wwn.NewGenerator(s.wwpnTaken, cfg.VportPools...)
	if err != nil {
		return nil, fmt.Errorf("mobility: vport pools: %w", err)
	}
	s.gen = gen
	s.alerts = alert.NewManager(s.clk, 0)
	if s.zoner, err = s.newZoner(); err != nil {
		return nil, fmt.Errorf("mobility: zoning: %w", err)
	}
	return s, nil
}

// Start loads the inventory from the store, reads every device once and, on
// the very first start, discovers the inventory from the devices. A device
// that does not answer does not fail Start: the service stays not-ready and
// Run keeps trying.
func (s *Service) Start(ctx context.Context) error {
	for _, site := range s.cfg.Sites {
		if err := s.st.Put(kindSite, site.ID, site); err != nil {
			return fmt.Errorf("mobility: save site: %w", err)
		}
	}
	for _, l := range s.cfg.Links {
		if err := s.st.Put(kindLink, l.From+"-"+l.To, l); err != nil {
			return fmt.Errorf("mobility: save link: %w", err)
		}
	}
	var cursor []uint64
	switch err := s.st.Get(kindMeta, metaVportCursor, &cursor); {
	case err == nil:
		s.gen.Advance(cursor)
	case !errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("mobility: %w", err)
	}
	var mark struct{ At time.Time }
	switch err := s.st.Get(kindMeta, "discovered", &mark); {
	case err == nil:
		// The store and the devices are read side by side: on a large
		// inventory each takes about as long as the other.
		var wg sync.WaitGroup
		var chunks []adoptedChunk
		var adoptErr error
		wg.Go(func() { s.dev.ReadAll(ctx) })
		wg.Go(func() { chunks, adoptErr = s.loadAdopted() })
		err := s.load()
		wg.Wait()
		if err := errors.Join(err, adoptErr); err != nil {
			return err
		}
		s.mu.RLock()
		s.adoptLoaded(chunks)
		s.mu.RUnlock()
		if err := s.loadAttachments(); err != nil {
			return err
		}
		s.discovered.Store(true)
		if err := s.reconcileVolumes(); err != nil {
			s.log.WithError(err).Warn("volume records not updated")
		}
		s.diffCompute()
	case errors.Is(err, store.ErrNotFound):
		s.dev.Refresh(ctx)
	default:
		return fmt.Errorf("mobility: %w", err)
	}
	s.started.Store(true)
	return nil
}

// Run refreshes the observed device state until ctx ends.
func (s *Service) Run(ctx context.Context) { _ = s.dev.Run(ctx) }

// Refresh re-reads every device now.
func (s *Service) Refresh(ctx context.Context) { s.dev.Refresh(ctx) }

// afterRefresh runs after every full re-read of the devices (under the
// refresh, so never twice at once): discovery on the first, then the volume
// reconcile, the drift check and the compute diff.
func (s *Service) afterRefresh(context.Context) {
	defer s.diffCompute()
	defer s.checkDrift()
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

// Readiness reports whether the inventory is loaded and every device has
// answered at least once, and if not, why.
func (s *Service) Readiness() (bool, []string) {
	var why []string
	if !s.started.Load() {
		why = append(why, "starting")
	}
	why = append(why, s.dev.Readiness()...)
	if !s.discovered.Load() {
		why = append(why, "inventory not yet discovered")
	}
	return len(why) == 0, why
}

// load reads the inventory records into memory, the kinds side by side.
func (s *Service) load() error {
	hosts := map[string]*Host{}
	vms := map[string]*VM{}
	volumes := map[string]*Volume{}
	var wg sync.WaitGroup
	errs := make([]error, 3)
	wg.Go(func() { errs[0] = loadKind(s.st, kindHost, func(h *Host) { hosts[h.ID] = h }) })
	wg.Go(func() { errs[1] = loadKind(s.st, kindVM, func(v *VM) { vms[v.ID] = v }) })
	wg.Go(func() { errs[2] = loadKind(s.st, kindVolume, func(v *Volume) { volumes[v.ID] = v }) })
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
func (s *Service) indexOwnersLocked() { s.wwpnOwner = ownersOf(s.hosts, s.vms) }

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
