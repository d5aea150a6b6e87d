package ui_test

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestScreenshots writes a PNG of each view to $SANMOB_SCREENSHOTS (make
// screenshots writes docs/screenshots); without it there is nothing to do.
func TestScreenshots(t *testing.T) {
	dir := os.Getenv("SANMOB_SCREENSHOTS")
	if dir == "" {
		t.Skip("SANMOB_SCREENSHOTS is not set (make screenshots sets it)")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx := browser(t)
	d := startDaemon(t)
	shot := func(name string) {
		t.Helper()
		time.Sleep(300 * time.Millisecond) // let live views draw their first event
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	do(t, ctx, chromedp.Navigate(d.base+"/ui/"), chromedp.WaitVisible(chromedp.ID("token")))
	shot("login")
	signIn(t, ctx, d)
	shot("vms")

	// A migration first, so that the list has one; then a zone deleted
	// behind sanmob's back, so that the VM, fabric and alert views show it.
	goTo(t, ctx, "#/vms/east-vm002", "VM east-vm002")
	do(t, ctx, chromedp.SetValue(chromedp.ID("dest"), "east-esx03"), chromedp.Click(chromedp.CSS(`form.migrate button[type=submit]`)))
	waitFor(t, ctx, "the migration to succeed", `document.querySelector('#phase')?.textContent === 'succeeded'`, 20*time.Second)
	shot("migration")
	goTo(t, ctx, "#/migrations", "Migrations")
	shot("migrations")

	goTo(t, ctx, "#/alerts", "Alerts")
	waitFor(t, ctx, "the alert stream", `document.querySelector('main p.muted')?.textContent.startsWith('Live since')`, 10*time.Second)
	breakZone(t, d, "east-a")
	waitFor(t, ctx, "FabricDrift", `document.querySelector('ol.log li.fired[data-alertname=FabricDrift]')`, 15*time.Second)
	shot("alerts")

	goTo(t, ctx, "#/vms/east-vm001", "VM east-vm001")
	do(t, ctx, chromedp.Click(chromedp.CSS(`#main .muted button`)))
	waitFor(t, ctx, "the degraded path graph", `document.querySelector('svg.pathgraph .node.degraded')`, 10*time.Second)
	shot("vm")

	goTo(t, ctx, "#/fabrics", "Fabrics")
	do(t, ctx, chromedp.Click(chromedp.CSS(`.card button`)))
	waitFor(t, ctx, "the drift check", `document.querySelector('.card .degraded, .card .ok')`, 10*time.Second)
	shot("fabrics")

	goTo(t, ctx, "#/pools", "Pools")
	shot("pools")
	var pools struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	d.call(t, http.MethodGet, "/v1/pools", &pools)
	goTo(t, ctx, "#/pools/"+pools.Items[0].ID, "Pool "+pools.Items[0].ID)
	shot("pool")

	goTo(t, ctx, "#/queue-depths/east-esx04", "Queue depths on east-esx04")
	waitFor(t, ctx, "the queue depths", `document.querySelector('main table')`, 10*time.Second)
	shot("queue-depths")
}
