package fabric

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"k8s.io/utils/clock"

	"github.com/sanmob/sanmob/errclass"
	"github.com/sanmob/sanmob/fabric/wwn"
)

// Intent says that one initiator must reach one target on one fabric. The
// labels only name the zone for the people reading the zone DB.
type Intent struct {
	Fabric         string
	Initiator      wwn.WWN
	Target         wwn.WWN
	InitiatorLabel string // the VM or host the initiator belongs to
	TargetLabel    string // the array the target port belongs to
}

// Policy is how a fabric's zones are shaped.
type Policy string

// Zoning policies.
const (
	// SIST: one zone per initiator and target (the default, best practice).
	SIST Policy = "sist"
	// PeerZones: one peer zone per target port, its principal, with every
	// initiator that needs it as peers — far fewer zones on big fabrics.
	PeerZones Policy = "peer"
)

// Mode is how a Zoner turns requests into commits.
type Mode int

// Modes.
const (
	// GroupCommit folds every request that arrives while a fabric's commit
	// runs into that fabric's next commit; fabrics commit in parallel.
	GroupCommit Mode = iota
	// Serial commits once per request per fabric, one fabric after the
	// other, behind one lock for all fabrics: the way OpenStack Cinder's zone
	// manager works. It exists to be measured against.
	Serial
)

// ZonerConfig configures a Zoner.
type ZonerConfig struct {
	Fabrics  map[string]Driver
	Policies map[string]Policy // by fabric id; SIST when absent
	Mode     Mode
	Clock    clock.Clock // for backoff and commit times; clock.RealClock{} when nil
	Log      logrus.FieldLogger
	// Attempts bounds the commits tried for one batch (conflicts, busy
	// replies and unverified commits each use one); default 6.
	Attempts int
	// Backoff is the first wait after a busy reply, doubled each time up to
	// 30 s; default 1 s.
	Backoff time.Duration
	// Timeout bounds each driver call (a read, a commit, an abort); a
	// call that times out counts as transient: the outcome is read back.
	// Default 60 s, the budget DOMAIN.md gives a commit.
	Timeout time.Duration
	// InUse, when set, says whether a sanmob-named zone that no intent holds
	// is still explained by the inventory (a discovered VM's path): such a
	// zone is not an orphan and a repair leaves it alone.
	InUse func(fabricID string, z Zone) bool
}

// Zoner keeps the desired zoning of every fabric — zone intents, each with
// the users that need it — and brings the switches to it. One worker per
// fabric plans the difference against the zone DB it reads, touching only
// zones sanmob owns, and applies it in one transaction that it then reads
// back and verifies. Requests that arrive while a commit runs go into the
// next one (group commit); each caller waits for the commit that carries its
// request and gets its own error. A zone goes only when its last user
// releases it.
type Zoner struct {
	cfg     ZonerConfig
	fabrics map[string]*fabricZoner
	serial  sync.Mutex // Serial mode: one request at a time, fabrics in turn
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// Errors of the Zoner, besides the drivers' sentinels it passes on wrapped.
var (
	// ErrClosed: the Zoner was closed before the request was committed.
	ErrClosed = errclass.New(errclass.Transient, "fabric: zoner closed")
)

// NewZoner validates cfg and starts one worker per fabric; Close stops them.
func NewZoner(cfg ZonerConfig) (*Zoner, error) {
	if len(cfg.Fabrics) == 0 {
		return nil, fmt.Errorf("%w: a zoner needs at least one fabric", ErrInvalid)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Log == nil {
		l := logrus.New()
		l.SetOutput(discard{})
		cfg.Log = l
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = 6
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Minute
	}
	for id := range cfg.Policies {
		if _, ok := cfg.Fabrics[id]; !ok {
			return nil, fmt.Errorf("%w: zoning policy for unknown fabric %q", ErrInvalid, id)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	z := &Zoner{cfg: cfg, fabrics: make(map[string]*fabricZoner, len(cfg.Fabrics)), cancel: cancel}
	for id, d := range cfg.Fabrics {
		if d == nil {
			cancel()
			return nil, fmt.Errorf("%w: fabric %q has no driver", ErrInvalid, id)
		}
		p := cfg.Policies[id]
		switch p {
		case "":
			p = SIST
		case SIST:
		case PeerZones:
			if pz, ok := d.(PeerZoner); !ok || !pz.PeerZones() {
				cancel()
				return nil, fmt.Errorf("%w: fabric %q: peer zoning configured but the switch does not support peer zones", ErrInvalid, id)
			}
		default:
			cancel()
			return nil, fmt.Errorf("%w: fabric %q: unknown zoning policy %q (want %q or %q)", ErrInvalid, id, p, SIST, PeerZones)
		}
		f := &fabricZoner{
			id: id, drv: d, policy: p, z: z,
			log:   cfg.Log.WithField("fabric", id),
			pairs: make(map[pair]use),
			wake:  make(chan struct{}, 1),
		}
		z.fabrics[id] = f
		z.wg.Go(func() { f.run(ctx) })
	}
	return z, nil
}

// Close stops the workers; requests not yet committed fail with ErrClosed.
func (z *Zoner) Close() {
	z.cancel()
	z.wg.Wait()
}

// Ensure makes every intent's zone exist for user, on every fabric the
// intents name, and returns when all of them are committed and verified.
// It succeeds on all fabrics or on none: when one fails, the fabrics that
// committed are put back (this user's new references removed) and the error
// names each failed fabric and why. Ensuring what user already has is a
// no-op.
func (z *Zoner) Ensure(ctx context.Context, user string, intents []Intent) error {
	byFabric, err := z.group(user, intents)
	if err != nil {
		return err
	}
	if z.cfg.Mode == Serial {
		return z.ensureSerial(ctx, user, byFabric)
	}
	ops := make(map[string]*op, len(byFabric))
	for id, in := range byFabric {
		ops[id] = z.fabrics[id].submit(user, in, nil)
	}
	var failed []error
	for _, id := range sortedKeys(ops) {
		if err := ops[id].wait(ctx); err != nil {
			failed = append(failed, err)
		}
	}
	if failed == nil {
		return nil
	}
	// Put back the fabrics that committed. The caller's context may be
	// gone; the undo must still run.
	for _, id := range sortedKeys(ops) {
		o, f := ops[id], z.fabrics[id]
		select {
		case <-o.done:
		default:
			// The caller stopped waiting while this fabric's commit runs:
			// undo what it adds once it lands.
			go func() {
				<-o.done
				if o.err == nil && len(o.added) > 0 {
					f.submit(user, nil, o.added)
				}
			}()
			continue
		}
		if o.err == nil {
			if err := f.putBack(ctx, user, o); err != nil {
				failed = append(failed, err)
			}
		}
	}
	return errors.Join(failed...)
}

// putBack removes the references a committed op added — the undo of an
// Ensure that failed elsewhere. The caller's context may be gone; the undo
// must still run.
func (f *fabricZoner) putBack(ctx context.Context, user string, o *op) error {
	if len(o.added) == 0 {
		return nil
	}
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
	defer cancel()
	if err := f.submit(user, nil, o.added).wait(uctx); err != nil {
		return fmt.Errorf("fabric %s: putting back this request's zones failed, they remain until reconciled: %w", f.id, err)
	}
	return nil
}

func (z *Zoner) ensureSerial(ctx context.Context, user string, byFabric map[string][]Intent) error {
	z.serial.Lock()
	defer z.serial.Unlock()
	var done []*op
	var doneIDs []string
	for _, id := range sortedKeys(byFabric) {
		o := z.fabrics[id].submit(user, byFabric[id], nil)
		if err := o.wait(ctx); err != nil {
			failed := []error{err}
			for i, d := range done {
				if err := z.fabrics[doneIDs[i]].putBack(ctx, user, d); err != nil {
					failed = append(failed, err)
				}
			}
			return errors.Join(failed...)
		}
		done = append(done, o)
		doneIDs = append(doneIDs, id)
	}
	return nil
}

// Release removes user from the intents' zones; a zone no other user needs
// is deleted. Releasing what user does not hold is a no-op. Fabrics are
// released independently: on error, the fabrics named in it still hold
// user's references and Release may be called again.
func (z *Zoner) Release(ctx context.Context, user string, intents []Intent) error {
	byFabric, err := z.group(user, intents)
	if err != nil {
		return err
	}
	if z.cfg.Mode == Serial {
		z.serial.Lock()
		defer z.serial.Unlock()
	}
	ops := make(map[string]*op, len(byFabric))
	for _, id := range sortedKeys(byFabric) {
		ops[id] = z.fabrics[id].submit(user, nil, byFabric[id])
		if z.cfg.Mode == Serial {
			if err := ops[id].wait(ctx); err != nil {
				return err
			}
		}
	}
	var failed []error
	for _, id := range sortedKeys(ops) {
		if err := ops[id].wait(ctx); err != nil {
			failed = append(failed, err)
		}
	}
	return errors.Join(failed...)
}

// ReleaseAll releases every intent user holds, on every fabric.
func (z *Zoner) ReleaseAll(ctx context.Context, user string) error {
	return z.Release(ctx, user, z.Holds(user))
}

// Adopt records that user holds intents whose zones already exist — the
// desired state rebuilt from sanmob's records when the daemon starts. It
// commits nothing; a reconcile shows what does not match.
func (z *Zoner) Adopt(user string, intents []Intent) error {
	byFabric, err := z.group(user, intents)
	if err != nil {
		return err
	}
	for id, in := range byFabric {
		f := z.fabrics[id]
		f.mu.Lock()
		for _, i := range in {
			p := pair{i.Initiator, i.Target}
			u, ok := f.pairs[p]
			if !ok {
				u = use{iniLabel: i.InitiatorLabel, tgtLabel: i.TargetLabel}
			}
			if !slices.Contains(u.users, user) {
				u.users = append(slices.Clip(u.users), user)
				f.pairs[p] = u
			}
		}
		f.gen++
		f.mu.Unlock()
	}
	return nil
}

// AdoptAll is Adopt for a whole fabric at once, from an iterator of users
// and their intents on that fabric — the start-up of a large inventory,
// where building a slice per user would cost more than the adoption.
// sizeHint, when the fabric holds nothing yet, sizes its state at once.
func (z *Zoner) AdoptAll(fabricID string, sizeHint int, intents iter.Seq2[string, Intent]) error {
	f, ok := z.fabrics[fabricID]
	if !ok {
		return fmt.Errorf("%w: fabric %q", ErrNotFound, fabricID)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.pairs) == 0 && sizeHint > 0 {
		f.pairs = make(map[pair]use, sizeHint)
	}
	f.gen++
	var last []string // users slices are immutable, so pairs may share one
	for user, in := range intents {
		if user == "" || in.Initiator.IsZero() || in.Target.IsZero() || in.Initiator == in.Target {
			return fmt.Errorf("%w: adopting %+v for %q", ErrInvalid, in, user)
		}
		p := pair{in.Initiator, in.Target}
		u, ok := f.pairs[p]
		switch {
		case !ok:
			if len(last) != 1 || last[0] != user {
				last = []string{user}
			}
			f.pairs[p] = use{users: last, iniLabel: in.InitiatorLabel, tgtLabel: in.TargetLabel}
		case !slices.Contains(u.users, user):
			u.users = append(slices.Clip(u.users), user)
			f.pairs[p] = u
		}
	}
	return nil
}

// Forget drops every reference user holds without touching a switch — for
// an object removed from the inventory while its zones stay where they are;
// zones nobody else holds then show as orphans in a reconcile.
func (z *Zoner) Forget(user string) {
	for _, f := range z.fabrics {
		f.mu.Lock()
		for p, u := range f.pairs {
			i := slices.Index(u.users, user)
			switch {
			case i < 0:
			case len(u.users) == 1:
				delete(f.pairs, p)
			default:
				u.users = slices.Delete(slices.Clone(u.users), i, i+1)
				f.pairs[p] = u
			}
		}
		f.gen++
		f.mu.Unlock()
	}
}

// Holds lists the intents user holds, by fabric, initiator and target.
func (z *Zoner) Holds(user string) []Intent {
	var out []Intent
	for _, id := range sortedKeys(z.fabrics) {
		f := z.fabrics[id]
		f.mu.Lock()
		for p, u := range f.pairs {
			if slices.Contains(u.users, user) {
				out = append(out, Intent{Fabric: id, Initiator: p.ini, Target: p.tgt, InitiatorLabel: u.iniLabel, TargetLabel: u.tgtLabel})
			}
		}
		f.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b Intent) int {
		if c := strings.Compare(a.Fabric, b.Fabric); c != 0 {
			return c
		}
		return pair{a.Initiator, a.Target}.compare(pair{b.Initiator, b.Target})
	})
	return out
}

// FabricStats is what a Zoner knows of one fabric's commits.
type FabricStats struct {
	// Generation changes whenever the fabric's desired state does: a drift
	// computed at one generation and zone-DB checksum holds until either
	// changes.
	Generation   uint64
	Policy       Policy
	Commits      int       // transactions this Zoner committed
	LastCommitAt time.Time // zero before the first
	Zones        int       // zones the desired state holds
}

// Stats reports on one fabric; ok is false for an unknown fabric.
func (z *Zoner) Stats(fabricID string) (FabricStats, bool) {
	f, ok := z.fabrics[fabricID]
	if !ok {
		return FabricStats{}, false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	zones := len(f.pairs)
	if f.policy == PeerZones {
		tgts := map[wwn.WWN]bool{}
		for p := range f.pairs {
			tgts[p.tgt] = true
		}
		zones = len(tgts)
	}
	return FabricStats{Generation: f.gen, Policy: f.policy, Commits: f.commits, LastCommitAt: f.lastCommit, Zones: zones}, true
}

// Users returns, for each zone of the fabric's desired state by name, its
// users, sorted.
func (z *Zoner) Users(fabricID string) map[string][]string {
	if _, ok := z.fabrics[fabricID]; !ok {
		return nil
	}
	out := map[string][]string{}
	for _, h := range z.Held(fabricID) {
		out[h.Zone.Name] = h.Users
	}
	return out
}

// HeldZone is a zone of the desired state with its users, sorted.
type HeldZone struct {
	Zone  Zone
	Users []string
}

// Held lists the zones of a fabric's desired state with their users, by
// name. A zone on a switch keeps the name it was committed with, while the
// desired state names a zone after its pair's first user, which a restart
// or a release can change: match a switch's zones by ContentKey.
func (z *Zoner) Held(fabricID string) []HeldZone {
	f, ok := z.fabrics[fabricID]
	if !ok {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []HeldZone
	for _, dz := range f.desiredOf(f.pairs) {
		set := map[string]struct{}{}
		for _, p := range dz.pairs {
			for _, u := range f.pairs[p].users {
				set[u] = struct{}{}
			}
		}
		out = append(out, HeldZone{Zone: dz.zone, Users: sortedKeys(set)})
	}
	return out
}

// UsersByContent is the users of each zone of the desired state, keyed by
// its ContentKey (see Held).
func (z *Zoner) UsersByContent(fabricID string) map[string][]string {
	held := z.Held(fabricID)
	out := make(map[string][]string, len(held))
	for _, h := range held {
		out[signature(h.Zone)] = h.Users
	}
	return out
}

// ZonesFor returns the zones of the fabric's desired state that serve the
// intents on that fabric, by name, once each: a SIST zone per pair, or the
// peer zone of each target. An intent nobody holds has no zone.
func (z *Zoner) ZonesFor(fabricID string, intents []Intent) []Zone {
	f, ok := z.fabrics[fabricID]
	if !ok {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	seen := map[zkey]bool{}
	var out []Zone
	for _, in := range intents {
		if in.Fabric != fabricID {
			continue
		}
		k := f.keyOf(pair{in.Initiator, in.Target})
		if seen[k] {
			continue
		}
		seen[k] = true
		if dz, ok := f.zoneFor(f.pairs, k); ok {
			out = append(out, dz.zone)
		}
	}
	slices.SortFunc(out, func(a, b Zone) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Policy returns the zoning policy of a fabric; ok is false for an unknown
// fabric.
func (z *Zoner) Policy(fabricID string) (Policy, bool) {
	f, ok := z.fabrics[fabricID]
	if !ok {
		return "", false
	}
	return f.policy, true
}

func (z *Zoner) group(user string, intents []Intent) (map[string][]Intent, error) {
	if user == "" {
		return nil, fmt.Errorf("%w: a zone intent needs a user", ErrInvalid)
	}
	out := map[string][]Intent{}
	for i, in := range intents {
		switch {
		case z.fabrics[in.Fabric] == nil:
			return nil, fmt.Errorf("%w: intent %d: unknown fabric %q", ErrNotFound, i, in.Fabric)
		case in.Initiator.IsZero() || in.Target.IsZero():
			return nil, fmt.Errorf("%w: intent %d: initiator and target are required", ErrInvalid, i)
		case in.Initiator == in.Target:
			return nil, fmt.Errorf("%w: intent %d: initiator and target are the same port %s", ErrInvalid, i, in.Initiator)
		}
		out[in.Fabric] = append(out[in.Fabric], in)
	}
	return out, nil
}

// pair is the unit of desired state: an initiator that must reach a target.
type pair struct{ ini, tgt wwn.WWN }

func (p pair) compare(q pair) int {
	if c := p.ini.Compare(q.ini); c != 0 {
		return c
	}
	return p.tgt.Compare(q.tgt)
}

// use is who needs a pair (never empty: a pair nobody needs is not kept),
// and the labels its zone is named with (those of the first user). Most
// pairs have one user; a large fabric has hundreds of thousands of pairs.
type use struct {
	users              []string
	iniLabel, tgtLabel string
}

// op is one request to one fabric's worker.
type op struct {
	user    string
	add     []Intent
	remove  []Intent
	repair  bool // reconcile: make the owned zones match the desired state
	done    chan struct{}
	err     error
	added   []Intent // the references add created (the undo of a failed Ensure)
	removed []Intent
	drift   Drift // repair: what was found before repairing
}

func (o *op) wait(ctx context.Context) error {
	select {
	case <-o.done:
		return o.err
	case <-ctx.Done():
		// The commit may still carry this request; the caller is told it
		// did not wait for it. A failed Ensure's undo covers only what it saw.
		return fmt.Errorf("waiting for the zoning commit: %w", ctx.Err())
	}
}

// fabricZoner is one fabric's worker and desired state.
type fabricZoner struct {
	id     string
	drv    Driver
	policy Policy
	z      *Zoner
	log    logrus.FieldLogger

	mu         sync.Mutex
	pairs      map[pair]use // committed desired state
	gen        uint64       // bumped on every change of pairs
	queue      []*op
	commits    int
	lastCommit time.Time
	busySince  time.Time // when the batch under way began; zero when idle
	wake       chan struct{}
}

func (f *fabricZoner) submit(user string, add, remove []Intent) *op {
	o := &op{user: user, add: add, remove: remove, done: make(chan struct{})}
	f.enqueue(o)
	return o
}

func (f *fabricZoner) enqueue(o *op) {
	f.mu.Lock()
	f.queue = append(f.queue, o)
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *fabricZoner) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			f.mu.Lock()
			q := f.queue
			f.queue = nil
			f.mu.Unlock()
			for _, o := range q {
				o.err = fmt.Errorf("fabric %s: %w", f.id, ErrClosed)
				close(o.done)
			}
			return
		case <-f.wake:
		}
		for {
			f.mu.Lock()
			var batch []*op
			if f.z.cfg.Mode == Serial {
				if len(f.queue) > 0 {
					batch, f.queue = f.queue[:1:1], f.queue[1:]
				}
			} else {
				batch, f.queue = f.queue, nil
			}
			f.mu.Unlock()
			if len(batch) == 0 {
				break
			}
			f.commitBatch(ctx, batch)
		}
	}
}
