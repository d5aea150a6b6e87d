package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/sanmob/sanmob/server"
)

type apiPlan struct {
	VM              string   `json:"vm"`
	SourceHost      string   `json:"sourceHost"`
	DestinationHost string   `json:"destinationHost"`
	Mode            string   `json:"mode"`
	Kind            string   `json:"kind"`
	Feasible        bool     `json:"feasible"`
	Reasons         []string `json:"reasons"`
	Estimate        struct {
		Seconds         float64  `json:"seconds"`
		BytesToCopy     int64    `json:"bytesToCopy"`
		DowntimeSeconds float64  `json:"downtimeSeconds"`
		Tromboning      bool     `json:"tromboning"`
		Notes           []string `json:"notes"`
	} `json:"estimate"`
}

// TestMigrationPlans: POST /v1/migrations with dryRun plans a move over the
// lab as it is — its kind and estimate — answers 422 with every reason a
// move may not run.
func TestMigrationPlans(t *testing.T) {
	h := newHarness(t)
	op := server.RoleOperator
	vm := getJSON[struct {
		ID   string `json:"id"`
		Host string `json:"host"`
	}](t, h, "/v1/vms/east-vm001")
	other := "east-esx01"
	if vm.Host == other {
		other = "east-esx02"
	}
	same := wantJSON[apiPlan](t, h.do(op, http.MethodPost, "/v1/migrations", map[string]any{"vm": vm.ID, "destinationHost": other, "dryRun": true}), http.StatusOK)
	if !same.Feasible || same.Kind != "same-fabric" || same.Mode != "live" || same.SourceHost != vm.Host ||
		same.Estimate.BytesToCopy != 0 || same.Estimate.Tromboning {
		t.Fatalf("same-site plan %+v", same)
	}
	cross := wantJSON[apiPlan](t, h.do(op, http.MethodPost, "/v1/migrations", map[string]any{"vm": vm.ID, "destinationHost": "west-esx01", "mode": "cold", "dryRun": true}), http.StatusOK)
	if !cross.Feasible || cross.Kind != "cross-site" || cross.Estimate.BytesToCopy <= 0 || cross.Estimate.Seconds <= cross.Estimate.DowntimeSeconds {
		t.Fatalf("cross-site plan %+v", cross)
	}
	p := wantProblem(t, h.do(op, http.MethodPost, "/v1/migrations", map[string]any{"vm": vm.ID, "destinationHost": vm.Host, "dryRun": true}), http.StatusUnprocessableEntity)
	if len(p.Reasons) == 0 || !strings.Contains(strings.Join(p.Reasons, ";"), "current host") {
		t.Fatalf("a move to its own host: %+v", p)
	}
	wantProblem(t, h.do(op, http.MethodPost, "/v1/migrations", map[string]any{"vm": "nope", "destinationHost": other, "dryRun": true}), http.StatusNotFound)
	wantProblem(t, h.do(op, http.MethodPost, "/v1/migrations", map[string]any{"vm": vm.ID, "destinationHost": other, "mode": "warp", "dryRun": true}), http.StatusBadRequest)
	wantProblem(t, h.do(server.RoleViewer, http.MethodPost, "/v1/migrations", map[string]any{"vm": vm.ID, "destinationHost": other, "dryRun": true}), http.StatusForbidden)
	// A cross-site move runs (201); while it does, the VM cannot start another (409).
	started := wantJSON[map[string]any](t, h.do(op, http.MethodPost, "/v1/migrations", map[string]any{"vm": vm.ID, "destinationHost": "west-esx01", "mode": "cold"}), http.StatusCreated)
	if started["kind"] != "cross-site" || started["phase"] != "running" {
		t.Fatalf("cross-site move started as %v", started)
	}
	wantProblem(t, h.do(op, http.MethodPost, "/v1/migrations", map[string]any{"vm": vm.ID, "destinationHost": other}), http.StatusConflict)
}

// otherEastHost is an east host other than the VM's.
func otherEastHost(t *testing.T, h *harness, vm string) string {
	v := getJSON[struct {
		Host string `json:"host"`
	}](t, h, "/v1/vms/"+vm)
	if v.Host == "east-esx02" {
		return "east-esx03"
	}
	return "east-esx02"
}

// TestSameFabricMigration: a same-fabric live move runs as a saga: it ends
// succeeded, the VM runs on the destination with its other vport set active
// and logged in there, the old set logged out, and its paths intact.
func TestSameFabricMigration(t *testing.T) {
	h := newHarness(t)
	const vm = "east-vm003"
	dst := otherEastHost(t, h, vm)
	before := getJSON[struct {
		Paths []map[string]any `json:"paths"`
	}](t, h, "/v1/vms/"+vm+"/topology?verify=true")
	m := wantJSON[struct {
		ID    string `json:"id"`
		Phase string `json:"phase"`
	}](t, h.do(server.RoleOperator, http.MethodPost, "/v1/migrations", map[string]any{"vm": vm, "destinationHost": dst}), http.StatusCreated)
	wantProblem(t, h.do(server.RoleOperator, http.MethodPost, "/v1/migrations", map[string]any{"vm": vm, "destinationHost": dst, "dryRun": true}), http.StatusConflict)
	var got struct {
		Phase string `json:"phase"`
		Steps []struct {
			Name, State string
		} `json:"steps"`
	}
	// The move runs in lab time; wait for its run in process, then read it
	// as a client would.
	if _, err := h.mob.WaitMigration(context.Background(), m.ID); err != nil {
		t.Fatal(err)
	}
	got = getJSON[struct {
		Phase string `json:"phase"`
		Steps []struct {
			Name, State string
		} `json:"steps"`
	}](t, h, "/v1/migrations/"+m.ID)
	if got.Phase != "succeeded" || len(got.Steps) != 4 {
		t.Fatalf("migration %+v", got)
	}
	after := getJSON[struct {
		Host   string `json:"host"`
		Vports []struct {
			WWPN     string `json:"wwpn"`
			Active   bool   `json:"active"`
			LoggedIn bool   `json:"loggedIn"`
		} `json:"vports"`
	}](t, h, "/v1/vms/"+vm)
	if after.Host != dst {
		t.Fatalf("vm on %s after the move, want %s", after.Host, dst)
	}
	for _, p := range after.Vports {
		if p.Active != p.LoggedIn {
			t.Fatalf("vport %s active %v but logged in %v", p.WWPN, p.Active, p.LoggedIn)
		}
	}
	topo := getJSON[struct {
		Paths []map[string]any `json:"paths"`
	}](t, h, "/v1/vms/"+vm+"/topology?verify=true")
	if len(topo.Paths) != len(before.Paths) || len(topo.Paths) == 0 {
		t.Fatalf("%d paths after the move, %d before", len(topo.Paths), len(before.Paths))
	}
}

// TestNULIdsAreNotFound: an id the store cannot hold names no object: 404,
// never a 5xx.
func TestNULIdsAreNotFound(t *testing.T) {
	h := newHarness(t)
	for _, c := range []struct{ method, path string }{
		{http.MethodGet, "/v1/migrations/%00"},
		{http.MethodPost, "/v1/migrations/%00/abort"},
		{http.MethodGet, "/v1/migrations/%00/events"},
		{http.MethodGet, "/v1/evacuations/%00"},
	} {
		wantProblem(t, h.do(server.RoleAdmin, c.method, c.path, nil), http.StatusNotFound)
	}
}

// TestComputeReportDetailIsBounded: a report's detail becomes the
// migration's error in every list; a huge one is refused (400).
func TestComputeReportDetailIsBounded(t *testing.T) {
	h := newHarness(t)
	p := wantProblem(t, h.do(server.RoleAdmin, http.MethodPost, "/v1/migrations/nope/compute", map[string]any{"state": "failed", "detail": strings.Repeat("x", 5000)}), http.StatusBadRequest)
	if !strings.Contains(p.Detail, "detail") {
		t.Fatalf("problem %+v does not name the field", p)
	}
}

// TestMigrationsPage: the migration list pages like the others: limit and
// a continue token, oldest first; a bad limit is 400.
func TestMigrationsPage(t *testing.T) {
	h := newHarness(t)
	op := server.RoleOperator
	for _, vm := range []string{"east-vm002", "east-vm003", "east-vm004"} {
		wantJSON[map[string]any](t, h.do(op, http.MethodPost, "/v1/migrations", map[string]any{"vm": vm, "destinationHost": otherEastHost(t, h, vm)}), http.StatusCreated)
	}
	type pageOf struct {
		Items    []struct{ ID, VM string } `json:"items"`
		Continue string                    `json:"continue"`
	}
	first := getJSON[pageOf](t, h, "/v1/migrations?limit=2")
	if len(first.Items) != 2 || first.Continue == "" {
		t.Fatalf("first page %+v", first)
	}
	rest := getJSON[pageOf](t, h, "/v1/migrations?limit=2&continue="+first.Continue)
	if len(rest.Items) != 1 || rest.Continue != "" || rest.Items[0].ID <= first.Items[1].ID {
		t.Fatalf("second page %+v after %+v", rest, first)
	}
	wantProblem(t, h.do(server.RoleViewer, http.MethodGet, "/v1/migrations?limit=0", nil), http.StatusBadRequest)
}
