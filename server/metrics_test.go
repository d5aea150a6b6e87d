package server_test

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/sanmob/sanmob/lab"

	"github.com/sanmob/sanmob/server"
)

// metricValue finds the sample of name whose labels include every one of
// labels (`key="value"`); ok is false when there is none.
func metricValue(body, name string, labels ...string) (float64, bool) {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `\{(.*)\} (\S+)$`)
	for _, m := range re.FindAllStringSubmatch(body, -1) {
		all := true
		for _, l := range labels {
			if !strings.Contains(","+m[1]+",", ","+l+",") {
				all = false
			}
		}
		if all {
			v, err := strconv.ParseFloat(m[2], 64)
			return v, err == nil
		}
	}
	return 0, false
}

func TestMetrics(t *testing.T) {
	h := newHarness(t)
	for range 3 {
		if r := h.get(server.RoleViewer, "/v1/vms/east-vm001"); r.Status != http.StatusOK {
			t.Fatalf("%v", r)
		}
	}
	wantProblem(t, h.get(server.RoleViewer, "/v1/vms/no-such-vm"), http.StatusNotFound)
	wantProblem(t, h.get(noRole, "/v1/vms/east-vm002"), http.StatusUnauthorized)
	wantProblem(t, h.get(server.RoleViewer, "/v1/zzz-unrouted-path"), http.StatusNotFound)
	wantProblem(t, h.do(server.RoleViewer, "PUT", "/v1/vms", nil), http.StatusMethodNotAllowed)

	r := h.get(noRole, "/metrics")
	if r.Status != http.StatusOK {
		t.Fatalf("%v", r)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") && !strings.Contains(ct, "openmetrics") {
		t.Errorf("Content-Type %q, want the Prometheus text format", ct)
	}
	body := string(r.Body)
	tests := []struct {
		name   string
		metric string
		labels []string
		want   float64 // -1: any value > 0
	}{
		{"200s by route template", "sanmob_http_requests_total", []string{`route="/v1/vms/{id}"`, `method="GET"`, `code="200"`}, 3},
		{"404 of a known route", "sanmob_http_requests_total", []string{`route="/v1/vms/{id}"`, `method="GET"`, `code="404"`}, 1},
		{"401 of a known route", "sanmob_http_requests_total", []string{`route="/v1/vms/{id}"`, `method="GET"`, `code="401"`}, 1},
		{"latency histogram", "sanmob_http_request_duration_seconds_bucket", []string{`route="/v1/vms/{id}"`, `method="GET"`, `le="+Inf"`}, 5},
		{"latency count", "sanmob_http_request_duration_seconds_count", []string{`route="/v1/vms/{id}"`, `method="GET"`}, 5},
		{"unrouted 404", "sanmob_http_requests_total", []string{`method="GET"`, `code="404"`, `route="unmatched"`}, 1},
		{"405", "sanmob_http_requests_total", []string{`method="PUT"`, `code="405"`}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, ok := metricValue(body, tc.metric, tc.labels...)
			if !ok {
				t.Fatalf("no %s%v in /metrics", tc.metric, tc.labels)
			}
			if v != tc.want {
				t.Errorf("%s%v = %v, want %v", tc.metric, tc.labels, v, tc.want)
			}
		})
	}
	for _, want := range []string{"# TYPE sanmob_http_requests_total counter", "# TYPE sanmob_http_request_duration_seconds histogram",
		"\ngo_goroutines ", "\ngo_memstats_alloc_bytes "} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// Paths are not labels: ids and unrouted paths would make a series each.
	for _, leak := range []string{"east-vm001", "no-such-vm", "zzz-unrouted-path"} {
		if strings.Contains(body, leak) {
			t.Errorf("/metrics carries the raw path part %q as a label", leak)
		}
	}
}

func TestHealthAndReadiness(t *testing.T) {
	t.Run("healthz", func(t *testing.T) {
		h := newHarness(t)
		if b := wantJSON[map[string]string](t, h.get(noRole, "/healthz"), http.StatusOK); b["status"] != "ok" {
			t.Errorf("healthz %v", b)
		}
	})
	tests := []struct {
		name    string
		ready   func() (bool, []string)
		want    int
		reasons []string
	}{
		{"started, no hook", nil, http.StatusOK, nil},
		{"hook ready", func() (bool, []string) { return true, nil }, http.StatusOK, nil},
		{"hook not ready", func() (bool, []string) { return false, []string{"store closing", "csi socket not open"} },
			http.StatusServiceUnavailable, []string{"store closing", "csi socket not open"}},
		{"hook not ready without reasons", func() (bool, []string) { return false, nil }, http.StatusServiceUnavailable, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var opts []harnessOption
			if tc.ready != nil {
				opts = append(opts, withReady(tc.ready))
			}
			h := newHarness(t, opts...)
			r := h.get(noRole, "/readyz")
			if tc.want == http.StatusOK {
				if b := wantJSON[map[string]any](t, r, http.StatusOK); b["status"] != "ready" {
					t.Errorf("readyz %v", b)
				}
				return
			}
			p := wantProblem(t, r, tc.want)
			for _, want := range tc.reasons {
				found := false
				for _, got := range p.Reasons {
					found = found || got == want
				}
				if !found {
					t.Errorf("reasons %q lack %q", p.Reasons, want)
				}
			}
			// liveness does not depend on readiness
			if r := h.get(noRole, "/healthz"); r.Status != http.StatusOK {
				t.Errorf("healthz while not ready: %v", r)
			}
		})
	}
}

func TestDeviceAndInventoryMetrics(t *testing.T) {
	h := newHarness(t)
	scrape := func() string {
		t.Helper()
		r := h.get(noRole, "/metrics")
		if r.Status != http.StatusOK {
			t.Fatalf("%v", r)
		}
		return string(r.Body)
	}
	body := scrape()
	for _, want := range []string{
		`sanmob_device_up{device="east-a",kind="fabric",site="east"} 1`,
		`sanmob_device_up{device="west-arr1",kind="array",site="west"} 1`,
		`sanmob_inventory_objects{kind="vms"} 24`,
		`sanmob_inventory_objects{kind="hosts"} 8`,
		`sanmob_fabric_zonedb_max_bytes{fabric="west-b"} 1.048576e+06`,
		`sanmob_pool_physical_bytes{array="east-arr1",pool="east-arr1-pool1"}`,
		`sanmob_device_observed_timestamp_seconds{device="east-b",kind="fabric",site="east"}`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// A device that stops answering shows as down after the next read.
	if err := h.world.InjectFault(lab.Fault{Target: "west-arr1", Op: "read", Rate: 1}); err != nil {
		t.Fatal(err)
	}
	h.mob.Refresh(context.Background())
	if body := scrape(); !strings.Contains(body, `sanmob_device_up{device="west-arr1",kind="array",site="west"} 0`) {
		t.Errorf("unreachable array not reported down")
	}
}

// TestZoningAndAttachMetrics: commits per fabric, attachments and firing
// alerts are scraped from the core as they change.
func TestZoningAndAttachMetrics(t *testing.T) {
	h := newHarness(t)
	scrape := func() string {
		t.Helper()
		return string(h.get(noRole, "/metrics").Body)
	}
	body := scrape()
	for _, want := range []string{`sanmob_zoning_commits_total{fabric="east-a",policy="sist"} 0`, `sanmob_attachments 0`, `sanmob_zoning_claims 0`} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(body, "sanmob_alerts_firing{") {
		t.Errorf("an alert fires on a fresh lab")
	}
	v := wantJSON[apiVolume](t, h.do(server.RoleCSI, http.MethodPost, "/v1/volumes", map[string]any{"name": "m", "sizeBytes": 1 << 30, "site": "east"}), http.StatusCreated)
	wantJSON[map[string]any](t, h.do(server.RoleCSI, http.MethodPost, "/v1/attachments", map[string]any{"volume": v.ID, "node": "east-esx03"}), http.StatusCreated)
	db := getJSON[labZoneDB](t, h, "/v1/lab/fabrics/west-a/zonedb")
	for _, z := range db.Zones {
		if strings.HasPrefix(z.Name, "sm_") {
			if r := h.do(server.RoleAdmin, http.MethodDelete, "/v1/lab/fabrics/west-a/zones/"+z.Name, nil); r.Status != http.StatusNoContent {
				t.Fatalf("%v", r)
			}
			break
		}
	}
	h.mob.Refresh(context.Background())
	body = scrape()
	for _, want := range []string{`sanmob_zoning_commits_total{fabric="east-a",policy="sist"} 1`, `sanmob_attachments 1`, `sanmob_alerts_firing{alertname="FabricDrift",severity="warning"} 1`} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
