package server_test

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sanmob/sanmob/server"
)

// TestPoolForecastAndHistory: once the thin watcher has sampled, a pool
// carries its forecast (with an explanation), its overcommit against the
// maximum and its reserve; its history answers with the samples, narrowed
// by since; a bad since is a 400 naming the parameter, an unknown pool a
// 404; the pool gauges are scraped.
func TestPoolForecastAndHistory(t *testing.T) {
	h := newHarness(t)
	pools := h.world.Arrays()[0]
	ps, err := pools.Array.Pools(context.Background())
	if err != nil || len(ps) == 0 {
		t.Fatalf("lab pools: %v %v", ps, err)
	}
	id := ps[0].ID
	var p struct {
		ReservedPercent        *int     `json:"reservedPercent"`
		OvercommitPercentOfMax *float64 `json:"overcommitPercentOfMax"`
		DaysToFull             *float64 `json:"daysToFull"`
		Forecast               *struct {
			Method      string  `json:"method"`
			R2          float64 `json:"r2"`
			Explanation string  `json:"explanation"`
		} `json:"forecast"`
	}
	if r := h.get(server.RoleViewer, "/v1/pools/"+id); r.Status != 200 || json.Unmarshal(r.Body, &p) != nil || p.Forecast != nil || p.ReservedPercent == nil || p.OvercommitPercentOfMax == nil {
		t.Fatalf("before any sample: %v", r)
	}
	if err := h.mob.Thin().Sample(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := h.get(server.RoleViewer, "/v1/pools/"+id)
	if r.Status != 200 || json.Unmarshal(r.Body, &p) != nil || p.Forecast == nil || !strings.Contains(p.Forecast.Explanation, "points of history") {
		t.Fatalf("after a sample: %v", r)
	}
	var hist struct {
		Items []struct {
			At               time.Time `json:"at"`
			UsedBytes        int64     `json:"usedBytes"`
			ProvisionedBytes int64     `json:"provisionedBytes"`
		} `json:"items"`
	}
	r = h.get(server.RoleViewer, "/v1/pools/"+id+"/history")
	if r.Status != 200 || json.Unmarshal(r.Body, &hist) != nil || len(hist.Items) != 1 || hist.Items[0].ProvisionedBytes != ps[0].ProvisionedBytes {
		t.Fatalf("history: %v", r)
	}
	future := url.QueryEscape(hist.Items[0].At.Add(time.Second).Format(time.RFC3339Nano))
	r = h.get(server.RoleViewer, "/v1/pools/"+id+"/history?since="+future)
	if r.Status != 200 || json.Unmarshal(r.Body, &hist) != nil || len(hist.Items) != 0 {
		t.Fatalf("history since after the sample: %v", r)
	}
	pr := wantProblem(t, h.get(server.RoleViewer, "/v1/pools/"+id+"/history?since=yesterday"), 400)
	if len(pr.InvalidParams) != 1 || pr.InvalidParams[0].Name != "since" {
		t.Fatalf("bad since: %+v", pr)
	}
	wantProblem(t, h.get(server.RoleViewer, "/v1/pools/nope/history"), 404)
	m := string(h.get(noRole, "/metrics").Body)
	for _, want := range []string{`sanmob_pool_overcommit_ratio{array="` + pools.ID + `",pool="` + id + `"}`, `sanmob_pool_overcommit_percent_of_max{`, `sanmob_pool_max_overcommit_ratio{`} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
