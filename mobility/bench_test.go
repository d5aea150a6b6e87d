package mobility

import (
	"context"
	"encoding/json"
	"io"
	"testing"
)

// BenchmarkTopology is the core of GET /v1/vms/{id}/topology: the walk from
// the observed model and the JSON encoding of its answer.
func BenchmarkTopology(b *testing.B) {
	h := newHarness(&testing.T{}, nil)
	ids := []string{}
	for _, v := range h.svc.VMs(VMFilter{}) {
		ids = append(ids, v.ID)
	}
	ctx := context.Background()
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		t, err := h.svc.Topology(ctx, ids[i%len(ids)], false)
		if err != nil || t.Source != "model" {
			b.Fatal(err, t.Source)
		}
		if err := json.NewEncoder(io.Discard).Encode(t); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
