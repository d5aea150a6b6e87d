package fabric_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/internal/loadgen"
	"github.com/sanmob/sanmob/lab"
)

// BenchmarkGroupCommit: 200 concurrent Ensure calls, each a new initiator
// to 2 targets on both fabrics of a site, against lab switches whose commit
// takes 2 s of virtual time; group commit against one commit per request
// (Cinder's way) in the same run. Waits and totals are virtual seconds; the
// lab runs at 100x, so the serial mode takes ~8 s of real time.
func BenchmarkGroupCommit(b *testing.B) {
	const requests = 200
	for _, m := range []struct {
		name string
		mode fabric.Mode
	}{{"group", fabric.GroupCommit}, {"serial", fabric.Serial}} {
		b.Run(m.name, func(b *testing.B) {
			var commits, p50, p99, total float64
			for range b.N {
				r := newRig(b, lab.Config{Speed: 100, CommitLatency: 2 * time.Second}, fabric.ZonerConfig{Mode: m.mode})
				clk := r.w.Clock()
				start := clk.Now()
				res, err := loadgen.Run(clk, requests, requests, func(i int) error {
					return r.z.Ensure(context.Background(), fmt.Sprint("attach-", i), r.intents(1000+i, 2))
				})
				if err != nil {
					b.Fatal(err)
				}
				total += clk.Since(start).Seconds()
				p50 += res.P50.Seconds()
				p99 += res.P99.Seconds()
				commits += float64(r.commits()) / float64(len(r.sw))
			}
			n := float64(b.N)
			b.ReportMetric(commits/n, "commits/fabric")
			b.ReportMetric(p50/n, "p50-wait-s")
			b.ReportMetric(p99/n, "p99-wait-s")
			b.ReportMetric(total/n, "total-s")
		})
	}
}
