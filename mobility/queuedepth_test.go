package mobility

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sanmob/sanmob/alert"
	"github.com/sanmob/sanmob/inventory"
)

// qdSamples is telemetry for each of a host's LUNs named in lat (ms),
// through every port sanmob knows for it, as the host would send it.
func qdSamples(t *testing.T, h *harness, host string, lat map[string]float64, iops, outstanding float64) []TelemetrySample {
	t.Helper()
	recs, err := h.svc.HostQueueDepths(context.Background(), host)
	if err != nil {
		t.Fatal(err)
	}
	var out []TelemetrySample
	for _, r := range recs.Items {
		l, ok := lat[r.Volume]
		if !ok {
			continue
		}
		if len(r.PreferredTargetPorts) == 0 {
			t.Fatalf("%s on %s: no ports", r.Volume, host)
		}
		for _, p := range r.PreferredTargetPorts {
			out = append(out, TelemetrySample{Host: host, Volume: r.Volume, TargetPortWWPN: p, At: h.world.Clock().Now(),
				IOPS: iops / float64(len(r.PreferredTargetPorts)), LatencyMs: l, Outstanding: outstanding / float64(len(r.PreferredTargetPorts))})
		}
	}
	if len(out) == 0 {
		t.Fatalf("no LUN of %s among %v", host, lat)
	}
	return out
}

func ingest(t *testing.T, h *harness, samples []TelemetrySample) {
	t.Helper()
	if _, err := h.svc.IngestTelemetry(context.Background(), "test", samples); err != nil {
		t.Fatal(err)
	}
}

func depthOf(t *testing.T, h *harness, host, volume string) QueueDepth {
	t.Helper()
	recs, err := h.svc.HostQueueDepths(context.Background(), host)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs.Items {
		if r.Volume == volume {
			return r
		}
	}
	t.Fatalf("%s has no queue depth for %s: %+v", host, volume, recs.Items)
	return QueueDepth{}
}

func firingCongestion(h *harness, host, volume string) (alert.Alert, bool) {
	for _, a := range h.svc.alerts.List() {
		l := a.Labels
		if l["alertname"] == alert.QueueCongestion && l["host"] == host && l["volume"] == volume && a.Status == "firing" {
			return a, true
		}
	}
	return alert.Alert{}, false
}

// TestCongestedLUNGetsALowerDepthAndAnAlert: of one VM's two disks on one
// host, the one whose telemetry says 90 ms against a 30 ms threshold ends
// below the calm one and raises QueueCongestion; calm telemetry resolves it.
func TestCongestedLUNGetsALowerDepthAndAnAlert(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	const host, hot, calm = "east-esx02", "east-vm002-d0", "east-vm002-d1"
	if d := depthOf(t, h, host, hot); d.Reason != "no-telemetry" || d.QueueDepth != 32 || d.ThresholdMs != 30 {
		t.Fatalf("before any telemetry: %+v", d)
	}
	for range 2 {
		ingest(t, h, qdSamples(t, h, host, map[string]float64{hot: 45, calm: 3}, 800, 60))
		h.svc.qd.step(ctx, false)
	}
	dh, dc := depthOf(t, h, host, hot), depthOf(t, h, host, calm)
	t.Logf("hot %+v\ncalm %+v", dh, dc)
	if dh.QueueDepth >= dc.QueueDepth || dh.QueueDepth >= 32 {
		t.Fatalf("congested LUN at depth %d, calm one at %d", dh.QueueDepth, dc.QueueDepth)
	}
	if !dh.Congested || dc.Congested || dh.LatencyMs == nil || *dh.LatencyMs != 45 {
		t.Fatalf("congested flags: hot %+v calm %+v", dh, dc)
	}
	// The preferred ports keep a path on each of the host's fabrics.
	fabricOf := map[string]string{}
	for _, a := range h.svc.Arrays() {
		for _, p := range a.TargetPorts {
			fabricOf[p.WWPN.String()] = p.Fabric
		}
	}
	for _, d := range []QueueDepth{dh, dc} {
		fabrics := map[string]bool{}
		for _, p := range d.PreferredTargetPorts {
			fabrics[fabricOf[p]] = true
		}
		if len(fabrics) != 2 {
			t.Errorf("%s: preferred ports %v are on fabrics %v, want both of the host's", d.Volume, d.PreferredTargetPorts, fabrics)
		}
	}
	a, ok := firingCongestion(h, host, hot)
	if !ok || a.Labels["severity"] != alert.Warning || a.Labels["pool"] != "east-arr1-pool2" || !strings.Contains(a.Annotations["summary"], "45.0 ms") {
		t.Fatalf("QueueCongestion for %s: %+v %v", hot, a, ok)
	}
	if _, ok := firingCongestion(h, host, calm); ok {
		t.Fatalf("QueueCongestion for the calm LUN")
	}
	// QUEUE FULL makes it critical.
	s := qdSamples(t, h, host, map[string]float64{hot: 45}, 800, 60)
	s[0].QFull = 40
	ingest(t, h, s)
	h.svc.qd.step(ctx, false)
	if a, ok := firingCongestion(h, host, hot); !ok || a.Labels["severity"] != alert.Critical {
		t.Fatalf("with QUEUE FULL: %+v %v", a, ok)
	}
	if d := depthOf(t, h, host, hot); d.QueueDepth > dh.QueueDepth/2+1 || d.Reason != "queue-full" {
		t.Fatalf("QUEUE FULL did not halve the depth: %+v after %d", d, dh.QueueDepth)
	}
	// Still congested but without QUEUE FULL: critical holds for the
	// hysteresis instead of flapping to warning at once.
	for i := range 3 {
		ingest(t, h, qdSamples(t, h, host, map[string]float64{hot: 45}, 800, 60))
		h.svc.qd.step(ctx, false)
		a, ok := firingCongestion(h, host, hot)
		want := alert.Critical
		if i == 2 {
			want = alert.Warning
		}
		if !ok || a.Labels["severity"] != want {
			t.Fatalf("period %d without QUEUE FULL: %+v %v, want %s", i+1, a.Labels, ok, want)
		}
	}
	// Calm again: resolved after the hysteresis, not at once.
	ingest(t, h, qdSamples(t, h, host, map[string]float64{hot: 5, calm: 3}, 800, 10))
	h.svc.qd.step(ctx, false)
	if _, ok := firingCongestion(h, host, hot); !ok {
		t.Fatal("resolved after a single calm period")
	}
	for range 4 {
		ingest(t, h, qdSamples(t, h, host, map[string]float64{hot: 5, calm: 3}, 800, 10))
		h.svc.qd.step(ctx, false)
	}
	if a, ok := firingCongestion(h, host, hot); ok {
		t.Fatalf("still firing after calm periods: %+v", a)
	}
}

// TestBadTelemetryIsRefusedNamingTheSample: each bad sample is a 400-class
// FieldError naming its index and field, and nothing of the batch counts.
func TestBadTelemetryIsRefusedNamingTheSample(t *testing.T) {
	h := newHarness(t, nil)
	good := qdSamples(t, h, "east-esx02", map[string]float64{"east-vm002-d0": 5}, 100, 4)[0]
	westPort := ""
	for _, a := range h.svc.Arrays() {
		if a.ID == "west-arr1" {
			westPort = a.TargetPorts[0].WWPN.String()
		}
	}
	cases := []struct {
		name  string
		edit  func(*TelemetrySample)
		field string
	}{
		{"negative latency", func(s *TelemetrySample) { s.LatencyMs = -1 }, "[1].latencyMs"},
		{"negative iops", func(s *TelemetrySample) { s.IOPS = -5 }, "[1].iops"},
		{"negative outstanding", func(s *TelemetrySample) { s.Outstanding = -1 }, "[1].outstanding"},
		{"negative qfull", func(s *TelemetrySample) { s.QFull = -1 }, "[1].qfull"},
		{"absurd latency", func(s *TelemetrySample) { s.LatencyMs = 1e9 }, "[1].latencyMs"},
		{"unknown host", func(s *TelemetrySample) { s.Host = "nope" }, "[1].host"},
		{"no host", func(s *TelemetrySample) { s.Host = "" }, "[1].host"},
		{"unknown volume", func(s *TelemetrySample) { s.Volume = "nope" }, "[1].volume"},
		{"bad wwpn", func(s *TelemetrySample) { s.TargetPortWWPN = "zz" }, "[1].targetPortWWPN"},
		{"unknown port", func(s *TelemetrySample) { s.TargetPortWWPN = "20:00:00:00:00:00:00:99" }, "[1].targetPortWWPN"},
		{"another array's port", func(s *TelemetrySample) { s.TargetPortWWPN = westPort }, "[1].targetPortWWPN"},
		{"no time", func(s *TelemetrySample) { s.At = time.Time{} }, "[1].at"},
		{"future", func(s *TelemetrySample) { s.At = s.At.Add(time.Hour) }, "[1].at"},
	}
	for _, c := range cases {
		bad := good
		c.edit(&bad)
		_, err := h.svc.IngestTelemetry(context.Background(), "test", []TelemetrySample{good, bad})
		var fe *inventory.FieldError
		if !errors.As(err, &fe) || fe.Field != c.field || !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want a FieldError on %s", c.name, err, c.field)
		}
	}
	// A volume the host has no VM on and no attachment to: refused.
	orphan, err := h.svc.CreateVolume(context.Background(), VolumeSpec{Name: "orphan", SizeBytes: 1 << 30, Pool: "east-arr1-pool2"})
	if err != nil {
		t.Fatal(err)
	}
	bad := good
	bad.Volume = orphan.ID
	var fe *inventory.FieldError
	if _, err := h.svc.IngestTelemetry(context.Background(), "test", []TelemetrySample{good, bad}); !errors.As(err, &fe) || fe.Field != "[1].volume" {
		t.Errorf("a volume not presented to the host: %v", err)
	}
	// A port of the right array that none of the host's paths to the
	// volume runs through: refused.
	paths := depthOf(t, h, "east-esx02", "east-vm002-d0").PreferredTargetPorts
	for _, a := range h.svc.Arrays() {
		for _, p := range a.TargetPorts {
			if a.ID == "east-arr1" && !slices.Contains(paths, p.WWPN.String()) {
				bad = good
				bad.TargetPortWWPN = p.WWPN.String()
			}
		}
	}
	if _, err := h.svc.IngestTelemetry(context.Background(), "test", []TelemetrySample{good, bad}); !errors.As(err, &fe) || fe.Field != "[1].targetPortWWPN" {
		t.Errorf("a port off the host's paths (%s; paths %v): %v", bad.TargetPortWWPN, paths, err)
	}
	// Another host's VM's volume, with no move behind it: refused.
	bad = good
	bad.Host = "east-esx04"
	if _, err := h.svc.IngestTelemetry(context.Background(), "test", []TelemetrySample{good, bad}); !errors.As(err, &fe) || fe.Field != "[1].volume" || !strings.Contains(fe.Reason, "east-vm002") {
		t.Errorf("a volume another host's VM uses: %v", err)
	}
	// Before the inventory has loaded: not ready (503), not a 400.
	h.svc.started.Store(false)
	_, err = h.svc.IngestTelemetry(context.Background(), "test", []TelemetrySample{good})
	_, gerr := h.svc.HostQueueDepths(context.Background(), "east-esx02")
	h.svc.started.Store(true)
	if !errors.Is(err, ErrNotReady) || !errors.Is(gerr, ErrNotReady) {
		t.Errorf("while loading: %v, %v", err, gerr)
	}
	if n := len(h.svc.qd.acc); n != 0 {
		t.Fatalf("refused batches left %d queues of telemetry", n)
	}
	if _, err := h.svc.IngestTelemetry(context.Background(), "test", nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("empty batch: %v", err)
	}
	h.svc.qd.cfg.MaxSamples = 2
	if _, err := h.svc.IngestTelemetry(context.Background(), "test", []TelemetrySample{good, good, good}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("3 samples past a limit of 2: %v", err)
	}
}

// TestTelemetryRatePerHost: a host past its burst gets RateLimitedError
// with the wait; another host is not held up; the bucket refills.
func TestTelemetryRatePerHost(t *testing.T) {
	h := newHarness(t, nil)
	now := time.Unix(1e9, 0)
	q := h.svc.qd
	q.cfg.HostRate, q.cfg.HostBurst, q.cfg.Wall = 1, 3, func() time.Time { return now }
	a := qdSamples(t, h, "east-esx02", map[string]float64{"east-vm002-d0": 5}, 100, 4)[0]
	b := qdSamples(t, h, "east-esx04", map[string]float64{"east-vm004-d0": 5}, 100, 4)[0]
	if _, err := h.svc.IngestTelemetry(context.Background(), "test", []TelemetrySample{a, a, a}); err != nil {
		t.Fatal(err)
	}
	_, err := h.svc.IngestTelemetry(context.Background(), "test", []TelemetrySample{a, a})
	var rl *RateLimitedError
	if !errors.As(err, &rl) || rl.Host != "east-esx02" || rl.RetryAfter != 2*time.Second || !errors.Is(err, ErrRateLimited) {
		t.Fatalf("past the burst: %v (%+v)", err, rl)
	}
	if _, err := h.svc.IngestTelemetry(context.Background(), "test", []TelemetrySample{b}); err != nil {
		t.Fatalf("another host: %v", err)
	}
	// Another sender naming the same host has a bucket of its own: a
	// flood in a host's name does not starve the host's agent.
	if _, err := h.svc.IngestTelemetry(context.Background(), "agent", []TelemetrySample{a, a}); err != nil {
		t.Fatalf("another sender: %v", err)
	}
	if c := h.svc.TelemetryCounts(); c["accepted"] != 6 || c["limited"] != 2 {
		t.Fatalf("counts %v", c)
	}
	now = now.Add(2 * time.Second)
	if _, err := h.svc.IngestTelemetry(context.Background(), "test", []TelemetrySample{a, a}); err != nil {
		t.Fatalf("after the wait: %v", err)
	}
}

// TestSharesFollowTheMigratedVM: a VM moved to another host carries its
// shares there in the cutover's own step (the source forgets it before
// any new period), and at the destination its LUNs' depths split the
// pool by shares — and by new shares after a PATCH, at the next period.
func TestSharesFollowTheMigratedVM(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	const vm, src, dst = "east-vm006", "east-esx02", "east-esx04"
	if _, err := h.svc.UpdateVM(vm, inventory.VMPatch{Shares: ptr(3000)}); err != nil {
		t.Fatal(err)
	}
	// Both hosts report; the VM runs on the source, where its disks
	// converge on a congested pool.
	other := "east-vm004-d0"
	for range 8 {
		diskPool(t, h, map[string][]string{src: {vm + "-d0", vm + "-d1", "east-vm002-d0"}, dst: {other}})
	}
	converged := depthOf(t, h, src, vm+"-d0").QueueDepth
	diskPool(t, h, map[string][]string{src: {vm + "-d0", vm + "-d1", "east-vm002-d0"}, dst: {other}})
	if again := depthOf(t, h, src, vm+"-d0").QueueDepth; again < converged*9/10 || again > converged*11/10 || converged == 32 {
		t.Fatalf("the source has not converged: %d then %d", converged, again)
	}
	if d := depthOf(t, h, src, vm+"-d0"); len(d.VMs) != 1 || d.VMs[0] != vm {
		t.Fatalf("source before: %+v", d)
	}
	m, err := h.svc.StartMigration(MigrationSpec{VM: vm, DestinationHost: dst})
	if err != nil {
		t.Fatal(err)
	}
	if m, err = h.svc.WaitMigration(ctx, m.ID); err != nil || m.Phase != "succeeded" {
		t.Fatalf("migration: %v %+v", err, m)
	}
	// No period has closed since: the cutover's reshare did this.
	h.svc.qd.mu.Lock()
	srcItems, dstItems := h.svc.qd.out[src], h.svc.qd.out[dst]
	h.svc.qd.mu.Unlock()
	for _, d := range srcItems {
		if strings.HasPrefix(d.Volume, vm+"-") {
			t.Fatalf("the source still counts the moved VM: %+v", d)
		}
	}
	var found bool
	for _, d := range dstItems {
		if d.Volume == vm+"-d0" {
			found = true
			if d.Shares != 3000 || len(d.VMs) != 1 || d.VMs[0] != vm || d.LUN == nil || d.LatencyMs == nil {
				t.Fatalf("destination: %+v", d)
			}
			// Its I/O came with it: the depth it had converged to, not
			// the default, split with its shares among the measured.
			if d.QueueDepth < converged*8/10 || d.QueueDepth > converged*12/10 {
				t.Fatalf("destination depth %d after the cutover (converged %d at the source)", d.QueueDepth, converged)
			}
		}
	}
	if !found {
		t.Fatalf("the destination does not count the moved VM: %+v", dstItems)
	}
	// The source's agent may still report the VM's LUN for a while:
	// ignored, not refused.
	late := TelemetrySample{Host: src, Volume: vm + "-d0", TargetPortWWPN: depthOf(t, h, dst, vm+"-d0").PreferredTargetPorts[0],
		At: h.world.Clock().Now(), IOPS: 10, LatencyMs: 5, Outstanding: 1}
	if res, err := h.svc.IngestTelemetry(ctx, "test", []TelemetrySample{late}); err != nil || res.Ignored != 1 {
		t.Fatalf("the source's late sample: %+v %v", res, err)
	}
	if d := depthOf(t, h, dst, vm+"-d0"); !strings.HasPrefix(d.WWN, "naa.") {
		t.Fatalf("no WWN on %+v", d)
	}
	// Congested at the destination: depths split by shares.
	otherShares := depthOf(t, h, dst, other).Shares
	for range 10 {
		diskPool(t, h, map[string][]string{dst: {vm + "-d0", vm + "-d1", other}})
	}
	ratio := func() float64 {
		return float64(depthOf(t, h, dst, vm+"-d0").QueueDepth) / float64(depthOf(t, h, dst, other).QueueDepth)
	}
	want := 3000.0 / float64(otherShares)
	if r := ratio(); r < want*0.9 || r > want*1.1 {
		t.Fatalf("depth ratio %.2f, shares ratio %.2f: %+v %+v", r, want, depthOf(t, h, dst, vm+"-d0"), depthOf(t, h, dst, other))
	}
	if _, err := h.svc.UpdateVM(vm, inventory.VMPatch{Shares: ptr(otherShares)}); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		diskPool(t, h, map[string][]string{dst: {vm + "-d0", vm + "-d1", other}})
	}
	if r := ratio(); r < 0.9 || r > 1.1 {
		t.Fatalf("after equal shares: depth ratio %.2f", r)
	}
}

// diskPool runs one control period of a disk pool (16 servers, 3,300
// IOPS) that the hosts' LUNs share, each with 64 I/Os to do: a host keeps
// its recommended depth of them at the array, and the latency is what
// Little's law makes of the total.
func diskPool(t *testing.T, h *harness, vols map[string][]string) {
	t.Helper()
	const capacity, service = 3300.0, 16.0 / 3300
	at := map[qdKey]float64{}
	var total float64
	for host, vs := range vols {
		for _, v := range vs {
			k := qdKey{Host: host, Volume: v}
			at[k] = min(64, float64(depthOf(t, h, host, v).QueueDepth))
			total += at[k]
		}
	}
	lat := max(service, total/capacity)
	var batch []TelemetrySample
	for k, n := range at {
		batch = append(batch, qdSamples(t, h, k.Host, map[string]float64{k.Volume: lat * 1e3}, n/lat, 64)...)
	}
	ingest(t, h, batch)
	h.svc.qd.step(context.Background(), false)
}

// TestWatchesEndWithTheLoop: when the control loop stops (the daemon shuts
// down), every watch ends instead of idling on heartbeats, and a watch
// opened afterwards ends at once.
func TestWatchesEndWithTheLoop(t *testing.T) {
	h := newHarness(t, nil)
	ch, cancel := h.svc.WatchQueueDepths("east-esx02")
	defer cancel()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.svc.qd.run(ctx) }()
	stop()
	<-done
	select {
	case _, open := <-ch:
		if open {
			t.Fatal("got a value instead of the end")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the watch did not end with the loop")
	}
	late, cancel2 := h.svc.WatchQueueDepths("east-esx02")
	defer cancel2()
	if _, open := <-late; open {
		t.Fatal("a watch opened after the loop stopped stays open")
	}
}

func TestUnknownThresholdPools(t *testing.T) {
	h := newHarness(t, nil)
	h.svc.qd.cfg.Thresholds = map[string]time.Duration{"east-arr1-pool2": 20 * time.Millisecond, "nosuchpool": time.Millisecond}
	if got := h.svc.UnknownThresholdPools(); len(got) != 1 || got[0] != "nosuchpool" {
		t.Fatalf("unknown threshold pools %v", got)
	}
}
