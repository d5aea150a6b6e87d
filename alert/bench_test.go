package alert

// The figures of BENCHMARKS.md, "Issue 11 — alert delivery":
//
//	go test -run '^$' -bench 'Delivery' -benchtime 20x -count 3 ./alert/

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"k8s.io/utils/clock"
)

// BenchmarkDeliveryLatency: from Set (a threshold crossing) to the webhook
// receiver holding the notification, over loopback, with the Manager's state
// in a store on disk (synced writes), one alert at a time; with the group
// wait at its default and at 0.
func BenchmarkDeliveryLatency(b *testing.B) {
	for _, gw := range []time.Duration{DefaultGroupWait, 0} {
		b.Run(fmt.Sprintf("groupWait=%v", gw), func(b *testing.B) {
			r := newReceiver(b)
			defer r.Close()
			st := openStore(b, b.TempDir())
			defer st.Close()
			m := NewManager(clock.RealClock{}, 0)
			if err := m.Restore(st, quiet()); err != nil {
				b.Fatal(err)
			}
			d, err := NewDelivery(m, DeliveryConfig{Webhooks: []string{r.URL}, GroupWait: gw, Log: quiet()})
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); _ = d.Run(ctx) }()
			defer func() { cancel(); <-done }()
			// One alert first, untimed: a receiver that starts after it
			// fired gets it at once, without the group wait.
			m.Set(drift("warm-up"), nil, true)
			<-r.msgs
			var lat []time.Duration
			b.ResetTimer()
			for i := range b.N {
				t0 := time.Now()
				m.Set(drift(fmt.Sprintf("f%d", i)), nil, true)
				select {
				case <-r.msgs:
				case <-time.After(30 * time.Second):
					b.Fatal("no notification in 30s")
				}
				lat = append(lat, time.Since(t0))
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[0].Microseconds())/1000, "min-ms")
			b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
		})
	}
}

// BenchmarkDeliveryOutage: the receiver answers 503 while 100 alerts fire
// and 100 resolve (200 changes, group wait 0, so no batching hides a loss),
// then comes back; every change must reach it. It reports the changes
// lost (must be 0) and the time from the receiver's return to the last
// change delivered. Lost counts the alerts whose resolution never arrived
// (waiting at most 60 s).
func BenchmarkDeliveryOutage(b *testing.B) {
	const alerts = 100
	for range b.N {
		r := newReceiver(b)
		r.msgs = make(chan WebhookMessage, 4*alerts)
		st := openStore(b, b.TempDir())
		m := NewManager(clock.RealClock{}, 0)
		if err := m.Restore(st, quiet()); err != nil {
			b.Fatal(err)
		}
		d, err := NewDelivery(m, DeliveryConfig{Webhooks: []string{r.URL}, Log: quiet(),
			MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
		if err != nil {
			b.Fatal(err)
		}
		r.status.Store(http.StatusServiceUnavailable)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = d.Run(ctx) }()
		for i := range alerts {
			m.Set(drift(fmt.Sprintf("f%d", i)), nil, true)
		}
		for i := range alerts {
			m.Set(drift(fmt.Sprintf("f%d", i)), nil, false)
		}
		back := time.Now()
		r.status.Store(0)
		// Each alert's last state is its resolution: wait for all of them
		// (an alert that fired and resolved during the outage comes once,
		// resolved, with both its times).
		resolved := map[string]bool{}
		timeout := time.After(60 * time.Second)
	wait:
		for len(resolved) < alerts {
			select {
			case msg := <-r.msgs:
				for _, a := range msg.Alerts {
					if a.Status == "resolved" && !a.EndsAt.IsZero() {
						resolved[a.Labels["fabric"]] = true
					}
				}
			case <-timeout:
				break wait
			}
		}
		drain := time.Since(back)
		lost := alerts - len(resolved)
		cancel()
		<-done
		r.Close()
		_ = st.Close()
		b.ReportMetric(float64(lost), "lost")
		b.ReportMetric(float64(drain.Microseconds())/1000, "drain-ms")
	}
}
