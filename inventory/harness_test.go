package inventory

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/sanmob/sanmob/devices"
	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/lab"
	"github.com/sanmob/sanmob/store"
)

// harness is an inventory over the devices of a lab world, with a Zoner, as
// mobility wires it (without mobility's attachments).
type harness struct {
	world *lab.World
	st    *store.Store
	svc   *Inventory
	dev   *devices.Devices
}

func quietLog() logrus.FieldLogger {
	l := logrus.New()
	l.SetLevel(logrus.ErrorLevel)
	return l
}

func newHarness(t testing.TB, cfg lab.Config) *harness {
	t.Helper()
	w, err := lab.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(store.Options{Dir: filepath.Join(t.TempDir(), "store"), Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	dcfg := devices.Config{Clock: w.Clock(), Log: quietLog(), Compute: w.Compute(), DriverTimeout: 5 * time.Second}
	var sites []Site
	for _, s := range w.Sites() {
		sites = append(sites, Site{ID: s.ID})
	}
	for _, f := range w.Fabrics() {
		dcfg.Fabrics = append(dcfg.Fabrics, devices.FabricDevice{ID: f.ID, Site: f.Site, DriverName: "lab", Driver: f.Switch})
	}
	for _, a := range w.Arrays() {
		dcfg.Arrays = append(dcfg.Arrays, devices.ArrayDevice{ID: a.ID, Site: a.Site, DriverName: "lab", Driver: a.Array})
	}
	dev, err := devices.New(dcfg)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := New(Config{Store: st, Clock: w.Clock(), Log: quietLog(), Sites: sites, Devices: dev})
	if err != nil {
		t.Fatal(err)
	}
	drivers := map[string]fabric.Driver{}
	for id, f := range dev.Fabrics() {
		drivers[id] = f.Driver
	}
	z, err := fabric.NewZoner(fabric.ZonerConfig{Fabrics: drivers, Log: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	inv.SetZoner(z)
	if err := inv.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { z.Close(); _ = st.Close() })
	return &harness{world: w, st: st, svc: inv, dev: dev}
}

// Refresh re-reads every device, as the refresh loop would.
func (s *Inventory) Refresh(ctx context.Context) { s.dev.Refresh(ctx) }
