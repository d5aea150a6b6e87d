package main

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestKillDuringClaims: twelve zoning claims for foreign target ports (a
// vendor's array cabled into east's switches) run at once, the daemon is
// killed with SIGKILL while their commits are on the switches, and started
// again. Within a minute every claim has settled — resumed or undone from
// its saga record — and the switches agree: each claim's zones are there,
// no zone holds a foreign target that no claim explains, and no fabric has
// a missing or orphaned sanmob zone. Then every claim can be released, and
// nothing of them is left.
func TestKillDuringClaims(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	d := startDaemon(t, dataDir)
	targets := map[string]string{"east-a": "50:0a:09:81:00:00:0d:01", "east-b": "50:0a:09:82:00:00:0d:01"}
	for f, w := range targets {
		d.call(http.MethodPost, "/v1/lab/fabrics/"+f+"/logins", map[string]any{"wwpn": w, "wwnn": "50:0a:09:80:00:00:0d:00", "target": true}, http.StatusCreated, nil)
	}
	type claim struct{ key, ini string }
	var claims []claim
	for i := 1; i <= 4; i++ {
		var h struct {
			HBAs []struct{ WWPN string } `json:"hbas"`
		}
		host := fmt.Sprintf("east-esx%02d", i)
		d.call(http.MethodGet, "/v1/hosts/"+host, nil, http.StatusOK, &h)
		for j, b := range h.HBAs {
			// Two volumes on each HBA: two claims share each zone.
			for v := range 2 {
				claims = append(claims, claim{key: fmt.Sprintf("vol-%d-%d-%d/%s", i, j, v, host), ini: b.WWPN})
			}
		}
	}
	tgts := []string{targets["east-a"], targets["east-b"]}
	// Slow the commits down, so that the kill lands while they run.
	// (Virtual milliseconds: the lab runs 60 times real time.)
	for f := range targets {
		d.call(http.MethodPost, "/v1/lab/faults", map[string]any{"target": f, "op": "commit", "rate": 0.5, "latencyMs": 6000}, http.StatusCreated, nil)
	}
	var wg sync.WaitGroup
	answered := make(chan int, len(claims))
	for _, c := range claims {
		wg.Go(func() {
			st, _, _ := d.request(http.MethodPut, "/v1/zoning/claims/kill.test.example/"+c.key, d.token,
				map[string]any{"initiators": []string{c.ini}, "targets": tgts})
			answered <- st
		})
	}
	<-answered
	d.kill()
	wg.Wait()
	close(answered)
	acked := 1
	for st := range answered {
		if st == http.StatusCreated {
			acked++
		}
	}
	t.Logf("%d of %d claims were answered before the kill", acked, len(claims))
	if acked == len(claims) {
		t.Fatal("the kill came after every claim had finished: the test proved nothing")
	}

	d2 := startDaemon(t, dataDir)
	type claimJSON struct {
		Key   string `json:"key"`
		State string `json:"state"`
		Zones []struct {
			Fabric, Name string
			Members      []string
		} `json:"zones"`
	}
	var list struct {
		Items []claimJSON `json:"items"`
	}
	start := time.Now()
	for {
		d2.call(http.MethodGet, "/v1/zoning/claims?owner=kill.test.example", nil, http.StatusOK, &list)
		if !slices.ContainsFunc(list.Items, func(c claimJSON) bool { return c.State == "pending" }) {
			break
		}
		if time.Since(start) > time.Minute {
			t.Fatalf("not settled a minute after the restart: %+v", list.Items)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("settled %v after the restart: %d of %d claims held", time.Since(start).Round(time.Millisecond), len(list.Items), len(claims))
	// The switches' own zone DBs: a zone with a foreign target exactly
	// where a claim says.
	onSwitch := func() map[string]bool {
		out := map[string]bool{}
		for f := range targets {
			var db struct {
				Zones []struct {
					Name    string   `json:"name"`
					Members []string `json:"members"`
				} `json:"zones"`
			}
			d2.call(http.MethodGet, "/v1/lab/fabrics/"+f+"/zonedb", nil, http.StatusOK, &db)
			for _, z := range db.Zones {
				if slices.ContainsFunc(z.Members, func(m string) bool { return slices.Contains(tgts, m) }) {
					out[f+"/"+z.Name] = true
				}
			}
		}
		return out
	}
	want := map[string]bool{}
	for _, c := range list.Items {
		if c.State != "ready" {
			t.Errorf("claim %s is %s after the restart", c.Key, c.State)
		}
		for _, z := range c.Zones {
			want[z.Fabric+"/"+z.Name] = true
		}
	}
	if got := onSwitch(); !mapsEqual(got, want) {
		t.Errorf("zones with the foreign targets on the switches %v, the claims say %v", got, want)
	}
	d2.requireNoZoneDrift(t, "east-a", "east-b")
	// Every claim (made or not) can be released; nothing of them is left.
	for _, c := range claims {
		d2.call(http.MethodDelete, "/v1/zoning/claims/kill.test.example/"+c.key, nil, http.StatusNoContent, nil)
	}
	if got := onSwitch(); len(got) != 0 {
		t.Errorf("zones left after every release: %v", got)
	}
}

func mapsEqual(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}
