package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sanmob/sanmob/server"
)

type apiDarkStorage struct {
	Items []struct {
		Volume           string    `json:"volume"`
		Name             string    `json:"name"`
		Array            string    `json:"array"`
		Pool             string    `json:"pool"`
		ProvisionedBytes int64     `json:"provisionedBytes"`
		UsedBytes        int64     `json:"usedBytes"`
		DarkSince        time.Time `json:"darkSince"`
		Reason           string    `json:"reason"`
		Detail           string    `json:"detail"`
		HostGroups       []string  `json:"hostGroups"`
	} `json:"items"`
	Continue string `json:"continue"`
	Totals   struct {
		ProvisionedBytes int64 `json:"provisionedBytes"`
		UsedBytes        int64 `json:"usedBytes"`
		Volumes          int   `json:"volumes"`
	} `json:"totals"`
}

func (d apiDarkStorage) reason(volume string) (string, bool) {
	for _, it := range d.Items {
		if it.Volume == volume {
			return it.Reason, true
		}
	}
	return "", false
}

func TestDarkStorageReport(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	report := func(role server.Role, query string) apiDarkStorage {
		t.Helper()
		h.mob.Refresh(ctx)
		return wantJSON[apiDarkStorage](t, h.get(role, "/v1/reports/dark-storage"+query), http.StatusOK)
	}

	// The seeded world presents every volume to a VM of the inventory.
	if d := report(server.RoleViewer, ""); len(d.Items) != 0 || d.Totals.Volumes != 0 {
		t.Fatalf("dark storage in the seeded world: %+v", d)
	}

	// An unattached volume created through the API is dark: allocated,
	// presented to nothing.
	mk := func(name string) string {
		v := wantJSON[apiVolume](t, h.do(server.RoleCSI, http.MethodPost, "/v1/volumes", map[string]any{"name": name, "sizeBytes": 8 << 30, "site": "east"}), http.StatusCreated)
		return v.ID
	}
	lone, used := mk("dark-lone"), mk("dark-used")
	d := report(server.RoleViewer, "")
	if r, ok := d.reason(lone); !ok || r != "not-presented" {
		t.Fatalf("unattached volume %s: reason %q (listed %v) in %+v", lone, r, ok, d)
	}
	if d.Totals.Volumes != 2 || d.Totals.ProvisionedBytes != 2*8<<30 || len(d.Items) != 2 {
		t.Fatalf("totals %+v of %d items, want 2 volumes of 8 GiB", d.Totals, len(d.Items))
	}
	first := d.Items[0].DarkSince
	if first.IsZero() {
		t.Fatal("no darkSince")
	}

	// Attached to a host, it is not dark any more.
	wantJSON[apiAttachment](t, h.do(server.RoleCSI, http.MethodPost, "/v1/attachments", map[string]any{"volume": used, "node": "east-esx02"}), http.StatusCreated)
	d = report(server.RoleViewer, "")
	if _, ok := d.reason(used); ok {
		t.Fatalf("attached volume %s still dark: %+v", used, d)
	}
	if _, ok := d.reason(lone); !ok || d.Totals.Volumes != 1 {
		t.Fatalf("after the attach: %+v", d)
	}

	// A VM forgotten by the inventory leaves its volumes presented to
	// initiators nothing owns.
	if r := h.do(server.RoleAdmin, http.MethodDelete, "/v1/vms/east-vm003", nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete VM: %v", r)
	}
	d = report(server.RoleViewer, "")
	for _, vol := range []string{"east-vm003-d0", "east-vm003-d1"} {
		r, ok := d.reason(vol)
		if !ok || r != "orphaned-hosts" {
			t.Fatalf("volume %s of the deleted VM: reason %q (listed %v)", vol, r, ok)
		}
	}
	for _, it := range d.Items {
		if it.Volume == "east-vm003-d0" && (len(it.HostGroups) != 1 || it.HostGroups[0] != "east-vm003" || !strings.Contains(it.Detail, "east-vm003")) {
			t.Fatalf("orphaned item %+v, want host group east-vm003 named", it)
		}
		if it.Volume == lone && !it.DarkSince.Equal(first) {
			t.Fatalf("darkSince of %s moved from %v to %v", lone, first, it.DarkSince)
		}
	}
	if d.Totals.Volumes != 3 {
		t.Fatalf("totals %+v, want 3 volumes", d.Totals)
	}

	// Pages: limit and continue walk the list, the totals always of all.
	p1 := report(server.RoleViewer, "?limit=2")
	if len(p1.Items) != 2 || p1.Continue == "" || p1.Totals.Volumes != 3 {
		t.Fatalf("first page %+v", p1)
	}
	p2 := report(server.RoleViewer, "?limit=2&continue="+p1.Continue)
	if len(p2.Items) != 1 || p2.Continue != "" || p2.Items[0].Volume == p1.Items[1].Volume {
		t.Fatalf("second page %+v after %+v", p2, p1)
	}

	// Bad input is a 400 problem.
	for _, q := range []string{"?limit=0", "?limit=abc", "?limit=10001", "?continue=***", "?array=east-arr1", "?limt=5"} {
		p := wantProblem(t, h.get(server.RoleViewer, "/v1/reports/dark-storage"+q), http.StatusBadRequest)
		if len(p.InvalidParams) == 0 {
			t.Errorf("%s: problem %+v names no parameter", q, p)
		}
	}
	if r := h.get(noRole, "/v1/reports/dark-storage"); r.Status != http.StatusUnauthorized {
		t.Fatalf("without a token: %v", r)
	}
}
