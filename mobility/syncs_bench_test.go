package mobility

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/sanmob/sanmob/internal/loadgen"
	"github.com/sanmob/sanmob/lab"
)

// BenchmarkAttachSyncs is BenchmarkPublish's workload (500 fresh volumes
// attached to the 125 nodes of a one-site lab, 4 per node) with instant
// zone commits, once with one client and once with 50, between markers
// that a tracer can see: a stat of /sanmob-syncs-marker/<phase>-begin and
// -end. scripts/count-syncs.sh runs it under strace and counts the sync
// system calls between the markers, i.e. the synced store writes the
// attaches cost (the lab here keeps no journal, so every sync is the
// store's). It uses nothing but what the core had before the saga
// (bb634ca), so the same file measures both trees.
func BenchmarkAttachSyncs(b *testing.B) {
	for _, clients := range []int{1, 50} {
		b.Run(fmt.Sprint("clients-", clients), func(b *testing.B) {
			var perSec float64
			for range b.N {
				cfg := lab.Small()
				cfg.Sites, cfg.HostsPerSite, cfg.VMsPerSite = []string{"east"}, 25, 100
				cfg.CommitLatency, cfg.Speed = time.Nanosecond, 1
				h := newHarnessLab(b, cfg, nil)
				ctx := context.Background()
				hosts, err := h.world.Compute().Hosts(ctx)
				if err != nil {
					b.Fatal(err)
				}
				vms, err := h.world.Compute().VMs(ctx)
				if err != nil {
					b.Fatal(err)
				}
				var nodes []string
				for _, x := range hosts {
					nodes = append(nodes, x.ID)
				}
				for _, v := range vms {
					nodes = append(nodes, v.ID)
				}
				const publishes = 500
				vols := make([]string, publishes)
				for i := range vols {
					v, err := h.svc.CreateVolume(ctx, VolumeSpec{Name: fmt.Sprint("sync-", i), SizeBytes: 1 << 30})
					if err != nil {
						b.Fatal(err)
					}
					vols[i] = v.ID
				}
				phase := fmt.Sprintf("attach%d", clients)
				_, _ = os.Stat("/sanmob-syncs-marker/" + phase + "-begin")
				r, err := loadgen.Run(h.world.Clock(), publishes, clients, func(i int) error {
					_, err := h.svc.Attach(ctx, AttachmentSpec{Volume: vols[i], Node: nodes[i%len(nodes)]})
					return err
				})
				_, _ = os.Stat("/sanmob-syncs-marker/" + phase + "-end")
				if err != nil {
					b.Fatal(err)
				}
				perSec += r.PerSecond
			}
			b.ReportMetric(perSec/float64(b.N), "publishes/s")
		})
	}
}
