package mobility

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
	"k8s.io/utils/clock"

	"github.com/sanmob/sanmob/alert"
	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/compute"
	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/fabric/wwn"
	"github.com/sanmob/sanmob/internal/keylock"
	"github.com/sanmob/sanmob/store"
)

// FabricDevice is a configured fabric and the driver that reaches it.
type FabricDevice struct {
	ID         string
	Site       string
	DriverName string
	Driver     fabric.Driver
}

// ArrayDevice is a configured array and the driver that reaches it.
type ArrayDevice struct {
	ID         string
	Site       string
	DriverName string
	Driver     array.Driver
}

// Config wires the core to its store, clock and devices.
type Config struct {
	Store   *store.Store
	Clock   clock.PassiveClock // the lab's virtual clock in lab mode
	Log     logrus.FieldLogger
	Sites   []Site
	Links   []Link
	Fabrics []FabricDevice
	Arrays  []ArrayDevice
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

type DevStatus struct {
	At  time.Time
	Err error
}

type FabricDev struct {
	FabricDevice
	Obs     atomic.Pointer[FabricObs]
	Status  atomic.Pointer[DevStatus]
	driftAt atomic.Pointer[driftMemo]
}

type ArrayDev struct {
	ArrayDevice
	Obs    atomic.Pointer[ArrayObs]
	Status atomic.Pointer[DevStatus]
}

// Service is the inventory and its view of the devices.
type Service struct {
	cfg     Config
	st      *store.Store
	clk     clock.PassiveClock
	log     logrus.FieldLogger
	sites   map[string]Site
	fabrics map[string]*FabricDev
	arrays  map[string]*ArrayDev
	fabIDs  []string
	arrIDs  []string

	computeObs    atomic.Pointer[ComputeObs]
	computeDiff   atomic.Pointer[computeDiff]
	computeStatus atomic.Pointer[DevStatus]
	discovered    atomic.Bool
	started       atomic.Bool

	gen *wwn.Generator

	// refreshMu serialises refreshes, and with them the volume reconcile.
	refreshMu sync.Mutex

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
	kick        chan struct{}             // refresh soon

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
		fabrics:   map[string]*FabricDev{},
		arrays:    map[string]*ArrayDev{},
		hosts:     map[string]*Host{},
		vms:       map[string]*VM{},
		volumes:   map[string]*Volume{},
		wwpnOwner: map[wwn.WWN]owner{},

		attachments: map[string]*attachRecord{},
		deletedAt:   map[string]time.Time{},
		reserved:    map[string]map[int]string{},
		tables:      map[string]*pathTable{},
		kick:        make(chan struct{}, 1),
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
	for _, f := range cfg.Fabrics {
		if err := validID(f.ID); err != nil {
			return nil, fmt.Errorf("mobility: fabric: %w", err)
		}
		if _, ok := s.sites[f.Site]; !ok {
			return nil, fmt.Errorf("mobility: fabric %q: unknown site %q", f.ID, f.Site)
		}
		if _, dup := s.fabrics[f.ID]; dup {
			return nil, fmt.Errorf("mobility: fabric %q configured twice", f.ID)
		}
		if f.Driver == nil {
			return nil, fmt.Errorf("mobility: fabric %q has no driver", f.ID)
		}
		s.fabrics[f.ID] = &FabricDev{FabricDevice: f}
		s.fabIDs = append(s.fabIDs, f.ID)
	}
	for _, a := range cfg.Arrays {
		if err := validID(a.ID); err != nil {
			return nil, fmt.Errorf("mobility: array: %w", err)
		}
		if _, ok := s.sites[a.Site]; !ok {
			return nil, fmt.Errorf("mobility: array %q: unknown site %q", a.ID, a.Site)
		}
		if _, dup := s.arrays[a.ID]; dup {
			return nil, fmt.Errorf("mobility: array %q configured twice", a.ID)
		}
		if a.Driver == nil {
			return nil, fmt.Errorf("mobility: array %q has no driver", a.ID)
		}
		s.arrays[a.ID] = &ArrayDev{ArrayDevice: a}
		s.arrIDs = append(s.arrIDs, a.ID)
	}
	sort.Strings(s.fabIDs)
	sort.Strings(s.arrIDs)
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
		wg.Go(func() { s.readDevices(ctx) })
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
		s.refresh(ctx)
	default:
		return fmt.Errorf("mobility: %w", err)
	}
	s.started.Store(true)
	return nil
}

// Run refreshes the observed device state until ctx ends.
func (s *Service) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.RefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.refresh(ctx)
		case <-s.kick:
			// A burst of changes (attaches in a batch) costs one re-read.
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
			s.refresh(ctx)
		}
	}
}

// Refresh re-reads every device now.
func (s *Service) Refresh(ctx context.Context) { s.refresh(ctx) }

func (s *Service) refresh(ctx context.Context) {
	s.refreshMu.Lock()
	defer s.refreshMu.Unlock()
	s.readDevices(ctx)
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

// readDevices reads every device once, in parallel, each under its own
// timeout, and keeps what answered as the newest observation.
func (s *Service) readDevices(ctx context.Context) {
	var wg sync.WaitGroup
	for _, f := range s.fabrics {
		wg.Go(func() {
			c, cancel := context.WithTimeout(ctx, s.cfg.DriverTimeout)
			defer cancel()
			o, err := ReadFabric(c, f.Driver, s.clk.Now(), f.Obs.Load())
			s.record(&f.Status, err, logrus.Fields{"fabric": f.ID})
			if err == nil {
				f.Obs.Store(o)
			}
		})
	}
	for _, a := range s.arrays {
		wg.Go(func() {
			c, cancel := context.WithTimeout(ctx, s.cfg.DriverTimeout)
			defer cancel()
			o, err := ReadArray(c, a.Driver, s.clk.Now(), a.Obs.Load())
			s.record(&a.Status, err, logrus.Fields{"array": a.ID})
			if err == nil {
				a.Obs.Store(o)
			}
		})
	}
	wg.Go(func() {
		c, cancel := context.WithTimeout(ctx, s.cfg.DriverTimeout)
		defer cancel()
		o, err := ReadCompute(c, s.cfg.Compute, s.clk.Now())
		s.record(&s.computeStatus, err, logrus.Fields{"device": "compute"})
		if err == nil {
			s.computeObs.Store(o)
		}
	})
	wg.Wait()
}

func (s *Service) record(p *atomic.Pointer[DevStatus], err error, f logrus.Fields) {
	prev := p.Load()
	p.Store(&DevStatus{At: s.clk.Now(), Err: err})
	switch {
	case err != nil && (prev == nil || prev.Err == nil):
		s.log.WithFields(f).WithError(err).Warn("device read failed")
	case err == nil && prev != nil && prev.Err != nil:
		s.log.WithFields(f).Info("device answers again")
	}
}

// Readiness reports whether the inventory is loaded and every device has
// answered at least once, and if not, why.
func (s *Service) Readiness() (bool, []string) {
	var why []string
	if !s.started.Load() {
		why = append(why, "starting")
	}
	for _, id := range s.fabIDs {
		f := s.fabrics[id]
		if f.Obs.Load() == nil {
			why = append(why, "fabric "+id+" has not answered"+statusSuffix(f.Status.Load()))
		}
	}
	for _, id := range s.arrIDs {
		a := s.arrays[id]
		if a.Obs.Load() == nil {
			why = append(why, "array "+id+" has not answered"+statusSuffix(a.Status.Load()))
		}
	}
	if s.computeObs.Load() == nil {
		why = append(why, "compute has not answered"+statusSuffix(s.computeStatus.Load()))
	}
	if !s.discovered.Load() {
		why = append(why, "inventory not yet discovered")
	}
	return len(why) == 0, why
}

func statusSuffix(st *DevStatus) string {
	if st == nil || st.Err == nil {
		return ""
	}
	return ": " + st.Err.Error()
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
