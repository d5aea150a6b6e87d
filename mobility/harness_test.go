package mobility

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/sanmob/sanmob/compute"
	"github.com/sanmob/sanmob/devices"
	"github.com/sanmob/sanmob/inventory"

	"github.com/sirupsen/logrus"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/lab"
	"github.com/sanmob/sanmob/store"
)

type harness struct {
	world *lab.World
	st    *store.Store
	svc   *Service
	dir   string
	wrap  func(array.Driver) array.Driver
	stop  func() // stops the saga executor
	// hv replaces the lab's hypervisor manager when set.
	hv compute.Driver
	// noSagas opens the service without running its saga executor (nor
	// the evacuations beside it): a daemon that died before they ran.
	noSagas bool
}

func quietLog() logrus.FieldLogger {
	l := logrus.New()
	l.SetLevel(logrus.ErrorLevel)
	return l
}

// newHarness builds a started service on the small lab with a store in a
// temp dir. wrapArray, when set, lets a test put a filter in front of an
// array driver.
func newHarness(t testing.TB, wrapArray func(array.Driver) array.Driver) *harness {
	t.Helper()
	return newHarnessLab(t, lab.Small(), wrapArray)
}

// newHarnessLab is newHarness on a lab built from cfg.
func newHarnessLab(t testing.TB, cfg lab.Config, wrapArray func(array.Driver) array.Driver) *harness {
	t.Helper()
	w, err := lab.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{world: w, dir: t.TempDir(), wrap: wrapArray}
	h.open(t, wrapArray)
	return h
}

func (h *harness) open(t testing.TB, wrapArray func(array.Driver) array.Driver) {
	t.Helper()
	st, err := store.Open(store.Options{Dir: filepath.Join(h.dir, "store"), Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	h.st = st
	cfg := Config{Store: st, Clock: h.world.Clock(), Log: quietLog(), Compute: h.world.Compute(), DriverTimeout: 5 * time.Second}
	if h.hv != nil {
		cfg.Compute = h.hv
	}
	for _, s := range h.world.Sites() {
		cfg.Sites = append(cfg.Sites, inventory.Site{ID: s.ID})
	}
	for _, l := range h.world.Links() {
		cfg.Links = append(cfg.Links, inventory.Link{From: l.From, To: l.To, RTTMs: l.RTTMs, BandwidthMbps: l.BandwidthMbps, DistanceKm: l.DistanceKm})
	}
	for _, f := range h.world.Fabrics() {
		cfg.Fabrics = append(cfg.Fabrics, devices.FabricDevice{ID: f.ID, Site: f.Site, DriverName: "lab", Driver: f.Switch})
	}
	for _, a := range h.world.Arrays() {
		var d array.Driver = a.Array
		if wrapArray != nil {
			d = wrapArray(d)
		}
		cfg.Arrays = append(cfg.Arrays, devices.ArrayDevice{ID: a.ID, Site: a.Site, DriverName: "lab", Driver: d})
	}
	svc, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.svc = svc
	t.Cleanup(func() { svc.Close(); _ = st.Close() })
	h.stop = func() {}
	if !h.noSagas {
		h.stop = runSagas(t, svc)
	}
}

// runSagas runs the service's saga executor until the test ends or the
// returned stop is called (as a kill would: it writes nothing more).
func runSagas(t testing.TB, svc *Service) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := svc.RunSagas(ctx); err != nil {
			t.Errorf("saga executor: %v", err)
		}
	}()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return stop
}

// reopen closes the store and starts a fresh service on it, as a restart.
func (h *harness) reopen(t testing.TB) {
	t.Helper()
	h.stop()
	h.svc.Close()
	if err := h.st.Close(); err != nil {
		t.Fatal(err)
	}
	h.open(t, h.wrap)
}
