package main

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

type attachmentJSON struct {
	Volume    string `json:"volume"`
	Node      string `json:"node"`
	Array     string `json:"array"`
	LUN       int    `json:"lun"`
	HostGroup string `json:"hostGroup"`
	State     string `json:"state"`
	LastError string `json:"lastError"`
}

type labMappingJSON struct {
	Volume    string `json:"volume"`
	LUN       int    `json:"lun"`
	HostGroup string `json:"hostGroup"`
}

// TestKillDuring12Attaches: twelve attaches run at once, the daemon is
// killed with SIGKILL while they are on the devices, and started again.
// Within a minute of the restart every one of them has settled to attached
// or not attached — resumed or undone from its saga record — and the
// devices agree: each volume is masked exactly where an attachment says,
// and no fabric has a missing or orphaned sanmob zone.
func TestKillDuring12Attaches(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	d := startDaemon(t, dataDir)
	vols := make([]string, 12)
	nodes := make([]string, 12)
	for i := range vols {
		var v struct {
			ID string `json:"id"`
		}
		d.call(http.MethodPost, "/v1/volumes", map[string]any{"name": fmt.Sprintf("kill-%02d", i), "sizeBytes": 1 << 30, "site": "east"}, http.StatusCreated, &v)
		vols[i] = v.ID
		if i < 4 {
			nodes[i] = fmt.Sprintf("east-esx%02d", i+1)
		} else {
			nodes[i] = fmt.Sprintf("east-vm%03d", i-3)
		}
	}
	// Slow masking and commits down, so that the kill lands while the
	// attaches are on the devices.
	// (Virtual milliseconds: the lab runs 60 times real time.)
	d.call(http.MethodPost, "/v1/lab/faults", map[string]any{"target": "east-arr1", "op": "mask", "rate": 0.5, "latencyMs": 15000}, http.StatusCreated, nil)
	d.call(http.MethodPost, "/v1/lab/faults", map[string]any{"target": "east-a", "op": "commit", "rate": 0.5, "latencyMs": 6000}, http.StatusCreated, nil)
	var wg sync.WaitGroup
	answered := make(chan int, len(vols))
	for i := range vols {
		wg.Go(func() {
			// The answer may never come: the daemon dies under it.
			st, _, _ := d.request(http.MethodPost, "/v1/attachments", d.token, map[string]any{"volume": vols[i], "node": nodes[i]})
			answered <- st
		})
	}
	<-answered // the first is done: the others are on their way
	d.kill()
	wg.Wait()
	close(answered)
	acked := 1
	for st := range answered {
		if st == http.StatusCreated {
			acked++
		}
	}
	t.Logf("%d of 12 attaches were answered 201 before the kill", acked)
	if acked == len(vols) {
		t.Fatal("the kill came after every attach had finished: the test proved nothing")
	}

	d2 := startDaemon(t, dataDir)
	start := time.Now()
	var ats struct {
		Items []attachmentJSON `json:"items"`
	}
	for {
		d2.call(http.MethodGet, "/v1/attachments", nil, http.StatusOK, &ats)
		if !slices.ContainsFunc(ats.Items, func(a attachmentJSON) bool { return a.State != "attached" }) {
			break
		}
		if time.Since(start) > time.Minute {
			t.Fatalf("not settled a minute after the restart: %+v", ats.Items)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("settled %v after the restart: %d of 12 attached", time.Since(start).Round(time.Millisecond), countIn(ats.Items, vols))
	var maps struct {
		Items []labMappingJSON `json:"items"`
	}
	d2.call(http.MethodGet, "/v1/lab/arrays/east-arr1/mappings", nil, http.StatusOK, &maps)
	for _, vol := range vols {
		var want, got []string
		for _, a := range ats.Items {
			if a.Volume == vol {
				want = append(want, fmt.Sprintf("%s/%d", a.HostGroup, a.LUN))
			}
		}
		for _, m := range maps.Items {
			if m.Volume == vol {
				got = append(got, fmt.Sprintf("%s/%d", m.HostGroup, m.LUN))
			}
		}
		if !slices.Equal(want, got) {
			t.Errorf("volume %s: attachments say %v, east-arr1 maps %v", vol, want, got)
		}
	}
	d2.requireNoZoneDrift(t, "east-a", "east-b")
	// And every one of them can be attached now, and detached.
	for i, vol := range vols {
		d2.call(http.MethodPost, "/v1/attachments", map[string]any{"volume": vol, "node": nodes[i]}, http.StatusCreated, nil)
		d2.call(http.MethodDelete, "/v1/attachments/"+vol+"/"+nodes[i], nil, http.StatusNoContent, nil)
	}
	d2.call(http.MethodGet, "/v1/lab/arrays/east-arr1/mappings", nil, http.StatusOK, &maps)
	for _, m := range maps.Items {
		if slices.Contains(vols, m.Volume) || strings.HasPrefix(m.HostGroup, "sm-vm-") {
			t.Errorf("mapping left after every detach: %+v", m)
		}
	}
}

func countIn(ats []attachmentJSON, vols []string) int {
	n := 0
	for _, a := range ats {
		if slices.Contains(vols, a.Volume) {
			n++
		}
	}
	return n
}
