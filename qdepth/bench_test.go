package qdepth

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// BenchmarkQueueDepthComparison runs every policy on the same scenarios and
// seeds and prints the figures of issue 12 (virtual time: deterministic).
// Run it with -benchtime 1x.
func BenchmarkQueueDepthComparison(b *testing.B) {
	for range b.N {
		for _, m := range []media{diskMedia(), flashMedia()} {
			for _, sc := range []scenario{twoToOne(m, 60), sixHosts(m, 40)} {
				b.Log(table(b, sc))
			}
		}
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/1e6) }

func table(b *testing.B, sc scenario) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n### %s, %s back end (%.0f IOPS), 𝓛 %v, period %v, %d periods, port limit %d, %d I/Os outstanding per VM\n",
		sc.name, sc.media.profile.Name, sc.media.profile.IOPS(), sc.media.threshold, sc.cfg.Period,
		int(sc.cfg.Duration/sc.cfg.Period), sc.media.portLimit, sc.media.outstanding)
	var evs []string
	for _, e := range sc.events {
		evs = append(evs, e.Name)
	}
	fmt.Fprintf(&sb, "| policy | IOPS vs uncontrolled | device mean / p99 / p99.9 ms | settled mean ms | VM mean ms | share err | Jain | QFULL/s | reconvergence (periods) %s |\n|---|---|---|---|---|---|---|---|---|\n", strings.Join(evs, ", "))
	var ref float64
	for _, pc := range policies() {
		r, err := runCase(sc, pc)
		if err != nil {
			b.Fatal(err)
		}
		m := measure(sc, r)
		if pc.name == "uncontrolled" {
			ref = m.iops
		}
		var rc []string
		for _, k := range m.reconverge {
			if k < 0 {
				rc = append(rc, "—")
			} else {
				rc = append(rc, fmt.Sprint(k))
			}
		}
		fmt.Fprintf(&sb, "| %s | %.4f | %s / %s / %s | %s | %s | %.3f | %.4f | %.1f | %s |\n", pc.name, m.iops/ref,
			ms(m.dev.Mean), ms(m.dev.P99), ms(m.dev.P999), ms(m.settledMeanDev), ms(m.vmMean), m.shareErr, m.jain, m.qfullPerSec, strings.Join(rc, " "))
	}
	return sb.String()
}
