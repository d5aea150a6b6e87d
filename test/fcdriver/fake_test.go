package fcdriver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sanmob/sanmob/client"
)

// fakeSanmob is the claims routes of claims-contract.md and nothing else:
// it keeps claims in memory, records every call, and answers a status
// given per method instead when told to.
type fakeSanmob struct {
	t     *testing.T
	token string

	mu     sync.Mutex
	claims map[string]client.Claim // owner/key → claim
	calls  []call
	fail   map[string]int // method → status to answer
}

type call struct {
	Method, Owner, Key string
	Spec               client.ClaimSpec
}

const fakeToken = "csi-role-token"

// Fabrics the fake says every claim lands on.
var fakeFabrics = []string{"fab-a", "fab-b"}

func newFakeSanmob(t *testing.T) (*fakeSanmob, *client.Client) {
	t.Helper()
	f := &fakeSanmob{t: t, token: fakeToken, claims: map[string]client.Claim{}, fail: map[string]int{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL, client.WithToken(fakeToken), client.WithMaxAttempts(2), client.WithBackoff(time.Millisecond, 2*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	return f, c
}

func (f *fakeSanmob) setFail(method string, status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if status == 0 {
		delete(f.fail, method)
	} else {
		f.fail[method] = status
	}
}

// takeCalls returns the calls recorded since the last take.
func (f *fakeSanmob) takeCalls() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.calls
	f.calls = nil
	return out
}

func (f *fakeSanmob) claimKeys() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for k := range f.claims {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func problem(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"status": status, "title": http.StatusText(status), "detail": detail})
}

func (f *fakeSanmob) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+f.token {
		problem(w, http.StatusUnauthorized, "no token")
		return
	}
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), "/v1/zoning/claims/")
	segs := strings.Split(rest, "/")
	if !ok || len(segs) < 2 {
		problem(w, http.StatusNotFound, "no such route: "+r.URL.Path)
		return
	}
	for i, s := range segs {
		u, err := url.PathUnescape(s)
		if err != nil || u == "" {
			problem(w, http.StatusBadRequest, "bad segment "+s)
			return
		}
		segs[i] = u
	}
	c := call{Method: r.Method, Owner: segs[0], Key: strings.Join(segs[1:], "/")}
	if r.Method == http.MethodPut {
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c.Spec); err != nil {
			problem(w, http.StatusBadRequest, "bad body: "+err.Error())
			return
		}
	}
	id := c.Owner + "/" + c.Key

	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, c)
	if st := f.fail[r.Method]; st != 0 {
		problem(w, st, fmt.Sprintf("fake sanmob says %d to %s %s", st, r.Method, id))
		return
	}
	switch r.Method {
	case http.MethodPut:
		old, existed := f.claims[id]
		cl := client.Claim{Owner: c.Owner, Key: c.Key, Initiators: c.Spec.Initiators, Targets: c.Spec.Targets,
			Policy: c.Spec.Policy, Fabrics: fakeFabrics, Unreached: []client.Unreached{}, State: "ready"}
		// The last target reaches nothing: the publish context must leave
		// it out.
		if n := len(cl.Targets); n > 1 {
			cl.Unreached = append(cl.Unreached, client.Unreached{WWPN: cl.Targets[n-1], Role: "target", Reason: "logged in on no fabric an initiator is on"})
		}
		if existed {
			cl.CreatedAt = old.CreatedAt
		}
		f.claims[id] = cl
		w.Header().Set("Content-Type", "application/json")
		if existed {
			w.WriteHeader(http.StatusOK)
		} else {
			w.WriteHeader(http.StatusCreated)
		}
		_ = json.NewEncoder(w).Encode(cl)
	case http.MethodDelete:
		delete(f.claims, id)
		w.WriteHeader(http.StatusNoContent)
	case http.MethodGet:
		cl, ok := f.claims[id]
		if !ok {
			problem(w, http.StatusNotFound, "no claim "+id)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(cl)
	default:
		problem(w, http.StatusMethodNotAllowed, r.Method)
	}
}
