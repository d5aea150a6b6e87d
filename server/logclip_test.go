package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/sanmob/sanmob/server"
)

// TestLogLinesBounded: a client's strings reach the log cut to a few
// hundred bytes with their length: a 900 KB path answered 401, 404 or 405,
// or a 900 KB name in a body, writes a line well under 1 KB, not 900 KB.
func TestLogLinesBounded(t *testing.T) {
	log := logrus.New()
	log.SetLevel(logrus.TraceLevel)
	log.SetFormatter(&logrus.JSONFormatter{})
	log.SetOutput(discard{})
	hook := logtest.NewLocal(log)
	h := newHarness(t, withLog(log))
	huge := strings.Repeat("a", 900<<10)

	for _, c := range []struct {
		name   string
		rq     request
		status int
	}{
		{"401", request{role: noRole, method: http.MethodGet, path: "/v1/vms/" + huge}, http.StatusUnauthorized},
		{"404 no route", request{role: server.RoleAdmin, method: http.MethodGet, path: "/v1/" + huge}, http.StatusNotFound},
		{"404 no object", request{role: server.RoleAdmin, method: http.MethodDelete, path: "/v1/vms/" + huge}, http.StatusNotFound},
		{"405", request{role: server.RoleAdmin, method: http.MethodPut, path: "/v1/vms/" + huge}, http.StatusMethodNotAllowed},
		{"400 body", request{role: server.RoleAdmin, method: http.MethodPost, path: "/v1/lab/faults", body: map[string]any{"target": huge[:600<<10], "op": "zone", "count": 1}}, http.StatusBadRequest},
	} {
		t.Run(c.name, func(t *testing.T) {
			hook.Reset()
			r := h.with(t).send(c.rq)
			if r.Status != c.status {
				t.Fatalf("%v: want %d", r, c.status)
			}
			entries := hook.AllEntries()
			if len(entries) == 0 {
				t.Fatalf("no log line for %s", c.name)
			}
			for _, e := range entries {
				line, err := e.Bytes()
				if err != nil {
					t.Fatal(err)
				}
				if len(line) > 1<<10 {
					t.Errorf("a %d-byte log line: %.300s…", len(line), line)
				}
				if p, ok := e.Data["path"].(string); ok && len(c.rq.path) > 1<<10 && !strings.Contains(p, "bytes)") {
					t.Errorf("path %.80q… is not marked as cut", p)
				}
			}
		})
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// TestLongPathAnswerBounded: a 300 KB path's 404 does not echo it whole,
// in the detail or the instance.
func TestLongPathAnswerBounded(t *testing.T) {
	h := newHarness(t)
	r := h.get(server.RoleViewer, "/v1/"+strings.Repeat("x", 300_000))
	p := wantProblem(t, r, http.StatusNotFound)
	if len(r.Body) > 4096 || !strings.Contains(p.Detail, "bytes)") {
		t.Fatalf("a 300 KB path's 404 is %d bytes: %.200s", len(r.Body), r.Body)
	}
}
