package inventory

import (
	"context"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/sanmob/sanmob/lab"
)

// BenchmarkTopology is the core of GET /v1/vms/{id}/topology: the walk from
// the observed model and the JSON the server writes for it, over the VMs in
// a random order (on the large lab, SANMOB_BENCH_LAB=large, most of a VM's
// records are then out of the CPU caches, as under real load). "kept"
// answers from the VMs' path tables, "traced" traces every answer afresh,
// as before path tables existed.
func BenchmarkTopology(b *testing.B) {
	cfg := lab.Small()
	if os.Getenv("SANMOB_BENCH_LAB") == "large" {
		cfg = lab.Large()
	}
	h := newHarness(b, cfg)
	ids := []string{}
	for _, v := range h.svc.VMs(VMFilter{}) {
		ids = append(ids, v.ID)
	}
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	ctx := context.Background()
	buf := make([]byte, 0, 16<<10)
	for _, kept := range []bool{true, false} {
		name := map[bool]string{true: "kept", false: "traced"}[kept]
		if kept {
			for _, id := range ids {
				if _, err := h.svc.Topology(ctx, id, false); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.Run(name, func(b *testing.B) {
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				id := ids[i%len(ids)]
				if !kept {
					h.svc.forgetPaths(id)
				}
				t, err := h.svc.Topology(ctx, id, false)
				if err != nil || t.Source != "model" {
					b.Fatal(err, t.Source)
				}
				if _, err := t.AppendJSON(buf[:0]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
