package ui_test

// Browser tests of the console: a real sanmobd on the embedded lab, driven
// through Debian's headless chromium with chromedp. They fail, not skip,
// when chromium is missing: CI installs it (.ci/run).
//
// SANMOB_SCREENSHOTS=dir (make screenshots) also writes a PNG of each view
// to dir.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/sanmob/sanmob/internal/daemontest"
)

// daemon is a sanmobd process serving the lab.
type daemon struct {
	base, token string
}

func TestMain(m *testing.M) {
	code := m.Run()
	daemontest.Cleanup()
	os.Exit(code)
}

func startDaemon(t *testing.T) *daemon {
	t.Helper()
	d := daemontest.Start(t)
	return &daemon{base: d.Base, token: d.Token}
}

var tail = daemontest.Tail

// call makes an API call as admin and decodes the answer into out (if any).
func (d *daemon) call(t *testing.T, method, path string, out any) {
	t.Helper()
	req, _ := http.NewRequest(method, d.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+d.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, body)
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

const installChromium = "apt-get install -y chromium (Debian; as root), or set SANMOB_CHROMIUM to a Chromium or Chrome binary"

func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("SANMOB_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatalf("no chromium to run the console's browser tests: %s", installChromium)
	return ""
}

// browser is a headless chromium tab at 1366×768 whose page errors fail t.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1366, 768),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1366, 768)); err != nil {
		t.Fatalf("starting chromium (%s): %v", installChromium, err)
	}
	var mu sync.Mutex
	var pageErrs []string
	err := chromedp.Listen(ctx, func(ev any) {
		var msg string
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			msg = "exception: " + ev.ExceptionDetails.Text
			if ev.ExceptionDetails.Exception != nil {
				msg += " " + ev.ExceptionDetails.Exception.Description
			}
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				msg = "console.error"
				for _, a := range ev.Args {
					msg += " " + string(a.Value) + a.Description
				}
			}
		}
		if msg != "" {
			mu.Lock()
			pageErrs = append(pageErrs, msg)
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range pageErrs {
			t.Errorf("page error: %s", e)
		}
	})
	return ctx
}

// waitFor polls the JavaScript expression until it is truthy.
func waitFor(t *testing.T, ctx context.Context, what, expr string, timeout time.Duration) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool]("!!("+expr+")", chromedp.WithPollingTimeout(timeout), chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		main, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('main').innerText`))
		t.Fatalf("%s: %v; the page shows:\n%s", what, err, tail(main, 1500))
	}
}

func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

func js[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// signIn opens the console and signs in with the daemon's admin token.
func signIn(t *testing.T, ctx context.Context, d *daemon) {
	t.Helper()
	do(t, ctx, chromedp.Navigate(d.base+"/ui/"), chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), d.token), chromedp.Click(chromedp.CSS(`form.login button[type=submit]`)))
	waitFor(t, ctx, "the VM list after signing in", `document.querySelector('a[href="#/vms/east-vm001"]')`, 10*time.Second)
}

// goTo follows a hash route and waits for its heading.
func goTo(t *testing.T, ctx context.Context, hash, heading string) {
	t.Helper()
	do(t, ctx, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`location.hash = %q`, hash)))
	waitFor(t, ctx, "the heading "+heading, fmt.Sprintf(`document.querySelector('main h1')?.textContent === %q && !document.querySelector('main[aria-busy]')`, heading), 10*time.Second)
}

func TestConsole(t *testing.T) {
	ctx := browser(t)
	d := startDaemon(t)

	// The console is public static content with a strict policy.
	resp, err := http.Get(d.base + "/ui/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Fatalf("GET /ui/: %d, CSP %q", resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
	}

	// A wrong token: the problem's detail is shown and the token is not kept.
	do(t, ctx, chromedp.Navigate(d.base+"/ui/"), chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), "smt_not_a_token"), chromedp.Click(chromedp.CSS(`form.login button[type=submit]`)))
	waitFor(t, ctx, "the 401's detail", `document.querySelector('.login [role=alert]')?.textContent.length > 0`, 10*time.Second)
	if kept := js[bool](t, ctx, `sessionStorage.getItem('sanmob.token') !== null`); kept {
		t.Fatal("a refused token stayed in sessionStorage")
	}
	do(t, ctx, chromedp.Evaluate[chromedp.Void](`document.getElementById('token').value = ''`))
	signIn(t, ctx, d)

	t.Run("path graph", func(t *testing.T) {
		var v struct {
			Vports []struct {
				WWPN string `json:"wwpn"`
			} `json:"vports"`
		}
		d.call(t, http.MethodGet, "/v1/vms/east-vm001", &v)
		goTo(t, ctx, "#/vms/east-vm001", "VM east-vm001")
		waitFor(t, ctx, "the path graph", `document.querySelector('svg.pathgraph .node.lun')`, 10*time.Second)
		text := js[string](t, ctx, `document.querySelector('svg.pathgraph').textContent`)
		for _, p := range v.Vports {
			if !strings.Contains(text, p.WWPN) {
				t.Errorf("vport %s is not in the path graph: %s", p.WWPN, tail(text, 500))
			}
		}
		for _, col := range []string{"vm", "vport", "fabric", "zone", "target", "array", "lun"} {
			if n := js[int](t, ctx, fmt.Sprintf(`document.querySelectorAll('svg.pathgraph g[data-col=%s]').length`, col)); n == 0 {
				t.Errorf("no %s node in the path graph", col)
			}
		}
	})

	t.Run("skip link and bad addresses", func(t *testing.T) {
		goTo(t, ctx, "#/fabrics", "Fabrics")
		// The link is off screen until it has the focus: focus it and
		// press it as a keyboard user would.
		do(t, ctx, chromedp.Evaluate[chromedp.Void](`document.getElementById('skip').focus(); document.getElementById('skip').click()`))
		if h := js[string](t, ctx, `location.hash + ' ' + document.querySelector('main h1').textContent`); h != "#/fabrics Fabrics" {
			t.Errorf("after the skip link: %q, want the Fabrics view kept", h)
		}
		if f := js[string](t, ctx, `document.activeElement.textContent`); f != "Fabrics" {
			t.Errorf("the skip link left the focus on %q, want the view's heading", f)
		}
		// A malformed address is a "Not found" view, not a script error
		// (page errors fail the test).
		goTo(t, ctx, "#/vms/%", "Not found")
	})

	t.Run("migration", func(t *testing.T) {
		goTo(t, ctx, "#/vms/east-vm002", "VM east-vm002")
		do(t, ctx, chromedp.SetValue(chromedp.ID("dest"), "east-esx03"), chromedp.SetValue(chromedp.ID("mode"), "live"),
			chromedp.Click(chromedp.CSS(`form.migrate button[type=submit]`)))
		waitFor(t, ctx, "the migration's page", `location.hash.startsWith('#/migrations/') && document.querySelector('#phase')`, 10*time.Second)
		waitFor(t, ctx, "the migration to succeed", `document.querySelector('#phase').textContent === 'succeeded'`, 20*time.Second)
		if n := js[int](t, ctx, `document.querySelectorAll('.steps li[data-state=done]').length`); n == 0 {
			t.Error("the succeeded migration shows no step done")
		}
		var vm struct {
			Host string `json:"host"`
		}
		d.call(t, http.MethodGet, "/v1/vms/east-vm002", &vm)
		if vm.Host != "east-esx03" {
			t.Errorf("after the console's migration east-vm002 is on %s", vm.Host)
		}
	})

	t.Run("alert", func(t *testing.T) {
		goTo(t, ctx, "#/alerts", "Alerts")
		waitFor(t, ctx, "the alert stream's snapshot", `document.querySelector('main p.muted')?.textContent.startsWith('Live since')`, 10*time.Second)
		breakZone(t, d, "east-a")
		waitFor(t, ctx, "FabricDrift to arrive", `document.querySelector('ol.log li.fired[data-alertname=FabricDrift]') && document.querySelector('tr[data-alertname=FabricDrift]')`, 15*time.Second)
	})
}

// breakZone deletes one of sanmob's zones on fabric behind its back and has
// sanmob compare: FabricDrift fires.
func breakZone(t *testing.T, d *daemon, fabric string) string {
	t.Helper()
	var db struct {
		Zones []struct {
			Name string `json:"name"`
		} `json:"zones"`
	}
	d.call(t, http.MethodGet, "/v1/lab/fabrics/"+fabric+"/zonedb", &db)
	for _, z := range db.Zones {
		if strings.HasPrefix(z.Name, "sm_east-vm001_") {
			d.call(t, http.MethodDelete, "/v1/lab/fabrics/"+fabric+"/zones/"+z.Name, nil)
			d.call(t, http.MethodPost, "/v1/fabrics/"+fabric+"/reconcile", nil)
			return z.Name
		}
	}
	t.Fatalf("no zone of east-vm001 on %s", fabric)
	return ""
}
