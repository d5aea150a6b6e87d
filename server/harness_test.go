package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/sanmob/sanmob/internal/labwire"

	"github.com/sirupsen/logrus"

	"github.com/sanmob/sanmob/alert"
	"github.com/sanmob/sanmob/compute"
	"github.com/sanmob/sanmob/lab"
	"github.com/sanmob/sanmob/mobility"
	"github.com/sanmob/sanmob/server"
	"github.com/sanmob/sanmob/store"
)

// The bearer tokens of the harness, one per role. Only their SHA-256 reaches
// the server, as in the daemon.
var roleTokens = map[server.Role]string{
	server.RoleAdmin:    "smt_test_admin_0123456789",
	server.RoleOperator: "smt_test_operator_0123456789",
	server.RoleCSI:      "smt_test_csi_0123456789",
	server.RoleViewer:   "smt_test_viewer_0123456789",
}

// noRole sends a request without an Authorization header.
const noRole server.Role = ""

// harness is a started sanmob API over the small lab world: a badger store in
// t.TempDir(), the mobility core wired as cmd/sanmobd wires it, and the REST
// API served by httptest.
type harness struct {
	t     testing.TB
	world *lab.World
	mob   *mobility.Service
	srv   *server.Server
	ts    *httptest.Server
	// alerts is the manager mobility raises on and the server streams.
	alerts *alert.Manager
}

type harnessOptions struct {
	noLab   bool
	ready   func() (bool, []string)
	compute func(compute.Driver) compute.Driver
	deliver func(*alert.Manager) *alert.Delivery
	log     *logrus.Logger
}

type harnessOption func(*harnessOptions)

// withoutLab serves the API with server.Config.Lab nil, as a daemon with real
// devices would.
func withoutLab() harnessOption { return func(o *harnessOptions) { o.noLab = true } }

// withCompute replaces the lab's compute driver with wrap's answer (an
// external driver in front of it, say).
func withCompute(wrap func(compute.Driver) compute.Driver) harnessOption {
	return func(o *harnessOptions) { o.compute = wrap }
}

// withDelivery gives the server the alert delivery make builds.
func withDelivery(make func(*alert.Manager) *alert.Delivery) harnessOption {
	return func(o *harnessOptions) { o.deliver = make }
}

// withLog makes the server (and the core) log to log instead of nowhere.
func withLog(log *logrus.Logger) harnessOption {
	return func(o *harnessOptions) { o.log = log }
}

// withReady installs a daemon readiness hook.
func withReady(f func() (bool, []string)) harnessOption {
	return func(o *harnessOptions) { o.ready = f }
}

func newHarness(t testing.TB, opts ...harnessOption) *harness {
	t.Helper()
	var o harnessOptions
	for _, f := range opts {
		f(&o)
	}
	log := o.log
	if log == nil {
		log = logrus.New()
		log.SetOutput(io.Discard)
	}

	st, err := store.Open(store.Options{Dir: t.TempDir(), Logger: log})
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("store.Close: %v", err)
		}
	})

	world, err := lab.New(benchLab())
	if err != nil {
		t.Fatalf("lab.New: %v", err)
	}
	// As cmd/sanmobd/daemon.go wires it.
	alerts := alert.NewManager(world.Clock(), 0)
	mcfg := labwire.Mobility(world, mobility.Config{Store: st, Log: log, Alerts: alerts})
	if o.compute != nil {
		mcfg.Compute = o.compute(mcfg.Compute)
	}
	mob, err := mobility.New(mcfg)
	if err != nil {
		t.Fatalf("mobility.New: %v", err)
	}
	t.Cleanup(mob.Close)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := mob.Start(ctx); err != nil {
		t.Fatalf("mobility.Start: %v", err)
	}
	sagasDone := make(chan struct{})
	go func() { defer close(sagasDone); _ = mob.RunSagas(ctx) }()
	t.Cleanup(func() { cancel(); <-sagasDone })
	if ok, why := mob.Readiness(); !ok {
		t.Fatalf("mobility not ready after Start: %v", why)
	}

	var tokens []server.Token
	for _, role := range []server.Role{server.RoleAdmin, server.RoleOperator, server.RoleCSI, server.RoleViewer} {
		h, err := server.ParseTokenHash(server.HashToken(roleTokens[role]))
		if err != nil {
			t.Fatalf("ParseTokenHash: %v", err)
		}
		tokens = append(tokens, server.Token{Name: string(role) + "-token", Role: role, Hash: h})
	}
	cfg := server.Config{Mobility: mob, Tokens: tokens, Log: log, Ready: o.ready, Version: "test", Alerts: alerts}
	if o.deliver != nil {
		cfg.AlertDelivery = o.deliver(alerts)
	}
	if !o.noLab {
		cfg.Lab = labwire.API(world)
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	// Served as cmd/sanmobd serves it, so that every test goes through the
	// connection wrapper of wire.go.
	noteOpenAPI(t, srv, !o.noLab)
	ts := httptest.NewUnstartedServer(recordStatuses(srv.Handler()))
	ts.Listener = server.Listener(ts.Listener)
	ts.Config.ConnContext = server.ConnContext
	ts.Start()
	t.Cleanup(ts.Close)
	return &harness{t: t, world: world, mob: mob, srv: srv, ts: ts, alerts: alerts}
}

// with returns the harness reporting to t, for subtests.
func (h *harness) with(t *testing.T) *harness {
	c := *h
	c.t = t
	return &c
}

// response is a finished HTTP exchange.
type response struct {
	Status int
	Header http.Header
	Body   []byte
	method string
	path   string
}

func (r *response) String() string {
	b := r.Body
	if len(b) > 600 {
		b = append(b[:600:600], "..."...)
	}
	return fmt.Sprintf("%s %s → %d %s", r.method, r.path, r.Status, b)
}

// rawBody is sent as it is, without JSON encoding.
type rawBody []byte

// request describes one call; the zero Header adds nothing.
type request struct {
	role        server.Role
	method      string
	path        string
	body        any // nil: no body; rawBody: verbatim; else JSON-encoded
	contentType string
	header      http.Header
}

func (h *harness) send(rq request) *response {
	h.t.Helper()
	var body io.Reader
	ct := rq.contentType
	switch b := rq.body.(type) {
	case nil:
	case rawBody:
		body = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			h.t.Fatalf("encode request body: %v", err)
		}
		body = bytes.NewReader(raw)
		if ct == "" {
			ct = "application/json"
		}
	}
	req, err := http.NewRequest(rq.method, h.ts.URL+rq.path, body)
	if err != nil {
		h.t.Fatalf("NewRequest %s %s: %v", rq.method, rq.path, err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if rq.role != noRole {
		tok, ok := roleTokens[rq.role]
		if !ok {
			tok = string(rq.role) // lets a test send any token it likes
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for k, vs := range rq.header {
		for _, v := range vs {
			req.Header.Set(k, v)
		}
	}
	resp, err := h.ts.Client().Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", rq.method, rq.path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("%s %s: read body: %v", rq.method, rq.path, err)
	}
	return &response{Status: resp.StatusCode, Header: resp.Header, Body: raw, method: rq.method, path: rq.path}
}

// do calls the API as role with an optional JSON body.
func (h *harness) do(role server.Role, method, path string, body any) *response {
	h.t.Helper()
	return h.send(request{role: role, method: method, path: path, body: body})
}

func (h *harness) get(role server.Role, path string) *response {
	h.t.Helper()
	return h.do(role, http.MethodGet, path, nil)
}

// getJSON GETs path as admin, wants 200 and decodes the body into a T.
func getJSON[T any](t *testing.T, h *harness, path string) T {
	t.Helper()
	r := h.get(server.RoleAdmin, path)
	return wantJSON[T](t, r, http.StatusOK)
}

// wantJSON checks the status and the JSON content type and decodes the body.
func wantJSON[T any](t *testing.T, r *response, status int) T {
	t.Helper()
	var v T
	if r.Status != status {
		t.Fatalf("%v: want status %d", r, status)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%v: Content-Type %q, want application/json", r, ct)
	}
	if err := json.Unmarshal(r.Body, &v); err != nil {
		t.Fatalf("%v: decode %T: %v", r, v, err)
	}
	return v
}

// problem is an RFC 9457 body as a client reads it.
type problem struct {
	Type          string `json:"type"`
	Title         string `json:"title"`
	Status        int    `json:"status"`
	Detail        string `json:"detail"`
	Instance      string `json:"instance"`
	InvalidParams []struct {
		Name   string `json:"name"`
		Reason string `json:"reason"`
	} `json:"invalid-params"`
	Reasons []string `json:"reasons"`
}

// wantProblem checks that r is an application/problem+json answer with the
// given status and the four members API.md promises, and returns it.
func wantProblem(t *testing.T, r *response, status int) problem {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%v: want status %d", r, status)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Fatalf("%v: Content-Type %q, want application/problem+json", r, ct)
	}
	var keys map[string]any
	if err := json.Unmarshal(r.Body, &keys); err != nil {
		t.Fatalf("%v: problem body is not a JSON object: %v", r, err)
	}
	for _, k := range []string{"type", "title", "status", "detail"} {
		if _, ok := keys[k]; !ok {
			t.Errorf("%v: problem has no %q member", r, k)
		}
	}
	var p problem
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Fatalf("%v: decode problem: %v", r, err)
	}
	if p.Status != status {
		t.Errorf("%v: problem status %d, want %d", r, p.Status, status)
	}
	if p.Type == "" || p.Title == "" || p.Detail == "" {
		t.Errorf("%v: problem has an empty type, title or detail", r)
	}
	return p
}

// list is the {"items": [...]} envelope.
type list[T any] struct {
	Items    []T    `json:"items"`
	Continue string `json:"continue"`
}

// canonicalWWN is the one form API.md allows WWPNs and WWNNs to be printed in.
var canonicalWWN = regexp.MustCompile(`^[0-9a-f]{2}(:[0-9a-f]{2}){7}$`)

// wwnKeys are the JSON members, besides those named *wwpn / *wwnn, that hold
// a WWN or a list of them.
var wwnKeys = map[string]bool{"members": true, "peer": true, "principals": true, "initiators": true, "hba": true}

// checkWWNs walks a decoded JSON document and reports every WWN that is not
// in canonical form; it returns how many WWNs it saw.
func checkWWNs(t *testing.T, where string, v any) int {
	t.Helper()
	n := 0
	var walk func(path string, v any, wwnish bool)
	walk = func(path string, v any, wwnish bool) {
		switch x := v.(type) {
		case map[string]any:
			for k, val := range x {
				lk := strings.ToLower(k)
				is := wwnKeys[k] || strings.HasSuffix(lk, "wwpn") || strings.HasSuffix(lk, "wwnn") ||
					// targetPorts is a list of WWPNs in mappings, of objects elsewhere
					k == "targetPorts"
				walk(path+"."+k, val, is)
			}
		case []any:
			for i, val := range x {
				walk(fmt.Sprintf("%s[%d]", path, i), val, wwnish)
			}
		case string:
			if wwnish {
				n++
				if !canonicalWWN.MatchString(x) {
					t.Errorf("%s: %s = %q is not a canonical WWN (lowercase, colon separated)", where, path, x)
				}
			}
		}
	}
	walk("", v, false)
	return n
}

// decodeAny decodes a body as generic JSON.
func decodeAny(t *testing.T, r *response) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(r.Body, &v); err != nil {
		t.Fatalf("%v: %v", r, err)
	}
	return v
}

// requireKeys fails for every key obj lacks.
func requireKeys(t *testing.T, where string, obj map[string]any, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if _, ok := obj[k]; !ok {
			t.Errorf("%s: no %q member in %v", where, k, keysOf(obj))
		}
	}
}

func keysOf(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
