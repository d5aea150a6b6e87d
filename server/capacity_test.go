package server_test

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/mobility"
	"github.com/sanmob/sanmob/server"
	"github.com/sanmob/sanmob/thin"
)

// labPool is one of the lab's pools as its array reports it now.
func labPool(t *testing.T, h *harness, id string) array.Pool {
	t.Helper()
	for _, a := range h.world.Arrays() {
		ps, err := a.Array.Pools(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			if p.ID == id {
				return p
			}
		}
	}
	t.Fatalf("the lab has no pool %s", id)
	return array.Pool{}
}

// maxCeiling is the most any of the lab's pools could hold of a thin volume.
func maxCeiling(t *testing.T, h *harness) int64 {
	t.Helper()
	var c int64
	for _, a := range h.world.Arrays() {
		ps, err := a.Array.Pools(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			c = max(c, thin.Ceiling(p, true))
		}
	}
	return c
}

// wantNumbers checks that a 507's detail says the numbers thin decided by.
func wantNumbers(t *testing.T, p problem, requested int64, pool array.Pool) {
	t.Helper()
	if !strings.HasSuffix(p.Type, "/no-capacity") {
		t.Errorf("type %q, want .../no-capacity", p.Type)
	}
	for _, n := range []string{
		fmt.Sprintf("pool %s", pool.ID),
		fmt.Sprintf("cannot take %d more bytes thin", requested),
		fmt.Sprintf("%d provisioned of %d physical", pool.ProvisionedBytes, pool.PhysicalBytes),
		fmt.Sprintf("%d%% reserved", pool.ReservedPercent),
		fmt.Sprintf("max overcommit %g", pool.MaxOvercommit),
		fmt.Sprintf("room for %d bytes", thin.Room(pool, true)),
	} {
		if !strings.Contains(p.Detail, n) {
			t.Errorf("detail %q does not say %q", p.Detail, n)
		}
	}
}

// wantSizeInvalid checks a 400 that names sizeBytes.
func wantSizeInvalid(t *testing.T, r *response) {
	t.Helper()
	p := wantProblem(t, r, http.StatusBadRequest)
	if len(p.InvalidParams) != 1 || p.InvalidParams[0].Name != "sizeBytes" || !strings.Contains(p.InvalidParams[0].Reason, "could ever hold") {
		t.Errorf("%v: want invalid-params on sizeBytes saying no pool could ever hold it", r)
	}
}

// TestVolumeAdmissionOverREST: thin admits creates and expands before an
// array is asked. Past a pool's room: 507 with the numbers in the detail,
// nothing changed; past what any pool could ever hold: 400 on sizeBytes.
func TestVolumeAdmissionOverREST(t *testing.T) {
	h := newHarness(t)
	const pool = "east-arr1-pool1"
	p := labPool(t, h, pool)
	room := thin.Room(p, true)

	t.Run("create past the pool's room", func(t *testing.T) {
		r := h.do(server.RoleCSI, http.MethodPost, "/v1/volumes", map[string]any{"name": "full", "sizeBytes": room + 1, "pool": pool})
		wantNumbers(t, wantProblem(t, r, http.StatusInsufficientStorage), room+1, p)
		if got := labPool(t, h, pool).ProvisionedBytes; got != p.ProvisionedBytes {
			t.Errorf("provisioned %d after a refusal, want %d", got, p.ProvisionedBytes)
		}
	})
	t.Run("create more than any pool could hold", func(t *testing.T) {
		wantSizeInvalid(t, h.do(server.RoleCSI, http.MethodPost, "/v1/volumes", map[string]any{"name": "huge", "sizeBytes": maxCeiling(t, h) + 1}))
	})

	v := wantJSON[map[string]any](t, h.do(server.RoleCSI, http.MethodPost, "/v1/volumes", map[string]any{"name": "grows", "sizeBytes": 1 << 30, "pool": pool}), http.StatusCreated)
	id, _ := v["id"].(string)
	p = labPool(t, h, pool)
	room = thin.Room(p, true)

	t.Run("expand past the pool's room", func(t *testing.T) {
		r := h.do(server.RoleCSI, http.MethodPatch, "/v1/volumes/"+id, map[string]any{"sizeBytes": (1 << 30) + room + 1})
		wantNumbers(t, wantProblem(t, r, http.StatusInsufficientStorage), room+1, p)
		if got := getJSON[map[string]any](t, h, "/v1/volumes/"+id)["sizeBytes"]; got != float64(1<<30) {
			t.Errorf("size %v after a refused expand, want %d", got, 1<<30)
		}
		if got := labPool(t, h, pool).ProvisionedBytes; got != p.ProvisionedBytes {
			t.Errorf("provisioned %d after a refused expand, want %d", got, p.ProvisionedBytes)
		}
	})
	t.Run("expand more than its pool could hold", func(t *testing.T) {
		wantSizeInvalid(t, h.do(server.RoleCSI, http.MethodPatch, "/v1/volumes/"+id, map[string]any{"sizeBytes": thin.Ceiling(p, true) + 1}))
	})
	t.Run("expand to exactly the room", func(t *testing.T) {
		got := wantJSON[map[string]any](t, h.do(server.RoleCSI, http.MethodPatch, "/v1/volumes/"+id, map[string]any{"sizeBytes": (1 << 30) + room}), http.StatusOK)
		if got["sizeBytes"] != float64((1<<30)+room) {
			t.Errorf("expanded to %v, want %d", got["sizeBytes"], (1<<30)+room)
		}
	})
}

// TestThickPastFull: a thick volume that would take its pool's used bytes
// past the full threshold (90 %) is refused with 507 and the numbers, even
// though the pool's free physical space could take it.
func TestThickPastFull(t *testing.T) {
	h := newHarness(t)
	ps, err := h.world.Arrays()[0].Array.Pools(context.Background())
	if err != nil || len(ps) == 0 {
		t.Fatalf("lab pools: %v %v", ps, err)
	}
	p := ps[0]
	size := int64(0.9*float64(p.PhysicalBytes)) - p.UsedBytes + 1
	if size <= 0 || size > thin.Room(p, false) {
		t.Fatalf("pool %+v: no size between 90 %% and its thick room %d", p, thin.Room(p, false))
	}
	r := h.do(server.RoleAdmin, http.MethodPost, "/v1/volumes", map[string]any{"name": "fat", "sizeBytes": size, "pool": p.ID, "thin": false})
	pr := wantProblem(t, r, http.StatusInsufficientStorage)
	if !strings.Contains(pr.Detail, "past the full threshold of 90%") || !strings.Contains(pr.Detail, fmt.Sprintf("cannot take %d more bytes thick", size)) {
		t.Fatalf("detail %q lacks the numbers", pr.Detail)
	}
	r = h.do(server.RoleAdmin, http.MethodPost, "/v1/volumes", map[string]any{"name": "fits", "sizeBytes": size - 1, "pool": p.ID, "thin": false})
	if r.Status != http.StatusCreated {
		t.Fatalf("up to 90 %%: %v", r)
	}
}

// TestVolumeSizePastAnyArray: a size past mobility.MaxVolumeBytes (2^53) is
// the client's mistake — a 400 on sizeBytes before thin admission runs, not
// a 507 saying no pool has the room (2^63-1 used to get one).
func TestVolumeSizePastAnyArray(t *testing.T) {
	h := newHarness(t)
	v := wantJSON[map[string]any](t, h.do(server.RoleCSI, http.MethodPost, "/v1/volumes", map[string]any{"name": "small", "sizeBytes": 1 << 30}), http.StatusCreated)
	id, _ := v["id"].(string)
	for _, n := range []int64{math.MaxInt64, mobility.MaxVolumeBytes + 1} {
		for _, r := range []*response{
			h.do(server.RoleCSI, http.MethodPost, "/v1/volumes", map[string]any{"name": "huge", "sizeBytes": n}),
			h.do(server.RoleCSI, http.MethodPatch, "/v1/volumes/"+id, map[string]any{"sizeBytes": n}),
		} {
			p := wantProblem(t, r, http.StatusBadRequest)
			if len(p.InvalidParams) != 1 || p.InvalidParams[0].Name != "sizeBytes" || !strings.Contains(p.InvalidParams[0].Reason, "larger than any volume") {
				t.Errorf("%v: want invalid-params on sizeBytes saying it is larger than any volume", r)
			}
		}
	}
	if got := getJSON[map[string]any](t, h, "/v1/volumes/"+id)["sizeBytes"]; got != float64(1<<30) {
		t.Errorf("size %v after refused expands, want %d", got, 1<<30)
	}
}
