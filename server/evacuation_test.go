package server_test

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/sanmob/sanmob/server"
)

type apiEvacuation struct {
	ID               string   `json:"id"`
	Host             string   `json:"host"`
	DestinationHosts []string `json:"destinationHosts"`
	Mode             string   `json:"mode"`
	MaxParallel      int      `json:"maxParallel"`
	Phase            string   `json:"phase"`
	Migrations       []struct {
		VM              string   `json:"vm"`
		DestinationHost string   `json:"destinationHost"`
		Migration       string   `json:"migration"`
		State           string   `json:"state"`
		Reasons         []string `json:"reasons"`
	} `json:"migrations"`
	Progress struct {
		Done        int   `json:"done"`
		Total       int   `json:"total"`
		BytesCopied int64 `json:"bytesCopied"`
		BytesTotal  int64 `json:"bytesTotal"`
	} `json:"progress"`
}

// TestEvacuations: POST /v1/evacuations answers 201 with the evacuation
// (each VM of the host with its destination, running), 409 while the host
// has one running, 400 for a bad spec, 404 for unknown hosts and ids, 403
// below operator; the moves run and GET shows the evacuation succeeded with
// every VM on a destination.
func TestEvacuations(t *testing.T) {
	h := newHarness(t)
	const host = "east-esx01"
	dests := []string{"east-esx02", "east-esx03", "east-esx04"}
	vms := getJSON[list[struct {
		ID string `json:"id"`
	}]](t, h, "/v1/vms?host="+host)
	if len(vms.Items) == 0 {
		t.Fatalf("no VMs on %s", host)
	}
	spec := map[string]any{"id": "drain-esx01", "host": host, "destinationHosts": dests, "maxParallel": 2}
	for _, role := range []server.Role{server.RoleViewer, server.RoleCSI} {
		wantProblem(t, h.do(role, http.MethodPost, "/v1/evacuations", spec), http.StatusForbidden)
	}
	wantProblem(t, h.do(noRole, http.MethodPost, "/v1/evacuations", spec), http.StatusUnauthorized)
	for _, bad := range []map[string]any{
		{"host": host},
		{"host": host, "destinationHosts": []string{}},
		{"host": host, "destinationHosts": []string{"east-esx02", "east-esx02"}},
		{"host": host, "destinationHosts": []string{host}},
		{"host": host, "destinationHosts": dests, "mode": "warp"},
		{"host": host, "destinationHosts": dests, "maxParallel": 65},
		{"host": host, "destinationHosts": dests, "maxParallel": -1},
		{"id": "Not An Id", "host": host, "destinationHosts": dests},
		{"host": host, "destinationHosts": dests, "surprise": true},
	} {
		wantProblem(t, h.do(server.RoleOperator, http.MethodPost, "/v1/evacuations", bad), http.StatusBadRequest)
	}
	wantProblem(t, h.do(server.RoleOperator, http.MethodPost, "/v1/evacuations", map[string]any{"host": "nope", "destinationHosts": dests}), http.StatusNotFound)
	wantProblem(t, h.do(server.RoleOperator, http.MethodPost, "/v1/evacuations", map[string]any{"host": host, "destinationHosts": []string{"nope"}}), http.StatusNotFound)
	if l := getJSON[list[apiEvacuation]](t, h, "/v1/evacuations"); len(l.Items) != 0 {
		t.Fatalf("refused requests left %d evacuations", len(l.Items))
	}

	r := h.do(server.RoleOperator, http.MethodPost, "/v1/evacuations", spec)
	e := wantJSON[apiEvacuation](t, r, http.StatusCreated)
	if loc := r.Header.Get("Location"); loc != "/v1/evacuations/drain-esx01" {
		t.Fatalf("Location %q", loc)
	}
	if e.ID != "drain-esx01" || e.Host != host || e.Phase != "running" || e.Mode != "live" || e.MaxParallel != 2 ||
		len(e.Migrations) != len(vms.Items) || e.Progress.Total != len(vms.Items) {
		t.Fatalf("created %+v", e)
	}
	for _, m := range e.Migrations {
		if !slices.Contains(dests, m.DestinationHost) || m.State != "pending" {
			t.Fatalf("move %+v: want pending to a destination", m)
		}
	}
	wantProblem(t, h.do(server.RoleAdmin, http.MethodPost, "/v1/evacuations", map[string]any{"host": host, "destinationHosts": dests}), http.StatusConflict)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := h.mob.WaitEvacuation(ctx, e.ID); err != nil {
		t.Fatal(err)
	}
	got := getJSON[apiEvacuation](t, h, "/v1/evacuations/"+e.ID)
	if got.Phase != "succeeded" || got.Progress.Done != len(vms.Items) || got.Progress.Total != len(vms.Items) {
		t.Fatalf("after the moves %+v", got)
	}
	for _, m := range got.Migrations {
		if m.State != "succeeded" || m.Migration == "" {
			t.Fatalf("move %+v", m)
		}
		if mg := getJSON[struct {
			Phase           string `json:"phase"`
			DestinationHost string `json:"destinationHost"`
		}](t, h, "/v1/migrations/"+m.Migration); mg.Phase != "succeeded" || mg.DestinationHost != m.DestinationHost {
			t.Fatalf("migration %s: %+v", m.Migration, mg)
		}
		if vm := getJSON[struct {
			Host string `json:"host"`
		}](t, h, "/v1/vms/"+m.VM); vm.Host != m.DestinationHost {
			t.Fatalf("vm %s on %s, want %s", m.VM, vm.Host, m.DestinationHost)
		}
	}
	l := getJSON[list[apiEvacuation]](t, h, "/v1/evacuations")
	if len(l.Items) != 1 || l.Items[0].ID != e.ID {
		t.Fatalf("list %+v", l)
	}
	// A viewer reads them; an unknown id is 404.
	wantJSON[apiEvacuation](t, h.get(server.RoleViewer, "/v1/evacuations/"+e.ID), http.StatusOK)
	wantProblem(t, h.get(server.RoleViewer, "/v1/evacuations/nope"), http.StatusNotFound)
	// The host is empty and no evacuation of it runs: a new one (with a
	// generated id, by admin) ends at once.
	again := wantJSON[apiEvacuation](t, h.do(server.RoleAdmin, http.MethodPost, "/v1/evacuations", map[string]any{"host": host, "destinationHosts": dests[:1]}), http.StatusCreated)
	if again.ID == "" || again.ID == e.ID || again.Phase != "succeeded" || again.Progress.Total != 0 || again.Migrations == nil {
		t.Fatalf("evacuating the empty host %+v", again)
	}
}
