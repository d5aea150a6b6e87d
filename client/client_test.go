package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func newTest(t *testing.T, h http.HandlerFunc, opts ...Option) *Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	opts = append([]Option{WithToken("tok"), WithBackoff(time.Millisecond, 5*time.Millisecond)}, opts...)
	c, err := New(srv.URL, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func problem(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	fmt.Fprint(w, body)
}

func TestProblemDecodedIntoError(t *testing.T) {
	c := newTest(t, func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("Authorization"); got != "Bearer tok" {
			t.Errorf("Authorization %q", got)
		}
		if r.URL.Path != "/v1/migrations" {
			t.Errorf("path %q", r.URL.Path)
		}
		var spec MigrationSpec
		if err := json.NewDecoder(r.Body).Decode(&spec); err != nil || spec.VM != "nope" {
			t.Errorf("body %+v %v", spec, err)
		}
		problem(w, 404, `{"type":"https://sanmob.io/problems/not-found","title":"Not Found","status":404,"detail":"vm: vm \"nope\": not found","invalid-params":[{"name":"vm","reason":"no such vm"}]}`)
	})
	_, _, err := c.CreateMigration(context.Background(), MigrationSpec{VM: "nope", DestinationHost: "h"})
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("err %v (%T), want *Error", err, err)
	}
	if !IsNotFound(err) || IsConflict(err) || e.Temporary() || IsTemporary(err) {
		t.Errorf("classification wrong for %v", err)
	}
	if e.Type != "https://sanmob.io/problems/not-found" || len(e.InvalidParams) != 1 || e.InvalidParams[0].Name != "vm" {
		t.Errorf("problem %+v", e)
	}
	if want := `404 Not Found: vm: vm "nope": not found; vm: no such vm`; e.Error() != want {
		t.Errorf("Error() = %q, want %q", e.Error(), want)
	}
}

func TestReasonsAndNonProblemBodies(t *testing.T) {
	c := newTest(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/migrations" {
			problem(w, 422, `{"title":"Unprocessable Entity","status":422,"detail":"not feasible","reasons":["a","b"]}`)
			return
		}
		http.Error(w, "upstream broke", http.StatusBadGateway)
	})
	_, err := c.PlanMigration(context.Background(), MigrationSpec{VM: "v", DestinationHost: "h"})
	var e *Error
	if !errors.As(err, &e) || !IsUnprocessable(err) || len(e.Reasons) != 2 {
		t.Fatalf("err %v", err)
	}
	_, err = c.ListVMs(context.Background(), VMFilter{})
	if StatusOf(err) != 502 || !strings.Contains(err.Error(), "upstream broke") || IsTemporary(err) {
		t.Fatalf("err %v", err)
	}
}

func TestRetriesHonourRetryAfter(t *testing.T) {
	var calls atomic.Int32
	var first time.Time
	c := newTest(t, func(w http.ResponseWriter, r *http.Request) {
		switch calls.Add(1) {
		case 1:
			first = time.Now()
			w.Header().Set("Retry-After", "1")
			problem(w, 503, `{"title":"Service Unavailable","status":503,"detail":"busy"}`)
		case 2:
			if d := time.Since(first); d < 900*time.Millisecond {
				t.Errorf("second try after %v, Retry-After said 1s", d)
			}
			problem(w, 429, `{"title":"Too Many Requests","status":429}`)
		default:
			fmt.Fprint(w, `{"items":[{"id":"east"}]}`)
		}
	})
	sites, err := c.ListSites(context.Background())
	if err != nil || len(sites) != 1 || sites[0].ID != "east" || calls.Load() != 3 {
		t.Fatalf("sites %v err %v calls %d", sites, err, calls.Load())
	}
}

func TestRetriesStopAtMaxAttempts(t *testing.T) {
	var calls atomic.Int32
	c := newTest(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		problem(w, 503, `{"title":"Service Unavailable","status":503,"detail":"fabric east-a unreachable"}`)
	}, WithMaxAttempts(3))
	_, err := c.ListFabrics(context.Background())
	if !IsTemporary(err) || calls.Load() != 3 || !strings.Contains(err.Error(), "east-a unreachable") {
		t.Fatalf("err %v calls %d", err, calls.Load())
	}
}

func TestStartingCallsRetryOnlyRefusals(t *testing.T) {
	var calls atomic.Int32
	c := newTest(t, func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			problem(w, 429, `{"status":429}`)
			return
		}
		problem(w, 503, `{"status":503,"detail":"busy"}`)
	})
	_, _, err := c.CreateMigration(context.Background(), MigrationSpec{VM: "v", DestinationHost: "h"})
	if StatusOf(err) != 503 || calls.Load() != 2 {
		t.Fatalf("err %v calls %d: want a 429 retried and the 503 not", err, calls.Load())
	}
}

func TestNetworkErrorsRetried(t *testing.T) {
	var calls atomic.Int32
	c := newTest(t, func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			hj, _ := w.(http.Hijacker)
			conn, _, _ := hj.Hijack()
			conn.Close() // the connection drops with no answer
			return
		}
		fmt.Fprint(w, `{"items":[]}`)
	})
	if _, err := c.ListAlerts(context.Background()); err != nil || calls.Load() != 2 {
		t.Fatalf("err %v calls %d", err, calls.Load())
	}
}

func TestContextCancelStopsRetries(t *testing.T) {
	c := newTest(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "30")
		problem(w, 503, `{"status":503}`)
	})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := c.ListVMs(ctx, VMFilter{})
	if !errors.Is(err, context.Canceled) || time.Since(start) > 5*time.Second {
		t.Fatalf("err %v after %v", err, time.Since(start))
	}
	// A deadline shorter than Retry-After gives the answer at once.
	ctx, cancel2 := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel2()
	start = time.Now()
	_, err = c.ListVMs(ctx, VMFilter{})
	if StatusOf(err) != 503 || time.Since(start) > time.Second {
		t.Fatalf("err %v after %v", err, time.Since(start))
	}
}

func TestPaginationFollowed(t *testing.T) {
	c := newTest(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("site") != "east" || r.URL.Query().Get("limit") != "2" {
			t.Errorf("query %q", r.URL.RawQuery)
		}
		switch r.URL.Query().Get("continue") {
		case "":
			fmt.Fprint(w, `{"items":[{"id":"a"},{"id":"b"}],"continue":"t1"}`)
		case "t1":
			fmt.Fprint(w, `{"items":[{"id":"c"},{"id":"d"}],"continue":"t2"}`)
		case "t2":
			fmt.Fprint(w, `{"items":[{"id":"e"}]}`)
		}
	}, WithPageSize(2))
	vms, err := c.ListVMs(context.Background(), VMFilter{Site: "east"})
	if err != nil || len(vms) != 5 || vms[4].ID != "e" {
		t.Fatalf("vms %v err %v", vms, err)
	}
}

const migrationStream = `id: 0
event: snapshot
data: {"id":"m1","vm":"v","phase":"running","steps":[{"name":"move","state":"running"},{"name":"activate","state":"pending"}]}

: heartbeat

id: 1
event: step
data: {"seq":1,"type":"step","migration":"m1","step":"move","state":"done","at":"2026-01-01T00:00:00Z"}

id: 2
event: phase
data: {"seq":2,"type":"phase","migration":"m1",
data: "state":"succeeded","at":"2026-01-01T00:00:01Z"}

`

func TestMigrationEventsParsed(t *testing.T) {
	c := newTest(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/migrations/m1/events" || !strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
			t.Errorf("%s accept %q", r.URL.Path, r.Header.Get("Accept"))
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, migrationStream)
	})
	s, err := c.MigrationEvents(context.Background(), "m1")
	if err != nil {
		t.Fatal(err)
	}
	var got []MigrationEvent
	for e := range s.Events() {
		got = append(got, e)
	}
	if s.Err() != nil {
		t.Fatalf("stream err %v", s.Err())
	}
	if len(got) != 3 || got[0].Snapshot == nil || len(got[0].Snapshot.Steps) != 2 ||
		got[1].Step != "move" || got[1].State != "done" || got[2].Type != "phase" || got[2].State != "succeeded" {
		t.Fatalf("events %+v", got)
	}
}

func TestAlertStreamAndCloseEndsIt(t *testing.T) {
	c := newTest(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "id: 0\nevent: snapshot\ndata: {\"items\":[{\"status\":\"firing\",\"labels\":{\"alertname\":\"PoolFullSoon\"}}]}\n\n")
		fmt.Fprint(w, "id: 7\nevent: fired\ndata: {\"seq\":7,\"type\":\"fired\",\"alert\":{\"status\":\"firing\",\"labels\":{\"alertname\":\"FabricDrift\"}}}\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done() // the stream stays open until the client goes
	})
	s, err := c.AlertEvents(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	snap := <-s.Events()
	fired := <-s.Events()
	if snap.Type != "snapshot" || len(snap.Items) != 1 || fired.Type != "fired" || fired.Seq != 7 || fired.Alert.Labels["alertname"] != "FabricDrift" {
		t.Fatalf("snap %+v fired %+v", snap, fired)
	}
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the stream")
	}
	if !errors.Is(s.Err(), context.Canceled) {
		t.Errorf("err %v", s.Err())
	}
}

func TestStreamErrorBeforeStart(t *testing.T) {
	c := newTest(t, func(w http.ResponseWriter, r *http.Request) {
		problem(w, 404, `{"status":404,"detail":"migration \"x\": not found"}`)
	})
	if _, err := c.MigrationEvents(context.Background(), "x"); !IsNotFound(err) {
		t.Fatalf("err %v", err)
	}
}

func TestOptions(t *testing.T) {
	dir := t.TempDir()
	tf := filepath.Join(dir, "token")
	if err := os.WriteFile(tf, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := New("http://127.0.0.1:1/v1/", WithTokenFile(tf))
	if err != nil || c.token != "secret" || c.BaseURL() != "http://127.0.0.1:1" {
		t.Fatalf("c %+v err %v", c, err)
	}
	for _, bad := range []struct {
		url  string
		opts []Option
	}{
		{"localhost:8080", nil},
		{"http://x", []Option{WithTokenFile(filepath.Join(dir, "none"))}},
		{"http://x", []Option{WithCAFile(tf)}},
		{"http://x", []Option{WithMaxAttempts(0)}},
		{"http://x", []Option{WithClientCert(tf, tf)}},
	} {
		if _, err := New(bad.url, bad.opts...); err == nil {
			t.Errorf("New(%q) with %d options: no error", bad.url, len(bad.opts))
		}
	}
}

func TestTLSWithCAFile(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"items":[{"id":"east"},{"id":"west"}]}`)
	}))
	defer srv.Close()
	// Without the CA the certificate is refused, and not retried.
	c, err := New(srv.URL, WithBackoff(time.Second, time.Second))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := c.ListSites(context.Background()); err == nil || IsTemporary(err) || time.Since(start) > 900*time.Millisecond {
		t.Fatalf("err %v (temporary %v) after %v", err, IsTemporary(err), time.Since(start))
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	writePEM(t, ca, srv.Certificate().Raw)
	c, err = New(srv.URL, WithCAFile(ca))
	if err != nil {
		t.Fatal(err)
	}
	if sites, err := c.ListSites(context.Background()); err != nil || len(sites) != 2 {
		t.Fatalf("sites %v err %v", sites, err)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"":                              0,
		"3":                             3 * time.Second,
		"-1":                            0,
		"Thu, 01 Jan 2026 00:00:05 GMT": 5 * time.Second,
		"garbage":                       0,
	} {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}
