package server_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sanmob/sanmob/server"
)

type (
	labZone struct {
		Name    string   `json:"name"`
		Members []string `json:"members"`
	}
	labZoneDB struct {
		Checksum  string    `json:"checksum"`
		Effective string    `json:"effective"`
		Zones     []labZone `json:"zones"`
	}
	labMapping struct {
		Volume     string   `json:"volume"`
		LUN        int      `json:"lun"`
		Initiators []string `json:"initiators"`
		Writable   bool     `json:"writable"`
	}
	labClock struct {
		Now   time.Time `json:"now"`
		Speed float64   `json:"speed"`
	}
	labFault struct {
		Target    string  `json:"target"`
		Op        string  `json:"op"`
		Count     int     `json:"count"`
		Rate      float64 `json:"rate"`
		LatencyMs float64 `json:"latencyMs"`
		Kind      string  `json:"kind"`
	}
)

var md5Hex = regexp.MustCompile(`^[0-9a-f]{32}$`)

func TestLabZoneDB(t *testing.T) {
	h := newHarness(t)
	r := h.get(server.RoleAdmin, "/v1/lab/fabrics/east-a/zonedb")
	raw := wantJSON[map[string]any](t, r, http.StatusOK)
	requireKeys(t, "zonedb", raw, "checksum", "effective", "zones")
	for _, z := range subobjects(t, "zones", raw["zones"]) {
		requireKeys(t, "lab zone", z, "name", "members")
	}
	if checkWWNs(t, "zonedb", raw) == 0 {
		t.Errorf("no WWNs in the zone DB")
	}
	db := wantJSON[labZoneDB](t, r, http.StatusOK)
	if !md5Hex.MatchString(db.Checksum) || db.Effective != "cfg_east_a" {
		t.Errorf("checksum %q effective %q", db.Checksum, db.Effective)
	}
	if f := getJSON[apiFabric](t, h, "/v1/fabrics/east-a"); f.ZoneCount != len(db.Zones) {
		t.Errorf("the lab has %d zones, sanmob observed %d", len(db.Zones), f.ZoneCount)
	}

	before := getJSON[apiTopology](t, h, "/v1/vms/east-vm001/topology?verify=true")
	var victim string
	for _, z := range db.Zones {
		if strings.HasPrefix(z.Name, "sm_east-vm001_") {
			victim = z.Name
			break
		}
	}
	if victim == "" {
		t.Fatalf("no zone of east-vm001 on east-a")
	}
	through := 0
	for _, p := range before.Paths {
		if p.Zone == victim {
			through++
		}
	}
	if through == 0 {
		t.Fatalf("no path of east-vm001 runs through %s", victim)
	}

	zonePath := "/v1/lab/fabrics/east-a/zones/" + url.PathEscape(victim)
	wantProblem(t, h.do(server.RoleViewer, "DELETE", zonePath, nil), http.StatusForbidden)
	if r := h.do(server.RoleAdmin, "DELETE", zonePath, nil); r.Status != http.StatusNoContent || len(r.Body) != 0 {
		t.Fatalf("%v: want 204", r)
	}
	after := getJSON[labZoneDB](t, h, "/v1/lab/fabrics/east-a/zonedb")
	if after.Checksum == db.Checksum || !md5Hex.MatchString(after.Checksum) {
		t.Errorf("checksum %q after removing a zone, %q before", after.Checksum, db.Checksum)
	}
	if len(after.Zones) != len(db.Zones)-1 || slices.ContainsFunc(after.Zones, func(z labZone) bool { return z.Name == victim }) {
		t.Errorf("%d zones after removing %s from %d", len(after.Zones), victim, len(db.Zones))
	}
	wantProblem(t, h.do(server.RoleAdmin, "DELETE", zonePath, nil), http.StatusNotFound)
	wantProblem(t, h.do(server.RoleAdmin, "DELETE", "/v1/lab/fabrics/nope/zones/"+url.PathEscape(victim), nil), http.StatusNotFound)
	// the other fabric is untouched
	if other := getJSON[labZoneDB](t, h, "/v1/lab/fabrics/east-b/zonedb"); len(other.Zones) != len(db.Zones) {
		t.Errorf("east-b has %d zones, want %d", len(other.Zones), len(db.Zones))
	}

	verified := getJSON[apiTopology](t, h, "/v1/vms/east-vm001/topology?verify=true")
	if len(verified.Paths) != len(before.Paths)-through {
		t.Errorf("%d paths after removing %s, want %d - %d", len(verified.Paths), victim, len(before.Paths), through)
	}
	for _, p := range verified.Paths {
		if p.Zone == victim {
			t.Errorf("path %+v through the removed zone", p)
		}
	}
	// the verified read became sanmob's newest observation
	if f := getJSON[apiFabric](t, h, "/v1/fabrics/east-a"); f.ZoneCount != len(after.Zones) {
		t.Errorf("after a verified topology sanmob still counts %d zones, the switch %d", f.ZoneCount, len(after.Zones))
	}
}

func TestLabReads(t *testing.T) {
	h := newHarness(t)
	t.Run("mappings", func(t *testing.T) {
		r := h.with(t).get(server.RoleAdmin, "/v1/lab/arrays/east-arr1/mappings")
		for _, o := range items(t, r) {
			requireKeys(t, "mapping", o, "volume", "lun", "initiators", "writable")
		}
		checkWWNs(t, "mappings", decodeAny(t, r))
		l := wantJSON[list[labMapping]](t, r, http.StatusOK)
		if len(l.Items) != 24 {
			t.Errorf("%d mappings, want 24 (2 volumes of 12 VMs)", len(l.Items))
		}
		vm := getJSON[apiVM](t, h.with(t), "/v1/vms/east-vm001")
		var vports []string
		for _, p := range vm.Vports {
			vports = append(vports, p.WWPN)
		}
		slices.Sort(vports)
		for _, m := range l.Items {
			if !m.Writable || len(m.Initiators) != 4 {
				t.Errorf("mapping %+v: want writable with the VM's 4 vports", m)
			}
			if strings.HasPrefix(m.Volume, "east-vm001-") {
				got := slices.Sorted(slices.Values(m.Initiators))
				if !slices.Equal(got, vports) {
					t.Errorf("mapping %+v: initiators are not east-vm001's vports %v", m, vports)
				}
				if want := map[string]int{"east-vm001-d0": 0, "east-vm001-d1": 1}[m.Volume]; m.LUN != want {
					t.Errorf("mapping %+v: want LUN %d", m, want)
				}
			}
		}
		wantProblem(t, h.with(t).get(server.RoleAdmin, "/v1/lab/arrays/nope/mappings"), http.StatusNotFound)
	})
	t.Run("logins", func(t *testing.T) {
		r := h.with(t).get(server.RoleAdmin, "/v1/lab/fabrics/west-b/logins")
		if checkWWNs(t, "lab logins", decodeAny(t, r)) == 0 {
			t.Errorf("no WWNs in the lab's logins")
		}
		lab := wantJSON[list[apiLogin]](t, r, http.StatusOK)
		model := getJSON[list[apiLogin]](t, h.with(t), "/v1/fabrics/west-b/logins")
		if !slices.Equal(lab.Items, model.Items) {
			t.Errorf("the lab's name server and sanmob's observation of it differ")
		}
		wantProblem(t, h.with(t).get(server.RoleAdmin, "/v1/lab/fabrics/nope/logins"), http.StatusNotFound)
		wantProblem(t, h.with(t).get(server.RoleAdmin, "/v1/lab/fabrics/nope/zonedb"), http.StatusNotFound)
	})
	t.Run("clock", func(t *testing.T) {
		r := h.with(t).get(server.RoleAdmin, "/v1/lab/clock")
		requireKeys(t, "clock", wantJSON[map[string]any](t, r, http.StatusOK), "now", "speed")
		c1 := wantJSON[labClock](t, r, http.StatusOK)
		if c1.Speed != 60 || c1.Now.IsZero() {
			t.Errorf("clock %+v: want speed 60 and a time", c1)
		}
		time.Sleep(20 * time.Millisecond)
		c2 := getJSON[labClock](t, h.with(t), "/v1/lab/clock")
		// 20 ms of real time is 1.2 s of virtual time
		if d := c2.Now.Sub(c1.Now); d < time.Second {
			t.Errorf("the virtual clock moved %v in 20 ms at speed 60", d)
		}
	})
}

func TestLabFaults(t *testing.T) {
	h := newHarness(t)
	admin := server.RoleAdmin
	invalid := []struct {
		name string
		body any
	}{
		{"unknown target", map[string]any{"target": "nope", "op": "read", "count": 1}},
		{"missing target", map[string]any{"op": "read", "count": 1}},
		{"unknown link", map[string]any{"target": "link:east-north", "op": "replicate", "count": 1}},
		{"unknown op", map[string]any{"target": "east-a", "op": "explode", "count": 1}},
		{"missing op", map[string]any{"target": "east-a", "count": 1}},
		{"op the target never does", map[string]any{"target": "east-arr1", "op": "commit", "count": 1}},
		{"rate 2", map[string]any{"target": "east-a", "op": "read", "rate": 2}},
		{"negative rate", map[string]any{"target": "east-a", "op": "read", "rate": -0.5}},
		{"negative count", map[string]any{"target": "east-a", "op": "read", "count": -1}},
		{"neither count nor rate", map[string]any{"target": "east-a", "op": "read"}},
		{"negative latency", map[string]any{"target": "east-a", "op": "read", "count": 1, "latencyMs": -5}},
		{"unknown kind", map[string]any{"target": "east-a", "op": "read", "count": 1, "kind": "weird"}},
		{"unknown field", map[string]any{"target": "east-a", "op": "read", "count": 1, "severity": "high"}},
		{"count as a string", rawBody(`{"target":"east-a","op":"read","count":"1"}`)},
	}
	for _, tc := range invalid {
		t.Run("invalid/"+tc.name, func(t *testing.T) {
			wantProblem(t, h.with(t).do(admin, "POST", "/v1/lab/faults", tc.body), http.StatusBadRequest)
		})
	}
	if l := getJSON[list[labFault]](t, h, "/v1/lab/faults"); len(l.Items) != 0 {
		t.Fatalf("refused faults were kept: %+v", l.Items)
	}

	r := h.do(admin, "POST", "/v1/lab/faults", map[string]any{"target": "east-a", "op": "read", "count": 1})
	f := wantJSON[labFault](t, r, http.StatusCreated)
	if f.Target != "east-a" || f.Op != "read" || f.Count != 1 || f.Kind != "unavailable" {
		t.Errorf("injected %+v", f)
	}
	l := getJSON[list[labFault]](t, h, "/v1/lab/faults")
	if len(l.Items) != 1 || l.Items[0].Target != "east-a" || l.Items[0].Op != "read" || l.Items[0].Count != 1 {
		t.Fatalf("faults %+v, want the one injected", l.Items)
	}

	top := getJSON[apiTopology](t, h, "/v1/vms/east-vm004/topology?verify=true")
	if !slices.ContainsFunc(top.Issues, func(s string) bool { return strings.Contains(s, "east-a") }) {
		t.Errorf("topology while east-a fails to read: issues %q, want one naming east-a", top.Issues)
	}
	// answered from the model, so the paths are all there
	if len(top.Paths) != 16 {
		t.Errorf("%d paths while east-a fails to read, want the model's 16", len(top.Paths))
	}
	if l := getJSON[list[labFault]](t, h, "/v1/lab/faults"); len(l.Items) != 0 {
		t.Errorf("the count-1 fault is still listed after it fired: %+v", l.Items)
	}
	if top := getJSON[apiTopology](t, h, "/v1/vms/east-vm004/topology?verify=true"); len(top.Issues) != 0 {
		t.Errorf("issues after the fault fired once: %q", top.Issues)
	}

	// faults that stay until cleared
	for _, body := range []map[string]any{
		{"target": "west-arr1", "op": "mask", "rate": 0.5},
		{"target": "link:west-east", "op": "replicate", "count": 3, "latencyMs": 250},
		{"target": "east-esx02", "op": "login", "count": 2, "kind": "final"},
	} {
		wantJSON[labFault](t, h.do(admin, "POST", "/v1/lab/faults", body), http.StatusCreated)
	}
	l = getJSON[list[labFault]](t, h, "/v1/lab/faults")
	want := []labFault{
		{Target: "west-arr1", Op: "mask", Rate: 0.5, Kind: "unavailable"},
		{Target: "link:east-west", Op: "replicate", Count: 3, LatencyMs: 250, Kind: ""},
		{Target: "east-esx02", Op: "login", Count: 2, Kind: "final"},
	}
	if !slices.Equal(l.Items, want) {
		t.Errorf("faults\n %+v\nwant\n %+v", l.Items, want)
	}
	r = h.do(admin, "DELETE", "/v1/lab/faults", nil)
	if r.Status != http.StatusNoContent || len(r.Body) != 0 {
		t.Fatalf("%v: want 204", r)
	}
	if l := getJSON[list[labFault]](t, h, "/v1/lab/faults"); l.Items == nil || len(l.Items) != 0 {
		t.Errorf("faults after DELETE: %+v, want an empty list", l.Items)
	}
}

// TestLabRoutesNeedTheLab checks that without server.Config.Lab the lab
// routes are not there at all.
func TestLabRoutesNeedTheLab(t *testing.T) {
	h := newHarness(t, withoutLab())
	for _, rq := range []struct{ method, path string }{
		{"GET", "/v1/lab/fabrics/east-a/zonedb"},
		{"GET", "/v1/lab/fabrics/east-a/logins"},
		{"DELETE", "/v1/lab/fabrics/east-a/zones/backup_srv01_tape01_drv1"},
		{"POST", "/v1/lab/fabrics/east-a/logins"},
		{"DELETE", "/v1/lab/fabrics/east-a/logins/50:0a:09:81:00:00:00:01"},
		{"GET", "/v1/lab/arrays/east-arr1/mappings"},
		{"GET", "/v1/lab/clock"},
		{"GET", "/v1/lab/faults"},
		{"POST", "/v1/lab/faults"},
		{"DELETE", "/v1/lab/faults"},
	} {
		t.Run(rq.method+" "+rq.path, func(t *testing.T) {
			var body any
			switch rq.method + " " + rq.path {
			case "POST /v1/lab/faults":
				body = map[string]any{"target": "east-a", "op": "read", "count": 1}
			case "POST /v1/lab/fabrics/east-a/logins":
				body = map[string]any{"wwpn": "50:0a:09:81:00:00:00:01", "wwnn": "50:0a:09:80:00:00:00:00", "target": true}
			}
			p := wantProblem(t, h.with(t).do(server.RoleAdmin, rq.method, rq.path, body), http.StatusNotFound)
			if !strings.HasPrefix(p.Detail, "no route") {
				t.Errorf("detail %q: want no route", p.Detail)
			}
		})
	}
	// the rest of the API is unchanged
	if l := getJSON[list[apiVM]](t, h, "/v1/vms"); len(l.Items) != 24 {
		t.Errorf("%d vms without the lab routes", len(l.Items))
	}
}

// TestLabPlugPort: an admin cables a port of an array sanmob does not
// manage into a lab switch; the lab's name server and, after a refresh,
// sanmob's observation show it as a target; it can be pulled again, and
// nothing the lab's build cabled can.
func TestLabPlugPort(t *testing.T) {
	h := newHarness(t)
	admin := server.RoleAdmin
	const (
		wwpn = "50:0a:09:81:00:00:00:01"
		wwnn = "50:0a:09:80:00:00:00:00"
	)
	plug := "/v1/lab/fabrics/east-a/logins"
	body := map[string]any{"wwpn": "500A098100000001", "wwnn": wwnn, "target": true}
	for _, role := range []server.Role{server.RoleOperator, server.RoleCSI, server.RoleViewer} {
		wantProblem(t, h.do(role, "POST", plug, body), http.StatusForbidden)
		wantProblem(t, h.do(role, "DELETE", plug+"/"+wwpn, nil), http.StatusForbidden)
	}
	before := len(items(t, h.get(admin, plug)))

	r := h.do(admin, "POST", plug, body)
	requireKeys(t, "plugged login", wantJSON[map[string]any](t, r, http.StatusCreated), "wwpn", "wwnn", "kind", "npiv", "switchPort", "portId", "loggedInAt")
	l := wantJSON[apiLogin](t, r, http.StatusCreated)
	if want := (apiLogin{WWPN: wwpn, WWNN: wwnn, Kind: "target", SwitchPort: l.SwitchPort}); l != want || !strings.HasPrefix(l.SwitchPort, "1,") {
		t.Fatalf("plugged %+v, want %+v on a port of domain 1", l, want)
	}
	lab := getJSON[list[apiLogin]](t, h, plug).Items
	if len(lab) != before+1 || !slices.Contains(lab, l) {
		t.Fatalf("the lab's name server has %d logins (want %d) and the plugged port: %v", len(lab), before+1, slices.Contains(lab, l))
	}
	h.mob.Refresh(context.Background())
	if model := getJSON[list[apiLogin]](t, h, "/v1/fabrics/east-a/logins").Items; !slices.Contains(model, l) {
		t.Fatalf("sanmob's observation of east-a does not show the plugged port %+v after a refresh", l)
	}

	// Every login the lab has is taken: the plugged one on its own fabric
	// or another, a host's HBA, an array's port, a VM's vport.
	taken := map[string]string{"plugged port": wwpn}
	for _, x := range lab {
		switch {
		case x.NPIV:
			taken["vport"] = x.WWPN
		case x.Kind == "target" && x.WWPN != wwpn:
			taken["array port"] = x.WWPN
		case x.Kind == "initiator":
			taken["host HBA"] = x.WWPN
		}
	}
	if len(taken) != 4 {
		t.Fatalf("east-a's name server lacks a kind of login: %v", taken)
	}
	for what, p := range taken {
		for _, f := range []string{"east-a", "west-b"} {
			p := wantProblem(t, h.do(admin, "POST", "/v1/lab/fabrics/"+f+"/logins", map[string]any{"wwpn": p, "wwnn": wwnn, "target": true}), http.StatusConflict)
			if !strings.Contains(p.Detail, "logged in on fabric east-a") {
				t.Errorf("plugging %s into %s: detail %q", what, f, p.Detail)
			}
		}
	}

	invalid := []struct {
		name  string
		body  any
		field string
	}{
		{"bad wwpn", map[string]any{"wwpn": "50:0a:09", "wwnn": wwnn}, "wwpn"},
		{"no wwpn", map[string]any{"wwnn": wwnn}, "wwpn"},
		{"bad wwnn", map[string]any{"wwpn": "50:0a:09:81:00:00:00:02", "wwnn": "node"}, "wwnn"},
		{"zero wwpn", map[string]any{"wwpn": "00:00:00:00:00:00:00:00", "wwnn": wwnn}, ""},
		{"target a string", map[string]any{"wwpn": "50:0a:09:81:00:00:00:02", "wwnn": wwnn, "target": "yes"}, "target"},
		{"unknown field", map[string]any{"wwpn": "50:0a:09:81:00:00:00:02", "wwnn": wwnn, "speed": 32}, "speed"},
		{"no body", nil, ""},
	}
	for _, tc := range invalid {
		t.Run("invalid/"+tc.name, func(t *testing.T) {
			p := wantProblem(t, h.with(t).do(admin, "POST", plug, tc.body), http.StatusBadRequest)
			if tc.field != "" && (len(p.InvalidParams) != 1 || p.InvalidParams[0].Name != tc.field) {
				t.Errorf("invalid-params %+v, want %q named", p.InvalidParams, tc.field)
			}
		})
	}
	wantProblem(t, h.do(admin, "POST", "/v1/lab/fabrics/nope/logins", map[string]any{"wwpn": "50:0a:09:81:00:00:00:02", "wwnn": wwnn}), http.StatusNotFound)

	// A login fault on the fabric fails the plug as the switch's failure.
	for _, tc := range []struct {
		kind   string
		status int
	}{{"unavailable", http.StatusServiceUnavailable}, {"final", http.StatusBadGateway}} {
		wantJSON[labFault](t, h.do(admin, "POST", "/v1/lab/faults", map[string]any{"target": "east-b", "op": "login", "count": 1, "kind": tc.kind}), http.StatusCreated)
		r := h.do(admin, "POST", "/v1/lab/fabrics/east-b/logins", map[string]any{"wwpn": "50:0a:09:81:00:00:00:03", "wwnn": wwnn})
		wantProblem(t, r, tc.status)
		if got, want := r.Header.Get("Retry-After") != "", tc.status == http.StatusServiceUnavailable; got != want {
			t.Errorf("Retry-After %q on a %d", r.Header.Get("Retry-After"), tc.status)
		}
	}
	if slices.ContainsFunc(items(t, h.get(admin, "/v1/lab/fabrics/east-b/logins")), func(o map[string]any) bool { return o["wwpn"] == "50:0a:09:81:00:00:00:03" }) {
		t.Fatal("a plug that failed is logged in")
	}

	// Pulling.
	for what, p := range taken {
		if what == "plugged port" {
			continue
		}
		pr := wantProblem(t, h.do(admin, "DELETE", plug+"/"+p, nil), http.StatusConflict)
		if !strings.Contains(pr.Detail, "only plugged ports can be pulled") {
			t.Errorf("pulling the %s: detail %q", what, pr.Detail)
		}
	}
	p := wantProblem(t, h.do(admin, "DELETE", plug+"/not-a-wwn", nil), http.StatusBadRequest)
	if len(p.InvalidParams) != 1 || p.InvalidParams[0].Name != "wwpn" {
		t.Errorf("invalid-params %+v, want wwpn named", p.InvalidParams)
	}
	wantProblem(t, h.do(admin, "DELETE", "/v1/lab/fabrics/nope/logins/"+wwpn, nil), http.StatusNotFound)
	wantProblem(t, h.do(admin, "DELETE", "/v1/lab/fabrics/east-b/logins/"+wwpn, nil), http.StatusNotFound)
	if r := h.do(admin, "DELETE", plug+"/500a098100000001", nil); r.Status != http.StatusNoContent || len(r.Body) != 0 {
		t.Fatalf("%v: want 204", r)
	}
	if lab := getJSON[list[apiLogin]](t, h, plug).Items; len(lab) != before || slices.Contains(lab, l) {
		t.Fatalf("%d logins after the pull, want %d without the plugged port", len(lab), before)
	}
	wantProblem(t, h.do(admin, "DELETE", plug+"/"+wwpn, nil), http.StatusNotFound)
	if n := h.world.DuplicateLogins(); n != 0 {
		t.Fatalf("%d duplicate logins reached a switch", n)
	}
}
