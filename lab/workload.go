package lab

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// Pool workloads: how fast each thin pool fills, in virtual time.
//
// Every mapped thin volume has a base write rate of its own, r bytes an
// hour (provision.go, writeRate). A pool's workload scales its volumes'
// rates hour by hour with a factor f(k) for virtual hour k since the epoch,
// in units of 1/factorScale: volume v has written W(h) = ⌊r·C(h)/factorScale⌋
// bytes by hour h, C(h) = Σ f(k) for k < h, and an accrual from hour h0 to
// h1 adds W(h1) − W(h0), capped at the volume's size and the pool's room
// (provision.go, accrue). Because W is a function of the hour alone, usage
// does not depend on how often the array was read, and a world resumed from
// its journal accrues exactly what one that never stopped did: a workload is
// a pure function of (seed, pool, hour) and needs no journal records. Only
// the hour a pool fills is the exception it always was: the volumes that
// come first take the room that is left.
//
// Without Config.Workloads every pool's factor is factorScale every hour:
// each volume writes r an hour, the lab's behaviour before workloads. With
// it, every pool draws a model from the seed, on a random stream of its
// own, so that the rest of the world is drawn exactly as before:
//
//   - one pool of the world, drawn among those whose volumes have room
//     enough to fill it (room ≥ hotRoomFactor × its free physical space,
//     else the roomiest), is "linear" at hotPerDay: it heads for full
//     within a virtual day or two, so that a tour sees its alerts arrive;
//   - every other pool draws one of linear, seasonal (weekly), step,
//     bursts or flat, with the parameters of drawWorkload.
//
// Rates are given in shares of the pool's physical bytes per virtual day
// and turned into the factor when the world is built: the pool's base
// factor is PerDay/24 × physical × data-reduction ratio (the logical bytes
// an hour that many physical bytes hold) over the sum of its mapped thin
// volumes' rates, as built. So a pool follows its model in physical bytes
// for as long as its volumes have room; a volume stops at its size (its
// share is not handed to the others), and the pool stops at its physical
// capacity, the lab's stand-in for a full thin pool erroring I/O: its
// volumes take no more writes, a thick volume is refused (checkGrow), and
// growth resumes only when space is freed.
//
// Config.PoolWorkloads overrides the model of the pools it names, with or
// without Workloads, so that a test can pick one. Both are settings of the
// world kept in the journal's header: a directory made with other workloads
// is refused, since replaying it would give other usage.

// Model is a pool growth model.
type Model string

// The models.
const (
	// ModelLinear writes PerDay every day, evenly by the hour.
	ModelLinear Model = "linear"
	// ModelSeasonal writes PerDay on average, the rate swinging by
	// Amplitude around it in a sine of one week's period, starting the
	// week PhaseHours into it.
	ModelSeasonal Model = "seasonal"
	// ModelStep writes PerDay evenly, and once, in the virtual hour that
	// begins StepAt after the epoch, StepSize more (a restore, a data
	// load): usage jumps once.
	ModelStep Model = "step"
	// ModelBursts writes PerDay evenly, and on a BurstChance share of the
	// days, drawn from the seed day by day, a burst of BurstSize in one
	// hour of the day, also drawn.
	ModelBursts Model = "bursts"
	// ModelFlat writes nothing: usage stays where it is.
	ModelFlat Model = "flat"
)

var models = []Model{ModelLinear, ModelSeasonal, ModelStep, ModelBursts, ModelFlat}

// Workload is a pool's growth model and its parameters. Sizes and rates are
// shares of the pool's physical bytes; fields a model does not use must be
// zero.
type Workload struct {
	Model Model `json:"model"`
	// PerDay is the steady growth a virtual day (the mean, for seasonal):
	// 0.02 is 2 % of physical a day. At most 24: the whole pool an hour.
	PerDay float64 `json:"perDay,omitempty"`
	// Amplitude (seasonal) is the swing around PerDay, in [0, 1]: the rate
	// runs from PerDay×(1−Amplitude) to PerDay×(1+Amplitude).
	Amplitude float64 `json:"amplitude,omitempty"`
	// PhaseHours (seasonal) is where in the week hour 0 falls, [0, 168).
	PhaseHours int `json:"phaseHours,omitempty"`
	// StepAt and StepSize (step): when, after the epoch, the one jump
	// lands (a whole number of hours), and its size, in (0, 1].
	StepAt   time.Duration `json:"stepAt,omitempty"`
	StepSize float64       `json:"stepSize,omitempty"`
	// BurstChance and BurstSize (bursts): the share of days with a burst,
	// in (0, 1], and a burst's size, in (0, 1].
	BurstChance float64 `json:"burstChance,omitempty"`
	BurstSize   float64 `json:"burstSize,omitempty"`
}

const (
	// factorScale is the factor of an hour at the volumes' base rate.
	factorScale = 1 << 16
	week        = 168 // hours
	// hotPerDay is the growth of the world's one pool that heads for full:
	// 2 % of its physical bytes a virtual hour. At the daemon's default
	// speed (60) a virtual hour is a real minute: a pool built 40–70 %
	// full crosses 80 % within 5 to 20 real minutes.
	hotPerDay = 0.48
	// hotRoomFactor: a pool is a candidate to head for full when its
	// volumes' free logical bytes are at least this many times its free
	// physical space in logical bytes, so that it fills before they do.
	hotRoomFactor = 1.2
	// workloadStream keys the workloads' random stream ("workload").
	workloadStream = 0x776f726b6c6f6164
	maxPerDay      = 24
)

// check reports what is wrong with wl, naming it by what.
func (wl Workload) check(what string) error {
	var bad []string
	fail := func(format string, args ...any) { bad = append(bad, fmt.Sprintf(format, args...)) }
	share := func(name string, v float64, zeroOK bool) {
		if math.IsNaN(v) || v < 0 || v > 1 || (!zeroOK && v == 0) {
			lo := "(0, 1]"
			if zeroOK {
				lo = "[0, 1]"
			}
			fail("%s = %v, want a share in %s", name, v, lo)
		}
	}
	unused := func(name string, zero bool) {
		if !zero {
			fail("%s is not a parameter of model %q", name, wl.Model)
		}
	}
	if !slices.Contains(models, wl.Model) {
		fail("model %q, want one of %s", wl.Model, modelNames())
	}
	if math.IsNaN(wl.PerDay) || wl.PerDay < 0 || wl.PerDay > maxPerDay {
		fail("PerDay = %v, want a share of the pool a day in [0, %d]", wl.PerDay, maxPerDay)
	}
	seasonal, step, bursts := wl.Model == ModelSeasonal, wl.Model == ModelStep, wl.Model == ModelBursts
	if wl.Model == ModelFlat {
		unused("PerDay", wl.PerDay == 0)
	}
	if seasonal {
		share("Amplitude", wl.Amplitude, true)
		if wl.PhaseHours < 0 || wl.PhaseHours >= week {
			fail("PhaseHours = %d, want 0..%d", wl.PhaseHours, week-1)
		}
	} else {
		unused("Amplitude", wl.Amplitude == 0)
		unused("PhaseHours", wl.PhaseHours == 0)
	}
	if step {
		if wl.StepAt < 0 || wl.StepAt%time.Hour != 0 {
			fail("StepAt = %v, want a whole number of hours >= 0", wl.StepAt)
		}
		share("StepSize", wl.StepSize, false)
	} else {
		unused("StepAt", wl.StepAt == 0)
		unused("StepSize", wl.StepSize == 0)
	}
	if bursts {
		share("BurstChance", wl.BurstChance, false)
		share("BurstSize", wl.BurstSize, false)
	} else {
		unused("BurstChance", wl.BurstChance == 0)
		unused("BurstSize", wl.BurstSize == 0)
	}
	if len(bad) > 0 {
		return fmt.Errorf("%s: %s", what, strings.Join(bad, "; "))
	}
	return nil
}

func modelNames() string {
	s := make([]string, len(models))
	for i, m := range models {
		s[i] = string(m)
	}
	return strings.Join(s, ", ")
}

// checkPoolWorkloads validates c.PoolWorkloads against the pools c's world
// has. c has its defaults.
func (c Config) checkPoolWorkloads() []string {
	var bad []string
	ids := make(map[string]bool)
	for _, s := range c.Sites {
		for a := range c.ArraysPerSite {
			for p := range poolsPerArray {
				ids[poolID(arrayID(s, a), p)] = true
			}
		}
	}
	for _, id := range slices.Sorted(maps.Keys(c.PoolWorkloads)) {
		if !ids[id] {
			bad = append(bad, fmt.Sprintf("PoolWorkloads names pool %q, which this world does not have", id))
			continue
		}
		if err := c.PoolWorkloads[id].check("PoolWorkloads[" + id + "]"); err != nil {
			bad = append(bad, err.Error())
		}
	}
	return bad
}

// workloadsHeader is the workload settings as the journal's header keeps
// them: "" when there are none (the header of a world without workloads is
// the one written before they existed), else canonical JSON.
func (c Config) workloadsHeader() string {
	if !c.Workloads && len(c.PoolWorkloads) == 0 {
		return ""
	}
	b, err := json.Marshal(struct {
		Seeded bool                `json:"seeded"`
		Pools  map[string]Workload `json:"pools,omitempty"`
	}{c.Workloads, c.PoolWorkloads}) // encoding/json sorts map keys
	if err != nil {
		return fmt.Sprintf("unencodable: %v", err)
	}
	return string(b)
}

// growth is a pool's workload as hourly factors (see the top of the file).
// Its zero value is the lab without workloads: factorScale every hour.
type growth struct {
	on   bool
	wl   Workload
	base int64 // factor of an hour at PerDay
	// seasonal: the factors of the hours of a week, as prefix sums
	// (prefix[i] = Σ factors of hours < i of the week), prefix[week] the
	// week's total.
	prefix []int64
	// step, bursts: a jump's factor; step: the hour it lands in.
	lump     int64
	stepHour int64
	// bursts: the seed's key for the days' draws, and a cursor so that a
	// count of the days before hour h costs only the days since the last.
	key              uint64
	curDay, curLumps int64
}

// cum is C(h), the sum of the factors of hours 0..h-1.
func (g *growth) cum(h int64) int64 {
	if !g.on {
		return factorScale * h
	}
	switch g.wl.Model {
	case ModelLinear:
		return satMul(g.base, h)
	case ModelSeasonal:
		return satAdd(satMul(h/week, g.prefix[week]), g.prefix[h%week])
	case ModelStep:
		c := satMul(g.base, h)
		if h > g.stepHour {
			c = satAdd(c, g.lump)
		}
		return c
	case ModelBursts:
		d := h / 24
		if d < g.curDay {
			g.curDay, g.curLumps = 0, 0
		}
		for ; g.curDay < d; g.curDay++ {
			if _, ok := g.burst(g.curDay); ok {
				g.curLumps = satAdd(g.curLumps, g.lump)
			}
		}
		c := satAdd(satMul(g.base, h), g.curLumps)
		if hr, ok := g.burst(d); ok && hr < h {
			c = satAdd(c, g.lump)
		}
		return c
	}
	return 0 // flat
}

// satMul and satAdd work on non-negative numbers, saturating: a factor sum
// that large has filled every volume long before.
func satMul(a, b int64) int64 {
	if a != 0 && b > math.MaxInt64/a {
		return math.MaxInt64
	}
	return a * b
}

func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// burst says whether day d has a burst, and its hour since the epoch.
func (g *growth) burst(d int64) (int64, bool) {
	x := mix64(g.key ^ uint64(d)*0x9e3779b97f4a7c15)
	if float64(x>>11)/(1<<53) >= g.wl.BurstChance {
		return 0, false
	}
	return d*24 + int64(mix64(x)%24), true
}

// mix64 is splitmix64's finalizer.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// written is W = ⌊r·c/factorScale⌋, the bytes a volume of base rate r has
// written by the hour whose C is c, saturating (a volume stops at its size
// long before).
func written(r, c int64) int64 {
	if r <= 0 || c <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(r), uint64(c))
	if hi >= factorScale {
		return math.MaxInt64
	}
	q, _ := bits.Div64(hi, lo, factorScale)
	return int64(min(q, math.MaxInt64))
}

// poolsPerArray is how many pools the build gives every array.
const poolsPerArray = 2

// setWorkloads gives every pool its growth, once the build sized them:
// drawn from the seed with Workloads, overridden by PoolWorkloads.
func (w *World) setWorkloads() {
	cfg := w.cfg
	if !cfg.Workloads && len(cfg.PoolWorkloads) == 0 {
		return
	}
	type ref struct {
		a *Array
		p int
	}
	var all []ref
	for _, a := range w.arrays {
		for p := range a.pools {
			all = append(all, ref{a, p})
		}
	}
	drawn := make([]Workload, len(all))
	if cfg.Workloads {
		rng := rand.New(rand.NewPCG(uint64(cfg.Seed), workloadStream))
		for i := range all {
			drawn[i] = drawWorkload(rng)
		}
		// The one pool that heads for full.
		var cands []int
		best, bestRoom := 0, -1.0
		for i, r := range all {
			room := r.a.roomFactor(r.p)
			if room >= hotRoomFactor {
				cands = append(cands, i)
			}
			if room > bestRoom {
				best, bestRoom = i, room
			}
		}
		hot := best
		if len(cands) > 0 {
			hot = cands[rng.IntN(len(cands))]
		}
		drawn[hot] = Workload{Model: ModelLinear, PerDay: hotPerDay}
	}
	for i, r := range all {
		p := &r.a.pools[r.p]
		wl, ok := cfg.PoolWorkloads[p.id]
		if !ok && !cfg.Workloads {
			continue
		}
		if !ok {
			wl = drawn[i]
		}
		p.g = r.a.newGrowth(r.p, wl, uint64(cfg.Seed))
	}
}

// drawWorkload draws a pool's model and its parameters; it draws as many
// numbers whatever the model, so that one pool's model never shifts the
// next pool's draw.
func drawWorkload(rng *rand.Rand) Workload {
	m := models[rng.IntN(len(models))]
	u1, u2, u3, u4 := rng.Float64(), rng.Float64(), rng.Float64(), rng.Float64()
	switch m {
	case ModelLinear:
		return Workload{Model: m, PerDay: 0.01 + 0.03*u1}
	case ModelSeasonal:
		return Workload{Model: m, PerDay: 0.01 + 0.02*u1, Amplitude: 0.5 + 0.4*u2, PhaseHours: int(u3 * week)}
	case ModelStep:
		return Workload{Model: m, PerDay: 0.005 + 0.015*u1,
			StepAt: time.Duration(24+int(u2*13*24)) * time.Hour, StepSize: 0.05 + 0.10*u3}
	case ModelBursts:
		return Workload{Model: m, PerDay: 0.002 + 0.008*u1, BurstChance: 0.2 + 0.2*u2, BurstSize: 0.02 + 0.04*u4}
	}
	return Workload{Model: ModelFlat}
}

// roomFactor is how many times pool p's free physical space, in logical
// bytes, its mapped thin volumes could still write.
func (a *Array) roomFactor(p int) float64 {
	pl := &a.pools[p]
	var free int64
	for i := range a.vols {
		v := &a.vols[i]
		if int(v.pool) == p && !v.deleted && v.thin && v.maps > 0 {
			free += v.size - v.used
		}
	}
	room := float64(pl.physical-pl.usedBytes()) * pl.reduction
	if room <= 0 {
		return 0
	}
	return float64(free) / room
}

// newGrowth turns workload wl of pool p into hourly factors, from the pool
// and its mapped thin volumes as built.
func (a *Array) newGrowth(p int, wl Workload, seed uint64) growth {
	pl := &a.pools[p]
	var rates int64
	for i := range a.vols {
		v := &a.vols[i]
		if int(v.pool) == p && !v.deleted && v.thin && v.maps > 0 {
			rates += v.writeRate()
		}
	}
	// perHourOfShare is the factor that writes one share of the pool's
	// physical bytes in an hour; with no volume to write, the base rate.
	perHourOfShare := float64(factorScale)
	if rates > 0 {
		perHourOfShare = float64(pl.physical) * pl.reduction / float64(rates) * factorScale
	}
	round := func(x float64) int64 { return int64(math.Round(min(x, 1<<52))) }
	g := growth{on: true, wl: wl, base: round(wl.PerDay / 24 * perHourOfShare)}
	switch wl.Model {
	case ModelSeasonal:
		g.prefix = make([]int64, week+1)
		for k := range week {
			s := math.Sin(2 * math.Pi * float64((k+wl.PhaseHours)%week) / week)
			g.prefix[k+1] = g.prefix[k] + round(float64(g.base)*(1+wl.Amplitude*s))
		}
	case ModelStep:
		g.lump, g.stepHour = round(wl.StepSize*perHourOfShare), int64(wl.StepAt/time.Hour)
	case ModelBursts:
		g.lump = round(wl.BurstSize * perHourOfShare)
		g.key = mix64(seed ^ mix64(uint64(len(pl.id))) ^ strHash(pl.id))
	}
	return g
}

// strHash is FNV-1a.
func strHash(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// PoolWorkloads is the workload of every pool that has one, by pool id:
// none without Config.Workloads or PoolWorkloads.
func (w *World) PoolWorkloads() map[string]Workload {
	out := map[string]Workload{}
	for _, a := range w.arrays {
		a.mu.RLock()
		for i := range a.pools {
			if g := &a.pools[i].g; g.on {
				out[a.pools[i].id] = g.wl
			}
		}
		a.mu.RUnlock()
	}
	return out
}
