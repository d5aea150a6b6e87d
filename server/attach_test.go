package server_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/sanmob/sanmob/server"
)

type apiAttachment struct {
	Volume         string            `json:"volume"`
	Node           string            `json:"node"`
	NodeKind       string            `json:"nodeKind"`
	LUN            int               `json:"lun"`
	HostGroup      string            `json:"hostGroup"`
	Fabrics        []string          `json:"fabrics"`
	PublishContext map[string]string `json:"publishContext"`
}

type attachedMapping struct {
	Volume     string   `json:"volume"`
	LUN        int      `json:"lun"`
	Initiators []string `json:"initiators"`
}

// TestAttachOverREST: an attach shows up as a mapping on the lab array and
// as zones on the lab switches; a detach removes exactly what only it
// needed; everything a client can get wrong is a 4xx.
func TestAttachOverREST(t *testing.T) {
	h := newHarness(t)
	mk := func(name string) string {
		v := wantJSON[apiVolume](t, h.do(server.RoleCSI, http.MethodPost, "/v1/volumes", map[string]any{"name": name, "sizeBytes": 8 << 30, "site": "east"}), http.StatusCreated)
		return v.ID
	}
	v1, v2 := mk("rest-1"), mk("rest-2")
	zones := func() []string {
		var out []string
		for _, f := range []string{"east-a", "east-b"} {
			for _, z := range getJSON[labZoneDB](t, h, "/v1/lab/fabrics/"+f+"/zonedb").Zones {
				if strings.HasPrefix(z.Name, "sm_east-esx02_") {
					out = append(out, z.Name)
				}
			}
		}
		return out
	}
	mapped := func(vol string) []attachedMapping {
		var out []attachedMapping
		for _, m := range items(t, h.get(server.RoleAdmin, "/v1/lab/arrays/east-arr1/mappings")) {
			if m["volume"] == vol {
				out = append(out, attachedMapping{Volume: vol, LUN: int(m["lun"].(float64))})
			}
		}
		return out
	}
	before := zones()
	a1 := wantJSON[apiAttachment](t, h.do(server.RoleCSI, http.MethodPost, "/v1/attachments", map[string]any{"volume": v1, "node": "east-esx02"}), http.StatusCreated)
	if a1.NodeKind != "host" || a1.PublishContext["lun"] == "" || !strings.HasPrefix(a1.PublishContext["volumeWWN"], "naa.6") ||
		a1.PublishContext["fabrics"] != "east-a,east-b" {
		t.Fatalf("attachment %+v", a1)
	}
	if m := mapped(v1); len(m) != 1 || m[0].LUN != a1.LUN {
		t.Fatalf("array mappings of %s: %+v", v1, m)
	}
	withOne := zones()
	if len(withOne) != len(before)+4 {
		t.Fatalf("zones of east-esx02: %d before, %d after: want 4 more (2 HBAs × 2 target ports)", len(before), len(withOne))
	}
	wantJSON[apiAttachment](t, h.do(server.RoleCSI, http.MethodPost, "/v1/attachments", map[string]any{"volume": v2, "node": "east-esx02"}), http.StatusCreated)
	if got := zones(); !slices.Equal(got, withOne) {
		t.Fatalf("a second volume on the same host needs no new zone: %v vs %v", got, withOne)
	}
	// Detaching the first keeps the zones the second needs; the last takes them.
	if r := h.do(server.RoleCSI, http.MethodDelete, "/v1/attachments/"+v1+"/east-esx02", nil); r.Status != http.StatusNoContent {
		t.Fatalf("%v", r)
	}
	if m := mapped(v1); len(m) != 0 {
		t.Fatalf("mapping left: %+v", m)
	}
	if got := zones(); !slices.Equal(got, withOne) {
		t.Fatalf("zones after detaching one of two: %v", got)
	}
	if r := h.do(server.RoleCSI, http.MethodDelete, "/v1/attachments/"+v2+"/east-esx02", nil); r.Status != http.StatusNoContent {
		t.Fatalf("%v", r)
	}
	if got := zones(); !slices.Equal(got, before) {
		t.Fatalf("zones after the last detach: %v, want %v", got, before)
	}
	if r := h.do(server.RoleCSI, http.MethodDelete, "/v1/volumes/"+v1, nil); r.Status != http.StatusNoContent {
		t.Fatalf("%v", r)
	}

	bad := []struct {
		name   string
		role   server.Role
		method string
		path   string
		body   any
		status int
	}{
		{"unknown volume", server.RoleCSI, http.MethodPost, "/v1/attachments", map[string]any{"volume": "nope", "node": "east-esx02"}, http.StatusNotFound},
		{"unknown node", server.RoleCSI, http.MethodPost, "/v1/attachments", map[string]any{"volume": v2, "node": "nope"}, http.StatusNotFound},
		{"no node", server.RoleCSI, http.MethodPost, "/v1/attachments", map[string]any{"volume": v2}, http.StatusBadRequest},
		{"unknown field", server.RoleCSI, http.MethodPost, "/v1/attachments", map[string]any{"volume": v2, "node": "east-esx02", "lun": 3}, http.StatusBadRequest},
		{"other site", server.RoleCSI, http.MethodPost, "/v1/attachments", map[string]any{"volume": v2, "node": "west-esx01"}, http.StatusConflict},
		{"viewer", server.RoleViewer, http.MethodPost, "/v1/attachments", map[string]any{"volume": v2, "node": "east-esx02"}, http.StatusForbidden},
		{"operator", server.RoleOperator, http.MethodPost, "/v1/volumes", map[string]any{"name": "x", "sizeBytes": 1}, http.StatusForbidden},
		{"no size", server.RoleCSI, http.MethodPost, "/v1/volumes", map[string]any{"name": "x"}, http.StatusBadRequest},
		{"more than any pool could hold", server.RoleCSI, http.MethodPost, "/v1/volumes", map[string]any{"name": "x", "sizeBytes": int64(1) << 60}, http.StatusBadRequest},
		{"same name other size", server.RoleCSI, http.MethodPost, "/v1/volumes", map[string]any{"name": "rest-2", "sizeBytes": 1 << 30}, http.StatusConflict},
		{"shrink", server.RoleCSI, http.MethodPatch, "/v1/volumes/" + v2, map[string]any{"sizeBytes": 1 << 20}, http.StatusBadRequest},
		{"delete unknown", server.RoleCSI, http.MethodDelete, "/v1/volumes/nope", nil, http.StatusNotFound},
		{"detach unknown volume", server.RoleCSI, http.MethodDelete, "/v1/attachments/nope/east-esx02", nil, http.StatusNotFound},
		{"snapshot unknown volume", server.RoleOperator, http.MethodPost, "/v1/volumes/nope/snapshots", map[string]any{"name": "s"}, http.StatusNotFound},
		{"snapshot without name", server.RoleOperator, http.MethodPost, "/v1/volumes/" + v2 + "/snapshots", map[string]any{}, http.StatusBadRequest},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			wantProblem(t, h.with(t).do(tt.role, tt.method, tt.path, tt.body), tt.status)
		})
	}
	// Detaching what is not attached is fine.
	if r := h.do(server.RoleCSI, http.MethodDelete, "/v1/attachments/"+v2+"/east-esx03", nil); r.Status != http.StatusNoContent {
		t.Fatalf("%v", r)
	}
}

func TestVMSnapshotOverREST(t *testing.T) {
	h := newHarness(t)
	l := wantJSON[list[map[string]any]](t, h.do(server.RoleOperator, http.MethodPost, "/v1/vms/east-vm007/snapshots", map[string]any{"name": "before-upgrade"}), http.StatusCreated)
	if len(l.Items) != 2 {
		t.Fatalf("snapshots %+v: want one per volume (2)", l.Items)
	}
	group := l.Items[0]["group"]
	for _, sn := range l.Items {
		if sn["group"] != group || group == nil || group == "" {
			t.Fatalf("snapshots not in one group: %+v", l.Items)
		}
	}
}
