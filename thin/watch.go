package thin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"k8s.io/utils/clock"

	"github.com/sanmob/sanmob/alert"
	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/devices"
	"github.com/sanmob/sanmob/internal/clockwait"
	"github.com/sanmob/sanmob/store"
)

// Store kinds of the history: one record per sample period holding every
// pool's reading, and one per closed hour holding every pool's means.
const (
	KindSample = "thin-sample"
	KindHour   = "thin-hour"
)

// DefaultPeriod is how often the Watcher samples every pool.
const DefaultPeriod = time.Minute

// DefaultHoldUntrusted is how long PoolFullSoon keeps its level while no
// forecast is trusted, before it resolves.
const DefaultHoldUntrusted = 24 * time.Hour

// Config wires a Watcher.
type Config struct {
	Devices *devices.Devices
	Store   *store.Store
	Clock   clock.Clock // the service's: the lab's virtual clock in lab mode
	Alerts  *alert.Manager
	Log     logrus.FieldLogger
	// Period is how often every pool is sampled (default DefaultPeriod).
	Period     time.Duration
	Retention  Retention
	Thresholds Thresholds
	Forecast   ForecastConfig
	// HoldUntrusted (default DefaultHoldUntrusted).
	HoldUntrusted time.Duration
	// Sites gives an array's site, for the alerts' site label.
	Sites map[string]string
}

// Status is what the Watcher knows of one pool: the numbers of its last
// sample, the forecast and the alert levels.
type Status struct {
	Pool  string
	Array string
	At    time.Time
	// OvercommitPercentOfMax is provisioned / ((physical − reserve) · max
	// overcommit) · 100: how much of Cinder's total_available is taken.
	OvercommitPercentOfMax float64
	// Sampled is the pool as sampled at At: newer than the devices' last
	// refresh when the sampler read the array itself.
	Sampled           array.Pool
	Forecast          Forecast
	Usage, Overcommit Level
	FullSoon          Level
}

// poolState is the Watcher's per-pool memory.
type poolState struct {
	array    string
	hist     *History
	status   Status
	fullSoon FullSoonRule
	labels   map[string]map[string]string // firing alert labels by alertname
}

// Watcher samples every pool on a period, keeps its history in the store,
// forecasts when it fills and raises PoolUsageHigh, PoolOvercommitHigh and
// PoolFullSoon with hysteresis.
type Watcher struct {
	cfg   Config
	mu    sync.Mutex
	pools map[string]*poolState
	// lastObs is, per array, the time of the observation last sampled: an
	// observation no newer than it is stale, and the pools are read.
	lastObs map[string]time.Time
	rawIDs  []string // ids of the raw sample records in the store, oldest first
	hourIDs []string
}

// New makes a Watcher; call Load before Sample or Run.
func New(cfg Config) *Watcher {
	if cfg.Period <= 0 {
		cfg.Period = DefaultPeriod
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Log == nil {
		cfg.Log = logrus.StandardLogger()
	}
	if cfg.HoldUntrusted <= 0 {
		cfg.HoldUntrusted = DefaultHoldUntrusted
	}
	cfg.Retention = cfg.Retention.withDefaults()
	cfg.Thresholds = cfg.Thresholds.withDefaults()
	return &Watcher{cfg: cfg, pools: map[string]*poolState{}, lastObs: map[string]time.Time{}}
}

// Thresholds are the ones in force.
func (w *Watcher) Thresholds() Thresholds { return w.cfg.Thresholds }

// storedSample is a KindSample record.
type storedSample struct {
	At    time.Time                `json:"at"`
	Pools map[string]storedReading `json:"pools"`
}

type storedReading struct {
	Array string `json:"array,omitempty"`
	Used  int64  `json:"u"`
	Prov  int64  `json:"p"`
	Max   int64  `json:"m,omitempty"` // hours: the most used
	N     int32  `json:"n,omitempty"` // hours: samples aggregated
}

// recID is a record id that sorts by time.
func recID(ms int64) string { return fmt.Sprintf("%015d", ms) }

// Load reads the history from the store: the hours, then the raw samples.
// A record that does not decode is an error, not skipped: history is not
// lost silently.
func (w *Watcher) Load() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cfg.Store == nil {
		return nil
	}
	for _, kind := range []string{KindHour, KindSample} {
		err := w.cfg.Store.List(kind, func(id string, raw []byte) error {
			var rec storedSample
			if err := json.Unmarshal(raw, &rec); err != nil {
				return fmt.Errorf("thin: %s record %s: %w", kind, id, err)
			}
			ms := rec.At.UnixMilli()
			for pool, r := range rec.Pools {
				ps := w.state(pool, r.Array)
				if kind == KindHour {
					ps.hist.hours = append(ps.hist.hours, hour{start: ms, used: r.Used, prov: r.Prov, maxUsed: r.Max, n: r.N})
				} else {
					ps.hist.raw = append(ps.hist.raw, sample{at: ms, used: r.Used, prov: r.Prov})
				}
			}
			if kind == KindHour {
				w.hourIDs = append(w.hourIDs, id)
			} else {
				w.rawIDs = append(w.rawIDs, id)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (w *Watcher) state(pool, arrayID string) *poolState {
	ps, ok := w.pools[pool]
	if !ok {
		ps = &poolState{hist: NewHistory(w.cfg.Retention), labels: map[string]map[string]string{}}
		w.pools[pool] = ps
	}
	if arrayID != "" {
		ps.array = arrayID
	}
	return ps
}

// Run samples every Period on the service clock until ctx ends.
func (w *Watcher) Run(ctx context.Context) {
	for {
		if err := w.Sample(ctx); err != nil && ctx.Err() == nil {
			w.cfg.Log.WithError(err).Warn("thin pools not sampled")
		}
		if clockwait.Sleep(ctx, w.cfg.Clock, w.cfg.Period) != nil {
			return
		}
	}
}

// readPools are every array's pools now: the devices' last observation when
// it is newer than the one last sampled, else a read of the pools alone (the
// lab's virtual clock outruns the device refresh).
func (w *Watcher) readPools(ctx context.Context) (map[string][]array.Pool, error) {
	out := map[string][]array.Pool{}
	var errs []error
	devs := w.cfg.Devices.Arrays()
	for _, id := range w.cfg.Devices.ArrayIDs() {
		a := devs[id]
		if o := a.Obs.Load(); o != nil && o.At.After(w.lastObs[id]) {
			w.lastObs[id] = o.At
			out[id] = o.Pools
			continue
		}
		c, cancel := context.WithTimeout(ctx, w.cfg.Devices.Timeout())
		ps, err := a.Driver.Pools(c)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("array %s: %w", id, err))
			continue
		}
		out[id] = ps
	}
	return out, errors.Join(errs...)
}

// Sample reads every pool once, adds the readings to the history, writes
// them (and any hour it closed, and the expiries) in one store transaction,
// forecasts and evaluates the alerts. An array that does not answer is
// left out of this sample, and the error says which; the others are kept.
func (w *Watcher) Sample(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	pools, readErr := w.readPools(ctx)
	now := w.cfg.Clock.Now()
	ms := now.UnixMilli()
	rec := storedSample{At: time.UnixMilli(ms).UTC(), Pools: map[string]storedReading{}}
	hours := map[int64]*storedSample{}
	seen := map[string]bool{}
	for _, arrayID := range slices.Sorted(maps.Keys(pools)) {
		for _, p := range pools[arrayID] {
			seen[p.ID] = true
			ps := w.state(p.ID, arrayID)
			closed, ok := ps.hist.Add(now, p.UsedBytes, p.ProvisionedBytes)
			if !ok {
				continue // the clock did not move
			}
			rec.Pools[p.ID] = storedReading{Array: arrayID, Used: p.UsedBytes, Prov: p.ProvisionedBytes}
			for _, h := range closed {
				hr := hours[h.start]
				if hr == nil {
					hr = &storedSample{At: time.UnixMilli(h.start).UTC(), Pools: map[string]storedReading{}}
					hours[h.start] = hr
				}
				hr.Pools[p.ID] = storedReading{Array: arrayID, Used: h.used, Prov: h.prov, Max: h.maxUsed, N: h.n}
			}
			ps.hist.Expire(now)
			w.evaluate(ps, p, now)
		}
	}
	// A pool its array no longer reports has no alerts.
	for id, ps := range w.pools {
		if _, answered := pools[ps.array]; answered && !seen[id] {
			for name := range ps.labels {
				w.set(ps, array.Pool{ID: id}, name, LevelNone, nil, "")
			}
		}
	}
	if err := w.persist(rec, hours, now); err != nil {
		return errors.Join(readErr, err)
	}
	return readErr
}

// persist writes the sample, the closed hours and the expiries in one
// transaction.
func (w *Watcher) persist(rec storedSample, hours map[int64]*storedSample, now time.Time) error {
	if w.cfg.Store == nil || len(rec.Pools) == 0 {
		return nil
	}
	rawCut := recID(now.Add(-w.cfg.Retention.RawFor).UnixMilli())
	hourCut := recID(now.Add(-w.cfg.Retention.HourlyFor).UnixMilli())
	nRaw := countBefore(w.rawIDs, rawCut)
	nHour := countBefore(w.hourIDs, hourCut)
	id := recID(rec.At.UnixMilli())
	var hourIDs []string
	err := w.cfg.Store.Update(func(tx *store.Tx) error {
		if err := tx.Put(KindSample, id, rec); err != nil {
			return err
		}
		hourIDs = hourIDs[:0]
		for _, start := range slices.Sorted(maps.Keys(hours)) {
			hid := recID(start)
			// An hour closed again after a restart merges with the pools
			// already stored for it.
			var old storedSample
			if err := tx.Get(KindHour, hid, &old); err == nil {
				for p, r := range old.Pools {
					if _, ok := hours[start].Pools[p]; !ok {
						hours[start].Pools[p] = r
					}
				}
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
			if err := tx.Put(KindHour, hid, hours[start]); err != nil {
				return err
			}
			hourIDs = append(hourIDs, hid)
		}
		for _, old := range w.rawIDs[:nRaw] {
			if err := tx.Delete(KindSample, old); err != nil {
				return err
			}
		}
		for _, old := range w.hourIDs[:nHour] {
			if err := tx.Delete(KindHour, old); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("thin: storing the sample of %s: %w", rec.At.Format(time.RFC3339), err)
	}
	w.rawIDs = append(w.rawIDs[nRaw:], id)
	w.hourIDs = w.hourIDs[nHour:]
	for _, h := range hourIDs {
		if i, found := slices.BinarySearch(w.hourIDs, h); !found {
			w.hourIDs = slices.Insert(w.hourIDs, i, h)
		}
	}
	return nil
}

// countBefore is how many of the sorted ids sort before cut.
func countBefore(ids []string, cut string) int {
	i, _ := slices.BinarySearch(ids, cut)
	return i
}

// OvercommitPercentOfMax is how much of Cinder's total_available —
// (physical − reserve) · max overcommit — a pool has provisioned, in
// percent; +Inf when it has none (everything reserved) and provisions
// anything.
func OvercommitPercentOfMax(p array.Pool) float64 {
	c := Ceiling(p, true)
	if c <= 0 {
		if p.ProvisionedBytes > 0 {
			return math.Inf(1)
		}
		return 0
	}
	return 100 * float64(p.ProvisionedBytes) / float64(c)
}

// evaluate forecasts pool p and sets its alerts.
func (w *Watcher) evaluate(ps *poolState, p array.Pool, now time.Time) {
	t := w.cfg.Thresholds
	fc := Predict(ps.hist.Series(), p.PhysicalBytes, w.cfg.Forecast)
	st := &ps.status
	st.Pool, st.Array, st.At, st.Forecast, st.Sampled = p.ID, ps.array, now, fc, p
	st.OvercommitPercentOfMax = round2(OvercommitPercentOfMax(p))
	used := 0.0
	if p.PhysicalBytes > 0 {
		used = 100 * float64(p.UsedBytes) / float64(p.PhysicalBytes)
	}
	st.Usage = rising(st.Usage, used, t.NearlyFullPercent, t.FullPercent, t.UsageRearmPoints)
	st.Overcommit = rising(st.Overcommit, st.OvercommitPercentOfMax, t.OvercommitWarnPercent, t.OvercommitCritPercent, t.OvercommitRearmPoints)
	st.FullSoon = ps.fullSoon.Step(now, fc, t, w.cfg.HoldUntrusted)

	dtf := "null"
	if fc.DaysToFull != nil {
		dtf = strconv.FormatFloat(*fc.DaysToFull, 'f', 2, 64)
	}
	common := map[string]string{"usedPercent": strconv.FormatFloat(round2(used), 'f', 2, 64), "daysToFull": dtf,
		"method": fc.Method, "r2": strconv.FormatFloat(fc.R2, 'f', 3, 64),
		"overcommitPercentOfMax": strconv.FormatFloat(st.OvercommitPercentOfMax, 'f', 2, 64)}
	w.set(ps, p, alert.PoolUsageHigh, st.Usage, common, fmt.Sprintf("pool %s (array %s) is %.1f%% used: %d of %d bytes (nearly full at %g%%, full at %g%%)",
		p.ID, ps.array, used, p.UsedBytes, p.PhysicalBytes, t.NearlyFullPercent, t.FullPercent))
	w.set(ps, p, alert.PoolOvercommitHigh, st.Overcommit, common, fmt.Sprintf("pool %s (array %s) has provisioned %.1f%% of its maximum overcommit: %d bytes of %d ((%d physical − %d%% reserved) × %g)",
		p.ID, ps.array, st.OvercommitPercentOfMax, p.ProvisionedBytes, Ceiling(p, true), p.PhysicalBytes, p.ReservedPercent, Overcommit(p)))
	w.set(ps, p, alert.PoolFullSoon, st.FullSoon, common, fmt.Sprintf("pool %s (array %s) fills in %s days (warning at %g, critical at %g): %s",
		p.ID, ps.array, dtf, t.DaysToFull, t.DaysToFullCritical, fc.Explanation))
}

// set raises, re-raises at another severity, or resolves one pool alert.
func (w *Watcher) set(ps *poolState, p array.Pool, name string, lvl Level, common map[string]string, summary string) {
	old := ps.labels[name]
	var labels map[string]string
	if lvl != LevelNone {
		sev := alert.Warning
		if lvl == LevelCritical {
			sev = alert.Critical
		}
		labels = map[string]string{"alertname": name, "severity": sev, "pool": p.ID, "array": ps.array, "site": w.cfg.Sites[ps.array]}
	}
	if old != nil && (labels == nil || old["severity"] != labels["severity"]) {
		if w.cfg.Alerts != nil {
			w.cfg.Alerts.Set(old, nil, false)
		}
		delete(ps.labels, name)
	}
	if labels == nil {
		return
	}
	ps.labels[name] = labels
	if w.cfg.Alerts == nil {
		return
	}
	ann := maps.Clone(common)
	ann["summary"] = summary
	if w.cfg.Alerts.Set(labels, ann, true) {
		w.cfg.Log.WithFields(logrus.Fields{"pool": p.ID, "array": ps.array, "alert": name, "severity": labels["severity"]}).Warn(summary)
	}
}

// Status is the pool's last evaluation; false before its first sample.
func (w *Watcher) Status(pool string) (Status, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	ps, ok := w.pools[pool]
	if !ok || ps.status.At.IsZero() {
		return Status{}, false
	}
	return ps.status, true
}

// History is the pool's history since since, downsampled by age; false
// when the Watcher has never sampled the pool.
func (w *Watcher) History(pool string, since time.Time) ([]Point, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	ps, ok := w.pools[pool]
	if !ok {
		return nil, false
	}
	return ps.hist.Points(since), true
}

func round2(f float64) float64 {
	if math.IsInf(f, 0) {
		return f
	}
	return math.Round(f*100) / 100
}
