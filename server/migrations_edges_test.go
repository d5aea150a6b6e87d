package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sanmob/sanmob/compute"
	"github.com/sanmob/sanmob/compute/external"
	"github.com/sanmob/sanmob/server"
)

type apiMigration struct {
	ID              string `json:"id"`
	VM              string `json:"vm"`
	SourceHost      string `json:"sourceHost"`
	DestinationHost string `json:"destinationHost"`
	Phase           string `json:"phase"`
	Error           string `json:"error"`
	Steps           []struct {
		Name  string `json:"name"`
		State string `json:"state"`
	} `json:"steps"`
}

type apiEvent struct {
	Seq       uint64 `json:"seq"`
	Type      string `json:"type"`
	Migration string `json:"migration"`
	Step      string `json:"step"`
	State     string `json:"state"`
	At        string `json:"at"`
	Error     string `json:"error"`
}

// sseEvent is one event of a stream as a client parses it; comment is set
// for a comment line (a heartbeat).
type sseEvent struct {
	id, event, data string
	comment         string
}

// sse opens an event stream as role and returns its parsed events; the
// channel closes when the server ends the stream.
func sse(t *testing.T, h *harness, role server.Role, path string) (*http.Response, <-chan sseEvent) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+roleTokens[role])
	req.Header.Set("Accept", "text/event-stream")
	resp, err := h.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	out := make(chan sseEvent, 256)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		var cur sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if cur != (sseEvent{}) {
					out <- cur
				}
				cur = sseEvent{}
			case strings.HasPrefix(line, ":"):
				cur.comment = strings.TrimSpace(line[1:])
			case strings.HasPrefix(line, "id: "):
				cur.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				cur.event = line[7:]
			case strings.HasPrefix(line, "data: "):
				cur.data = line[6:]
			}
		}
	}()
	return resp, out
}

// nextEvent reads the stream until ok, skipping heartbeats; it fails if
// the stream ends first.
func nextEvent(t *testing.T, ch <-chan sseEvent, ok func(sseEvent) bool) []sseEvent {
	t.Helper()
	var got []sseEvent
	timeout := time.After(30 * time.Second)
	for {
		select {
		case e, open := <-ch:
			if !open {
				t.Fatalf("the stream ended before the awaited event; got %+v", got)
			}
			got = append(got, e)
			if ok(e) {
				return got
			}
		case <-timeout:
			t.Fatalf("no awaited event in time; got %+v", got)
		}
	}
}

func phaseEvent(phase string) func(sseEvent) bool {
	return func(e sseEvent) bool {
		if e.event != "phase" {
			return false
		}
		var ev apiEvent
		return json.Unmarshal([]byte(e.data), &ev) == nil && ev.State == phase
	}
}

// streamEnds waits for the server to end the stream and returns the rest.
func streamEnds(t *testing.T, ch <-chan sseEvent) []sseEvent {
	t.Helper()
	var got []sseEvent
	timeout := time.After(30 * time.Second)
	for {
		select {
		case e, open := <-ch:
			if !open {
				return got
			}
			got = append(got, e)
		case <-timeout:
			t.Fatalf("the stream did not end; got %+v", got)
		}
	}
}

func startMigration(t *testing.T, h *harness, vm string) (apiMigration, string) {
	t.Helper()
	src := getJSON[struct {
		Host string `json:"host"`
	}](t, h, "/v1/vms/"+vm).Host
	dst := otherEastHost(t, h, vm)
	m := wantJSON[apiMigration](t, h.do(server.RoleOperator, http.MethodPost, "/v1/migrations", map[string]any{"vm": vm, "destinationHost": dst}), http.StatusCreated)
	return m, src
}

// TestMigrationAbortEndpoint: POST /v1/migrations/{id}/abort while the
// hypervisor is slow to move the VM rolls it back; roles, 404 and 409.
func TestMigrationAbortEndpoint(t *testing.T) {
	h := newHarness(t)
	const vm = "east-vm004"
	dst := otherEastHost(t, h, vm)
	wantJSON[map[string]any](t, h.do(server.RoleAdmin, http.MethodPost, "/v1/lab/faults",
		map[string]any{"target": dst, "op": "move", "count": 1, "latencyMs": 3600e3}), http.StatusCreated)
	m, src := startMigration(t, h, vm)
	// Wait for the slow move step.
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := getJSON[apiMigration](t, h, "/v1/migrations/"+m.ID)
		if len(got.Steps) > 1 && got.Steps[1].State == "running" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the move step never ran: %+v", got)
		}
		time.Sleep(5 * time.Millisecond)
	}
	path := "/v1/migrations/" + m.ID + "/abort"
	wantProblem(t, h.do(server.RoleViewer, http.MethodPost, path, nil), http.StatusForbidden)
	wantProblem(t, h.do(server.RoleCSI, http.MethodPost, path, nil), http.StatusForbidden)
	wantProblem(t, h.do(noRole, http.MethodPost, path, nil), http.StatusUnauthorized)
	wantProblem(t, h.do(server.RoleOperator, http.MethodPost, "/v1/migrations/no-such-migration/abort", nil), http.StatusNotFound)
	a := wantJSON[apiMigration](t, h.do(server.RoleOperator, http.MethodPost, path, nil), http.StatusOK)
	if a.ID != m.ID || (a.Phase != "rolling-back" && a.Phase != "rolled-back") || !strings.Contains(a.Error, "aborted by request") {
		t.Fatalf("abort answered %+v", a)
	}
	if _, err := h.mob.WaitMigration(context.Background(), m.ID); err != nil {
		t.Fatal(err)
	}
	end := getJSON[apiMigration](t, h, "/v1/migrations/"+m.ID)
	if end.Phase != "rolled-back" {
		t.Fatalf("migration after the abort: %+v", end)
	}
	p := wantProblem(t, h.do(server.RoleAdmin, http.MethodPost, path, nil), http.StatusConflict)
	if !strings.Contains(p.Detail, "rolled-back") {
		t.Errorf("409 detail %q: want the phase", p.Detail)
	}
	if got := getJSON[struct {
		Host string `json:"host"`
	}](t, h, "/v1/vms/"+vm); got.Host != src {
		t.Errorf("vm on %s after the abort, was on %s", got.Host, src)
	}
}

// TestMigrationComputeEndpoint: with the external compute driver the
// stream shows waiting-compute; the manager's report (operator) lets the
// migration finish and the stream end; bad input, roles, 404 and 409.
func TestMigrationComputeEndpoint(t *testing.T) {
	restore := server.SetSSEHeartbeat(20 * time.Millisecond)
	defer restore()
	h := newHarness(t, withCompute(func(d compute.Driver) compute.Driver { return external.New(d, time.Hour, nil) }))
	const vm = "east-vm006"
	m, _ := startMigration(t, h, vm)
	resp, events := sse(t, h, server.RoleViewer, "/v1/migrations/"+m.ID+"/events")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("events: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	first := nextEvent(t, events, func(sseEvent) bool { return true })[0]
	var snap apiMigration
	if first.event != "snapshot" || first.id != "0" || json.Unmarshal([]byte(first.data), &snap) != nil || snap.ID != m.ID {
		t.Fatalf("first event %+v", first)
	}
	if snap.Phase != "waiting-compute" {
		nextEvent(t, events, phaseEvent("waiting-compute"))
	}
	// A quiet stream carries heartbeats.
	nextEvent(t, events, func(e sseEvent) bool { return e.comment == "heartbeat" })

	path := "/v1/migrations/" + m.ID + "/compute"
	p := wantProblem(t, h.do(server.RoleOperator, http.MethodPost, path, map[string]any{"state": "done"}), http.StatusBadRequest)
	if len(p.InvalidParams) != 1 || p.InvalidParams[0].Name != "state" {
		t.Errorf("bad state: %+v", p)
	}
	wantProblem(t, h.do(server.RoleOperator, http.MethodPost, path, map[string]any{}), http.StatusBadRequest)
	wantProblem(t, h.do(server.RoleOperator, http.MethodPost, path, map[string]any{"state": "switched", "host": "x"}), http.StatusBadRequest)
	wantProblem(t, h.do(server.RoleOperator, http.MethodPost, path, rawBody(`{"state":`)), http.StatusBadRequest)
	wantProblem(t, h.do(server.RoleViewer, http.MethodPost, path, map[string]any{"state": "switched"}), http.StatusForbidden)
	wantProblem(t, h.do(server.RoleCSI, http.MethodPost, path, map[string]any{"state": "switched"}), http.StatusForbidden)
	wantProblem(t, h.do(server.RoleOperator, http.MethodPost, "/v1/migrations/no-such-migration/compute", map[string]any{"state": "switched"}), http.StatusNotFound)
	got := wantJSON[apiMigration](t, h.do(server.RoleOperator, http.MethodPost, path, map[string]any{"state": "switched"}), http.StatusOK)
	if got.ID != m.ID || got.Phase == "waiting-compute" {
		t.Errorf("report answered %+v", got)
	}
	rest := streamEnds(t, events)
	var last apiEvent
	var lastID string
	for _, e := range rest {
		if e.comment != "" {
			continue
		}
		if err := json.Unmarshal([]byte(e.data), &last); err != nil {
			t.Fatalf("event %+v: %v", e, err)
		}
		if e.event != last.Type || e.id != strconv.FormatUint(last.Seq, 10) || last.Migration != m.ID {
			t.Errorf("event %+v: its name and id must be its type and seq", e)
		}
		lastID = e.id
	}
	if last.Type != "phase" || last.State != "succeeded" || lastID == "" {
		t.Fatalf("last event %+v", last)
	}
	if end := getJSON[apiMigration](t, h, "/v1/migrations/"+m.ID); end.Phase != "succeeded" {
		t.Fatalf("migration %+v", end)
	}
	p = wantProblem(t, h.do(server.RoleOperator, http.MethodPost, path, map[string]any{"state": "switched"}), http.StatusConflict)
	if !strings.Contains(p.Detail, "ended") {
		t.Errorf("409 detail %q", p.Detail)
	}
	// The stream of an ended migration: its snapshot, then the end.
	_, events = sse(t, h, server.RoleViewer, "/v1/migrations/"+m.ID+"/events")
	if evs := streamEnds(t, events); len(evs) != 1 || evs[0].event != "snapshot" {
		t.Errorf("events of an ended migration: %+v", evs)
	}
	wantProblem(t, h.get(server.RoleViewer, "/v1/migrations/no-such-migration/events"), http.StatusNotFound)
}

// TestMigrationComputeNotExternal: sanmob's own compute driver waits for
// no report: 409.
func TestMigrationComputeNotExternal(t *testing.T) {
	h := newHarness(t)
	m, _ := startMigration(t, h, "east-vm007")
	p := wantProblem(t, h.do(server.RoleAdmin, http.MethodPost, "/v1/migrations/"+m.ID+"/compute", map[string]any{"state": "failed", "detail": "x"}), http.StatusConflict)
	if !strings.Contains(p.Detail, "not external") {
		t.Errorf("409 detail %q", p.Detail)
	}
	if _, err := h.mob.WaitMigration(context.Background(), m.ID); err != nil {
		t.Fatal(err)
	}
}

// TestMigrationEventsStepByStep: a migration followed from its start shows
// each step running then done, in the order of the plan, then succeeded.
func TestMigrationEventsStepByStep(t *testing.T) {
	h := newHarness(t, withCompute(func(d compute.Driver) compute.Driver { return external.New(d, time.Hour, nil) }))
	m, _ := startMigration(t, h, "east-vm008")
	_, events := sse(t, h, server.RoleOperator, "/v1/migrations/"+m.ID+"/events")
	first := nextEvent(t, events, func(e sseEvent) bool { return e.event == "snapshot" })
	var snap apiMigration
	if err := json.Unmarshal([]byte(first[len(first)-1].data), &snap); err != nil {
		t.Fatal(err)
	}
	if snap.Phase != "waiting-compute" {
		nextEvent(t, events, phaseEvent("waiting-compute"))
	}
	wantJSON[apiMigration](t, h.do(server.RoleAdmin, http.MethodPost, "/v1/migrations/"+m.ID+"/compute", map[string]any{"state": "switched"}), http.StatusOK)
	var done []string
	for _, e := range streamEnds(t, events) {
		var ev apiEvent
		if e.event == "step" && json.Unmarshal([]byte(e.data), &ev) == nil && ev.State == "done" {
			done = append(done, ev.Step)
		}
	}
	if strings.Join(done, ",") != "move,activate,logout-old" {
		t.Errorf("steps done after the report: %v", done)
	}
}
