package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"k8s.io/utils/clock"

	"github.com/sanmob/sanmob/alert"
	"github.com/sanmob/sanmob/server"
)

func TestAlertStream(t *testing.T) {
	h := newHarness(t)
	drift := map[string]string{"alertname": alert.FabricDrift, "severity": alert.Warning, "fabric": "east-a", "site": "east"}
	h.alerts.Set(drift, map[string]string{"summary": "1 missing"}, true)
	defer server.SetSSEHeartbeat(20 * time.Millisecond)()

	resp, events := sse(t, h, server.RoleViewer, "/v1/alerts/stream")
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	first := nextEvent(t, events, func(sseEvent) bool { return true })[0]
	var snap struct {
		Items []alert.Alert `json:"items"`
	}
	if first.event != "snapshot" || first.id != "0" || json.Unmarshal([]byte(first.data), &snap) != nil ||
		len(snap.Items) != 1 || snap.Items[0].Labels["fabric"] != "east-a" {
		t.Fatalf("first event %+v", first)
	}
	nextEvent(t, events, func(e sseEvent) bool { return e.comment == "heartbeat" })

	other := map[string]string{"alertname": alert.PoolUsageHigh, "severity": alert.Critical, "pool": "east-p1"}
	h.alerts.Set(other, nil, true)
	h.alerts.Set(drift, nil, false)
	var got []alert.Event
	for len(got) < 2 {
		e := nextEvent(t, events, func(e sseEvent) bool { return e.event != "" })
		last := e[len(e)-1]
		var ev alert.Event
		if err := json.Unmarshal([]byte(last.data), &ev); err != nil || last.event != ev.Type || last.id != strconv.FormatUint(ev.Seq, 10) {
			t.Fatalf("event %+v (%v)", last, err)
		}
		got = append(got, ev)
	}
	if got[0].Type != alert.EventFired || got[0].Alert.Labels["pool"] != "east-p1" ||
		got[1].Type != alert.EventResolved || got[1].Alert.EndsAt == nil || got[1].Seq != got[0].Seq+1 {
		t.Fatalf("events %+v", got)
	}
	// GET /v1/alerts agrees.
	l := getJSON[struct {
		Items []alert.Alert `json:"items"`
	}](t, h, "/v1/alerts")
	if len(l.Items) != 2 || l.Items[0].Status != "firing" || l.Items[1].Status != "resolved" {
		t.Fatalf("list %+v", l.Items)
	}
}

func TestAlertDeliveryMetrics(t *testing.T) {
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
	}))
	defer rcv.Close()
	var d *alert.Delivery
	h := newHarness(t, withDelivery(func(m *alert.Manager) *alert.Delivery {
		var err error
		d, err = alert.NewDelivery(m, alert.DeliveryConfig{Webhooks: []string{rcv.URL}, Clock: clock.RealClock{},
			MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, Log: logrus.New()})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = d.Run(ctx) }()
	defer func() { cancel(); <-done }()
	h.alerts.Set(map[string]string{"alertname": alert.FabricDrift, "severity": alert.Warning, "fabric": "east-a"}, nil, true)
	want := `sanmob_alert_deliveries_total{kind="webhook",receiver="` + rcv.URL + `",result="retried"}`
	for deadline := time.Now().Add(10 * time.Second); ; {
		body := string(h.get(noRole, "/metrics").Body)
		if strings.Contains(body, want) && !strings.Contains(body, want+" 0") &&
			strings.Contains(body, `sanmob_alerts_firing{alertname="FabricDrift",severity="warning"} 1`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s > 0 in /metrics:\n%s", want, body)
		}
		time.Sleep(10 * time.Millisecond) // polling the scrape, with a deadline
	}
}
