package devices

import (
	"context"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/sanmob/sanmob/lab"
)

// TestRefreshLoopFollowsItsTicker: the loop re-reads every device and runs
// the hooks once per interval of its ticker's clock, not of the wall's.
func TestRefreshLoopFollowsItsTicker(t *testing.T) {
	w, err := lab.New(lab.Small())
	if err != nil {
		t.Fatal(err)
	}
	fc := clocktesting.NewFakeClock(time.Unix(0, 0))
	cfg := Config{Clock: w.Clock(), Ticker: fc, Compute: w.Compute(), RefreshInterval: time.Minute}
	for _, f := range w.Fabrics() {
		cfg.Fabrics = append(cfg.Fabrics, FabricDevice{ID: f.ID, Site: f.Site, DriverName: "lab", Driver: f.Switch})
	}
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ran := make(chan struct{}, 4)
	d.OnRefresh(func(context.Context) { ran <- struct{}{} })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	for !fc.HasWaiters() {
		time.Sleep(time.Millisecond) // until the loop has made its ticker
	}
	select {
	case <-ran:
		t.Fatal("refreshed before its interval")
	default:
	}
	fc.Step(time.Minute)
	<-ran
	if d.Fabrics()["east-a"].Obs.Load() == nil {
		t.Fatal("a refresh did not read east-a")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
