package main

import (
	"context"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/sanmob/sanmob/alert"
	"github.com/sanmob/sanmob/store"
)

// TestConfirmAlerts: after the grace on the daemon's clock, a restored
// alert its raiser did not set again is resolved; one it did set, and an
// OperationFailed, are not. Before the grace nothing is.
func TestConfirmAlerts(t *testing.T) {
	st, err := store.Open(store.Options{Dir: t.TempDir(), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	clk := clocktesting.NewFakeClock(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	pool := func(p string) map[string]string {
		return map[string]string{"alertname": alert.PoolUsageHigh, "severity": alert.Warning, "pool": p}
	}
	failed := map[string]string{"alertname": alert.OperationFailed, "severity": alert.Critical, "volume": "v"}
	m := alert.NewManager(clk, 0)
	if err := m.Restore(st, quietLogger()); err != nil {
		t.Fatal(err)
	}
	m.Set(pool("full"), nil, true)
	m.Set(pool("drained"), nil, true)
	m.Set(failed, nil, true)

	m = alert.NewManager(clk, 0) // the restart
	if err := m.Restore(st, quietLogger()); err != nil {
		t.Fatal(err)
	}
	_, sub := m.Subscribe()
	defer sub.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- confirmAlerts(m, clk, 3*time.Minute, quietLogger())(ctx) }()
	m.Set(pool("full"), nil, true) // its raiser's first look after the start
	for deadline := time.Now().Add(10 * time.Second); !clk.HasWaiters(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) { // polling until the runnable waits on the clock
			t.Fatal("confirmAlerts never waited on the clock")
		}
	}
	clk.Step(3*time.Minute - time.Second)
	select {
	case e := <-sub.C():
		t.Fatalf("%+v before the grace was over", e)
	default:
	}
	clk.Step(time.Second)
	select {
	case e := <-sub.C():
		if e.Type != alert.EventResolved || e.Alert.Labels["pool"] != "drained" {
			t.Fatalf("event %+v, want drained resolved", e)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("nothing resolved after the grace")
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-sub.C():
		t.Fatalf("also %+v", e)
	default:
	}
}
