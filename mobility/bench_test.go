package mobility

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/sanmob/sanmob/internal/loadgen"
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
	h := newHarnessLab(b, cfg, nil)
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

// BenchmarkPublish is ControllerPublishVolume's core: 500 attaches from 50
// concurrent clients, each a fresh volume to one of the site's hosts and
// VMs (about 4 per node), with the lab's zone commits instant and taking
// 2 s (the lab at 10x real time, so that the real cost of each attach —
// a synced store write among others — is not magnified much). Latencies
// are in the lab's virtual time; at 2 s a commit, group
// commit must keep p99 under 3 commits (6 s).
func BenchmarkPublish(b *testing.B) {
	for _, lat := range []time.Duration{0, 2 * time.Second} {
		b.Run(fmt.Sprint("commit-", lat), func(b *testing.B) {
			var perSec, p50, p99 float64
			for range b.N {
				cfg := lab.Small()
				cfg.Sites, cfg.HostsPerSite, cfg.VMsPerSite = []string{"east"}, 25, 100
				cfg.CommitLatency, cfg.Speed = lat, 10
				if lat == 0 {
					// 0 means the default; with no latency the lab runs at
					// real time, so the figures are real ones.
					cfg.CommitLatency, cfg.Speed = time.Nanosecond, 1
				}
				h := newHarnessLab(b, cfg, nil)
				ctx := context.Background()
				var nodes []string
				for _, x := range h.svc.Hosts(HostFilter{}) {
					nodes = append(nodes, x.ID)
				}
				for _, v := range h.svc.VMs(VMFilter{}) {
					nodes = append(nodes, v.ID)
				}
				const publishes, clients = 500, 50
				vols := make([]string, publishes)
				for i := range vols {
					v, err := h.svc.CreateVolume(ctx, VolumeSpec{Name: fmt.Sprint("pub-", i), SizeBytes: 1 << 30})
					if err != nil {
						b.Fatal(err)
					}
					vols[i] = v.ID
				}
				r, err := loadgen.Run(h.world.Clock(), publishes, clients, func(i int) error {
					_, err := h.svc.Attach(ctx, AttachmentSpec{Volume: vols[i], Node: nodes[i%len(nodes)]})
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
				perSec += r.PerSecond
				p50 += r.P50.Seconds()
				p99 += r.P99.Seconds()
			}
			n := float64(b.N)
			b.ReportMetric(perSec/n, "publishes/s")
			b.ReportMetric(p50/n, "p50-s")
			b.ReportMetric(p99/n, "p99-s")
		})
	}
}
