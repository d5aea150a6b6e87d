package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/sanmob/sanmob/server"
)

func TestAuth(t *testing.T) {
	h := newHarness(t)
	newHost := func(id, wwpn string) map[string]any {
		return map[string]any{"id": id, "site": "east", "hbas": []map[string]any{
			{"wwpn": wwpn, "wwnn": "20:00:00:00:c9:aa:00:01", "fabric": "east-a"}}}
	}
	tests := []struct {
		name   string
		role   server.Role
		header http.Header // replaces the role's Authorization when set
		method string
		path   string
		body   any
		want   int
	}{
		{name: "no token", role: noRole, method: "GET", path: "/v1/vms", want: 401},
		{name: "basic scheme", header: http.Header{"Authorization": {"Basic x"}}, method: "GET", path: "/v1/vms", want: 401},
		{name: "bearer without token", header: http.Header{"Authorization": {"Bearer "}}, method: "GET", path: "/v1/vms", want: 401},
		{name: "wrong token", role: "smt_not_a_configured_token", method: "GET", path: "/v1/vms", want: 401},
		{name: "hash instead of token", role: server.Role(server.HashToken(roleTokens[server.RoleAdmin])), method: "GET", path: "/v1/vms", want: 401},
		{name: "no token on a write", role: noRole, method: "POST", path: "/v1/hosts", body: newHost("auth-x", "10:00:00:00:c9:aa:00:09"), want: 401},
		{name: "viewer reads vms", role: server.RoleViewer, method: "GET", path: "/v1/vms", want: 200},
		{name: "viewer reads a vm", role: server.RoleViewer, method: "GET", path: "/v1/vms/east-vm001", want: 200},
		{name: "csi reads hosts", role: server.RoleCSI, method: "GET", path: "/v1/hosts", want: 200},
		{name: "viewer may not create a vm", role: server.RoleViewer, method: "POST", path: "/v1/vms", body: map[string]any{"host": "east-esx01"}, want: 403},
		{name: "viewer may not delete a vm", role: server.RoleViewer, method: "DELETE", path: "/v1/vms/east-vm001", want: 403},
		{name: "viewer may not patch a vm", role: server.RoleViewer, method: "PATCH", path: "/v1/vms/east-vm001", body: map[string]any{"name": "x"}, want: 403},
		{name: "csi may not create a host", role: server.RoleCSI, method: "POST", path: "/v1/hosts", body: newHost("auth-csi", "10:00:00:00:c9:aa:00:02"), want: 403},
		{name: "operator may not create a host", role: server.RoleOperator, method: "POST", path: "/v1/hosts", body: newHost("auth-op", "10:00:00:00:c9:aa:00:03"), want: 403},
		{name: "operator may not delete a host", role: server.RoleOperator, method: "DELETE", path: "/v1/hosts/east-esx01", want: 403},
		{name: "admin creates a host", role: server.RoleAdmin, method: "POST", path: "/v1/hosts", body: newHost("auth-admin", "10:00:00:00:c9:aa:00:04"), want: 201},
		{name: "healthz is public", role: noRole, method: "GET", path: "/healthz", want: 200},
		{name: "readyz is public", role: noRole, method: "GET", path: "/readyz", want: 200},
		{name: "metrics is public", role: noRole, method: "GET", path: "/metrics", want: 200},
		{name: "openapi is public", role: noRole, method: "GET", path: "/v1/openapi.json", want: 200},
		{name: "lab needs a token", role: noRole, method: "GET", path: "/v1/lab/clock", want: 401},
		{name: "viewer may not read the lab", role: server.RoleViewer, method: "GET", path: "/v1/lab/clock", want: 403},
		{name: "operator may not read the lab zonedb", role: server.RoleOperator, method: "GET", path: "/v1/lab/fabrics/east-a/zonedb", want: 403},
		{name: "csi may not list lab faults", role: server.RoleCSI, method: "GET", path: "/v1/lab/faults", want: 403},
		{name: "viewer may not inject faults", role: server.RoleViewer, method: "POST", path: "/v1/lab/faults", body: map[string]any{"target": "east-a", "op": "read", "count": 1}, want: 403},
		{name: "viewer may not clear faults", role: server.RoleViewer, method: "DELETE", path: "/v1/lab/faults", want: 403},
		{name: "viewer may not delete a lab zone", role: server.RoleViewer, method: "DELETE", path: "/v1/lab/fabrics/east-a/zones/backup_srv01_tape01_drv1", want: 403},
		{name: "admin reads the lab", role: server.RoleAdmin, method: "GET", path: "/v1/lab/clock", want: 200},
		{name: "admin reads the lab zonedb", role: server.RoleAdmin, method: "GET", path: "/v1/lab/fabrics/east-a/zonedb", want: 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.with(t).send(request{role: tc.role, method: tc.method, path: tc.path, body: tc.body, header: tc.header})
			switch tc.want {
			case http.StatusUnauthorized:
				wantProblem(t, r, tc.want)
				if got := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
					t.Errorf("%v: WWW-Authenticate %q, want a Bearer challenge", r, got)
				}
			case http.StatusForbidden:
				p := wantProblem(t, r, tc.want)
				if !strings.Contains(p.Detail, string(tc.role)) {
					t.Errorf("%v: the 403 detail does not name the role %q", r, tc.role)
				}
				if r.Header.Get("WWW-Authenticate") != "" {
					t.Errorf("%v: a 403 carries a WWW-Authenticate challenge", r)
				}
			default:
				if r.Status != tc.want {
					t.Fatalf("%v: want %d", r, tc.want)
				}
			}
		})
	}
}

// TestAuthForbiddenChangesNothing checks that a refused write did not happen.
func TestAuthForbiddenChangesNothing(t *testing.T) {
	h := newHarness(t)
	r := h.do(server.RoleViewer, "DELETE", "/v1/vms/east-vm001", nil)
	wantProblem(t, r, http.StatusForbidden)
	if r := h.get(server.RoleViewer, "/v1/vms/east-vm001"); r.Status != http.StatusOK {
		t.Fatalf("after a forbidden DELETE: %v", r)
	}
	r = h.do(server.RoleOperator, "POST", "/v1/hosts", map[string]any{"id": "nope", "site": "east",
		"hbas": []map[string]any{{"wwpn": "10:00:00:00:c9:aa:10:01", "wwnn": "20:00:00:00:c9:aa:10:01", "fabric": "east-a"}}})
	wantProblem(t, r, http.StatusForbidden)
	wantProblem(t, h.get(server.RoleAdmin, "/v1/hosts/nope"), http.StatusNotFound)
}
