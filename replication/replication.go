// Package replication is sanmob's view of storage replication: the
// consistency groups and pairs the arrays run (array.Replicator), their
// mode, state, lag and achieved RPO, read through the device registry on
// every refresh, and the ReplicationLagHigh alert raised when a group's
// target falls further behind than its RPO allows or stops replicating.
//
// The groups themselves are created, promoted, demoted and reversed by
// mobility's migrations, in step with the compute moves; this package
// only watches and answers.
package replication

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
	"k8s.io/utils/clock"

	"github.com/sanmob/sanmob/alert"
	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/devices"
)

// DefaultRPO is the recovery point objective a group is held to when none
// is configured: an async target at most five minutes behind.
const DefaultRPO = 5 * time.Minute

// Endpoint is one side of a pair.
type Endpoint struct {
	Array  string `json:"array"`
	Volume string `json:"volume"`
}

// Pair is one replicated volume (API.md: GET /v1/replication/pairs).
type Pair struct {
	ID          string     `json:"id"`
	Group       string     `json:"group"`
	Source      Endpoint   `json:"source"`
	Target      Endpoint   `json:"target"`
	Mode        string     `json:"mode"`
	State       string     `json:"state"`
	LagBytes    int64      `json:"lagBytes"`
	CopiedBytes int64      `json:"copiedBytes"`
	TotalBytes  int64      `json:"totalBytes"`
	RPOSeconds  float64    `json:"rpoSeconds"`
	LastSyncAt  *time.Time `json:"lastSyncAt"`
}

// Group is a per-VM consistency group (GET /v1/replication/groups).
type Group struct {
	ID          string `json:"id"`
	SourceArray string `json:"sourceArray"`
	TargetArray string `json:"targetArray"`
	Mode        string `json:"mode"`
	State       string `json:"state"`
	// Writable is the side that takes writes: source, target or none.
	Writable   string     `json:"writable"`
	LagBytes   int64      `json:"lagBytes"`
	RPOSeconds float64    `json:"rpoSeconds"`
	LastSyncAt *time.Time `json:"lastSyncAt"`
	Error      string     `json:"error,omitempty"`
	Pairs      []Pair     `json:"pairs"`
	ObservedAt time.Time  `json:"observedAt"`
}

// Config wires a Watcher.
type Config struct {
	Devices *devices.Devices
	Clock   clock.PassiveClock
	Alerts  *alert.Manager
	Log     logrus.FieldLogger
	// RPO is the objective ReplicationLagHigh holds groups to (default
	// DefaultRPO).
	RPO time.Duration
}

// Watcher keeps the last reading of every replication group.
type Watcher struct {
	cfg  Config
	last atomic.Pointer[[]Group]
	mu   sync.Mutex                   // one Refresh at a time
	fire map[string]map[string]string // labels of each group's firing alert
}

// New makes a Watcher; it reads nothing until Refresh.
func New(cfg Config) *Watcher {
	if cfg.RPO <= 0 {
		cfg.RPO = DefaultRPO
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Log == nil {
		cfg.Log = logrus.StandardLogger()
	}
	w := &Watcher{cfg: cfg, fire: map[string]map[string]string{}}
	w.last.Store(&[]Group{})
	return w
}

// Refresh reads the groups of every array that replicates (each group
// once, from the first array that reports it), evaluates each and raises
// or resolves its ReplicationLagHigh. An array that does not answer keeps
// its groups as last read, and the error says which.
func (w *Watcher) Refresh(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.cfg.Clock.Now()
	prev := map[string]Group{}
	for _, g := range *w.last.Load() {
		prev[g.ID] = g
	}
	seen := map[string]bool{}
	out := []Group{}
	var errs []error
	devs := w.cfg.Devices.Arrays()
	for _, id := range w.cfg.Devices.ArrayIDs() {
		rep, ok := devs[id].Driver.(array.Replicator)
		if !ok {
			continue
		}
		c, cancel := context.WithTimeout(ctx, w.cfg.Devices.Timeout())
		gs, err := rep.ReplicationGroups(c)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("array %s: %w", id, err))
			for _, g := range prev { // keep what it said last
				if (g.SourceArray == id || g.TargetArray == id) && !seen[g.ID] {
					seen[g.ID] = true
					out = append(out, g)
				}
			}
			continue
		}
		for _, g := range gs {
			if !seen[g.ID] {
				seen[g.ID] = true
				out = append(out, View(g, now))
			}
		}
	}
	slices.SortFunc(out, func(a, b Group) int { return compareStr(a.ID, b.ID) })
	w.last.Store(&out)
	w.alert(out)
	if len(errs) > 0 {
		return fmt.Errorf("replication: %v", errs)
	}
	return nil
}

func compareStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// View turns an array's report of a group into sanmob's, at now: the
// achieved RPO is how long ago the target last held every acknowledged
// write (0 while it holds them, or lags only by writes in flight of a
// synchronous group).
func View(g array.ReplicationGroup, now time.Time) Group {
	out := Group{ID: g.ID, SourceArray: g.SourceArray, TargetArray: g.TargetArray, Mode: g.Mode, State: g.State,
		Writable: g.Writable, LagBytes: g.LagBytes, Error: g.Error, ObservedAt: now, Pairs: []Pair{}}
	if !g.LastSyncAt.IsZero() {
		t := g.LastSyncAt
		out.LastSyncAt = &t
	}
	out.RPOSeconds = rpo(g.LagBytes, g.LastSyncAt, now)
	for _, p := range g.Pairs {
		pr := Pair{ID: g.ID + "/" + p.SourceVolume, Group: g.ID, Mode: g.Mode, State: g.State,
			Source: Endpoint{g.SourceArray, p.SourceVolume}, Target: Endpoint{g.TargetArray, p.TargetVolume},
			LagBytes: p.LagBytes, CopiedBytes: p.CopiedBytes, TotalBytes: p.TotalBytes, LastSyncAt: out.LastSyncAt}
		pr.RPOSeconds = rpo(p.LagBytes, g.LastSyncAt, now)
		out.Pairs = append(out.Pairs, pr)
	}
	return out
}

func rpo(lag int64, lastSync, now time.Time) float64 {
	if lag == 0 {
		return 0
	}
	if lastSync.IsZero() {
		return -1 // never in sync yet: the initial copy runs
	}
	return max(now.Sub(lastSync).Seconds(), 0)
}

// alert raises ReplicationLagHigh for every group behind its RPO or not
// replicating, and resolves it for the others and for groups gone. A
// group in its initial copy is not behind: it has never been in sync.
func (w *Watcher) alert(gs []Group) {
	if w.cfg.Alerts == nil {
		return
	}
	now := map[string]map[string]string{}
	for _, g := range gs {
		labels := map[string]string{"alertname": alert.ReplicationLagHigh, "group": g.ID, "array": g.SourceArray, "severity": alert.Warning}
		var why string
		switch {
		case g.State == array.GroupInvalid:
			why, labels["severity"] = "replication group cannot replicate: "+g.Error, alert.Critical
		case g.State == array.GroupSuspended && g.Writable != array.SideNone:
			why = "replication is suspended: " + g.Error
		case g.RPOSeconds > w.cfg.RPO.Seconds():
			why = fmt.Sprintf("the target is %.0f s behind (%d bytes), past the RPO of %.0f s", g.RPOSeconds, g.LagBytes, w.cfg.RPO.Seconds())
		}
		if why == "" {
			continue
		}
		now[g.ID] = labels
		ann := map[string]string{"summary": fmt.Sprintf("replication group %s (%s → %s)", g.ID, g.SourceArray, g.TargetArray), "reason": why}
		if w.cfg.Alerts.Set(labels, ann, true) {
			w.cfg.Log.WithFields(logrus.Fields{"group": g.ID, "state": g.State, "lagBytes": g.LagBytes}).Warn(why)
		}
	}
	for id, labels := range w.fire {
		if n, ok := now[id]; !ok || n["severity"] != labels["severity"] || n["array"] != labels["array"] {
			w.cfg.Alerts.Set(labels, nil, false)
		}
	}
	w.fire = now
}

// Groups returns the groups as last read, by id.
func (w *Watcher) Groups() []Group { return slices.Clone(*w.last.Load()) }

// Group returns one group as last read.
func (w *Watcher) Group(id string) (Group, bool) {
	for _, g := range *w.last.Load() {
		if g.ID == id {
			return g, true
		}
	}
	return Group{}, false
}

// Pairs returns every group's pairs as last read.
func (w *Watcher) Pairs() []Pair {
	out := []Pair{}
	for _, g := range *w.last.Load() {
		out = append(out, g.Pairs...)
	}
	return out
}
