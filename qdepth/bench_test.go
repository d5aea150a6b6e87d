package qdepth

import (
	"cmp"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkQueueDepthComparison runs every policy on the same scenarios and
// seeds and prints the figures of issue 12 (virtual time: deterministic).
// Run it with -benchtime 1x.
//
// Scenarios (scenario_test.go), on the disk and the flash profile: (a) two
// hosts, one VM each, shares 2:1, 60 periods; (b) six hosts with shares
// 2000, 1000, 1000, 500, 1500, 4000, then every 40 periods an event: h0's
// VM idles (2 outstanding), it returns, an uncontrolled host (fixed window
// 64) joins, it leaves, a 1000-share VM migrates in to h1, h5's, h4's and
// h3's VMs stop one by one. Policies (policies()): uncontrolled =
// Static{Depth: 100000}, static 32 and 64, ESXi adaptive (QFullSampleSize
// 32, QFullThreshold 4, Max 64, every 10 ms), Linux ramp (Max 64, every
// 10 ms), PARDA (α 0.002, γ 0.8, β 4 per 1000 shares on disk, 16 on
// flash), sanmob (Controller defaults, 𝓛 DiskThreshold or FlashThreshold).
//
// Columns: IOPS over the whole run relative to the uncontrolled run's;
// device latency (dispatch → completion) mean, p99, p99.9 over every I/O of
// the run; settled mean: the mean device latency over the second half of
// each segment (between events), averaged over segments; VM mean: the
// VM-observed latency; share err: over the second half of each segment,
// max over ordered pairs of controlled busy hosts of |(x_i/x_j)/(β_i/β_j)
// − 1| (β: the shares of a host's VMs present and keeping ≥ 8
// outstanding), the worst segment; Jain: Jain's index on x/β, the worst
// segment; QFULL/s over the run; reconvergence: per event, in periods, as
// reconvergence() defines it (— never within the segment).
func BenchmarkQueueDepthComparison(b *testing.B) {
	for range b.N {
		var scs []scenario
		for _, m := range []media{diskMedia(), flashMedia()} {
			scs = append(scs, twoToOne(m, 60), sixHosts(m, 40))
		}
		figs, err := runAll(scs, policies())
		if err != nil {
			b.Fatal(err)
		}
		for i, sc := range scs {
			b.Log(table(sc, policies(), figs[i]))
		}
	}
}

// runAll runs every policy on every scenario, GOMAXPROCS runs at a time
// (they are independent and deterministic), the longest first, and keeps
// only their figures: figs[scenario][policy].
func runAll(scs []scenario, cases []policyCase) ([][]metrics, error) {
	type job struct{ s, p int }
	var jobs []job
	figs := make([][]metrics, len(scs))
	for s := range scs {
		figs[s] = make([]metrics, len(cases))
		for p := range cases {
			jobs = append(jobs, job{s, p})
		}
	}
	// Longest first: the uncontrolled runs of the event scenarios (QUEUE
	// FULL storms), then by virtual completions.
	cost := func(j job) float64 {
		sc := scs[j.s]
		c := sc.cfg.Duration.Seconds() * sc.media.profile.IOPS()
		if j.p == 0 && len(sc.events) > 0 {
			c *= 10
		}
		return c
	}
	slices.SortStableFunc(jobs, func(a, b job) int { return cmp.Compare(cost(b), cost(a)) })
	errs := make([]error, len(jobs))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			r, err := runCase(scs[j.s], cases[j.p])
			if err != nil {
				errs[i] = err
				return
			}
			figs[j.s][j.p] = measure(scs[j.s], r)
		}()
	}
	wg.Wait()
	return figs, errors.Join(errs...)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/1e6) }

// table formats one scenario's figures; figs[0] is the uncontrolled
// reference.
func table(sc scenario, cases []policyCase, figs []metrics) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n### %s, %s back end (%.0f IOPS), 𝓛 %v, period %v, %d periods, port limit %d, %d I/Os outstanding per VM\n",
		sc.name, sc.media.profile.Name, sc.media.profile.IOPS(), sc.media.threshold, sc.cfg.Period,
		int(sc.cfg.Duration/sc.cfg.Period), sc.media.portLimit, sc.media.outstanding)
	var evs []string
	for _, e := range sc.events {
		evs = append(evs, e.Name)
	}
	fmt.Fprintf(&sb, "| policy | IOPS vs uncontrolled | device mean / p99 / p99.9 ms | settled mean ms | VM mean ms | share err | Jain | QFULL/s | reconvergence (periods) %s |\n|---|---|---|---|---|---|---|---|---|\n", strings.Join(evs, ", "))
	ref := figs[0].iops
	for i, pc := range cases {
		m := figs[i]
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
