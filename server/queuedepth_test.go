package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sanmob/sanmob/mobility"
	"github.com/sanmob/sanmob/server"
)

// telemetryFor is one sample per port of each named LUN of host, at the
// lab's now.
func telemetryFor(t *testing.T, h *harness, host string, latMs float64, vols ...string) []mobility.TelemetrySample {
	t.Helper()
	qd := getJSON[mobility.HostQueueDepths](t, h, "/v1/hosts/"+host+"/queue-depths")
	var out []mobility.TelemetrySample
	for _, r := range qd.Items {
		for _, v := range vols {
			if r.Volume != v {
				continue
			}
			for _, p := range r.PreferredTargetPorts {
				out = append(out, mobility.TelemetrySample{Host: host, Volume: v, TargetPortWWPN: p, At: h.world.Clock().Now(),
					IOPS: 400, LatencyMs: latMs, Outstanding: 30})
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("no ports for %v on %s: %+v", vols, host, qd)
	}
	return out
}

func TestTelemetryEdges(t *testing.T) {
	h := newHarness(t)
	const host, vol = "east-esx02", "east-vm002-d0"
	good := telemetryFor(t, h, host, 5, vol)

	r := h.do(server.RoleCSI, http.MethodPost, "/v1/telemetry/io", good)
	res := wantJSON[mobility.TelemetryResult](t, r, http.StatusOK)
	if res.Accepted != len(good) {
		t.Fatalf("%+v", res)
	}
	// A count written as 3.0 and RFC 3339's lowercase z are fine.
	raw := fmt.Sprintf(`[{"host":%q,"volume":%q,"targetPortWWPN":%q,"at":%q,"iops":1,"latencyMs":1,"outstanding":1,"qfull":3.0}]`,
		good[0].Host, good[0].Volume, good[0].TargetPortWWPN, strings.ToLower(good[0].At.Format(time.RFC3339Nano)))
	wantJSON[mobility.TelemetryResult](t, h.send(request{role: server.RoleCSI, method: http.MethodPost, path: "/v1/telemetry/io", body: rawBody(raw)}), http.StatusOK)
	wantProblem(t, h.do(server.RoleViewer, http.MethodPost, "/v1/telemetry/io", good), http.StatusForbidden)

	bad := append([]mobility.TelemetrySample(nil), good...)
	bad = append(bad, good[0])
	bad[len(bad)-1].LatencyMs = -3
	p := wantProblem(t, h.do(server.RoleAdmin, http.MethodPost, "/v1/telemetry/io", bad), http.StatusBadRequest)
	if want := fmt.Sprintf("[%d].latencyMs", len(bad)-1); len(p.InvalidParams) != 1 || p.InvalidParams[0].Name != want {
		t.Fatalf("negative latency: %+v, want %s named", p, want)
	}
	for _, c := range []struct {
		body, field string
	}{
		{`[{"host":"east-esx02","volume":"east-vm002-d0","latencyMs":"slow"}]`, "latencyMs"},
		{`{"host":"east-esx02"}`, ""},
		{`[{"host":"east-esx02","bogus":1}]`, ""},
		{`[]`, "samples"},
		{`[{"host":"east-esx02","volume":"east-vm002-d0","targetPortWWPN":"50:00:00:00:00:00:00:01","at":"2026-01-01T00:00:00Z","iops":1,"outstanding":1}]`, "[0].latencyMs"},
		{`[{"host":"east-esx02","volume":"east-vm002-d0","targetPortWWPN":"50:00:00:00:00:00:00:01","at":"2026-01-01T00:00:00Z","iops":null,"latencyMs":1,"outstanding":1}]`, "[0].iops"},
		{`[{"host":"east-esx02","volume":"east-vm002-d0","targetPortWWPN":"50:00:00:00:00:00:00:01","at":"2026-01-01T00:00:00","iops":1,"latencyMs":1,"outstanding":1}]`, "[0].at"},
		{`[{"host":"east-esx02","volume":"east-vm002-d0","targetPortWWPN":"50:00:00:00:00:00:00:01","at":"yesterday","iops":1,"latencyMs":1,"outstanding":1}]`, "[0].at"},
		{`[{"host":"east-esx02","volume":"east-vm002-d0","targetPortWWPN":"50:00:00:00:00:00:00:01","at":"2026-01-01T00:00:00Z","iops":1e400,"latencyMs":1,"outstanding":1}]`, "[0]"},
		{`[{"host":"east-esx02","iops":"many"}]`, "[0].iops"},
		{`[{"host":"east-esx02","bogus":1}]`, "[0].bogus"},
		{`[7]`, "[0]"},
		{`[null]`, "[0]"},
		{`[{"host":"east-esx02","volume":"east-vm002-d0","targetPortWWPN":"50:00:00:00:00:00:00:01","at":"2026-01-01T00:00:00Z","iops":1,"latencyMs":1,"outstanding":1,"qfull":3.5}]`, "[0].qfull"},
	} {
		r := h.send(request{role: server.RoleAdmin, method: http.MethodPost, path: "/v1/telemetry/io", body: rawBody(c.body)})
		p := wantProblem(t, r, http.StatusBadRequest)
		if c.field != "" && (len(p.InvalidParams) != 1 || !strings.HasPrefix(p.InvalidParams[0].Name, c.field) && !strings.HasSuffix(p.InvalidParams[0].Name, c.field)) {
			t.Errorf("%s: %+v, want %s named", c.body, p, c.field)
		}
	}
	// Past 4 MiB: 413 saying the limit, before any decoding.
	big := "[" + strings.Repeat(`{"host":"x"},`, 400000) + `{"host":"x"}]`
	p = wantProblem(t, h.send(request{role: server.RoleAdmin, method: http.MethodPost, path: "/v1/telemetry/io", body: rawBody(big)}), http.StatusRequestEntityTooLarge)
	if !strings.Contains(p.Detail, "4194304 bytes") {
		t.Errorf("413 detail %q does not say the limit", p.Detail)
	}
	// 5,000 samples with full-precision numbers and nanosecond times,
	// indented, fit the limit.
	full := make([]mobility.TelemetrySample, 5000)
	for i := range full {
		full[i] = good[0]
		full[i].IOPS, full[i].LatencyMs, full[i].Outstanding = 337.628915110047, 29.618316123, 12.3456789012
		full[i].At = full[i].At.Add(123456789)
	}
	pretty, _ := json.MarshalIndent(full, "", "    ")
	wantJSON[mobility.TelemetryResult](t, h.send(request{role: server.RoleOperator, method: http.MethodPost, path: "/v1/telemetry/io", body: rawBody(pretty)}), http.StatusOK)
	// Past 5,000 samples: 400 naming the batch.
	many := make([]mobility.TelemetrySample, 5001)
	for i := range many {
		many[i] = good[0]
	}
	p = wantProblem(t, h.send(request{role: server.RoleAdmin, method: http.MethodPost, path: "/v1/telemetry/io", body: many}), http.StatusBadRequest)
	if len(p.InvalidParams) != 1 || p.InvalidParams[0].Name != "samples" {
		t.Fatalf("5,001 samples: %+v", p)
	}

	// A host over its rate: 429 with Retry-After.
	var limited *response
	for range 20 {
		r := h.do(server.RoleAdmin, http.MethodPost, "/v1/telemetry/io", many[:5000])
		if r.Status == http.StatusTooManyRequests {
			limited = r
			break
		}
		wantJSON[mobility.TelemetryResult](t, r, http.StatusOK)
	}
	if limited == nil {
		t.Fatal("20 batches of 5,000 samples from one host were never limited")
	}
	if p := wantProblem(t, limited, http.StatusTooManyRequests); !strings.HasSuffix(p.Type, "/rate-limited") {
		t.Errorf("429 type %q", p.Type)
	}
	if s, err := strconv.Atoi(limited.Header.Get("Retry-After")); err != nil || s < 1 {
		t.Fatalf("Retry-After %q", limited.Header.Get("Retry-After"))
	}

	var doc struct {
		Paths map[string]map[string]struct {
			Responses map[string]any `json:"responses"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(h.get(noRole, "/v1/openapi.json").Body, &doc); err != nil {
		t.Fatal(err)
	}
	for _, code := range []string{"200", "400", "401", "403", "413", "415", "429"} {
		if _, ok := doc.Paths["/v1/telemetry/io"]["post"].Responses[code]; !ok {
			t.Errorf("OpenAPI: POST /v1/telemetry/io lacks %s", code)
		}
	}

	wantProblem(t, h.get(server.RoleViewer, "/v1/hosts/nope/queue-depths"), http.StatusNotFound)
	wantProblem(t, h.get(server.RoleViewer, "/v1/hosts/"+host+"/queue-depths?watch=maybe"), http.StatusBadRequest)
}

// TestQueueDepthsWatchAndGauges: the SSE stream opens with the host's
// recommendations and sends the next period's; /metrics carries them.
func TestQueueDepthsWatchAndGauges(t *testing.T) {
	h := newHarness(t)
	const host, vol = "east-esx02", "east-vm002-d0"
	defer server.SetSSEHeartbeat(20 * time.Millisecond)()
	resp, events := sse(t, h, server.RoleViewer, "/v1/hosts/"+host+"/queue-depths?watch=true")
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	first := nextEvent(t, events, func(e sseEvent) bool { return e.event != "" })
	var snap mobility.HostQueueDepths
	if e := first[len(first)-1]; e.event != "snapshot" || json.Unmarshal([]byte(e.data), &snap) != nil || snap.Host != host || len(snap.Items) == 0 {
		t.Fatalf("snapshot %+v", e)
	}
	wantJSON[mobility.TelemetryResult](t, h.do(server.RoleAdmin, http.MethodPost, "/v1/telemetry/io", telemetryFor(t, h, host, 80, vol)), http.StatusOK)
	h.mob.StepQueueDepths(context.Background())
	next := nextEvent(t, events, func(e sseEvent) bool { return e.event == "queue-depths" })
	var got mobility.HostQueueDepths
	if err := json.Unmarshal([]byte(next[len(next)-1].data), &got); err != nil || got.At == nil {
		t.Fatalf("event %+v: %v", next[len(next)-1], err)
	}
	var measured bool
	for _, d := range got.Items {
		if d.Volume == vol {
			measured = d.LatencyMs != nil && *d.LatencyMs == 80 && d.QueueDepth < 32
		}
	}
	if !measured {
		t.Fatalf("streamed %+v", got.Items)
	}
	m := h.get(noRole, "/metrics")
	for _, want := range []string{
		`sanmob_queue_depth_recommended{host="east-esx02",pool="east-arr1-pool2",volume="east-vm002-d0"}`,
		`sanmob_lun_latency_seconds{host="east-esx02",pool="east-arr1-pool2",volume="east-vm002-d0"} 0.08`,
		`sanmob_lun_latency_threshold_seconds{host="east-esx02",pool="east-arr1-pool2",volume="east-vm002-d0"} 0.03`,
		`sanmob_telemetry_samples_total{result="accepted"}`,
	} {
		if !strings.Contains(string(m.Body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
