package devices

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

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/compute"
	"github.com/sanmob/sanmob/errclass"
	"github.com/sanmob/sanmob/fabric"
)

// ErrNotObserved: a device has not answered yet. Transient: it may.
var ErrNotObserved = errclass.New(errclass.Transient, "not observed yet")

// FabricDevice is a configured fabric and the driver that reaches it; Build
// makes them from Specs.
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

// DevStatus is the outcome of the last attempt to read a device.
type DevStatus struct {
	At  time.Time
	Err error
}

// FabricDev is a fabric with its last observation and read status.
type FabricDev struct {
	FabricDevice
	Obs    atomic.Pointer[FabricObs]
	Status atomic.Pointer[DevStatus]
}

// ArrayDev is an array with its last observation and read status.
type ArrayDev struct {
	ArrayDevice
	Obs    atomic.Pointer[ArrayObs]
	Status atomic.Pointer[DevStatus]
}

// Config lists the devices and how to reach them.
type Config struct {
	Clock   clock.PassiveClock
	Log     logrus.FieldLogger
	Fabrics []FabricDevice
	Arrays  []ArrayDevice
	Compute compute.Driver
	// DriverTimeout bounds every device read (default 30 s).
	DriverTimeout time.Duration
	// RefreshInterval is how often every device is re-read (default 30 s).
	RefreshInterval time.Duration
	// Ticker paces the refresh loop (default the real clock: the interval
	// is real time, whatever clock stamps the observations).
	Ticker clock.WithTicker
	// KnownSite validates each device's site; nil accepts any.
	KnownSite func(string) bool
}

// Devices is the registry of configured devices and their observations.
type Devices struct {
	cfg     Config
	clk     clock.PassiveClock
	log     logrus.FieldLogger
	fabrics map[string]*FabricDev
	arrays  map[string]*ArrayDev
	fabIDs  []string
	arrIDs  []string

	computeObs    atomic.Pointer[ComputeObs]
	computeStatus atomic.Pointer[DevStatus]

	hooksMu sync.Mutex
	hooks   []func(context.Context)
	kick    chan struct{}
}

// New checks the configuration; it does no I/O.
func New(cfg Config) (*Devices, error) {
	if cfg.Compute == nil {
		return nil, errors.New("devices: a compute driver is required")
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
	if cfg.Ticker == nil {
		cfg.Ticker = clock.RealClock{}
	}
	if cfg.KnownSite == nil {
		cfg.KnownSite = func(string) bool { return true }
	}
	d := &Devices{cfg: cfg, clk: cfg.Clock, log: cfg.Log,
		fabrics: map[string]*FabricDev{}, arrays: map[string]*ArrayDev{}, kick: make(chan struct{}, 1)}
	for _, f := range cfg.Fabrics {
		if err := checkDevice("fabric", f.ID, f.Site, f.Driver == nil, cfg.KnownSite, d.fabrics[f.ID] != nil); err != nil {
			return nil, err
		}
		d.fabrics[f.ID] = &FabricDev{FabricDevice: f}
		d.fabIDs = append(d.fabIDs, f.ID)
	}
	for _, a := range cfg.Arrays {
		if err := checkDevice("array", a.ID, a.Site, a.Driver == nil, cfg.KnownSite, d.arrays[a.ID] != nil); err != nil {
			return nil, err
		}
		d.arrays[a.ID] = &ArrayDev{ArrayDevice: a}
		d.arrIDs = append(d.arrIDs, a.ID)
	}
	sort.Strings(d.fabIDs)
	sort.Strings(d.arrIDs)
	return d, nil
}

func checkDevice(kind, id, site string, noDriver bool, knownSite func(string) bool, dup bool) error {
	switch {
	case id == "":
		return fmt.Errorf("devices: %s: an id is required", kind)
	case !knownSite(site):
		return fmt.Errorf("devices: %s %q: unknown site %q", kind, id, site)
	case dup:
		return fmt.Errorf("devices: %s %q configured twice", kind, id)
	case noDriver:
		return fmt.Errorf("devices: %s %q has no driver", kind, id)
	}
	return nil
}

// Fabrics returns the fabrics by id; the map is fixed after New.
func (d *Devices) Fabrics() map[string]*FabricDev { return d.fabrics }

// Arrays returns the arrays by id; the map is fixed after New.
func (d *Devices) Arrays() map[string]*ArrayDev { return d.arrays }

// FabricIDs lists the fabric ids, sorted.
func (d *Devices) FabricIDs() []string { return d.fabIDs }

// ArrayIDs lists the array ids, sorted.
func (d *Devices) ArrayIDs() []string { return d.arrIDs }

// Compute is the hypervisor manager's last observation, nil before one.
func (d *Devices) Compute() *ComputeObs { return d.computeObs.Load() }

// Timeout is the bound on one device call.
func (d *Devices) Timeout() time.Duration { return d.cfg.DriverTimeout }

// ReadAll reads every device once, in parallel, each under its own timeout,
// and keeps what answered as the newest observation.
func (d *Devices) ReadAll(ctx context.Context) {
	var wg sync.WaitGroup
	for _, f := range d.fabrics {
		wg.Go(func() { _, _ = d.ReadFabric(ctx, f) })
	}
	for _, a := range d.arrays {
		wg.Go(func() { _, _ = d.ReadArray(ctx, a) })
	}
	wg.Go(func() { _, _ = d.ReadCompute(ctx) })
	wg.Wait()
}

// ReadCompute reads the hypervisor manager now, like ReadFabric.
func (d *Devices) ReadCompute(ctx context.Context) (*ComputeObs, error) {
	c, cancel := context.WithTimeout(ctx, d.cfg.DriverTimeout)
	defer cancel()
	o, err := ReadCompute(c, d.cfg.Compute, d.clk.Now())
	d.record(&d.computeStatus, err, logrus.Fields{"device": "compute"})
	if err != nil {
		return nil, err
	}
	storeNewer(&d.computeObs, o, func(o *ComputeObs) time.Time { return o.At })
	return o, nil
}

// ReadFabric reads one fabric now and keeps the result unless a newer read
// got there first.
func (d *Devices) ReadFabric(ctx context.Context, f *FabricDev) (*FabricObs, error) {
	c, cancel := context.WithTimeout(ctx, d.cfg.DriverTimeout)
	defer cancel()
	o, err := ReadFabric(c, f.Driver, d.clk.Now(), f.Obs.Load())
	d.record(&f.Status, err, logrus.Fields{"fabric": f.ID})
	if err != nil {
		return nil, err
	}
	storeNewer(&f.Obs, o, func(o *FabricObs) time.Time { return o.At })
	return o, nil
}

// ReadArray reads one array now, like ReadFabric.
func (d *Devices) ReadArray(ctx context.Context, a *ArrayDev) (*ArrayObs, error) {
	c, cancel := context.WithTimeout(ctx, d.cfg.DriverTimeout)
	defer cancel()
	o, err := ReadArray(c, a.Driver, d.clk.Now(), a.Obs.Load())
	d.record(&a.Status, err, logrus.Fields{"array": a.ID})
	if err != nil {
		return nil, err
	}
	storeNewer(&a.Obs, o, func(o *ArrayObs) time.Time { return o.At })
	return o, nil
}

// storeNewer replaces an observation unless a newer one got there first.
func storeNewer[T any](p *atomic.Pointer[T], o *T, at func(*T) time.Time) {
	for {
		cur := p.Load()
		if cur != nil && at(cur).After(at(o)) {
			return
		}
		if p.CompareAndSwap(cur, o) {
			return
		}
	}
}

func (d *Devices) record(p *atomic.Pointer[DevStatus], err error, f logrus.Fields) {
	prev := p.Load()
	p.Store(&DevStatus{At: d.clk.Now(), Err: err})
	switch {
	case err != nil && (prev == nil || prev.Err == nil):
		d.log.WithFields(f).WithError(err).Warn("device read failed")
	case err == nil && prev != nil && prev.Err != nil:
		d.log.WithFields(f).Info("device answers again")
	}
}

// Readiness lists the devices that have never answered, with why.
func (d *Devices) Readiness() []string {
	var why []string
	for _, id := range d.fabIDs {
		f := d.fabrics[id]
		if f.Obs.Load() == nil {
			why = append(why, "fabric "+id+" has not answered"+statusSuffix(f.Status.Load()))
		}
	}
	for _, id := range d.arrIDs {
		a := d.arrays[id]
		if a.Obs.Load() == nil {
			why = append(why, "array "+id+" has not answered"+statusSuffix(a.Status.Load()))
		}
	}
	if d.computeObs.Load() == nil {
		why = append(why, "compute has not answered"+statusSuffix(d.computeStatus.Load()))
	}
	return why
}

func statusSuffix(st *DevStatus) string {
	if st == nil || st.Err == nil {
		return ""
	}
	return ": " + st.Err.Error()
}
