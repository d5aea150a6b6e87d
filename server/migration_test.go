package server_test

import (
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
// move may not run, and says plainly (501) that running one is not in this
// build yet.
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
	wantProblem(t, h.do(op, http.MethodPost, "/v1/migrations", map[string]any{"vm": vm.ID, "destinationHost": other}), http.StatusNotImplemented)
	wantProblem(t, h.do(op, http.MethodPost, "/v1/migrations", map[string]any{"vm": "nope", "destinationHost": other, "dryRun": true}), http.StatusNotFound)
	wantProblem(t, h.do(op, http.MethodPost, "/v1/migrations", map[string]any{"vm": vm.ID, "destinationHost": other, "mode": "warp", "dryRun": true}), http.StatusBadRequest)
	wantProblem(t, h.do(server.RoleViewer, http.MethodPost, "/v1/migrations", map[string]any{"vm": vm.ID, "destinationHost": other, "dryRun": true}), http.StatusForbidden)
}
