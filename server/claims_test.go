package server_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/sanmob/sanmob/server"
)

type apiClaim struct {
	Owner      string   `json:"owner"`
	Key        string   `json:"key"`
	Initiators []string `json:"initiators"`
	Targets    []string `json:"targets"`
	Fabrics    []string `json:"fabrics"`
	Zones      []struct {
		Fabric  string   `json:"fabric"`
		Name    string   `json:"name"`
		Members []string `json:"members"`
	} `json:"zones"`
	Unreached []struct {
		WWPN, Role, Reason string
	} `json:"unreached"`
	State string `json:"state"`
}

// claimPortsOf returns a host's HBA WWPNs and the target WWPNs of an
// array's ports, through the API.
func claimPortsOf(t *testing.T, h *harness, host string) (inits, tgts []string) {
	t.Helper()
	hh := getJSON[struct {
		HBAs []struct {
			WWPN string `json:"wwpn"`
		} `json:"hbas"`
	}](t, h, "/v1/hosts/"+host)
	for _, b := range hh.HBAs {
		inits = append(inits, b.WWPN)
	}
	for _, f := range []string{"east-a", "east-b"} {
		for _, l := range items(t, h.get(server.RoleAdmin, "/v1/lab/fabrics/"+f+"/logins")) {
			if strings.HasPrefix(l["wwpn"].(string), "50:00:2a:c0:0b:50:80") && len(tgts) < 4 {
				tgts = append(tgts, l["wwpn"].(string))
			}
		}
	}
	if len(inits) == 0 || len(tgts) == 0 {
		t.Fatalf("host %s: initiators %v, targets %v", host, inits, tgts)
	}
	return inits, tgts
}

// TestClaimsOverREST: a claim shows up as zones on the lab switches and
// as users of sanmob's zones; PUT is idempotent (201 then 200), DELETE
// releases (204, again 204); bad input is a 4xx problem naming what.
func TestClaimsOverREST(t *testing.T) {
	h := newHarness(t)
	inits, tgts := claimPortsOf(t, h, "east-esx04")
	path := "/v1/zoning/claims/csi.vendor.example/pvc-7/east-esx04"
	body := map[string]any{"initiators": inits, "targets": tgts}
	onSwitch := func() []string {
		var out []string
		for _, f := range []string{"east-a", "east-b"} {
			for _, z := range getJSON[labZoneDB](t, h, "/v1/lab/fabrics/"+f+"/zonedb").Zones {
				if slices.ContainsFunc(z.Members, func(m string) bool { return slices.Contains(inits, m) }) &&
					slices.ContainsFunc(z.Members, func(m string) bool { return slices.Contains(tgts, m) }) {
					out = append(out, z.Name)
				}
			}
		}
		slices.Sort(out)
		return out
	}
	r := h.do(server.RoleCSI, http.MethodPut, path, body)
	c := wantJSON[apiClaim](t, r, http.StatusCreated)
	if loc := r.Header.Get("Location"); loc != path {
		t.Fatalf("Location %q, want %q", loc, path)
	}
	if c.Owner != "csi.vendor.example" || c.Key != "pvc-7/east-esx04" || c.State != "ready" || len(c.Zones) == 0 {
		t.Fatalf("claim %+v", c)
	}
	var names []string
	for _, z := range c.Zones {
		names = append(names, z.Name)
	}
	slices.Sort(names)
	if got := onSwitch(); !slices.Equal(got, names) {
		t.Fatalf("zones on the switches %v, the claim says %v", got, names)
	}
	// sanmob's view of the zones catches up with a refresh (the daemon's
	// loop runs one, kicked by the claim); the zone's users name the claim.
	h.mob.Refresh(context.Background())
	var users []string
	for _, z := range items(t, h.get(server.RoleViewer, "/v1/fabrics/"+c.Zones[0].Fabric+"/zones")) {
		if z["name"] == c.Zones[0].Name {
			for _, u := range z["users"].([]any) {
				users = append(users, u.(string))
			}
		}
	}
	if !slices.Contains(users, "claim:csi.vendor.example/pvc-7/east-esx04") {
		t.Fatalf("users of %s: %v", c.Zones[0].Name, users)
	}
	if m := string(h.get(noRole, "/metrics").Body); !strings.Contains(m, "sanmob_zoning_claims 1\n") {
		t.Errorf("metrics lack sanmob_zoning_claims 1")
	}
	again := wantJSON[apiClaim](t, h.do(server.RoleCSI, http.MethodPut, path, body), http.StatusOK)
	if len(again.Zones) != len(c.Zones) {
		t.Fatalf("repeat %+v", again)
	}
	if got := wantJSON[apiClaim](t, h.get(server.RoleViewer, path), http.StatusOK); got.Key != c.Key {
		t.Fatalf("get %+v", got)
	}
	if l := items(t, h.get(server.RoleViewer, "/v1/zoning/claims?owner=csi.vendor.example")); len(l) != 1 {
		t.Fatalf("list %v", l)
	}
	if l := items(t, h.get(server.RoleViewer, "/v1/zoning/claims?owner=other.example")); len(l) != 0 {
		t.Fatalf("list of another owner %v", l)
	}

	// Bad input.
	wantProblem(t, h.do(server.RoleViewer, http.MethodPut, path, body), http.StatusForbidden)
	p := wantProblem(t, h.do(server.RoleCSI, http.MethodPut, path, map[string]any{"initiators": []string{"nope"}, "targets": tgts}), http.StatusBadRequest)
	if !strings.Contains(p.Detail+p.Title, "initiators[0]") && (len(p.InvalidParams) == 0 || p.InvalidParams[0].Name != "initiators[0]") {
		t.Fatalf("bad WWPN problem does not name the field: %+v", p)
	}
	wantProblem(t, h.do(server.RoleCSI, http.MethodPut, "/v1/zoning/claims/-bad-/k", body), http.StatusBadRequest)
	wantProblem(t, h.do(server.RoleCSI, http.MethodPut, path, map[string]any{"initiators": inits, "targets": tgts, "extra": 1}), http.StatusBadRequest)
	p = wantProblem(t, h.do(server.RoleCSI, http.MethodPut, "/v1/zoning/claims/csi.vendor.example/x/y",
		map[string]any{"initiators": []string{"10:00:00:00:c9:de:ad:01"}, "targets": tgts}), http.StatusUnprocessableEntity)
	if !strings.Contains(p.Detail, "10:00:00:00:c9:de:ad:01") {
		t.Fatalf("422 does not name the port: %+v", p)
	}
	wantProblem(t, h.get(server.RoleViewer, "/v1/zoning/claims/csi.vendor.example/none"), http.StatusNotFound)
	wantProblem(t, h.get(server.RoleViewer, "/v1/zoning/claims/csi.vendor.example/pvc-7%2Feast-esx04"), http.StatusBadRequest)
	// Dot segments and empty ones are refused, never redirected to the
	// cleaned path (a client that kept its method would change another
	// claim).
	for _, p := range []string{"/v1/zoning/claims/csi.vendor.example/x/../pvc-7/east-esx04", "/v1/zoning/claims/csi.vendor.example/./pvc-7",
		"/v1/zoning/claims/csi.vendor.example//pvc-7", "/v1/zoning/claims/csi.vendor.example/pvc-7/%2e%2e/east-esx04", "/v1/zoning/claims/csi.vendor.example/pvc\u00a0x"} {
		wantProblem(t, h.do(server.RoleCSI, http.MethodDelete, p, nil), http.StatusBadRequest)
	}
	wantProblem(t, h.do(server.RoleCSI, http.MethodDelete, "/v1/zoning/claims/csi.vendor.example%2Fpvc-7/east-esx04", nil), http.StatusBadRequest)
	wantProblem(t, h.get(server.RoleViewer, "/v1/zoning/claims?owner=-x"), http.StatusBadRequest)

	if r := h.do(server.RoleCSI, http.MethodDelete, path, nil); r.Status != http.StatusNoContent {
		t.Fatalf("%v", r)
	}
	if got := onSwitch(); len(got) != 0 {
		t.Fatalf("zones left after the release: %v", got)
	}
	if r := h.do(server.RoleCSI, http.MethodDelete, path, nil); r.Status != http.StatusNoContent {
		t.Fatalf("a second delete: %v", r)
	}
}
