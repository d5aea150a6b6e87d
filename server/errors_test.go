package server_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sanmob/sanmob/server"
)

// TestDeviceFaultsOverREST: a device that definitely refuses is a 502 whose
// detail carries the device's own words; a busy one is a 503 with
// Retry-After; neither is a 500, and the attach works once the fault is gone.
func TestDeviceFaultsOverREST(t *testing.T) {
	h := newHarness(t)
	v := wantJSON[apiVolume](t, h.do(server.RoleCSI, http.MethodPost, "/v1/volumes", map[string]any{"name": "faulty", "sizeBytes": 8 << 30, "site": "east"}), http.StatusCreated)
	attach := map[string]any{"volume": v.ID, "node": "east-esx02"}
	tests := []struct {
		name   string
		fault  map[string]any
		status int
		words  string // what the lab's device says, in the detail
	}{
		{"array refuses for good", map[string]any{"target": "east-arr1", "op": "mask", "count": 1, "kind": "final"},
			http.StatusBadGateway, "mask on east-arr1 failed for good"},
		// Busy on every try: the attach's retries run out, it is undone, and
		// the client hears it may try again.
		{"array busy", map[string]any{"target": "east-arr1", "op": "mask", "rate": 1},
			http.StatusServiceUnavailable, "mask on east-arr1"},
		{"fabric refuses for good", map[string]any{"target": "east-a", "op": "zone", "count": 1, "kind": "final"},
			http.StatusBadGateway, "on east-a failed for good"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := h.with(t)
			wantJSON[labFault](t, h.do(server.RoleAdmin, http.MethodPost, "/v1/lab/faults", tc.fault), http.StatusCreated)
			r := h.do(server.RoleCSI, http.MethodPost, "/v1/attachments", attach)
			p := wantProblem(t, r, tc.status)
			if !strings.Contains(p.Detail, tc.words) {
				t.Errorf("detail %q does not carry the device's words %q", p.Detail, tc.words)
			}
			if got, want := r.Header.Get("Retry-After") != "", tc.status == http.StatusServiceUnavailable; got != want {
				t.Errorf("Retry-After %q on a %d", r.Header.Get("Retry-After"), tc.status)
			}
			if r := h.do(server.RoleAdmin, http.MethodDelete, "/v1/lab/faults", nil); r.Status != http.StatusNoContent {
				t.Fatalf("clearing the faults: %v", r)
			}
			wantJSON[apiAttachment](t, h.do(server.RoleCSI, http.MethodPost, "/v1/attachments", attach), http.StatusCreated)
			if r := h.do(server.RoleCSI, http.MethodDelete, "/v1/attachments/"+v.ID+"/east-esx02", nil); r.Status != http.StatusNoContent {
				t.Fatalf("%v", r)
			}
		})
	}
}

// TestBrokenRequestBodies sends bodies that break off or trickle over raw
// TCP: the client's fault is a 4xx, never a 500.
func TestBrokenRequestBodies(t *testing.T) {
	h := newHarness(t)
	// Served as the daemon serves it, with a read deadline (short here).
	ts := httptest.NewUnstartedServer(h.srv.Handler())
	ts.Listener = server.Listener(ts.Listener)
	ts.Config.ConnContext = server.ConnContext
	ts.Config.ReadTimeout = 300 * time.Millisecond
	ts.Start()
	t.Cleanup(ts.Close)

	head := func(extra string) string {
		return "POST /v1/volumes HTTP/1.1\r\nHost: sanmob\r\nAuthorization: Bearer " + roleTokens[server.RoleCSI] +
			"\r\nContent-Type: application/json\r\n" + extra + "\r\n"
	}
	body := `{"name":"trickle","sizeBytes":1073741824,"site":"east"}`
	tests := []struct {
		name   string
		send   func(c *net.TCPConn) error
		status int
		detail string
	}{
		{"bad chunk", func(c *net.TCPConn) error {
			_, err := io.WriteString(c, head("Transfer-Encoding: chunked\r\n")+"zz\r\n{}\r\n0\r\n\r\n")
			return err
		}, http.StatusBadRequest, "could not be read"},
		{"half-close mid-body", func(c *net.TCPConn) error {
			if _, err := io.WriteString(c, head("Content-Length: 100\r\n")+body[:20]); err != nil {
				return err
			}
			return c.CloseWrite()
		}, http.StatusBadRequest, "broke off"},
		{"half-close mid-chunk", func(c *net.TCPConn) error {
			if _, err := io.WriteString(c, head("Transfer-Encoding: chunked\r\n")+"40\r\n"+body[:20]); err != nil {
				return err
			}
			return c.CloseWrite()
		}, http.StatusBadRequest, "broke off"},
		{"slow body", func(c *net.TCPConn) error {
			// The header, then a byte now and then: the read deadline passes
			// long before the body is whole.
			if _, err := io.WriteString(c, head("Content-Length: 100\r\n")+body[:1]); err != nil {
				return err
			}
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			return nil
		}, http.StatusRequestTimeout, "did not arrive in time"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", ts.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			c := conn.(*net.TCPConn)
			if err := tc.send(c); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			defer resp.Body.Close()
			var p problem
			if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
				t.Fatalf("%d: body: %v", resp.StatusCode, err)
			}
			if resp.StatusCode != tc.status || p.Status != tc.status || !strings.Contains(p.Detail, tc.detail) {
				t.Fatalf("%d %+v, want %d with %q in the detail", resp.StatusCode, p, tc.status, tc.detail)
			}
		})
	}
}
