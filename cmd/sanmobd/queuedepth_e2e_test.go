package main

import (
	"net/http"
	"testing"
	"time"

	"github.com/sanmob/sanmob/mobility"
	"github.com/sanmob/sanmob/qdepth"
)

// TestLabQueueDepthsEndToEnd: on the daemon with the lab's host agents,
// the disk pool the unmanaged host floods gets congested — the hosts that
// follow sanmob are cut to the minimum depth and QueueCongestion fires for
// them — while a flash pool's LUNs stay calm at a larger depth.
func TestLabQueueDepthsEndToEnd(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, t.TempDir(), "--lab-speed", "60", "--queue-depth-period", "2s")
	deadline := time.Now().Add(60 * time.Second)
	for {
		var hot, calm mobility.HostQueueDepths
		d.call(http.MethodGet, "/v1/hosts/east-esx04/queue-depths", nil, http.StatusOK, &hot)
		d.call(http.MethodGet, "/v1/hosts/east-esx01/queue-depths", nil, http.StatusOK, &calm)
		var alerts struct {
			Items []struct {
				Status string            `json:"status"`
				Labels map[string]string `json:"labels"`
			} `json:"items"`
		}
		d.call(http.MethodGet, "/v1/alerts", nil, http.StatusOK, &alerts)
		firing := map[string]bool{}
		for _, a := range alerts.Items {
			if a.Labels["alertname"] == "QueueCongestion" && a.Status == "firing" {
				firing[a.Labels["host"]+"/"+a.Labels["volume"]] = true
			}
		}
		ok := len(hot.Items) > 0 && len(calm.Items) > 0
		for _, q := range hot.Items {
			ok = ok && q.Congested && q.LatencyMs != nil && *q.LatencyMs > 1.25*q.ThresholdMs && firing["east-esx04/"+q.Volume]
		}
		for _, c := range calm.Items {
			ok = ok && !c.Congested && c.LatencyMs != nil && *c.LatencyMs < c.ThresholdMs && c.ThresholdMs == float64(qdepth.FlashThreshold)/1e6 && !firing["east-esx01/"+c.Volume]
			for _, q := range hot.Items {
				ok = ok && c.QueueDepth > q.QueueDepth
			}
		}
		if ok {
			t.Logf("congested %+v\ncalm %+v", hot.Items[0], calm.Items[0])
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no congestion as expected:\nhot %+v\ncalm %+v\nalerts %+v", hot, calm, alerts.Items)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
