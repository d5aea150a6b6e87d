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
	"github.com/sanmob/sanmob/internal/clockwait"
	"github.com/sanmob/sanmob/internal/keylock"
	"github.com/sanmob/sanmob/inventory"
	"github.com/sanmob/sanmob/replication"
	"github.com/sanmob/sanmob/saga"
	"github.com/sanmob/sanmob/store"
	"github.com/sanmob/sanmob/thin"
)

// Config wires the core to its store, clock and devices.
type Config struct {
	Store   *store.Store
	Clock   clock.Clock // the lab's virtual clock in lab mode
	Log     logrus.FieldLogger
	Sites   []inventory.Site
	Links   []inventory.Link
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
	// Alerts is where the core raises its alerts (drift, failed
	// operations); the daemon creates it, so that the sinks that deliver
	// alerts and every raiser share one. A manager of its own when nil.
	Alerts *alert.Manager
	// SagaBackoff is how multi-step operations retry transient errors
	// (default: saga's).
	SagaBackoff saga.Backoff
	// ZoneMode is how zoning requests become commits (default group commit).
	ZoneMode fabric.Mode
	// CopiesPerLink is how many cross-site moves may run their initial
	// copy over one inter-site link at once (default DefaultCopiesPerLink).
	CopiesPerLink int
	// ReplicationRPO is what ReplicationLagHigh holds replication groups to
	// (default replication.DefaultRPO).
	ReplicationRPO time.Duration
	// Thin configures the pool watcher (sampling period, retention,
	// thresholds); its Devices, Store, Clock, Alerts, Log and Sites are the
	// service's.
	Thin thin.Config
	// QueueDepth configures the queue-depth controller (queuedepth.go).
	QueueDepth QueueDepthConfig
}

// Replication is the replication groups' watcher: the groups and pairs as
// last read, for the API.
func (s *Service) Replication() *replication.Watcher { return s.repl }

// Service orchestrates changes to the devices (volumes, snapshots, attach
// and detach) over the inventory, which it embeds: the inventory's reads
// (hosts, VMs, volumes, topology) are the Service's too.
type Service struct {
	*inventory.Inventory

	cfg     Config
	st      *store.Store
	clk     clock.PassiveClock
	log     logrus.FieldLogger
	fabrics map[string]*devices.FabricDev
	arrays  map[string]*devices.ArrayDev
	fabIDs  []string
	arrIDs  []string
	dev     *devices.Devices
	started atomic.Bool

	zoner  *fabric.Zoner
	vports *fabric.Vports
	alerts *alert.Manager

	attachments map[string]*attachRecord  // by volume/node; under the inventory's lock
	reserved    map[string]map[int]string // LUN ids sanmob mapped, by host group; under the inventory's lock
	volLocks    keylock.Locks[string]     // one attach, detach or delete of a volume at a time
	hgLocks     keylock.Locks[string]     // one LUN choice and map per host group at a time
	nameLocks   keylock.Locks[string]     // one create of a name at a time
	nodeLocks   keylock.Locks[string]     // one vport login or logout step per node at a time
	claims      map[string]*claimRecord   // zoning claims by owner/key; under the inventory's lock
	claimRuns   map[string]*claimRecord   // new claims whose first run is not over, by owner/key; under the inventory's lock
	claimLocks  keylock.Locks[string]     // one change of a claim at a time

	sagas *saga.Executor // runs every change that touches more than one device
	evac  evacuations    // the evacuations' runners and signals

	events *migrationEvents // the migrations' event stream (migration_edges.go)

	drift map[string]*atomic.Pointer[driftMemo] // by fabric: what the last drift check compared

	repl   *replication.Watcher // the replication groups as last read
	thin   *thin.Watcher        // the pools' history, forecasts and alerts (pools.go)
	qd     *queueDepths         // telemetry, the queue-depth controller and its output (queuedepth.go)
	copies *copySlots           // initial copies running per link

	dark darkState // first sightings of dark volumes (darkstorage.go)

	poolMu    sync.Mutex
	poolHolds map[string]map[string]int64 // by moving VM: bytes held per destination array/pool
	startMu   sync.Mutex                  // one StartMigration plans at a time (see there)
}

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
	s := &Service{
		cfg: cfg, st: cfg.Store, clk: cfg.Clock, log: cfg.Log,
		drift:       map[string]*atomic.Pointer[driftMemo]{},
		attachments: map[string]*attachRecord{},
		claims:      map[string]*claimRecord{},
		claimRuns:   map[string]*claimRecord{},
		reserved:    map[string]map[int]string{},
		poolHolds:   map[string]map[string]int64{},
		copies:      newCopySlots(),
	}
	if cfg.CopiesPerLink <= 0 {
		s.cfg.CopiesPerLink = DefaultCopiesPerLink
	}
	s.events = newMigrationEvents(s)
	sites := map[string]bool{}
	for _, site := range cfg.Sites {
		sites[site.ID] = true
	}
	dev, err := devices.New(devices.Config{Clock: cfg.Clock, Log: cfg.Log, Fabrics: cfg.Fabrics, Arrays: cfg.Arrays,
		Compute: cfg.Compute, DriverTimeout: cfg.DriverTimeout, RefreshInterval: cfg.RefreshInterval,
		KnownSite: func(id string) bool { return sites[id] }})
	if err != nil {
		return nil, fmt.Errorf("mobility: %w", err)
	}
	inv, err := inventory.New(inventory.Config{Store: cfg.Store, Clock: cfg.Clock, Log: cfg.Log, Sites: cfg.Sites,
		Links: cfg.Links, Devices: dev, VportPools: cfg.VportPools, NodeInUse: s.nodeAttachedLocked})
	if err != nil {
		return nil, fmt.Errorf("mobility: %w", err)
	}
	s.Inventory = inv
	s.dev, s.fabrics, s.arrays = dev, dev.Fabrics(), dev.Arrays()
	s.cfg.DriverTimeout = dev.Timeout() // the devices' default when unset
	s.fabIDs, s.arrIDs = dev.FabricIDs(), dev.ArrayIDs()
	for _, id := range s.fabIDs {
		s.drift[id] = new(atomic.Pointer[driftMemo])
	}
	// After the inventory's own hook (discovery, volume reconcile): the
	// drift check reads the inventory's WWPNs.
	dev.OnRefresh(func(context.Context) { s.checkDrift() })
	s.alerts = cfg.Alerts
	if s.alerts == nil {
		s.alerts = alert.NewManager(s.clk, 0)
	}
	s.repl = replication.New(replication.Config{Devices: dev, Clock: cfg.Clock, Alerts: s.alerts, Log: cfg.Log, RPO: cfg.ReplicationRPO})
	inv.SetReplicaState(func(group string) (string, int64, bool) {
		g, ok := s.repl.Group(group)
		return g.State, g.LagBytes, ok
	})
	dev.OnRefresh(func(ctx context.Context) {
		if err := s.repl.Refresh(ctx); err != nil {
			s.log.WithError(err).Warn("replication groups not read")
		}
	})
	s.thin = s.newThinWatcher(dev)
	s.qd = newQueueDepths(s, cfg.QueueDepth)
	dev.OnRefresh(func(context.Context) { s.noteDark() })
	if s.zoner, err = s.newZoner(); err != nil {
		return nil, fmt.Errorf("mobility: zoning: %w", err)
	}
	inv.SetZoner(s.zoner)
	bo := cfg.SagaBackoff
	if bo.UndoAttempts == 0 {
		// An undo kept from finishing leaves a run failed and pages a
		// person: ride out a device's outage of about two minutes first
		// (with the default backoff, capped at 30 s).
		bo.UndoAttempts = 12
	}
	if s.sagas, err = saga.New(saga.Config{Store: cfg.Store, Clock: cfg.Clock, Log: cfg.Log,
		Backoff: bo, Observe: s.observeRun}); err != nil {
		return nil, fmt.Errorf("mobility: %w", err)
	}
	s.sagas.Register(sagaAttachment, s.attachSteps)
	s.sagas.Register(sagaVMSnapshot, s.vmSnapshotSteps)
	s.sagas.Register(sagaMigration, s.migrationSteps)
	s.sagas.Register(sagaClaim, s.claimSteps)
	return s, nil
}

// Start loads the inventory and the attachments, reads every device once
// and, on the very first start, discovers the inventory from the devices.
func (s *Service) Start(ctx context.Context) error {
	if err := s.Inventory.Start(ctx, func() error {
		return errors.Join(s.loadAttachments(), s.loadClaims(), s.loadMigrations(), s.thin.Load())
	}); err != nil {
		return err
	}
	s.started.Store(true)
	return nil
}

// Run refreshes the observed device state until ctx ends, and beside it,
// on the service's clock, samples the pools (thin) and closes the
// queue-depth control periods.
func (s *Service) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { s.thin.Run(ctx) })
	wg.Go(func() { s.qd.run(ctx) })
	_ = s.dev.Run(ctx)
	wg.Wait()
}

// RunSagas runs the saga executor until ctx ends: it resumes the runs a
// crash left unfinished, then every run submitted. Start it after Start
// (the attachments are loaded then); runs submitted before wait for it.
// Beside it run the evacuations (RunEvacuations), which drive migrations.
func (s *Service) RunSagas(ctx context.Context) error {
	done := make(chan struct{})
	go func() { defer close(done); s.pruneRuns(ctx) }()
	ectx, stop := context.WithCancel(ctx) // the evacuations end with the executor
	evacDone := make(chan struct{})
	go func() { defer close(evacDone); s.RunEvacuations(ectx) }()
	err := s.sagas.Run(ctx)
	stop()
	<-done
	<-evacDone
	return err
}

// keepRuns is how long the record of a run that ended done or undone is
// kept (an undone detach's error, a migration's history); failed runs are
// kept until they are undone. Without it the records, and what a start reads
// of them, would grow with every attach ever made.
const keepRuns = 7 * 24 * time.Hour

// pruneRuns deletes the records of runs over keepRuns, now and then daily
// (on the service's clock), until ctx ends.
func (s *Service) pruneRuns(ctx context.Context) {
	for {
		if n, err := s.sagas.Prune(keepRuns); err != nil {
			s.log.WithError(err).Warn("pruning old saga runs")
		} else if n > 0 {
			s.log.WithField("runs", n).Info("pruned old saga runs")
		}
		if clockwait.Sleep(ctx, s.cfg.Clock, 24*time.Hour) != nil {
			return
		}
	}
}

// Operations lists the saga runs of a kind ("" for all), oldest first.
func (s *Service) Operations(kind string) ([]saga.Run, error) { return s.sagas.List(kind) }

// Refresh re-reads every device now.
func (s *Service) Refresh(ctx context.Context) { s.dev.Refresh(ctx) }

// Readiness reports whether the inventory is loaded and every device has
// answered at least once, and if not, why.
func (s *Service) Readiness() (bool, []string) {
	var why []string
	if !s.started.Load() {
		why = append(why, "starting")
	}
	why = append(why, s.dev.Readiness()...)
	if !s.Discovered() {
		why = append(why, "inventory not yet discovered")
	}
	return len(why) == 0, why
}
