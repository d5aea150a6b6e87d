package main

import (
	"net/http"
	"slices"
	"testing"
	"time"
)

type migrationJSON struct {
	ID    string `json:"id"`
	Phase string `json:"phase"`
	Error string `json:"error"`
	Steps []struct {
		Name  string `json:"name"`
		State string `json:"state"`
	} `json:"steps"`
}

// runningStep is the name of the step a migration is in, "" when none.
func (m migrationJSON) runningStep() string {
	for _, s := range m.Steps {
		if s.State == "running" {
			return s.Name
		}
	}
	return ""
}

// TestKillDuringColdCrossSiteMove: the third "done when". A cold
// cross-site move is under way — its replication copying, or its cutover
// with the VM powered off — when sanmobd is killed with SIGKILL. After the
// restart the move ends in a terminal phase from its saga record, and every
// invariant holds on the devices themselves: no WWPN logged in twice, no
// volume writable at two sites, no zone missing or orphaned, and the VM's
// storage writable at exactly one site, the one its record names.
func TestKillDuringColdCrossSiteMove(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, step string
		fault      map[string]any
	}{
		// Replication over the link is slowed: the kill lands while the
		// group is being set up.
		{"replicating", "replicate", map[string]any{"target": "link:east-west", "op": "replicate", "rate": 1, "latencyMs": 20000}},
		// The hypervisor's move is slowed: the kill lands in the cutover,
		// the VM powered off and its storage handed over.
		{"cutover", "cutover", map[string]any{"target": "west-esx03", "op": "move", "rate": 1, "latencyMs": 30000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			killDuringColdMove(t, "east-vm006", tc.step, tc.fault)
		})
	}
}

func killDuringColdMove(t *testing.T, vm, killStep string, fault map[string]any) {
	dataDir := t.TempDir()
	d := startDaemon(t, dataDir)
	d.call(http.MethodPost, "/v1/lab/faults", fault, http.StatusCreated, nil)
	var m migrationJSON
	d.call(http.MethodPost, "/v1/migrations", map[string]any{"vm": vm, "destinationHost": "west-esx03", "mode": "cold"}, http.StatusCreated, &m)
	deadline := time.Now().Add(60 * time.Second)
	for {
		d.call(http.MethodGet, "/v1/migrations/"+m.ID, nil, http.StatusOK, &m)
		if m.runningStep() == killStep {
			break
		}
		if m.Phase != "running" || time.Now().After(deadline) {
			t.Fatalf("the move did not reach its copy: %+v", m)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("killed during step %s", m.runningStep())
	d.kill()

	d2 := startDaemon(t, dataDir)
	d2.call(http.MethodDelete, "/v1/lab/faults", nil, http.StatusNoContent, nil)
	deadline = time.Now().Add(2 * time.Minute)
	for {
		d2.call(http.MethodGet, "/v1/migrations/"+m.ID, nil, http.StatusOK, &m)
		if m.Phase == "succeeded" || m.Phase == "rolled-back" || m.Phase == "failed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not over two minutes after the restart: %+v", m)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("after the restart the move ended %s %s", m.Phase, m.Error)
	if m.Phase == "failed" {
		t.Fatalf("the move failed and needs a person: %s", m.Error)
	}
	var rec struct {
		Host    string                  `json:"host"`
		Site    string                  `json:"site"`
		Vports  []struct{ WWPN string } `json:"vports"`
		Volumes []struct{ ID string }   `json:"volumes"`
	}
	d2.call(http.MethodGet, "/v1/vms/"+vm, nil, http.StatusOK, &rec)
	wantSite := "east"
	if m.Phase == "succeeded" {
		wantSite = "west"
	}
	if rec.Site != wantSite {
		t.Errorf("vm record at site %s after a move that %s", rec.Site, m.Phase)
	}
	// Logins: each of the VM's WWPNs at most once, on its site's fabrics.
	seen := map[string]string{}
	for _, f := range []string{"east-a", "east-b", "west-a", "west-b"} {
		var logins struct {
			Items []struct{ WWPN string } `json:"items"`
		}
		d2.call(http.MethodGet, "/v1/lab/fabrics/"+f+"/logins", nil, http.StatusOK, &logins)
		for _, l := range logins.Items {
			if !slices.ContainsFunc(rec.Vports, func(v struct{ WWPN string }) bool { return v.WWPN == l.WWPN }) {
				continue
			}
			if prev, ok := seen[l.WWPN]; ok {
				t.Errorf("%s is logged in on %s and %s", l.WWPN, prev, f)
			}
			seen[l.WWPN] = f
			if f[:4] != wantSite {
				t.Errorf("%s is logged in on %s, the VM is at %s", l.WWPN, f, wantSite)
			}
		}
		d2.requireNoZoneDrift(t, f)
	}
	// Writable: each of the VM's volumes at exactly one site, its own.
	writable := map[string][]string{}
	for _, a := range []string{"east-arr1", "west-arr1"} {
		var maps struct {
			Items []struct {
				Volume   string `json:"volume"`
				Writable bool   `json:"writable"`
			} `json:"items"`
		}
		d2.call(http.MethodGet, "/v1/lab/arrays/"+a+"/mappings", nil, http.StatusOK, &maps)
		for _, mp := range maps.Items {
			if mp.Writable && !slices.Contains(writable[mp.Volume], a) {
				writable[mp.Volume] = append(writable[mp.Volume], a)
			}
		}
	}
	for _, v := range rec.Volumes {
		if w := writable[v.ID]; len(w) != 1 || w[0][:4] != wantSite {
			t.Errorf("volume %s is writable at %v, want at %s only", v.ID, w, wantSite)
		}
	}
}

// TestExternalComputeProtocol: with --compute external sanmob prepares the
// storage, then waits (phase waiting-compute) until the hypervisor manager
// reports the switch — here a cross-site live move, reported switched
// through the API as docs/compute-external.md says — and finishes.
func TestExternalComputeProtocol(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, t.TempDir(), "--compute", "external", "--compute-timeout", "1m")
	var m migrationJSON
	d.call(http.MethodPost, "/v1/migrations", map[string]any{"vm": "east-vm007", "destinationHost": "west-esx01"}, http.StatusCreated, &m)
	deadline := time.Now().Add(time.Minute)
	for m.Phase != "waiting-compute" {
		if m.Phase != "running" || time.Now().After(deadline) {
			t.Fatalf("the move never waited for the manager: %+v", m)
		}
		time.Sleep(10 * time.Millisecond)
		d.call(http.MethodGet, "/v1/migrations/"+m.ID, nil, http.StatusOK, &m)
	}
	if st := m.runningStep(); st != "cutover" {
		t.Fatalf("waiting for the manager in step %q, want cutover", st)
	}
	d.call(http.MethodPost, "/v1/migrations/"+m.ID+"/compute", map[string]any{"state": "switched"}, http.StatusOK, nil)
	for m.Phase != "succeeded" {
		if time.Now().After(deadline) || m.Phase == "rolled-back" || m.Phase == "failed" {
			t.Fatalf("after the report: %+v", m)
		}
		time.Sleep(10 * time.Millisecond)
		d.call(http.MethodGet, "/v1/migrations/"+m.ID, nil, http.StatusOK, &m)
	}
	var vm struct{ Host string }
	d.call(http.MethodGet, "/v1/vms/east-vm007", nil, http.StatusOK, &vm)
	if vm.Host != "west-esx01" {
		t.Fatalf("vm on %s after the switch", vm.Host)
	}
	// A report with nothing waiting is a conflict.
	d.call(http.MethodPost, "/v1/migrations/"+m.ID+"/compute", map[string]any{"state": "switched"}, http.StatusConflict, nil)
}
