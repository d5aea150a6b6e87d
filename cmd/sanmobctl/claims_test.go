package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// claimsDaemon is sanmobd's claim routes as the tests need them (the
// daemon's own are not on this branch yet): it keeps what it is told,
// answers a claim whose key starts with "refused-" with 409, "nowhere-"
// with 422 and "busy-" with 503, and records each request.
type claimsDaemon struct {
	mu       sync.Mutex
	requests []string // METHOD REQUEST-URI BODY
	claims   map[string]json.RawMessage
}

const sampleClaim = `{"owner":"fc.x","key":"pvc-1/node a","initiators":["10:00:00:00:c9:aa:00:01","10:00:00:00:c9:aa:00:02"],
"targets":["50:0a:09:80:00:00:00:01","50:0a:09:80:00:00:00:09"],"policy":"peer","fabrics":["east-a","east-b"],
"zones":[{"fabric":"east-a","name":"sm_claim_a","members":["10:00:00:00:c9:aa:00:01","50:0a:09:80:00:00:00:01"]},
{"fabric":"east-b","name":"sm_claim_b","members":["10:00:00:00:c9:aa:00:02","50:0a:09:80:00:00:00:01"]}],
"unreached":[{"wwpn":"50:0a:09:80:00:00:00:09","role":"target","reason":"logged in on west-a only"}],
"state":"ready","createdAt":"2026-03-01T12:00:00Z","updatedAt":"2026-03-01T12:05:00Z"}`

func startClaimsDaemon(t *testing.T) (*claimsDaemon, string, string) {
	t.Helper()
	d := &claimsDaemon{claims: map[string]json.RawMessage{}}
	problem := func(w http.ResponseWriter, status int, detail string) {
		w.Header().Set("Content-Type", "application/problem+json")
		if status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "2")
		}
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]any{"title": http.StatusText(status), "status": status, "detail": detail})
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/zoning/claims/{owner}/{key...}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("owner") + " " + r.PathValue("key")
		switch key := r.PathValue("key"); {
		case strings.HasPrefix(key, "refused-"):
			problem(w, http.StatusConflict, "initiator 10:00:00:00:c9:aa:00:01 (east-a) shares no fabric with target 50:0a:09:80:00:00:00:09 (west-a)")
			return
		case strings.HasPrefix(key, "nowhere-"):
			problem(w, http.StatusUnprocessableEntity, "target 50:0a:09:80:00:00:00:77 is logged in on no fabric")
			return
		case strings.HasPrefix(key, "busy-"):
			problem(w, http.StatusServiceUnavailable, "fabric east-a is busy")
			return
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		switch r.Method {
		case http.MethodPut:
			var spec struct{ Initiators, Targets []string }
			if err := json.NewDecoder(r.Body).Decode(&spec); err != nil {
				problem(w, http.StatusBadRequest, err.Error())
				return
			}
			var cl map[string]any
			_ = json.Unmarshal([]byte(sampleClaim), &cl)
			cl["owner"], cl["key"], cl["initiators"], cl["targets"] = r.PathValue("owner"), r.PathValue("key"), spec.Initiators, spec.Targets
			raw, _ := json.Marshal(cl)
			status := http.StatusCreated
			if _, ok := d.claims[id]; ok {
				status = http.StatusOK
			}
			d.claims[id] = raw
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = w.Write(raw)
		case http.MethodGet:
			raw, ok := d.claims[id]
			if !ok {
				problem(w, http.StatusNotFound, "claim "+r.PathValue("owner")+"/"+r.PathValue("key")+": not found")
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(raw)
		case http.MethodDelete:
			delete(d.claims, id)
			w.WriteHeader(http.StatusNoContent)
		}
	})
	mux.HandleFunc("GET /v1/zoning/claims", func(w http.ResponseWriter, r *http.Request) {
		// Two pages, filtered by ?owner=.
		if r.URL.Query().Get("continue") == "" {
			fmt.Fprintf(w, `{"items":[%s],"continue":"p2"}`, sampleClaim)
			return
		}
		second := strings.Replace(strings.Replace(sampleClaim, `"fc.x"`, `"fc.y"`, 1), `"pvc-1/node a"`, `"pvc-2/node-b"`, 1)
		if o := r.URL.Query().Get("owner"); o != "" && o != "fc.y" {
			fmt.Fprint(w, `{"items":[]}`)
			return
		}
		fmt.Fprintf(w, `{"items":[%s]}`, second)
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		d.mu.Lock()
		d.requests = append(d.requests, strings.TrimSpace(r.Method+" "+r.RequestURI+" "+string(body)))
		d.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	tok := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tok, []byte("t0k\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return d, srv.URL, tok
}

// took returns the requests made since the last call.
func (d *claimsDaemon) took() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.requests
	d.requests = nil
	return r
}

func TestClaimCommands(t *testing.T) {
	d, server, tok := startClaimsDaemon(t)
	run := func(wantCode int, args ...string) (string, string) {
		t.Helper()
		code, out, errOut := ctl(t, server, tok, args...)
		if code != wantCode {
			t.Fatalf("sanmobctl %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, wantCode, out, errOut)
		}
		return out, errOut
	}
	has := func(out string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("output lacks %q:\n%s", w, out)
			}
		}
	}
	sent := func(want ...string) {
		t.Helper()
		got := d.took()
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}

	// claim: the WWPNs of repeated and comma-separated flags, the key's
	// segments escaped one by one.
	out, _ := run(0, "claim", "fc.x", "pvc-1/node a", "--initiator", "10:00:00:00:c9:aa:00:01", "--initiator", "10:00:00:00:c9:aa:00:02",
		"--target", "50:0a:09:80:00:00:00:01,50:0a:09:80:00:00:00:09", "--policy", "peer")
	sent(`PUT /v1/zoning/claims/fc.x/pvc-1/node%20a {"initiators":["10:00:00:00:c9:aa:00:01","10:00:00:00:c9:aa:00:02"],"targets":["50:0a:09:80:00:00:00:01","50:0a:09:80:00:00:00:09"],"policy":"peer"}`)
	has(out, "Claimed fc.x pvc-1/node a: ready, zoned on east-a,east-b", "FABRIC ", "sm_claim_a", "sm_claim_b",
		"! target 50:0a:09:80:00:00:00:09: logged in on west-a only")
	out, _ = run(0, "claim", "fc.x", "pvc-1/node a", "--initiator", "10:00:00:00:c9:aa:00:01", "--target", "50:0a:09:80:00:00:00:01", "-o", "json")
	var cl struct {
		Owner, Key string
		Zones      []struct{ Fabric string }
	}
	if err := json.Unmarshal([]byte(out), &cl); err != nil || cl.Key != "pvc-1/node a" || len(cl.Zones) != 2 {
		t.Errorf("claim -o json: %+v %v\n%s", cl, err, out)
	}
	sent(`PUT /v1/zoning/claims/fc.x/pvc-1/node%20a {"initiators":["10:00:00:00:c9:aa:00:01"],"targets":["50:0a:09:80:00:00:00:01"]}`)

	// Usage errors send nothing.
	run(2, "claim", "fc.x", "k", "--initiator", "10:00:00:00:c9:aa:00:01", "--target", "50:0a:09:80:00:00:00:01", "--policy", "open")
	run(2, "claim", "fc.x", "k", "--initiator", "10:00:00:00:c9:aa:00:01")
	run(2, "claim", "fc.x", "--initiator", "10:00:00:00:c9:aa:00:01", "--target", "50:0a:09:80:00:00:00:01")
	_, errOut := run(2, "claim", "fc.x", "vol//node", "--initiator", "10:00:00:00:c9:aa:00:01", "--target", "50:0a:09:80:00:00:00:01")
	has(errOut, "empty segment")
	run(2, "unclaim", "fc.x", "vol/../node")
	run(2, "claim", "fc.x", "k", "--initiator", "w", "--target", "w", "-o", "xml")
	sent()

	// The daemon's refusals: exit 4 with its words; busy: exit 5, and a
	// --timeout shorter than Retry-After gives the answer at once.
	_, errOut = run(4, "claim", "fc.x", "refused-1/n", "--initiator", "10:00:00:00:c9:aa:00:01", "--target", "50:0a:09:80:00:00:00:09")
	has(errOut, "409 Conflict", "shares no fabric with target 50:0a:09:80:00:00:00:09")
	_, errOut = run(4, "claim", "fc.x", "nowhere-1/n", "--initiator", "10:00:00:00:c9:aa:00:01", "--target", "50:0a:09:80:00:00:00:77")
	has(errOut, "422 Unprocessable Entity", "50:0a:09:80:00:00:00:77 is logged in on no fabric")
	_, errOut = run(5, "claim", "fc.x", "busy-1/n", "--initiator", "10:00:00:00:c9:aa:00:01", "--target", "50:0a:09:80:00:00:00:01", "--timeout", "1s")
	has(errOut, "503 Service Unavailable", "fabric east-a is busy", "retry after 2s")
	if n := len(d.took()); n != 3 {
		t.Errorf("%d requests for three refusals: a 409 or 422 is not retried, nor a 503 past the timeout", n)
	}

	// get claims: every page, ?owner=, the formats.
	out, _ = run(0, "get", "claims")
	has(out, "OWNER ", "KEY", "UNREACHED", "fc.x", "pvc-1/node a", "fc.y", "pvc-2/node-b", "east-a,east-b")
	if strings.Contains(out, "POLICY") {
		t.Errorf("POLICY without -o wide:\n%s", out)
	}
	sent("GET /v1/zoning/claims", "GET /v1/zoning/claims?continue=p2")
	out, _ = run(0, "get", "claim", "--owner", "fc.y", "-o", "wide")
	has(out, "POLICY", "INITIATORS", "peer", "10:00:00:00:c9:aa:00:01,10:00:00:00:c9:aa:00:02", "2026-03-01T12:05:00Z")
	sent("GET /v1/zoning/claims?owner=fc.y", "GET /v1/zoning/claims?continue=p2&owner=fc.y")
	out, _ = run(0, "get", "claims", "-o", "json")
	var items []struct{ Owner, Key string }
	if err := json.Unmarshal([]byte(out), &items); err != nil || len(items) != 2 || items[1].Owner != "fc.y" {
		t.Errorf("get claims -o json: %+v %v\n%s", items, err, out)
	}
	out, _ = run(0, "get", "claims", "-o", "yaml")
	has(out, "owner: fc.x", "key: pvc-1/node a", "unreached:")
	run(2, "get", "claims", "fc.x")
	d.took()

	// describe claim.
	out, _ = run(0, "describe", "claim", "fc.x", "pvc-1/node a")
	has(out, "Claim fc.x pvc-1/node a: ready (policy: peer)", "Initiators (1)", "Targets (1)", "Zones (2)",
		"├─ fabric east-a", "zone sm_claim_a  10:00:00:00:c9:aa:00:01,50:0a:09:80:00:00:00:01", "Unreached (1)", "! target 50:0a:09:80:00:00:00:09")
	sent("GET /v1/zoning/claims/fc.x/pvc-1/node%20a")
	_, errOut = run(3, "describe", "claim", "fc.x", "pvc-9/node-a")
	has(errOut, "claim fc.x/pvc-9/node-a: not found")
	run(2, "describe", "claim", "fc.x")
	run(2, "describe", "claim", "fc.x", "k", "--verify")
	run(2, "describe", "vm", "a", "b")
	run(2, "describe", "frob", "x")
	d.took()

	// unclaim: 204, and again (no such claim is no error).
	out, _ = run(0, "unclaim", "fc.x", "pvc-1/node a")
	has(out, "Released claim fc.x pvc-1/node a")
	run(0, "unclaim", "fc.x", "pvc-1/node a")
	sent("DELETE /v1/zoning/claims/fc.x/pvc-1/node%20a", "DELETE /v1/zoning/claims/fc.x/pvc-1/node%20a")
	run(3, "describe", "claim", "fc.x", "pvc-1/node a")
}
