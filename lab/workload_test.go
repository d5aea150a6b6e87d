package lab

import (
	"context"
	"errors"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/fabric/wwn"
)

// poolUsage is pool id's physical usage after each of hours 0..n, accrued
// hour by hour, checking the pools against their volumes on the way.
func poolUsage(t *testing.T, a *Array, id string, n int64) []int64 {
	t.Helper()
	out := make([]int64, 0, n+1)
	for h := range n + 1 {
		accrueTo(a, h)
		out = append(out, poolOf(t, a, id).UsedBytes)
	}
	checkPools(t, a)
	return out
}

func diffs(u []int64) []float64 {
	d := make([]float64, len(u)-1)
	for i := range d {
		d[i] = float64(u[i+1] - u[i])
	}
	return d
}

// within reports whether got is within rel of want.
func within(got, want, rel float64) bool { return math.Abs(got-want) <= rel*math.Abs(want) }

func TestWorkloadShapes(t *testing.T) {
	const id = pool1
	one := func(t *testing.T, wl Workload) (*Array, array.Pool) {
		t.Helper()
		_, a := eastArray(t, Config{Seed: 1, PoolWorkloads: map[string]Workload{id: wl}})
		return a, poolOf(t, a, id)
	}
	t.Run("linear grows the same every hour", func(t *testing.T) {
		wl := Workload{Model: ModelLinear, PerDay: 0.024}
		a, p := one(t, wl)
		d := diffs(poolUsage(t, a, id, 72))
		want := wl.PerDay / 24 * float64(p.PhysicalBytes)
		for h, x := range d {
			if !within(x, want, 0.01) {
				t.Fatalf("hour %d: grew %.0f bytes, want %.0f (0.1 %% of physical)", h, x, want)
			}
		}
	})
	t.Run("seasonal repeats every week", func(t *testing.T) {
		wl := Workload{Model: ModelSeasonal, PerDay: 0.002, Amplitude: 0.8, PhaseHours: 30}
		a, p := one(t, wl)
		d := diffs(poolUsage(t, a, id, 2*week))
		mean := wl.PerDay / 24 * float64(p.PhysicalBytes)
		lo, hi := slices.Min(d[:week]), slices.Max(d[:week])
		if !within(lo, mean*(1-wl.Amplitude), 0.05) || !within(hi, mean*(1+wl.Amplitude), 0.02) {
			t.Fatalf("hourly growth from %.0f to %.0f, want %.0f to %.0f", lo, hi, mean*(1-wl.Amplitude), mean*(1+wl.Amplitude))
		}
		var w1, w2 float64
		for k := range week {
			w1 += d[k]
			w2 += d[week+k]
			if !within(d[week+k], d[k], 0.01) {
				t.Fatalf("hour %d of the week: %.0f, a week earlier %.0f", k, d[week+k], d[k])
			}
		}
		if !within(w1, 7*wl.PerDay*float64(p.PhysicalBytes), 0.01) || !within(w2, w1, 0.01) {
			t.Fatalf("weeks grew %.0f and %.0f, want %.0f each", w1, w2, 7*wl.PerDay*float64(p.PhysicalBytes))
		}
		// The peak falls where the sine peaks: a quarter week from the phase.
		if k := slices.Index(d[:week], hi); (k+wl.PhaseHours)%week < week/4-2 || (k+wl.PhaseHours)%week > week/4+2 {
			t.Fatalf("peak at hour %d of the week, phase %d", k, wl.PhaseHours)
		}
	})
	t.Run("step jumps once", func(t *testing.T) {
		wl := Workload{Model: ModelStep, PerDay: 0.01, StepAt: 40 * time.Hour, StepSize: 0.02}
		a, p := one(t, wl)
		d := diffs(poolUsage(t, a, id, 96))
		base := wl.PerDay / 24 * float64(p.PhysicalBytes)
		for h, x := range d {
			want := base
			if h == 40 {
				want += wl.StepSize * float64(p.PhysicalBytes)
			}
			if !within(x, want, 0.01) {
				t.Fatalf("hour %d: grew %.0f, want %.0f", h, x, want)
			}
		}
	})
	t.Run("bursts come some days, one an hour", func(t *testing.T) {
		wl := Workload{Model: ModelBursts, PerDay: 0.001, BurstChance: 0.3, BurstSize: 0.001}
		a, p := one(t, wl)
		const days = 60
		d := diffs(poolUsage(t, a, id, days*24))
		base := wl.PerDay / 24 * float64(p.PhysicalBytes)
		burst := wl.BurstSize * float64(p.PhysicalBytes)
		perDay := make([]int, days)
		for h, x := range d {
			switch {
			case within(x, base, 0.02):
			case within(x, base+burst, 0.02):
				perDay[h/24]++
			default:
				t.Fatalf("hour %d: grew %.0f, want %.0f or a burst more, %.0f", h, x, base, base+burst)
			}
		}
		n := 0
		for day, b := range perDay {
			if b > 1 {
				t.Fatalf("day %d has %d bursts", day, b)
			}
			n += b
		}
		if x := float64(n); x < days*wl.BurstChance/2 || x > days*wl.BurstChance*2 {
			t.Fatalf("%d bursts in %d days at a chance of %v a day", n, days, wl.BurstChance)
		}
	})
	t.Run("flat stays flat", func(t *testing.T) {
		a, _ := one(t, Workload{Model: ModelFlat})
		ctx := context.Background()
		v0, _ := a.Volumes(ctx)
		u := poolUsage(t, a, id, 500)
		if u[0] != u[500] {
			t.Fatalf("a flat pool went from %d to %d bytes", u[0], u[500])
		}
		v1, _ := a.Volumes(ctx)
		for i := range v0 {
			if v0[i].Pool == id && v0[i].UsedBytes != v1[i].UsedBytes {
				t.Fatalf("volume %s of the flat pool grew", v0[i].ID)
			}
		}
		// The other pool, without a workload, grows as it always did.
		if u2 := poolOf(t, a, "east-arr1-pool2"); u2.UsedBytes == 0 {
			t.Fatal("pool2 is empty")
		}
	})
}

// Without workloads, and for pools PoolWorkloads leaves out, usage is
// exactly what it was before workloads: each volume r an hour.
func TestWorkloadOffIsTheOldRate(t *testing.T) {
	ctx := context.Background()
	_, a := eastArray(t, Config{Seed: 1, PoolWorkloads: map[string]Workload{pool1: {Model: ModelFlat}}})
	v0, _ := a.Volumes(ctx)
	accrueTo(a, 10)
	v1, _ := a.Volumes(ctx)
	for i := range v1 {
		want := v0[i].UsedBytes
		if v0[i].Pool != pool1 {
			want = min(v0[i].SizeBytes, want+10*a.vols[i].writeRate())
		}
		if v1[i].UsedBytes != want {
			t.Fatalf("%s: used %d, want %d", v1[i].ID, v1[i].UsedBytes, want)
		}
	}
}

// Usage with workloads still depends on the hour alone, not on how often
// the array was read.
func TestWorkloadIsStepFree(t *testing.T) {
	ctx := context.Background()
	for _, seed := range []int64{1, 2, 3, 4, 5} {
		cfg := Config{Seed: seed, Workloads: true}
		_, a := eastArray(t, cfg)
		_, b := eastArray(t, cfg)
		for h := range int64(24 * 20) {
			accrueTo(a, h+1)
		}
		accrueTo(b, 24*7)
		accrueTo(b, 24*20)
		va, _ := a.Volumes(ctx)
		vb, _ := b.Volumes(ctx)
		pa, _ := a.Pools(ctx)
		pb, _ := b.Pools(ctx)
		if !slices.Equal(va, vb) || !slices.Equal(pa, pb) {
			t.Fatalf("seed %d: 480 hours one by one differ from 480 in two steps", seed)
		}
	}
}

func TestWorkloadsAreSeeded(t *testing.T) {
	ctx := context.Background()
	const hours = 24 * 10
	state := func(cfg Config) (map[string]Workload, [][]array.Pool) {
		w := newWorld(t, cfg)
		var pools [][]array.Pool
		for _, r := range w.Arrays() {
			accrueTo(r.Array, hours)
			p, err := r.Array.Pools(ctx)
			must(t, err)
			pools = append(pools, p)
		}
		return w.PoolWorkloads(), pools
	}
	wa, pa := state(Config{Seed: 1, Workloads: true})
	wb, pb := state(Config{Seed: 1, Workloads: true})
	if !maps.Equal(wa, wb) || !slices.EqualFunc(pa, pb, slices.Equal) {
		t.Fatal("one seed, two answers")
	}
	if len(wa) != 4 {
		t.Fatalf("workloads %v, want one for each of the 4 pools", wa)
	}
	hot := 0
	for _, wl := range wa {
		if wl == (Workload{Model: ModelLinear, PerDay: hotPerDay}) {
			hot++
		}
	}
	if hot != 1 {
		t.Fatalf("workloads %v: %d pools head for full, want 1", wa, hot)
	}
	// Other seeds draw other models; every model is drawn by some seed.
	seen := map[Model]bool{}
	for seed := range int64(20) {
		w := newWorld(t, Config{Seed: seed, Workloads: true})
		for _, wl := range w.PoolWorkloads() {
			must(t, wl.check("drawn"))
			seen[wl.Model] = true
		}
	}
	if len(seen) != len(models) {
		t.Fatalf("20 seeds drew only %v", seen)
	}
	// Workloads draw on a stream of their own: the world at hour 0 is the
	// world without them, byte for byte.
	on, off := newWorld(t, Config{Seed: 1, Workloads: true}), newWorld(t, Config{Seed: 1})
	for i, r := range on.Arrays() {
		v1, _ := r.Array.Volumes(ctx)
		v2, _ := off.Arrays()[i].Array.Volumes(ctx)
		p1, _ := r.Array.Pools(ctx)
		p2, _ := off.Arrays()[i].Array.Pools(ctx)
		if !slices.Equal(v1, v2) || !slices.Equal(p1, p2) {
			t.Fatalf("array %s differs at hour 0 with workloads", r.ID)
		}
	}
}

// The world make run starts (lab.Small, seed 1, workloads on in the
// daemon) has a pool that crosses 80 % within 20 virtual hours, 20 real
// minutes at the daemon's default speed of 60, and never passes physical.
func TestSmallWorldHasAPoolHeadingForFull(t *testing.T) {
	w := newWorld(t, Config{Seed: 1, Workloads: true})
	var hotID string
	for id, wl := range w.PoolWorkloads() {
		if wl.PerDay == hotPerDay {
			hotID = id
		}
	}
	a, _ := w.Array(hotID[:strings.LastIndex(hotID, "-pool")])
	cross := map[int]int64{80: -1, 90: -1, 98: -1}
	var start float64
	for h := range int64(72) {
		accrueTo(a, h)
		p := poolOf(t, a, hotID)
		u := float64(p.UsedBytes) / float64(p.PhysicalBytes) * 100
		if h == 0 {
			start = u
		}
		for pct, at := range cross {
			if at < 0 && u >= float64(pct) {
				cross[pct] = h
			}
		}
		if p.UsedBytes > p.PhysicalBytes {
			t.Fatalf("pool %+v past physical", p)
		}
	}
	t.Logf("pool %s: %.1f %% used at the epoch; 80 %% at hour %d, 90 %% at %d, 98 %% at %d", hotID, start, cross[80], cross[90], cross[98])
	if cross[80] < 1 || cross[80] > 20 || cross[90] < 0 || cross[90] > 36 {
		t.Fatalf("pool %s crosses 80 %% at hour %d and 90 %% at %d, want within 20 and 36", hotID, cross[80], cross[90])
	}
	checkPools(t, a)
}

// However fast a workload writes, a pool never passes its physical bytes,
// and a full one refuses thick volumes.
func TestWorkloadNeverAbovePhysical(t *testing.T) {
	ctx := context.Background()
	for _, wl := range []Workload{
		{Model: ModelLinear, PerDay: maxPerDay},
		{Model: ModelStep, PerDay: 1, StepAt: 3 * time.Hour, StepSize: 1},
		{Model: ModelBursts, PerDay: 2, BurstChance: 1, BurstSize: 1},
		{Model: ModelSeasonal, PerDay: 12, Amplitude: 1},
	} {
		t.Run(string(wl.Model), func(t *testing.T) {
			_, a := eastArray(t, Config{Seed: 11, PoolWorkloads: map[string]Workload{pool1: wl}})
			ports, _ := a.TargetPorts(ctx)
			// A large new volume, mapped, so that the volumes can fill the pool.
			_, err := a.CreateVolume(ctx, array.VolumeSpec{ID: "big", Pool: pool1, SizeBytes: thinLimit(poolOf(t, a, pool1)), Thin: true})
			must(t, err)
			must(t, a.Map(ctx, array.MapSpec{Volume: "big", HostGroup: "h", Initiators: []wwn.WWN{hostIni(1)}, TargetPorts: []wwn.WWN{ports[0].WWPN}}))
			for h := range int64(200) {
				accrueTo(a, h)
				if p := poolOf(t, a, pool1); p.UsedBytes > p.PhysicalBytes {
					t.Fatalf("hour %d: pool %+v past physical", h, p)
				}
			}
			checkPools(t, a)
			p := poolOf(t, a, pool1)
			if free := p.PhysicalBytes - p.UsedBytes; free > 1<<30 {
				t.Fatalf("pool %+v not full after 200 hours", p)
			}
			if _, err := a.CreateVolume(ctx, array.VolumeSpec{ID: "k", Pool: pool1, SizeBytes: 1 << 20}); !errors.Is(err, array.ErrNoCapacity) {
				t.Fatalf("thick volume in a full pool: %v", err)
			}
		})
	}
}

// A world resumed from its directory, crashed mid-workload, answers what a
// world that never stopped answers.
func TestWorkloadSurvivesACrash(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg := persistConfig(dir)
	cfg.Workloads = true
	// Pool 1 fills within the run, hour by hour, its volumes in order
	// taking the last room; pool 2 bursts.
	cfg.PoolWorkloads = map[string]Workload{pool1: {Model: ModelLinear, PerDay: 0.48},
		"east-arr1-pool2": {Model: ModelBursts, PerDay: 0.01, BurstChance: 0.5, BurstSize: 0.02}}
	mem := cfg
	mem.Dir = ""
	drive := func(w *World) {
		a, _ := w.Array("east-arr1")
		ports, _ := a.TargetPorts(ctx)
		w.clock.skip(30 * time.Hour)
		_, _ = a.Pools(ctx) // a read between changes accrues; it must not matter
		_, err := a.CreateVolume(ctx, array.VolumeSpec{ID: "new", Pool: pool1, SizeBytes: 500 * gib, Thin: true})
		must(t, err)
		w.clock.skip(5 * time.Hour)
		must(t, a.Map(ctx, array.MapSpec{Volume: "new", HostGroup: "h", Initiators: []wwn.WWN{hostIni(1)}, TargetPorts: []wwn.WWN{ports[0].WWPN}}))
		w.clock.skip(20 * time.Hour)
		_, _ = a.Volumes(ctx)
		must(t, a.Unmap(ctx, "east-vm001-d0", "east-vm001"))
	}
	snapshot := func(w *World) ([]array.Volume, []array.Pool) {
		a, _ := w.Array("east-arr1")
		accrueTo(a, 24*9) // the same hour for both, past both clocks
		v, err := a.Volumes(ctx)
		must(t, err)
		p, err := a.Pools(ctx)
		must(t, err)
		return v, p
	}
	w := openWorld(t, cfg)
	drive(w)
	w.crash()
	ref := newWorld(t, mem)
	drive(ref)
	wantV, wantP := snapshot(ref)
	if free := wantP[0].PhysicalBytes - wantP[0].UsedBytes; free > 1<<30 {
		t.Fatalf("pool %+v did not fill", wantP[0])
	}

	back := openWorld(t, cfg)
	gotV, gotP := snapshot(back)
	if !slices.Equal(gotP, wantP) {
		t.Fatalf("resumed pools %+v, want %+v", gotP, wantP)
	}
	if len(gotV) != len(wantV) {
		t.Fatalf("resumed %d volumes, want %d", len(gotV), len(wantV))
	}
	for i := range gotV {
		// The new volume's creation time is the real instant it was made,
		// which the two worlds do not share.
		gotV[i].CreatedAt, wantV[i].CreatedAt = time.Time{}, time.Time{}
		if gotV[i] != wantV[i] {
			t.Fatalf("resumed volume %+v, want %+v", gotV[i], wantV[i])
		}
	}
	must(t, back.Close())

	// Another workload setting is another world: refused, not replayed.
	other := cfg
	other.PoolWorkloads = nil
	if _, err := New(other); !errors.Is(err, ErrJournal) || !strings.Contains(err.Error(), "workloads") {
		t.Fatalf("New with other workloads: %v", err)
	}
	none := cfg
	none.Workloads, none.PoolWorkloads = false, nil
	if _, err := New(none); !errors.Is(err, ErrJournal) || !strings.Contains(err.Error(), "(this config: none)") {
		t.Fatalf("New without workloads: %v", err)
	}
}

func TestWorkloadConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		pw   map[string]Workload
		want string
	}{
		{"unknown pool", map[string]Workload{"east-arr9-pool1": {Model: ModelFlat}}, `pool "east-arr9-pool1", which this world does not have`},
		{"unknown model", map[string]Workload{pool1: {Model: "exponential"}}, `model "exponential", want one of linear, seasonal, step, bursts, flat`},
		{"negative rate", map[string]Workload{pool1: {Model: ModelLinear, PerDay: -1}}, "PerDay = -1"},
		{"NaN rate", map[string]Workload{pool1: {Model: ModelLinear, PerDay: math.NaN()}}, "PerDay = NaN"},
		{"flat with a rate", map[string]Workload{pool1: {Model: ModelFlat, PerDay: 0.1}}, `PerDay is not a parameter of model "flat"`},
		{"amplitude on linear", map[string]Workload{pool1: {Model: ModelLinear, Amplitude: 0.5}}, `Amplitude is not a parameter of model "linear"`},
		{"amplitude above 1", map[string]Workload{pool1: {Model: ModelSeasonal, Amplitude: 1.5}}, "Amplitude = 1.5"},
		{"phase past a week", map[string]Workload{pool1: {Model: ModelSeasonal, PhaseHours: 168}}, "PhaseHours = 168"},
		{"step mid-hour", map[string]Workload{pool1: {Model: ModelStep, StepAt: 90 * time.Minute, StepSize: 0.1}}, "StepAt = 1h30m0s"},
		{"step of nothing", map[string]Workload{pool1: {Model: ModelStep, StepAt: time.Hour}}, "StepSize = 0"},
		{"bursts never", map[string]Workload{pool1: {Model: ModelBursts, BurstSize: 0.1}}, "BurstChance = 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(Config{Seed: 1, PoolWorkloads: tc.pw})
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want ErrInvalidConfig saying %q", err, tc.want)
			}
		})
	}
}
