package server_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sanmob/sanmob/server"
)

// FuzzCreateBodies sends arbitrary bodies to the API's write endpoints: every
// answer is a success or a 4xx problem+json — never a 5xx, never a panic —
// whatever the decoder, the WWN field finder and the indexed-path builder
// make of the bytes.
func FuzzCreateBodies(f *testing.F) {
	for _, seed := range []string{
		`{"id":"h1","site":"east","hbas":[{"wwpn":"10:00:00:00:c9:00:00:01","wwnn":"20:00:00:00:c9:00:00:01","fabric":"east-a"}]}`,
		`{"id":"v1","host":"east-esx01"}`,
		`{"hbas":[{"wwpn":"zz"},{"wwpn":7}]}`,
		`{"vports":[{"fabric":"east-a","wwpn":"50:01","set":"c"}]}`,
		`{"target":"east-a","op":"read","count":1}`,
		`[]`, `null`, `{"a":{"b":[{"wwnn":"x"}]}}`, `{}}`, "",
	} {
		f.Add(seed)
	}
	h := newHarness(f)
	handler := h.srv.Handler()
	f.Fuzz(func(t *testing.T, body string) {
		for _, path := range []string{"/v1/hosts", "/v1/vms", "/v1/lab/faults"} {
			req := httptest.NewRequest(http.MethodPost, path, bytes.NewBufferString(body))
			req.Header.Set("Authorization", "Bearer "+roleTokens[server.RoleAdmin])
			req.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			handler.ServeHTTP(w, req)
			if w.Code >= 500 {
				t.Fatalf("POST %s %q → %d %s", path, body, w.Code, w.Body)
			}
			if w.Code >= 400 {
				var p server.Problem
				if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" || json.Unmarshal(w.Body.Bytes(), &p) != nil || p.Status != w.Code {
					t.Fatalf("POST %s %q → %d with %q %s", path, body, w.Code, ct, w.Body)
				}
			}
		}
		// Whatever was created, the lab faults must not stay armed for the
		// next input.
		req := httptest.NewRequest(http.MethodDelete, "/v1/lab/faults", nil)
		req.Header.Set("Authorization", "Bearer "+roleTokens[server.RoleAdmin])
		handler.ServeHTTP(httptest.NewRecorder(), req)
	})
}
