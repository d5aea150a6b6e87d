package mobility

import (
	"context"
	"testing"
)

// BenchmarkTopology is the core of GET /v1/vms/{id}/topology: the walk from
// the observed model and the JSON the server writes for it.
func BenchmarkTopology(b *testing.B) {
	h := newHarness(&testing.T{}, nil)
	ids := []string{}
	for _, v := range h.svc.VMs(VMFilter{}) {
		ids = append(ids, v.ID)
	}
	ctx := context.Background()
	i := 0
	buf := make([]byte, 0, 16<<10)
	b.ReportAllocs()
	for b.Loop() {
		t, err := h.svc.Topology(ctx, ids[i%len(ids)], false)
		if err != nil || t.Source != "model" {
			b.Fatal(err, t.Source)
		}
		if _, err := t.AppendJSON(buf[:0]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
