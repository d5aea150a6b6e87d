package server_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/server"
)

type apiDrift struct {
	Fabric   string        `json:"fabric"`
	Checksum string        `json:"checksum"`
	Missing  []fabric.Zone `json:"missing"`
	Changed  []struct {
		Name string `json:"name"`
	} `json:"changed"`
	Orphans  []string `json:"orphans"`
	External []string `json:"external"`
	Repaired bool     `json:"repaired"`
}

type apiAlert struct {
	Status      string            `json:"status"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	EndsAt      *string           `json:"endsAt"`
}

func reconcile(t *testing.T, h *harness, fab string, apply bool) apiDrift {
	t.Helper()
	path := "/v1/fabrics/" + fab + "/reconcile"
	if apply {
		path += "?apply=true"
	}
	return wantJSON[apiDrift](t, h.do(server.RoleOperator, http.MethodPost, path, nil), http.StatusOK)
}

// TestReconcileRepairsAdoptedZones: the lab's zones are adopted as the VMs'
// intents at discovery, so a zone another admin deletes is missing drift
// that raises FabricDrift, and a repair puts it back and resolves it.
func TestReconcileRepairsAdoptedZones(t *testing.T) {
	h := newHarness(t)
	if d := reconcile(t, h, "east-a", false); len(d.Missing)+len(d.Changed)+len(d.Orphans) != 0 || d.Repaired {
		t.Fatalf("drift on a fresh lab: %+v", d)
	}
	zones := getJSON[list[apiZone]](t, h, "/v1/fabrics/east-a/zones")
	var victim string
	for _, z := range zones.Items {
		if z.Owner == "sanmob" && strings.HasPrefix(z.Name, "sm_east-vm002_") {
			victim = z.Name
			if !slices.Equal(z.Users, []string{"vm/east-vm002"}) {
				t.Fatalf("users of %s: %v", z.Name, z.Users)
			}
			break
		}
	}
	if victim == "" {
		t.Fatal("no zone of east-vm002")
	}
	if r := h.do(server.RoleAdmin, http.MethodDelete, "/v1/lab/fabrics/east-a/zones/"+url.PathEscape(victim), nil); r.Status != http.StatusNoContent {
		t.Fatalf("%v", r)
	}
	d := reconcile(t, h, "east-a", false)
	if len(d.Missing) != 1 || d.Missing[0].Name != victim || d.Repaired {
		t.Fatalf("drift %+v, want %s missing", d, victim)
	}
	alerts := getJSON[list[apiAlert]](t, h, "/v1/alerts")
	if len(alerts.Items) != 1 || alerts.Items[0].Labels["alertname"] != "FabricDrift" || alerts.Items[0].Labels["fabric"] != "east-a" || alerts.Items[0].Status != "firing" {
		t.Fatalf("alerts %+v", alerts.Items)
	}
	wantProblem(t, h.do(server.RoleViewer, http.MethodPost, "/v1/fabrics/east-a/reconcile?apply=true", nil), http.StatusForbidden)
	// The repair answers the drift as it left it: nothing missing.
	if d := reconcile(t, h, "east-a", true); !d.Repaired || len(d.Missing) != 0 {
		t.Fatalf("repair: %+v", d)
	}
	db := getJSON[labZoneDB](t, h, "/v1/lab/fabrics/east-a/zonedb")
	if !slices.ContainsFunc(db.Zones, func(z labZone) bool { return z.Name == victim }) {
		t.Fatalf("%s not back on the switch", victim)
	}
	if d := reconcile(t, h, "east-a", false); len(d.Missing)+len(d.Changed)+len(d.Orphans) != 0 {
		t.Fatalf("drift after repair: %+v", d)
	}
	alerts = getJSON[list[apiAlert]](t, h, "/v1/alerts")
	if len(alerts.Items) != 1 || alerts.Items[0].Status != "resolved" || alerts.Items[0].EndsAt == nil {
		t.Fatalf("alerts after repair %+v", alerts.Items)
	}
	f := getJSON[map[string]any](t, h, "/v1/fabrics/east-a")
	if f["lastCommitAt"] == nil || f["zonePolicy"] != "sist" {
		t.Fatalf("fabric after a repair: lastCommitAt %v, zonePolicy %v", f["lastCommitAt"], f["zonePolicy"])
	}
}

// TestReconcileOrphansOfForgottenVM: a VM removed from the inventory leaves
// its zones; they are orphans, and a repair removes them and nothing else.
func TestReconcileOrphansOfForgottenVM(t *testing.T) {
	h := newHarness(t)
	if r := h.do(server.RoleAdmin, http.MethodDelete, "/v1/vms/east-vm003", nil); r.Status != http.StatusNoContent {
		t.Fatalf("%v", r)
	}
	d := reconcile(t, h, "east-b", false)
	if len(d.Orphans) == 0 || len(d.Missing) != 0 {
		t.Fatalf("drift %+v, want the zones of east-vm003 as orphans", d)
	}
	for _, n := range d.Orphans {
		if !strings.HasPrefix(n, "sm_east-vm003_") {
			t.Fatalf("orphan %s is not east-vm003's", n)
		}
	}
	before := getJSON[labZoneDB](t, h, "/v1/lab/fabrics/east-b/zonedb")
	reconcile(t, h, "east-b", true)
	after := getJSON[labZoneDB](t, h, "/v1/lab/fabrics/east-b/zonedb")
	if len(after.Zones) != len(before.Zones)-len(d.Orphans) {
		t.Fatalf("%d zones after removing %d orphans from %d", len(after.Zones), len(d.Orphans), len(before.Zones))
	}
	for _, z := range after.Zones {
		if strings.HasPrefix(z.Name, "sm_east-vm003_") {
			t.Fatalf("orphan %s still there", z.Name)
		}
	}
}

func TestReconcileBadInput(t *testing.T) {
	h := newHarness(t)
	wantProblem(t, h.do(server.RoleAdmin, http.MethodPost, "/v1/fabrics/nope/reconcile", nil), http.StatusNotFound)
	p := wantProblem(t, h.do(server.RoleAdmin, http.MethodPost, "/v1/fabrics/east-a/reconcile?apply=maybe", nil), http.StatusBadRequest)
	if len(p.InvalidParams) != 1 || p.InvalidParams[0].Name != "apply" {
		t.Fatalf("problem %+v", p)
	}
	wantProblem(t, h.do(server.RoleAdmin, http.MethodGet, "/v1/fabrics/east-a/reconcile", nil), http.StatusMethodNotAllowed)
}

func TestVportLoginLogout(t *testing.T) {
	h := newHarness(t)
	vm := getJSON[apiVM](t, h, "/v1/vms/east-vm004")
	var active, idle string
	for _, p := range vm.Vports {
		if p.Fabric != "east-a" {
			continue
		}
		if p.Active {
			active = p.WWPN
		} else {
			idle = p.WWPN
		}
	}
	if active == "" || idle == "" {
		t.Fatalf("vports %+v", vm.Vports)
	}
	loggedIn := func(w string) bool {
		for _, l := range items(t, h.get(server.RoleAdmin, "/v1/lab/fabrics/east-a/logins")) {
			if l["wwpn"] == w {
				return true
			}
		}
		return false
	}
	base := "/v1/vms/east-vm004/vports/"
	// Logging in what is logged in there already is a no-op.
	if r := h.do(server.RoleOperator, http.MethodPost, base+active+"/login", nil); r.Status != http.StatusNoContent {
		t.Fatalf("%v", r)
	}
	if loggedIn(idle) {
		t.Fatal("set b logged in before the test")
	}
	if r := h.do(server.RoleOperator, http.MethodPost, base+strings.ReplaceAll(idle, ":", "")+"/login", nil); r.Status != http.StatusNoContent {
		t.Fatalf("%v", r)
	}
	if !loggedIn(idle) {
		t.Fatal("set b not logged in after login")
	}
	if r := h.do(server.RoleOperator, http.MethodPost, base+idle+"/logout", nil); r.Status != http.StatusNoContent || loggedIn(idle) {
		t.Fatalf("%v; logged in %v", r, loggedIn(idle))
	}
	// Logging out what is not logged in is fine too.
	if r := h.do(server.RoleOperator, http.MethodPost, base+idle+"/logout", nil); r.Status != http.StatusNoContent {
		t.Fatalf("%v", r)
	}

	// The VM cannot move to another host by PATCH while its vport is still
	// logged in through the old one: a later login there would be a
	// duplicate. The 409 names the migration API.
	p := wantProblem(t, h.do(server.RoleAdmin, http.MethodPatch, "/v1/vms/east-vm004", map[string]any{"host": otherHost(t, h, vm.Host)}), http.StatusConflict)
	if !strings.Contains(p.Detail, "POST /v1/migrations") || !strings.Contains(p.Detail, "log its vports out") {
		t.Fatalf("detail %q", p.Detail)
	}
	// The record stayed; logging the vport in again through its own host
	// is a no-op, never a second login.
	if r := h.do(server.RoleOperator, http.MethodPost, base+active+"/login", nil); r.Status != http.StatusNoContent {
		t.Fatalf("%v", r)
	}
	if n := h.world.DuplicateLogins(); n != 0 {
		t.Fatalf("%d duplicate logins reached the switch", n)
	}

	bad := []struct {
		name, method, path string
		role               server.Role
		status             int
	}{
		{"bad wwpn", http.MethodPost, base + "zz/login", server.RoleOperator, http.StatusBadRequest},
		{"not its vport", http.MethodPost, base + "50:00:00:00:00:00:00:01/login", server.RoleOperator, http.StatusNotFound},
		{"no such vm", http.MethodPost, "/v1/vms/nope/vports/" + idle + "/login", server.RoleOperator, http.StatusNotFound},
		{"viewer", http.MethodPost, base + idle + "/login", server.RoleViewer, http.StatusForbidden},
		{"no token", http.MethodPost, base + idle + "/logout", noRole, http.StatusUnauthorized},
		{"get", http.MethodGet, base + idle + "/login", server.RoleOperator, http.StatusMethodNotAllowed},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			wantProblem(t, h.with(t).do(tt.role, tt.method, tt.path, nil), tt.status)
		})
	}
}

func otherHost(t *testing.T, h *harness, not string) string {
	t.Helper()
	for _, x := range items(t, h.get(server.RoleAdmin, "/v1/hosts?site=east")) {
		if id, _ := x["id"].(string); id != not {
			return id
		}
	}
	t.Fatal("no other host")
	return ""
}

// TestRefreshRaisesFabricDrift: the periodic refresh compares every fabric
// with the desired zoning; drift fires FabricDrift without anyone asking.
func TestRefreshRaisesFabricDrift(t *testing.T) {
	h := newHarness(t)
	h.mob.Refresh(context.Background())
	if a := getJSON[list[apiAlert]](t, h, "/v1/alerts"); len(a.Items) != 0 {
		t.Fatalf("alerts on a fresh lab: %+v", a.Items)
	}
	db := getJSON[labZoneDB](t, h, "/v1/lab/fabrics/east-b/zonedb")
	i := slices.IndexFunc(db.Zones, func(z labZone) bool { return strings.HasPrefix(z.Name, "sm_east-vm005_") })
	if i < 0 {
		t.Fatal("no zone of east-vm005")
	}
	if r := h.do(server.RoleAdmin, http.MethodDelete, "/v1/lab/fabrics/east-b/zones/"+url.PathEscape(db.Zones[i].Name), nil); r.Status != http.StatusNoContent {
		t.Fatalf("%v", r)
	}
	h.mob.Refresh(context.Background())
	a := getJSON[list[apiAlert]](t, h, "/v1/alerts")
	if len(a.Items) != 1 || a.Items[0].Status != "firing" || a.Items[0].Labels["fabric"] != "east-b" ||
		a.Items[0].Labels["severity"] != "warning" || a.Items[0].Annotations["missing"] != "1" {
		t.Fatalf("alerts %+v", a.Items)
	}
}
