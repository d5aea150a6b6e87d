package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestClassOf(t *testing.T) {
	status := func(n int) error { return fmt.Errorf("wrapped: %w", &Error{Status: n}) }
	for _, tc := range []struct {
		err  error
		want Class
	}{
		{nil, ClassNone},
		{status(503), ClassTemporary},
		{status(429), ClassTemporary},
		{status(504), ClassTemporary},
		{status(404), ClassNotFound},
		{status(409), ClassRefused},
		{status(422), ClassRefused},
		{status(400), ClassInvalid},
		{status(413), ClassInvalid},
		{status(415), ClassInvalid},
		{status(401), ClassFinal},
		{status(403), ClassFinal},
		{status(500), ClassFinal},
		{status(502), ClassFinal},
		{status(507), ClassFinal},
		{status(301), ClassFinal},
		{fmt.Errorf("claim key: %w", ErrInvalid), ClassInvalid},
		{context.Canceled, ClassCanceled},
		{context.DeadlineExceeded, ClassCanceled},
		{&url.Error{Op: "Get", URL: "http://x", Err: context.DeadlineExceeded}, ClassCanceled},
		{&url.Error{Op: "Get", URL: "http://x", Err: io.ErrUnexpectedEOF}, ClassTemporary},
		{fmt.Errorf("decode answer: %w", io.ErrUnexpectedEOF), ClassTemporary},
		{errors.New("something else"), ClassFinal},
	} {
		if got := ClassOf(tc.err); got != tc.want {
			t.Errorf("ClassOf(%v) = %v, want %v", tc.err, got, tc.want)
		}
		if got := IsTemporary(tc.err); got != (tc.want == ClassTemporary) {
			t.Errorf("IsTemporary(%v) = %v, class %v", tc.err, got, tc.want)
		}
	}
	if s := ClassRefused.String(); s != "refused" {
		t.Errorf("String() = %q", s)
	}
	if s := Class(42).String(); s != "Class(42)" {
		t.Errorf("String() = %q", s)
	}
}

// Error() carries everything a log line or a CSI status message needs:
// the status, the detail (a device's own words for a 502), the invalid
// params and the reasons.
func TestErrorMessageCarriesTheProblem(t *testing.T) {
	e := &Error{Status: 422, Title: "Unprocessable Entity", Detail: "not feasible", Reasons: []string{"no vport slot on west-a", "pool west-arr1-pool1 is full"}}
	if want := "422 Unprocessable Entity: not feasible; no vport slot on west-a; pool west-arr1-pool1 is full"; e.Error() != want {
		t.Errorf("Error() = %q, want %q", e.Error(), want)
	}
	c := newTest(t, func(w http.ResponseWriter, r *http.Request) {
		problem(w, 502, `{"type":"https://sanmob.io/problems/device-refused","title":"Bad Gateway","status":502,"detail":"fabric east-a: zone commit refused: Zone DB transaction aborted by the switch"}`)
	})
	_, err := c.CreateAttachment(context.Background(), "v", "n")
	if want := "502 Bad Gateway: fabric east-a: zone commit refused: Zone DB transaction aborted by the switch"; err == nil || err.Error() != want {
		t.Errorf("Error() = %v, want %q", err, want)
	}
}

// The HTTP client's own timeout is the daemon not answering in time: a
// temporary failure, retried for idempotent calls.
func TestHTTPClientTimeoutIsTemporary(t *testing.T) {
	var calls atomic.Int32
	c := newTest(t, func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			<-r.Context().Done() // no answer until the client gives up
			return
		}
		fmt.Fprint(w, `{"items":[]}`)
	}, WithHTTPClient(&http.Client{Timeout: 200 * time.Millisecond}))
	if _, err := c.ListClaims(context.Background(), ""); err != nil || calls.Load() != 2 {
		t.Fatalf("err %v after %d calls: want the timeout retried", err, calls.Load())
	}

	c = newTest(t, func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}, WithHTTPClient(&http.Client{Timeout: 50 * time.Millisecond}), WithMaxAttempts(1))
	_, err := c.GetClaim(context.Background(), "d", "vol/node")
	if !IsTemporary(err) || ClassOf(err) != ClassTemporary {
		t.Fatalf("err %v: class %v", err, ClassOf(err))
	}
}

func TestConnectionRefusedIsTemporary(t *testing.T) {
	c, err := New("http://127.0.0.1:1", WithMaxAttempts(1))
	if err != nil {
		t.Fatal(err)
	}
	err = c.DeleteClaim(context.Background(), "d", "vol/node")
	if err == nil || !IsTemporary(err) || ClassOf(err) != ClassTemporary {
		t.Fatalf("err %v: class %v", err, ClassOf(err))
	}
}

// A 504 comes from a proxy in front of the daemon (sanmobd never answers
// one): retried like a 503.
func TestGatewayTimeoutRetried(t *testing.T) {
	var calls atomic.Int32
	c := newTest(t, func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			http.Error(w, "upstream timed out", http.StatusGatewayTimeout)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	if err := c.DeleteClaim(context.Background(), "d", "vol/node"); err != nil || calls.Load() != 2 {
		t.Fatalf("err %v after %d calls", err, calls.Load())
	}
}

// A caller's http.Client with a CheckRedirect of its own keeps it; the
// client changes neither it nor the caller's value.
func TestOwnCheckRedirectKept(t *testing.T) {
	var followed atomic.Int32
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { followed.Add(1); return nil }}
	c := newTest(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/old") {
			http.Redirect(w, r, "/v1/sites", http.StatusFound)
			return
		}
		fmt.Fprint(w, `{"items":[{"id":"east"}]}`)
	}, WithHTTPClient(hc))
	var sites page[Site]
	if err := c.do(context.Background(), get("/old", nil), &sites); err != nil || followed.Load() != 1 || len(sites.Items) != 1 {
		t.Fatalf("err %v, followed %d", err, followed.Load())
	}

	plain := &http.Client{}
	if _, err := New("http://127.0.0.1:1", WithHTTPClient(plain)); err != nil || plain.CheckRedirect != nil {
		t.Fatalf("err %v; the caller's client was changed", err)
	}
}

func TestErrorSaysEachThingOnce(t *testing.T) {
	e := &Error{Status: 400, Title: "Bad Request", Detail: `initiators[0]: invalid WWN "zz"`,
		InvalidParams: []InvalidParam{{Name: "initiators[0]", Reason: `invalid WWN "zz"`}, {Name: "targets[1]", Reason: "bad"}},
		Reasons:       []string{"r1"}}
	got := e.Error()
	if strings.Count(got, `initiators[0]: invalid WWN "zz"`) != 1 || !strings.Contains(got, "targets[1]: bad") || !strings.Contains(got, "; r1") {
		t.Fatalf("Error() = %q", got)
	}
}
