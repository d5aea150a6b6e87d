package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const claimJSON = `{"owner":"fc.test.sanmob.io","key":"pvc-1/node a",
 "initiators":["10:00:00:00:c9:aa:00:01"],"targets":["50:0a:09:80:00:00:00:01","50:0a:09:80:00:00:00:02"],
 "policy":"sist","fabrics":["east-a"],
 "zones":[{"fabric":"east-a","name":"sm_claim_1","members":["10:00:00:00:c9:aa:00:01","50:0a:09:80:00:00:00:01"]}],
 "unreached":[{"wwpn":"50:0a:09:80:00:00:00:02","role":"target","reason":"logged in on east-b only"}],
 "state":"ready","createdAt":"2026-01-01T00:00:00Z","updatedAt":"2026-01-01T00:00:05Z"}`

// readBody reads a request's body for a check.
func readBody(t *testing.T, r *http.Request) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Errorf("read body: %v", err)
	}
	return string(b)
}

func TestPutClaimSendsPathAndBody(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		spec   ClaimSpec
		body   string
	}{
		{"created, nil initiators sent as []", http.StatusCreated,
			ClaimSpec{Targets: []string{"50:0a:09:80:00:00:00:01"}},
			`{"initiators":[],"targets":["50:0a:09:80:00:00:00:01"]}`},
		{"existed, with a policy", http.StatusOK,
			ClaimSpec{Initiators: []string{"10:00:00:00:c9:aa:00:01"}, Targets: []string{"50:0a:09:80:00:00:00:01"}, Policy: "peer"},
			`{"initiators":["10:00:00:00:c9:aa:00:01"],"targets":["50:0a:09:80:00:00:00:01"],"policy":"peer"}`},
		{"nil targets too", http.StatusCreated, ClaimSpec{}, `{"initiators":[],"targets":[]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			c := newTest(t, func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				if r.Method != http.MethodPut || r.RequestURI != "/v1/zoning/claims/fc.test.sanmob.io/pvc-1/node%20a" {
					t.Errorf("%s %s", r.Method, r.RequestURI)
				}
				if ct := r.Header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type %q", ct)
				}
				if got := readBody(t, r); got != tc.body {
					t.Errorf("body %s, want %s", got, tc.body)
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				fmt.Fprint(w, claimJSON)
			})
			cl, err := c.PutClaim(context.Background(), "fc.test.sanmob.io", "pvc-1/node a", tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			if calls.Load() != 1 {
				t.Errorf("%d calls", calls.Load())
			}
			want := time.Date(2026, 1, 1, 0, 0, 5, 0, time.UTC)
			if cl.Owner != "fc.test.sanmob.io" || cl.Key != "pvc-1/node a" || cl.State != "ready" || cl.Policy != "sist" ||
				len(cl.Targets) != 2 || len(cl.Fabrics) != 1 || cl.Fabrics[0] != "east-a" ||
				len(cl.Zones) != 1 || cl.Zones[0].Name != "sm_claim_1" || len(cl.Zones[0].Members) != 2 ||
				len(cl.Unreached) != 1 || cl.Unreached[0].Role != "target" || cl.Unreached[0].Reason == "" ||
				!cl.UpdatedAt.Equal(want) || cl.CreatedAt.IsZero() {
				t.Errorf("claim %+v", cl)
			}
		})
	}
}

func TestClaimPathEscaping(t *testing.T) {
	for _, tc := range []struct{ owner, key, want string }{
		{"fc.test.sanmob.io", "pvc-1/node a", "/v1/zoning/claims/fc.test.sanmob.io/pvc-1/node%20a"},
		{"drv one", "v%1/n?x#y", "/v1/zoning/claims/drv%20one/v%251/n%3Fx%23y"},
		{"d", "a/b/c", "/v1/zoning/claims/d/a/b/c"},
		{"d", "vol", "/v1/zoning/claims/d/vol"},
	} {
		var got atomic.Value
		c := newTest(t, func(w http.ResponseWriter, r *http.Request) {
			got.Store(r.Method + " " + r.RequestURI)
			fmt.Fprint(w, claimJSON)
		})
		if _, err := c.GetClaim(context.Background(), tc.owner, tc.key); err != nil {
			t.Fatal(err)
		}
		if g := got.Load(); g != "GET "+tc.want {
			t.Errorf("GetClaim(%q, %q) sent %v, want GET %s", tc.owner, tc.key, g, tc.want)
		}
	}
}

// A key or owner a path cannot carry as it is fails before anything is
// sent: the daemon's router would clean "a/../b" into the claim "b" (and
// answer a PUT with a redirect that Go's http.Client turns into a GET).
func TestClaimKeysRefusedBeforeSending(t *testing.T) {
	var calls atomic.Int32
	c := newTest(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusNoContent)
	})
	ctx := context.Background()
	for _, tc := range []struct{ owner, key string }{
		{"", "vol/node"}, {".", "vol/node"}, {"..", "vol/node"}, {"a/b", "vol/node"},
		{"d", ""}, {"d", "vol//node"}, {"d", "/vol"}, {"d", "vol/"}, {"d", "vol/./node"}, {"d", "../vol"}, {"d", ".."},
	} {
		_, perr := c.PutClaim(ctx, tc.owner, tc.key, ClaimSpec{})
		_, gerr := c.GetClaim(ctx, tc.owner, tc.key)
		derr := c.DeleteClaim(ctx, tc.owner, tc.key)
		for _, err := range []error{perr, gerr, derr} {
			if !errors.Is(err, ErrInvalid) || ClassOf(err) != ClassInvalid || IsTemporary(err) {
				t.Errorf("(%q, %q): err %v, want ErrInvalid", tc.owner, tc.key, err)
			}
		}
	}
	if calls.Load() != 0 {
		t.Errorf("%d requests sent", calls.Load())
	}
}

// The daemon's router answers a path it cleans with a 301; the client
// must not follow it (Go would make the PUT a GET of the other claim).
func TestClaimRedirectNotFollowed(t *testing.T) {
	var gets atomic.Int32
	c := newTest(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			gets.Add(1)
			fmt.Fprint(w, claimJSON)
			return
		}
		w.Header().Set("Location", "/v1/zoning/claims/d/other")
		w.WriteHeader(http.StatusMovedPermanently)
	})
	_, err := c.PutClaim(context.Background(), "d", "vol/node", ClaimSpec{})
	if StatusOf(err) != http.StatusMovedPermanently || !strings.Contains(err.Error(), "/v1/zoning/claims/d/other") || ClassOf(err) != ClassFinal {
		t.Errorf("err %v (class %v)", err, ClassOf(err))
	}
	if err := c.DeleteClaim(context.Background(), "d", "vol/node"); StatusOf(err) != http.StatusMovedPermanently {
		t.Errorf("delete: err %v", err)
	}
	if gets.Load() != 0 {
		t.Errorf("the redirect was followed with %d GETs", gets.Load())
	}
}

func TestDeleteClaim(t *testing.T) {
	var calls atomic.Int32
	c := newTest(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.Method != http.MethodDelete || r.RequestURI != "/v1/zoning/claims/fc.test.sanmob.io/pvc-1/node%20a" {
			t.Errorf("%s %s", r.Method, r.RequestURI)
		}
		if b := readBody(t, r); b != "" || r.ContentLength > 0 {
			t.Errorf("body %q", b)
		}
		w.WriteHeader(http.StatusNoContent)
	})
	if err := c.DeleteClaim(context.Background(), "fc.test.sanmob.io", "pvc-1/node a"); err != nil || calls.Load() != 1 {
		t.Fatalf("err %v calls %d", err, calls.Load())
	}
}

func TestClaimErrorClasses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
		class  Class
		is     func(error) bool
		detail string
	}{
		{"absent", 404, `{"type":"https://sanmob.io/problems/not-found","title":"Not Found","status":404,"detail":"claim fc.x/vol/node: not found"}`,
			ClassNotFound, IsNotFound, "claim fc.x/vol/node: not found"},
		{"no shared fabric", 409, `{"type":"https://sanmob.io/problems/conflict","title":"Conflict","status":409,"detail":"initiator 10:00:00:00:c9:aa:00:01 (east-a) shares no fabric with target 50:0a:09:80:00:00:00:09 (east-b)"}`,
			ClassRefused, IsConflict, "shares no fabric with target 50:0a:09:80:00:00:00:09"},
		{"logged in nowhere", 422, `{"type":"https://sanmob.io/problems/not-feasible","title":"Unprocessable Entity","status":422,"detail":"target 50:0a:09:80:00:00:00:09 is logged in on no fabric"}`,
			ClassRefused, IsUnprocessable, "50:0a:09:80:00:00:00:09 is logged in on no fabric"},
		{"bad WWPN", 400, `{"type":"https://sanmob.io/problems/invalid-input","title":"Bad Request","status":400,"detail":"targets[0]: not a WWN","invalid-params":[{"name":"targets[0]","reason":"not a WWN"}]}`,
			ClassInvalid, func(err error) bool { return StatusOf(err) == 400 }, "targets[0]: not a WWN"},
		{"a switch refused", 502, `{"type":"https://sanmob.io/problems/device-refused","title":"Bad Gateway","status":502,"detail":"fabric east-a: commit: zone DB full (switch said: 0x7f)"}`,
			ClassFinal, func(err error) bool { return StatusOf(err) == 502 }, "switch said: 0x7f"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			c := newTest(t, func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				problem(w, tc.status, tc.body)
			})
			_, err := c.PutClaim(context.Background(), "fc.x", "vol/node", ClaimSpec{Initiators: []string{"10:00:00:00:c9:aa:00:01"}})
			if err == nil {
				t.Fatal("no error")
			}
			var e *Error
			if !errors.As(err, &e) || !tc.is(err) || ClassOf(err) != tc.class || e.Temporary() || IsTemporary(err) {
				t.Errorf("err %v: class %v, temporary %v", err, ClassOf(err), IsTemporary(err))
			}
			if !strings.Contains(err.Error(), tc.detail) || !strings.HasPrefix(err.Error(), fmt.Sprint(tc.status)) {
				t.Errorf("Error() = %q lacks %q", err.Error(), tc.detail)
			}
			if calls.Load() != 1 {
				t.Errorf("%d calls: a %d is not retried", calls.Load(), tc.status)
			}
		})
	}
	c := newTest(t, func(w http.ResponseWriter, r *http.Request) {
		problem(w, 404, `{"title":"Not Found","status":404,"detail":"claim d/vol/node: not found"}`)
	})
	if _, err := c.GetClaim(context.Background(), "d", "vol/node"); !IsNotFound(err) || ClassOf(err) != ClassNotFound {
		t.Errorf("GetClaim: err %v", err)
	}
}

// PutClaim and DeleteClaim are idempotent: a 503 is retried after its
// Retry-After, with the same request, until it succeeds.
func TestClaimWritesRetried(t *testing.T) {
	for _, tc := range []struct {
		name string
		call func(*Client) error
		want string // method and body of every attempt
	}{
		{"put", func(c *Client) error {
			_, err := c.PutClaim(context.Background(), "d", "vol/node", ClaimSpec{Targets: []string{"50:0a:09:80:00:00:00:01"}})
			return err
		}, `PUT {"initiators":[],"targets":["50:0a:09:80:00:00:00:01"]}`},
		{"delete", func(c *Client) error { return c.DeleteClaim(context.Background(), "d", "vol/node") }, "DELETE "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int32
			var first atomic.Int64 // unix nanoseconds of the first attempt
			c := newTest(t, func(w http.ResponseWriter, r *http.Request) {
				if got := r.Method + " " + readBody(t, r); got != tc.want || r.URL.Path != "/v1/zoning/claims/d/vol/node" {
					t.Errorf("attempt %d: %s %s", calls.Load()+1, got, r.URL.Path)
				}
				switch calls.Add(1) {
				case 1:
					first.Store(time.Now().UnixNano())
					w.Header().Set("Retry-After", "1")
					problem(w, 503, `{"title":"Service Unavailable","status":503,"detail":"fabric east-a is busy"}`)
				case 2:
					if d := time.Since(time.Unix(0, first.Load())); d < 900*time.Millisecond {
						t.Errorf("second attempt after %v, Retry-After said 1s", d)
					}
					problem(w, 503, `{"title":"Service Unavailable","status":503,"detail":"fabric east-a is busy"}`)
				default:
					if r.Method == http.MethodDelete {
						w.WriteHeader(http.StatusNoContent)
						return
					}
					fmt.Fprint(w, claimJSON)
				}
			})
			if err := tc.call(c); err != nil || calls.Load() != 3 {
				t.Fatalf("err %v after %d calls", err, calls.Load())
			}
		})
	}
}

// closeSignal is a body that says when the client has closed it.
type closeSignal struct {
	io.ReadCloser
	closed chan<- struct{}
}

func (b closeSignal) Close() error {
	err := b.ReadCloser.Close()
	select {
	case b.closed <- struct{}{}:
	default:
	}
	return err
}

type signalTransport struct {
	inner  http.RoundTripper
	closed chan struct{}
}

func (s signalTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := s.inner.RoundTrip(r)
	if err == nil {
		resp.Body = closeSignal{resp.Body, s.closed}
	}
	return resp, err
}

// A context cancelled while the client waits out a Retry-After ends the
// call at once with the context's error.
func TestClaimCancelDuringBackoff(t *testing.T) {
	closed := make(chan struct{}, 1)
	var calls atomic.Int32
	c := newTest(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Retry-After", "30")
		problem(w, 503, `{"title":"Service Unavailable","status":503,"detail":"busy"}`)
	}, WithHTTPClient(&http.Client{Transport: signalTransport{http.DefaultTransport, closed}}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := c.PutClaim(ctx, "d", "vol/node", ClaimSpec{})
		errc <- err
	}()
	<-closed // the 503 is read: the client now waits 30 s
	start := time.Now()
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) || ClassOf(err) != ClassCanceled || IsTemporary(err) {
			t.Errorf("err %v (class %v), want context.Canceled", err, ClassOf(err))
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("returned %v after the cancel", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("PutClaim did not return after its context was cancelled")
	}
	if calls.Load() != 1 {
		t.Errorf("%d calls", calls.Load())
	}
}

func TestListClaimsFollowsPages(t *testing.T) {
	var pages atomic.Int32
	c := newTest(t, func(w http.ResponseWriter, r *http.Request) {
		pages.Add(1)
		q := r.URL.Query()
		if r.URL.Path != "/v1/zoning/claims" || q.Get("owner") != "fc.test.sanmob.io" || q.Get("limit") != "2" {
			t.Errorf("%s ?%s", r.URL.Path, r.URL.RawQuery)
		}
		switch q.Get("continue") {
		case "":
			fmt.Fprint(w, `{"items":[{"owner":"fc.test.sanmob.io","key":"a/n1"},{"owner":"fc.test.sanmob.io","key":"b/n1"}],"continue":"c1"}`)
		case "c1":
			fmt.Fprint(w, `{"items":[{"owner":"fc.test.sanmob.io","key":"c/n1"},{"owner":"fc.test.sanmob.io","key":"d/n1"}],"continue":"c2"}`)
		case "c2":
			fmt.Fprint(w, `{"items":[{"owner":"fc.test.sanmob.io","key":"e/n1","state":"ready"}]}`)
		default:
			t.Errorf("continue %q", q.Get("continue"))
		}
	}, WithPageSize(2))
	cls, err := c.ListClaims(context.Background(), "fc.test.sanmob.io")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, cl := range cls {
		keys = append(keys, cl.Key)
	}
	if strings.Join(keys, ",") != "a/n1,b/n1,c/n1,d/n1,e/n1" || cls[4].State != "ready" || pages.Load() != 3 {
		t.Errorf("keys %v after %d pages", keys, pages.Load())
	}

	// No owner: every owner's, and no owner parameter at all.
	c = newTest(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.RawQuery != "" {
			t.Errorf("query %q", r.URL.RawQuery)
		}
		fmt.Fprint(w, `{"items":[]}`)
	})
	if cls, err := c.ListClaims(context.Background(), ""); err != nil || cls == nil || len(cls) != 0 {
		t.Errorf("claims %v err %v: want an empty, non-nil list", cls, err)
	}
}
