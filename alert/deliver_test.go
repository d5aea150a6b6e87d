package alert

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"k8s.io/utils/clock"

	"github.com/sanmob/sanmob/store"
)

func quiet() logrus.FieldLogger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}

func openStore(t testing.TB, dir string) *store.Store {
	t.Helper()
	st, err := store.Open(store.Options{Dir: dir, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func drift(f string) map[string]string {
	return map[string]string{"alertname": FabricDrift, "severity": Warning, "fabric": f}
}

// receiver is a webhook receiver whose answer the test sets: status 0 is
// 200; it hands every accepted message to msgs.
type receiver struct {
	*httptest.Server
	status atomic.Int32
	msgs   chan WebhookMessage
	got    atomic.Int32 // requests, accepted or not
}

func newReceiver(t testing.TB) *receiver {
	r := &receiver{msgs: make(chan WebhookMessage, 100)}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.got.Add(1)
		if st := r.status.Load(); st != 0 {
			http.Error(w, "receiver says no", int(st))
			return
		}
		var m WebhookMessage
		if err := json.NewDecoder(req.Body).Decode(&m); err != nil {
			t.Errorf("receiver: %v", err)
		}
		r.msgs <- m
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) next(t *testing.T) WebhookMessage {
	t.Helper()
	select {
	case m := <-r.msgs:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no webhook message within 10s")
		return WebhookMessage{}
	}
}

// none fails when a message arrives within d (a bounded look for something
// that must not happen).
func (r *receiver) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case m := <-r.msgs:
		t.Fatalf("unexpected message %+v", m)
	case <-time.After(d):
	}
}

func startDelivery(t *testing.T, m *Manager, cfg DeliveryConfig) (*Delivery, context.CancelFunc) {
	t.Helper()
	if cfg.Log == nil {
		cfg.Log = quiet()
	}
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff, cfg.MaxBackoff = 5*time.Millisecond, 20*time.Millisecond
	}
	d, err := NewDelivery(m, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = d.Run(ctx) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	return d, stop
}

func TestWebhookPayloadV4(t *testing.T) {
	r := newReceiver(t)
	m := NewManager(clock.RealClock{}, 0)
	// A burst within the group wait: one message. The wait is long enough
	// that the two Sets fall in it on a loaded machine under -race (at
	// 100 ms a make test beside a running daemon split them once).
	_, _ = startDelivery(t, m, DeliveryConfig{Webhooks: []string{r.URL}, GroupWait: 700 * time.Millisecond, ExternalURL: "http://sanmob:8080"})
	m.Set(drift("east-a"), map[string]string{"summary": "1 missing"}, true)
	m.Set(drift("east-b"), map[string]string{"summary": "1 missing"}, true)
	msg := r.next(t)
	if msg.Version != "4" || msg.Status != "firing" || msg.Receiver != "sanmob" || len(msg.Alerts) != 2 ||
		msg.GroupKey != `{}:{alertname="FabricDrift"}` || msg.GroupLabels["alertname"] != FabricDrift ||
		msg.CommonLabels["severity"] != Warning || msg.CommonLabels["fabric"] != "" ||
		msg.CommonAnnotations["summary"] != "1 missing" || msg.ExternalURL != "http://sanmob:8080" || msg.TruncatedAlerts != 0 {
		t.Fatalf("message %+v", msg)
	}
	for _, a := range msg.Alerts {
		if a.Status != "firing" || !a.EndsAt.IsZero() || a.StartsAt.IsZero() || a.Fingerprint != Fingerprint(a.Labels) ||
			a.GeneratorURL != "http://sanmob:8080/v1/alerts" {
			t.Fatalf("alert %+v", a)
		}
	}
	// The raw JSON has every field of version 4, by its name.
	raw, _ := json.Marshal(msg)
	for _, f := range []string{"receiver", "status", "alerts", "startsAt", "endsAt", "generatorURL", "fingerprint", "groupLabels",
		"commonLabels", "commonAnnotations", "externalURL", "groupKey", "truncatedAlerts", "version"} {
		if !strings.Contains(string(raw), `"`+f+`"`) {
			t.Errorf("payload lacks %q: %s", f, raw)
		}
	}
	m.Set(drift("east-a"), nil, false)
	msg = r.next(t)
	if msg.Status != "resolved" || len(msg.Alerts) != 1 || msg.Alerts[0].Status != "resolved" || msg.Alerts[0].EndsAt.IsZero() ||
		msg.Alerts[0].Labels["fabric"] != "east-a" {
		t.Fatalf("resolution %+v", msg)
	}
	m.Set(drift("east-a"), nil, false) // resolved already: no change
	r.none(t, 300*time.Millisecond)
}

func TestWebhookGroupsByAlertname(t *testing.T) {
	r := newReceiver(t)
	m := NewManager(clock.RealClock{}, 0)
	_, _ = startDelivery(t, m, DeliveryConfig{Webhooks: []string{r.URL}, GroupWait: 100 * time.Millisecond})
	m.Set(drift("east-a"), nil, true)
	m.Set(map[string]string{"alertname": PoolUsageHigh, "severity": Critical, "pool": "p1"}, nil, true)
	a, b := r.next(t), r.next(t)
	if a.GroupLabels["alertname"] != FabricDrift || b.GroupLabels["alertname"] != PoolUsageHigh || len(a.Alerts) != 1 || len(b.Alerts) != 1 {
		t.Fatalf("groups %+v / %+v", a, b)
	}
}

// The receiver answers 503 for a while, then comes back: every change
// reaches it, in order, none twice.
func TestWebhookReceiverDownNothingLost(t *testing.T) {
	r := newReceiver(t)
	r.status.Store(http.StatusServiceUnavailable)
	m := NewManager(clock.RealClock{}, 0)
	d, _ := startDelivery(t, m, DeliveryConfig{Webhooks: []string{r.URL}})
	m.Set(drift("a"), nil, true)
	for deadline := time.Now().Add(10 * time.Second); r.got.Load() < 3; {
		if time.Now().After(deadline) {
			t.Fatal("no retries")
		}
		time.Sleep(5 * time.Millisecond) // polling a counter, with a deadline
	}
	m.Set(drift("b"), nil, true)
	m.Set(drift("a"), nil, false)
	r.status.Store(0)
	var fired, resolved []string
	for len(fired)+len(resolved) < 3 {
		for _, a := range r.next(t).Alerts {
			if a.Status == "firing" {
				fired = append(fired, a.Labels["fabric"])
			} else {
				resolved = append(resolved, a.Labels["fabric"])
			}
		}
	}
	if strings.Join(fired, ",") != "a,b" || strings.Join(resolved, ",") != "a" {
		t.Fatalf("fired %v resolved %v", fired, resolved)
	}
	r.none(t, 200*time.Millisecond)
	st := d.Stats()[0]
	if st.Retried == 0 || st.Failed == 0 || st.Sent != 2 || st.Lost != 0 || st.Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestWebhook4xxDropped(t *testing.T) {
	r := newReceiver(t)
	r.status.Store(http.StatusBadRequest)
	m := NewManager(clock.RealClock{}, 0)
	d, _ := startDelivery(t, m, DeliveryConfig{Webhooks: []string{r.URL}})
	m.Set(drift("a"), nil, true)
	for deadline := time.Now().Add(10 * time.Second); d.Stats()[0].Dropped == 0; {
		if time.Now().After(deadline) {
			t.Fatal("not dropped")
		}
		time.Sleep(5 * time.Millisecond)
	}
	r.status.Store(0)
	m.Set(drift("b"), nil, true)
	if msg := r.next(t); len(msg.Alerts) != 1 || msg.Alerts[0].Labels["fabric"] != "b" {
		t.Fatalf("after a drop: %+v", msg)
	}
	if got := r.got.Load(); got != 2 {
		t.Fatalf("%d requests, want 2: a 4xx is not retried", got)
	}
}

// A restart from the store: what was not delivered goes out once, an alert
// that still fires keeps its startsAt and is not new again, and what was
// delivered is not sent again.
func TestRestartFromStore(t *testing.T) {
	dir := t.TempDir()
	r := newReceiver(t)
	r.status.Store(http.StatusServiceUnavailable)

	st := openStore(t, dir)
	m := NewManager(clock.RealClock{}, 0)
	if err := m.Restore(st, quiet()); err != nil {
		t.Fatal(err)
	}
	_, stop := startDelivery(t, m, DeliveryConfig{Webhooks: []string{r.URL}})
	m.Set(drift("a"), nil, true) // delivered after the restart
	started := m.List()[0].StartsAt
	for deadline := time.Now().Add(10 * time.Second); r.got.Load() < 1; {
		if time.Now().After(deadline) {
			t.Fatal("no attempt")
		}
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	r.status.Store(0)
	st = openStore(t, dir)
	defer st.Close()
	m = NewManager(clock.RealClock{}, 0)
	if err := m.Restore(st, quiet()); err != nil {
		t.Fatal(err)
	}
	if l := m.List(); len(l) != 1 || !l[0].StartsAt.Equal(started) || l[0].Status != "firing" {
		t.Fatalf("restored %+v, want a firing since %v", l, started)
	}
	if m.Set(drift("a"), nil, true) {
		t.Fatal("an alert restored firing was new again")
	}
	_, stop = startDelivery(t, m, DeliveryConfig{Webhooks: []string{r.URL}})
	if msg := r.next(t); len(msg.Alerts) != 1 || msg.Alerts[0].Status != "firing" || !msg.Alerts[0].StartsAt.Equal(started) {
		t.Fatalf("after the restart: %+v", msg)
	}
	r.none(t, 200*time.Millisecond)
	stop()

	// Delivered: a third start sends nothing, and the condition found gone
	// resolves it once.
	m = NewManager(clock.RealClock{}, 0)
	if err := m.Restore(st, quiet()); err != nil {
		t.Fatal(err)
	}
	_, _ = startDelivery(t, m, DeliveryConfig{Webhooks: []string{r.URL}})
	r.none(t, 200*time.Millisecond)
	if !m.Set(drift("a"), nil, false) || m.Set(drift("a"), nil, false) {
		t.Fatal("resolving after a restart must change state once")
	}
	if msg := r.next(t); len(msg.Alerts) != 1 || msg.Alerts[0].Status != "resolved" || msg.Alerts[0].EndsAt.IsZero() {
		t.Fatalf("resolution after the restart: %+v", msg)
	}
	r.none(t, 200*time.Millisecond)
}

func TestRestoreBounds(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	m := NewManager(clock.RealClock{}, 2)
	if err := m.Restore(st, quiet()); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"x", "y", "z"} {
		m.Set(drift(f), nil, true)
		m.Set(drift(f), nil, false)
	}
	n, err := st.Count(kindResolved)
	if err != nil || n != 2 {
		t.Fatalf("%d resolved records (%v), want 2", n, err)
	}
	m2 := NewManager(clock.RealClock{}, 2)
	if err := m2.Restore(st, quiet()); err != nil {
		t.Fatal(err)
	}
	if l := m2.List(); len(l) != 2 || l[0].Labels["fabric"] != "z" || l[1].Labels["fabric"] != "y" {
		t.Fatalf("restored %+v", l)
	}
	if evs, _ := m2.eventsAfter(0); len(evs) != 6 || evs[5].Seq != 6 {
		t.Fatalf("events %+v", evs)
	}
	m2.Set(drift("w"), nil, true)
	if evs, _ := m2.eventsAfter(6); len(evs) != 1 || evs[0].Seq != 7 {
		t.Fatalf("seq after a restore: %+v", evs)
	}
	_ = st.Close()
}

func TestSubscribe(t *testing.T) {
	m := NewManager(clock.RealClock{}, 0)
	m.Set(drift("a"), nil, true)
	snap, sub := m.Subscribe()
	defer sub.Close()
	if len(snap) != 1 {
		t.Fatalf("snapshot %+v", snap)
	}
	m.Set(drift("a"), nil, false)
	if e := <-sub.C(); e.Type != EventResolved || e.Alert.Labels["fabric"] != "a" {
		t.Fatalf("event %+v", e)
	}
	// A reader that does not read: dropped with resync, the Manager never
	// blocks.
	_, slow := m.Subscribe()
	for i := range 2 * subBuffer {
		m.Set(drift(string(rune('a'+i%26))+"x"+string(rune('a'+i/26))), nil, true)
	}
	var last Event
	n := 0
	for e := range slow.C() {
		last = e
		n++
	}
	if last.Type != EventResync || n != subBuffer {
		t.Fatalf("slow reader got %d events, last %+v", n, last)
	}
	slow.Close() // harmless after the drop
}

// alertmanager stands in for Alertmanager's POST /api/v2/alerts.
func fakeAlertmanager(t *testing.T) (*httptest.Server, chan []PostableAlert) {
	ch := make(chan []PostableAlert, 100)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v2/alerts" || r.Method != http.MethodPost {
			http.NotFound(w, r)
			return
		}
		var as []PostableAlert
		if err := json.NewDecoder(r.Body).Decode(&as); err != nil {
			t.Errorf("alertmanager: %v", err)
		}
		ch <- as
	}))
	t.Cleanup(srv.Close)
	return srv, ch
}

func TestPushResendsAndResolves(t *testing.T) {
	am, ch := fakeAlertmanager(t)
	m := NewManager(clock.RealClock{}, 0)
	_, _ = startDelivery(t, m, DeliveryConfig{Alertmanagers: []string{am.URL + "/"}, ResendInterval: 50 * time.Millisecond})
	m.Set(drift("a"), nil, true)
	recv := func() []PostableAlert {
		t.Helper()
		select {
		case as := <-ch:
			return as
		case <-time.After(10 * time.Second):
			t.Fatal("nothing pushed")
			return nil
		}
	}
	first := recv()
	if len(first) != 1 || first[0].Labels["fabric"] != "a" || !first[0].EndsAt.After(first[0].StartsAt) {
		t.Fatalf("push %+v", first)
	}
	// Re-sent while active.
	if again := recv(); len(again) != 1 || !again[0].StartsAt.Equal(first[0].StartsAt) {
		t.Fatalf("resend %+v", again)
	}
	m.Set(drift("a"), nil, false)
	for {
		as := recv()
		if len(as) == 1 && !as[0].EndsAt.After(time.Now()) && as[0].EndsAt.After(as[0].StartsAt) {
			break // the resolution, with its endsAt
		}
	}
	// Nothing fires: the resends stop carrying it.
	deadline := time.After(300 * time.Millisecond)
	for {
		select {
		case as := <-ch:
			t.Fatalf("pushed %+v with nothing firing", as)
		case <-deadline:
			return
		}
	}
}

func TestNewDeliveryRefusesBadURLs(t *testing.T) {
	m := NewManager(clock.RealClock{}, 0)
	for _, u := range []string{"ftp://x", "http://", "::", "localhost:9093"} {
		if _, err := NewDelivery(m, DeliveryConfig{Webhooks: []string{u}}); err == nil || !strings.Contains(err.Error(), u) {
			t.Errorf("webhook %q: %v", u, err)
		}
		if _, err := NewDelivery(m, DeliveryConfig{Alertmanagers: []string{u}}); err == nil || !strings.Contains(err.Error(), "alertmanager") {
			t.Errorf("alertmanager %q: %v", u, err)
		}
	}
}

// A raiser that keeps what it fired in memory cannot resolve, after a
// restart, an alert whose condition went away while sanmob was down:
// ResolveUnconfirmed does, for the names the daemon says are raised again,
// once, and only for alerts no raiser has set since the restore.
func TestResolveUnconfirmed(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	defer st.Close()
	m := NewManager(clock.RealClock{}, 0)
	if err := m.Restore(st, quiet()); err != nil {
		t.Fatal(err)
	}
	failed := map[string]string{"alertname": OperationFailed, "severity": Critical, "volume": "v1"}
	m.Set(drift("still"), nil, true)
	m.Set(drift("gone"), nil, true)
	m.Set(failed, nil, true)
	if got := m.ResolveUnconfirmed(FabricDrift); len(got) != 0 {
		t.Fatalf("resolved %+v without a restore", got)
	}

	m = NewManager(clock.RealClock{}, 0)
	if err := m.Restore(st, quiet()); err != nil {
		t.Fatal(err)
	}
	r := newReceiver(t)
	_, _ = startDelivery(t, m, DeliveryConfig{Webhooks: []string{r.URL}})
	// A receiver seen for the first time gets what fires: 3 alerts.
	for n := 0; n < 3; {
		n += len(r.next(t).Alerts)
	}
	m.Set(drift("still"), nil, true) // its raiser looked again
	got := m.ResolveUnconfirmed(FabricDrift, ReplicationLagHigh)
	if len(got) != 1 || got[0].Labels["fabric"] != "gone" || got[0].Status != "resolved" || got[0].EndsAt == nil {
		t.Fatalf("resolved %+v, want the drift on gone", got)
	}
	if msg := r.next(t); len(msg.Alerts) != 1 || msg.Alerts[0].Labels["fabric"] != "gone" || msg.Alerts[0].Status != "resolved" {
		t.Fatalf("webhook %+v", msg)
	}
	var firing []string
	for _, a := range m.List() {
		if a.Status == "firing" {
			firing = append(firing, a.Labels["alertname"]+"/"+a.Labels["fabric"])
		}
	}
	if strings.Join(firing, ",") != "FabricDrift/still,OperationFailed/" {
		t.Fatalf("firing after: %v", firing)
	}
	if again := m.ResolveUnconfirmed(OperationFailed); len(again) != 0 {
		t.Fatalf("a second call resolved %+v", again)
	}
}

// Nothing listens on the receiver's port (connection refused) while an
// alert fires; once a receiver listens there, the alert reaches it.
func TestWebhookConnectionRefusedThenBack(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	m := NewManager(clock.RealClock{}, 0)
	d, _ := startDelivery(t, m, DeliveryConfig{Webhooks: []string{"http://" + addr + "/hook"}})
	m.Set(drift("a"), nil, true)
	for deadline := time.Now().Add(10 * time.Second); d.Stats()[0].Retried < 2; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no retries of a refused connection")
		}
	}
	r := &receiver{msgs: make(chan WebhookMessage, 10)}
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("the port was taken meanwhile: %v", err)
	}
	r.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var msg WebhookMessage
		_ = json.NewDecoder(req.Body).Decode(&msg)
		r.msgs <- msg
	}))
	r.Listener = ln
	r.Start()
	defer r.Close()
	if msg := r.next(t); len(msg.Alerts) != 1 || msg.Alerts[0].Labels["fabric"] != "a" || msg.Alerts[0].Status != "firing" {
		t.Fatalf("after the refusals: %+v", msg)
	}
}
