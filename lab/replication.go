package lab

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/sanmob/sanmob/array"
)

// Replication: the lab arrays' array.Replicator, in virtual time over the
// link model.
//
// Groups belong to the world: either array of a group answers for it, and
// each array lists the groups it is the source or the target of. A group
// between arrays of two sites uses the link between them; one between two
// arrays of one site uses a local link of localLinkMbps and localLinkRTT,
// which no fault can take down (array faults still apply).
//
// Bandwidth. A link carries replication at BandwidthMbps × LinkEfficiency
// (Config; 0.75 by default, the rest protocol overhead), shared equally
// among the pairs copying on it at each instant, whatever their groups: when
// one finishes, the others speed up. Progress is computed lazily, whenever
// a group is read or changed and whenever the fault table changes, from the
// last time it was computed, exactly: piecewise between the instants a pair
// finishes copying, so a reader at any virtual instant sees the figures a
// continuous simulation would.
//
// Transfer cap. With Config.TransferCapBytesPerSec set, each group copies
// at most that rate, its copying pairs sharing it equally, and the link is
// shared max-min fairly: a group whose cap is below its equal share gets
// the cap, and what it leaves goes to the others equally (never more than
// their own caps). The link may then carry less than its usable rate.
//
// Writes. Every volume has a write rate, in bytes per second: the workload
// that overwrites it, drawn in [0, 4 MiB/s) from its WWN (so from the seed)
// or set by World.SetWriteRate. These writes only matter to replication:
// they do not grow the volume's used bytes (thin growth is storage.go's
// hourly model), and the lab applies them whether or not the volume is
// presented. Only the writable side of a group takes writes.
//
// A pair's figures. It starts with pending = the source volume's used bytes
// (TotalBytes) and ships them at its share of the link; while it copies,
// the source's writes dirty more bytes to ship (TotalBytes grows by the
// write rate), pending capped at the volume's size: rewriting a dirty block
// adds nothing. A pair whose write rate reaches its share never converges.
// Once pending reaches 0 the pair is in step: a sync pair lags by nothing; an
// async one by its write rate × (RTT + asyncCycle), the writes of the cycle
// in flight; the link carries in-step writes on top of the copies' shares
// (a lab shortcut: they are not charged against it). LagBytes is pending,
// or that in-flight figure once in step.
//
// Link down. A link is down while a fault on it with op "any" and no
// latency is active (count faults end as replication operations over the
// link consume them; ClearFaults ends the others): its groups stop copying
// and are SUSPENDED ("link east-west down"); an async group's in-flight
// writes and every write since become pending, and the copy resumes when
// the link comes back (SYNC_IN_PROGRESS, then SYNCHRONIZED). Faults are not
// device state: after a restart every link is up.
//
// States, first that applies: FAILEDOVER once the target side was promoted
// (until Reverse, or a promote of the source side); SUSPENDED while the link
// is down, or while a demoted group still ships its last writes (Error says
// how many bytes are left); SYNC_IN_PROGRESS while pairs copy; else
// SYNCHRONIZED. INVALID is never reported: the lab refuses to delete a
// replicated volume instead. LastSyncAt is the last instant the target held
// every acknowledged write: now while in step (less the cycle for an async
// group with writes), frozen when the group stops being in step.
//
// Writability. A side that is not the writable one presents its volumes
// read-only: every LUN map of them is reported Writable false.
//   - Create: the source is writable, the target read-only. A read-only
//     source volume (left by a deleted group) is refused, ErrConflict.
//   - Demote: the writable side becomes read-only; an async source's
//     in-flight writes go on shipping at its share of the link.
//   - Promote of the target: refused while the source is writable
//     (ErrConflict) and while its last writes are on their way (transient
//     ErrUnavailable, "final sync in progress: N bytes left"); then the
//     target is writable and the group FAILEDOVER: nothing ships, and the
//     target's writes are tracked (LagBytes: what the old source misses).
//   - Promote of the source: refused while the target is writable
//     (ErrConflict), and after a failover while the target holds writes the
//     source misses (ErrConflict: reverse instead); otherwise replication
//     goes on as before the demote.
//   - Reverse: the writable (target) side becomes the source; the writes it
//     took since the failover are the new direction's copy (TotalBytes),
//     SYNCHRONIZED at once when there were none.
//   - Delete: the writable side stays writable and the other read-only, so
//     that no volume is ever writable at two sites; with no writable side,
//     the side that holds every write (the target after a failover, else the
//     source) becomes writable. A volume left read-only stays so (as a real
//     array keeps a split replica write-disabled); it can be the target of
//     a new group, or be deleted.
//
// Faults: every operation that changes a group consults the op "replicate"
// faults of both arrays and of the link (and "any" ones), as every device
// operation does (fault.go), except a delete, which splits a group on each
// array and needs no link (link faults, a link down, do not touch it); a
// read consults the array's read faults.
// Every change, and every SetWriteRate, is journaled and replayed (persist.go).

const (
	localLinkMbps = 16000
	localLinkRTT  = 100 * time.Microsecond
	// asyncCycle is how often an async group ships the writes it gathered.
	asyncCycle = time.Second
	// maxWriteRate bounds the seeded write rates.
	maxWriteRate = 4 << 20
)

// Journal records of replication (see persist.go); Dev is the array asked.
const (
	opMkRepl      = "createReplicationGroup"  // Repl
	opDemoteRepl  = "demoteReplicationGroup"  // ID
	opPromoteRepl = "promoteReplicationGroup" // ID, Array
	opReverseRepl = "reverseReplicationGroup" // ID
	opRmRepl      = "deleteReplicationGroup"  // ID
	opWriteRate   = "setWriteRate"            // ID: the volume, Rate
)

var replOps = map[string]bool{opMkRepl: true, opDemoteRepl: true, opPromoteRepl: true,
	opReverseRepl: true, opRmRepl: true, opWriteRate: true}

type volRef struct{ array, volume string }

// replication is the world's groups, guarded by World.replMu. Lock order:
// replMu, then faultMu or the arrays' mu (by id), never the other way.
type replication struct {
	capBps float64       // Config.TransferCapBytesPerSec: each group's cap, 0 none
	at     time.Duration // virtual time the figures are for
	groups []*rgroup     // in creation order
	rates  map[volRef]float64
}

type rgroup struct {
	spec       array.ReplicationGroupSpec // as created: the same spec again is idempotent
	id, mode   string
	src, tgt   *Array // swapped by Reverse
	lkey       string // groups sharing it share a link
	link       string // fault target "link:A-B"; "" for a local link
	bps        float64
	rtt        time.Duration
	writable   string
	failedOver bool // the target was promoted: it holds writes the source misses
	down       bool // the link was down as of replication.at
	everSynced bool
	lastSync   time.Duration // when it last left being in step
	pairs      []rpair
}

// rpair is one replicated volume; bytes are float so that progress is
// exact, and rounded only for reporting.
type rpair struct {
	src, tgt         string  // volume ids on the group's src and tgt
	srcRate, tgtRate float64 // their write rates, bytes per second
	size             float64 // cap on pending: the source's size
	copied, pending  float64
}

func (g *rgroup) replicating() bool { return !g.down && !g.failedOver }

// inflow is what the source's writes add to a copying pair per second.
func (g *rgroup) inflow(p *rpair) float64 {
	if g.writable == array.SideSource {
		return p.srcRate
	}
	return 0
}

func (g *rgroup) inStep() bool {
	if !g.replicating() {
		return false
	}
	for i := range g.pairs {
		if g.pairs[i].pending > 0 {
			return false
		}
	}
	return true
}

// cycle is the async window: the RTT and asyncCycle.
func (g *rgroup) cycle() float64 { return (g.rtt + asyncCycle).Seconds() }

// inFlight is what an in-step pair lags by.
func (g *rgroup) inFlight(p *rpair) float64 {
	if g.mode == array.ReplicaAsync && g.writable == array.SideSource {
		return p.srcRate * g.cycle()
	}
	return 0
}

// syncWindow is how far behind now the target holds every write while in step.
func (g *rgroup) syncWindow() time.Duration {
	for i := range g.pairs {
		if g.inFlight(&g.pairs[i]) > 0 {
			return g.rtt + asyncCycle
		}
	}
	return 0
}

// leaveStep freezes LastSyncAt at t, before a change that may take the group
// out of step.
func (g *rgroup) leaveStep(t time.Duration) {
	if g.inStep() {
		g.lastSync, g.everSynced = t-g.syncWindow(), true
	}
}

// strand makes the in-flight writes of in-step pairs pending: they stopped
// shipping with the cycle (link down) or must ship before anyone else
// writes (demote).
func (g *rgroup) strand() {
	for i := range g.pairs {
		p := &g.pairs[i]
		if p.pending == 0 {
			p.pending = min(p.size, g.inFlight(p))
		}
	}
}

// advance brings every group's figures to virtual time to.
func (r *replication) advance(to time.Duration) {
	if to <= r.at {
		return
	}
	dt := (to - r.at).Seconds()
	r.at = to
	var done []string
	for i, g := range r.groups {
		if slices.Contains(done, g.lkey) {
			continue
		}
		done = append(done, g.lkey)
		var gs []*rgroup
		for _, h := range r.groups[i:] {
			if h.lkey == g.lkey {
				gs = append(gs, h)
			}
		}
		advanceLink(gs, dt, r.capBps)
	}
}

// advanceLink advances the groups of one link by dt seconds, segment by
// segment: within a segment the set of copying pairs, and so every share,
// is constant; a segment ends when a pair finishes. capBps, when > 0, caps
// each group's copy (see shares).
func advanceLink(gs []*rgroup, dt, capBps float64) {
	bps := gs[0].bps
	shares := make([][]float64, len(gs))
	for dt > 0 {
		linkShares(gs, bps, capBps, shares)
		step := dt
		for i, g := range gs {
			if !g.replicating() {
				continue
			}
			for k := range g.pairs {
				p := &g.pairs[k]
				if d := g.inflow(p) - shares[i][k]; p.pending > 0 && d < 0 {
					step = min(step, p.pending/-d)
				}
			}
		}
		for i, g := range gs {
			for k := range g.pairs {
				p := &g.pairs[k]
				switch {
				case g.replicating() && p.pending > 0:
					share := shares[i][k]
					d := g.inflow(p) - share
					p.copied += share * step
					if d < 0 && p.pending/-d <= step {
						p.pending = 0 // it finishes now: exactly, so that it leaves the copying set
					} else {
						p.pending = min(p.size, max(0, p.pending+d*step))
					}
				case g.failedOver && g.writable == array.SideTarget:
					p.pending = min(p.size, p.pending+p.tgtRate*step)
				case g.down && !g.failedOver && g.writable == array.SideSource:
					p.pending = min(p.size, p.pending+p.srcRate*step)
				}
			}
		}
		dt -= step
	}
}

// linkShares sets shares[i][k], the rate pair k of group gs[i] copies at
// (0 when it does not copy): with no cap, bps shared equally among the
// copying pairs; with a cap, each group's copying pairs share at most
// capBps equally, and the link is shared max-min fairly (water-filling):
// a group below its fair share gets its cap, and what it leaves goes to
// the others equally.
func linkShares(gs []*rgroup, bps, capBps float64, shares [][]float64) {
	type copying struct {
		i, n  int
		limit float64 // per pair
	}
	var cs []copying
	pairs := 0
	for i, g := range gs {
		if cap(shares[i]) < len(g.pairs) {
			shares[i] = make([]float64, len(g.pairs))
		}
		shares[i] = shares[i][:len(g.pairs)]
		clear(shares[i])
		if !g.replicating() {
			continue
		}
		n := 0
		for k := range g.pairs {
			if g.pairs[k].pending > 0 {
				n++
			}
		}
		if n > 0 {
			limit := math.Inf(1)
			if capBps > 0 {
				limit = capBps / float64(n)
			}
			cs = append(cs, copying{i, n, limit})
			pairs += n
		}
	}
	slices.SortStableFunc(cs, func(a, b copying) int { return cmp.Compare(a.limit, b.limit) })
	left := bps
	for _, c := range cs {
		share := min(c.limit, left/float64(pairs))
		left -= share * float64(c.n)
		pairs -= c.n
		for k := range gs[c.i].pairs {
			if gs[c.i].pairs[k].pending > 0 {
				shares[c.i][k] = share
			}
		}
	}
}

// linkDown reports whether a fault takes link down: one with op "any" and
// no latency.
func (w *World) linkDown(link string) bool {
	if link == "" {
		return false
	}
	w.faultMu.Lock()
	defer w.faultMu.Unlock()
	for i := range w.faults {
		f := &w.faults[i]
		if f.kind == linkTarget && f.Target == link && f.Op == OpAny && f.Latency == 0 {
			return true
		}
	}
	return false
}

// replSync brings the groups to the present: their figures, then their
// links' state. It returns the present. The caller holds replMu.
func (w *World) replSync() time.Duration {
	r := &w.repl
	r.advance(w.now())
	now := r.at
	for _, g := range r.groups {
		down := w.linkDown(g.link)
		if down == g.down {
			continue
		}
		if down && !g.failedOver {
			g.leaveStep(now)
			g.strand()
		}
		g.down = down
	}
	return now
}

// faultsChanged is called by InjectFault and ClearFaults around their
// change, under replMu: the figures up to now follow the old fault table,
// the links' state from now the new one.
func (w *World) faultsChanged(change func()) {
	w.replMu.Lock()
	defer w.replMu.Unlock()
	w.replSync()
	change()
	w.replSync()
}

// replLink is the link between two sites: its key, fault target ("" for a
// local link), the bytes per second it carries for replication, its RTT.
func (w *World) replLink(a, b string) (key, target string, bps float64, rtt time.Duration, ok bool) {
	eff := w.cfg.LinkEfficiency
	if a == b {
		return "local:" + a, "", localLinkMbps * 1e6 / 8 * eff, localLinkRTT, true
	}
	for _, l := range w.links {
		if (l.From == a && l.To == b) || (l.From == b && l.To == a) {
			t := linkPrefix + l.From + "-" + l.To
			return t, t, l.BandwidthMbps * 1e6 / 8 * eff, time.Duration(l.RTTMs * float64(time.Millisecond)), true
		}
	}
	return "", "", 0, 0, false
}

// seededWriteRate is volume v's write rate when none was set: [0, 4 MiB/s),
// from a hash of its WWN unrelated to its thin growth rate.
func seededWriteRate(v *volume) float64 {
	x := binary.BigEndian.Uint64(v.wwn[:8]) ^ binary.BigEndian.Uint64(v.wwn[8:])*0xd1b54a32d192ed03
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return maxWriteRate * float64(x>>11) / (1 << 53)
}

// rateOverrides copies the write rates SetWriteRate gave array id's
// volumes, by volume id.
func (w *World) rateOverrides(id string) map[string]float64 {
	w.replMu.Lock()
	defer w.replMu.Unlock()
	out := map[string]float64{}
	for k, r := range w.repl.rates {
		if k.array == id {
			out[k.volume] = r
		}
	}
	return out
}

// writeRate is the write rate of volume vi of a. The caller holds replMu
// and a.mu.
func (w *World) writeRate(a *Array, vi int32) float64 {
	v := &a.vols[vi]
	if r, ok := w.repl.rates[volRef{a.id, v.id}]; ok {
		return r
	}
	return seededWriteRate(v)
}

// lockArrays write-locks the arrays of a group in id order; the returned
// function unlocks them.
func lockArrays(x, y *Array) func() {
	if y.id < x.id {
		x, y = y, x
	}
	x.lock()
	y.lock()
	return func() {
		y.mu.Unlock()
		x.mu.Unlock()
	}
}

// find is the group id, asked of a: nil unless a is one of its sides.
func (r *replication) find(a *Array, id string) *rgroup {
	for _, g := range r.groups {
		if g.id == id && (g.src == a || g.tgt == a) {
			return g
		}
	}
	return nil
}

func (r *replication) byID(id string) *rgroup {
	for _, g := range r.groups {
		if g.id == id {
			return g
		}
	}
	return nil
}

// out is the driver's view of g as of r.at.
func (w *World) groupOut(g *rgroup) array.ReplicationGroup {
	now := w.repl.at
	out := array.ReplicationGroup{ID: g.id, SourceArray: g.src.id, TargetArray: g.tgt.id, Mode: g.mode,
		Writable: g.writable, Pairs: make([]array.ReplicaPair, len(g.pairs))}
	inStep := g.inStep()
	for i := range g.pairs {
		p := &g.pairs[i]
		copied, pending := int64(math.Floor(p.copied)), int64(math.Ceil(p.pending))
		lag := pending
		if inStep {
			lag = int64(math.Round(g.inFlight(p)))
		}
		out.Pairs[i] = array.ReplicaPair{SourceVolume: p.src, TargetVolume: p.tgt,
			TotalBytes: copied + pending, CopiedBytes: copied, LagBytes: lag}
		out.LagBytes += lag
	}
	switch {
	case inStep:
		out.LastSyncAt = w.cfg.Epoch.Add(now - g.syncWindow())
	case g.everSynced:
		out.LastSyncAt = w.cfg.Epoch.Add(g.lastSync)
	}
	pending := g.pendingBytes()
	switch {
	case g.failedOver:
		out.State = array.GroupFailedOver
	case g.down:
		out.State = array.GroupSuspended
		out.Error = "link " + strings.TrimPrefix(g.link, linkPrefix) + " down"
	case pending > 0 && g.writable == array.SideNone:
		out.State = array.GroupSuspended
		out.Error = fmt.Sprintf("demoted: final sync in progress: %d bytes left", pending)
	case pending > 0:
		out.State = array.GroupSyncInProgress
	default:
		out.State = array.GroupSynchronized
	}
	return out
}

// pendingBytes is what the pairs have yet to ship, rounded up.
func (g *rgroup) pendingBytes() int64 {
	var n int64
	for i := range g.pairs {
		n += int64(math.Ceil(g.pairs[i].pending))
	}
	return n
}

// setReadOnly marks the volumes of one side of g. The caller holds both
// arrays' mu.
func (g *rgroup) setReadOnly(side string, ro bool) {
	a := g.src
	if side == array.SideTarget {
		a = g.tgt
	}
	ix := a.index()
	for i := range g.pairs {
		vol := g.pairs[i].src
		if side == array.SideTarget {
			vol = g.pairs[i].tgt
		}
		if vi, ok := ix.vols[vol]; ok {
			a.vols[vi].readOnly = ro
		}
	}
}

// ReplicationGroups lists the groups a is the source or the target of, by
// id; see array.Replicator.
func (a *Array) ReplicationGroups(ctx context.Context) ([]array.ReplicationGroup, error) {
	if _, err := a.w.fault(ctx, array.ErrUnavailable, OpRead, a.id); err != nil {
		return nil, err
	}
	w := a.w
	w.replMu.Lock()
	defer w.replMu.Unlock()
	w.replSync()
	out := []array.ReplicationGroup{}
	for _, g := range w.repl.groups {
		if g.src == a || g.tgt == a {
			out = append(out, w.groupOut(g))
		}
	}
	slices.SortFunc(out, func(x, y array.ReplicationGroup) int { return strings.Compare(x.ID, y.ID) })
	return out, nil
}

func checkReplSpec(spec array.ReplicationGroupSpec) error {
	if err := checkID("replication group id", spec.ID); err != nil {
		return err
	}
	if spec.Mode != array.ReplicaSync && spec.Mode != array.ReplicaAsync {
		return fmt.Errorf("replication group %s: mode %q, want %q or %q: %w", spec.ID, spec.Mode, array.ReplicaSync, array.ReplicaAsync, array.ErrInvalid)
	}
	if spec.SourceArray == spec.TargetArray {
		return fmt.Errorf("replication group %s: source and target are both array %s: %w", spec.ID, spec.SourceArray, array.ErrInvalid)
	}
	if len(spec.Pairs) == 0 {
		return fmt.Errorf("replication group %s: no pairs: %w", spec.ID, array.ErrInvalid)
	}
	for i, p := range spec.Pairs {
		if err := checkID("volume id", p.SourceVolume); err != nil {
			return err
		}
		if err := checkID("volume id", p.TargetVolume); err != nil {
			return err
		}
		for _, q := range spec.Pairs[:i] {
			if q.SourceVolume == p.SourceVolume || q.TargetVolume == p.TargetVolume {
				return fmt.Errorf("replication group %s: volume %s or %s is in two pairs: %w", spec.ID, p.SourceVolume, p.TargetVolume, array.ErrInvalid)
			}
		}
	}
	return nil
}

func sameReplSpec(x, y array.ReplicationGroupSpec) bool {
	return x.ID == y.ID && x.SourceArray == y.SourceArray && x.TargetArray == y.TargetArray &&
		x.Mode == y.Mode && slices.Equal(x.Pairs, y.Pairs)
}

// CreateReplicationGroup creates a group and starts its initial copy; see
// array.Replicator and the top of this file. It must be asked of one of
// the group's two arrays (ErrInvalid otherwise). Arrays of one site
// replicate over a local link.
func (a *Array) CreateReplicationGroup(ctx context.Context, spec array.ReplicationGroupSpec) (array.ReplicationGroup, error) {
	if err := ctx.Err(); err != nil {
		return array.ReplicationGroup{}, err
	}
	w := a.w
	spec.Pairs = slices.Clone(spec.Pairs)
	if err := checkReplSpec(spec); err != nil {
		return array.ReplicationGroup{}, fmt.Errorf("lab: array %s: %w", a.id, err)
	}
	src, tgt, link, err := w.replArrays(a, spec)
	if err != nil {
		return array.ReplicationGroup{}, err
	}
	applyThenFail, faultErr := w.fault(ctx, array.ErrUnavailable, OpReplicate, replTargets(src, tgt, link)...)
	if faultErr != nil && !applyThenFail {
		return array.ReplicationGroup{}, replFaultErr(a, spec.ID, faultErr)
	}
	w.replMu.Lock()
	now := w.replSync()
	unlock := lockArrays(src, tgt)
	g, changed, err := w.createRepl(spec, src, tgt, now)
	var seq uint64
	if err == nil && changed {
		s := spec
		seq, err = w.record(&op{Kind: opMkRepl, Dev: a.id, At: now, Repl: &s})
		if err != nil {
			err = persistErr("array "+a.id, err, array.ErrUnavailable)
		}
	}
	unlock()
	var out array.ReplicationGroup
	if g != nil {
		out = w.groupOut(g)
	}
	w.replMu.Unlock()
	if err != nil {
		return array.ReplicationGroup{}, err
	}
	if err := w.persisted(seq); err != nil {
		return array.ReplicationGroup{}, persistErr("array "+a.id, err, array.ErrUnavailable)
	}
	if faultErr != nil {
		return array.ReplicationGroup{}, replFaultErr(a, spec.ID, faultErr)
	}
	return out, nil
}

// replArrays resolves a spec's arrays and the fault target of their link.
func (w *World) replArrays(a *Array, spec array.ReplicationGroupSpec) (src, tgt *Array, link string, err error) {
	src, ok := w.Array(spec.SourceArray)
	if !ok {
		return nil, nil, "", fmt.Errorf("lab: array %s: replication group %s: no array %q: %w", a.id, spec.ID, spec.SourceArray, array.ErrNotFound)
	}
	tgt, ok = w.Array(spec.TargetArray)
	if !ok {
		return nil, nil, "", fmt.Errorf("lab: array %s: replication group %s: no array %q: %w", a.id, spec.ID, spec.TargetArray, array.ErrNotFound)
	}
	if a != src && a != tgt {
		return nil, nil, "", fmt.Errorf("lab: array %s: replication group %s is between arrays %s and %s: ask one of them: %w",
			a.id, spec.ID, src.id, tgt.id, array.ErrInvalid)
	}
	_, link, _, _, ok = w.replLink(src.site, tgt.site)
	if !ok {
		return nil, nil, "", fmt.Errorf("lab: array %s: replication group %s: no link between sites %s and %s: %w",
			a.id, spec.ID, src.site, tgt.site, array.ErrInvalid)
	}
	return src, tgt, link, nil
}

func replTargets(src, tgt *Array, link string) []string {
	t := []string{src.id, tgt.id}
	if link != "" {
		t = append(t, link)
	}
	return t
}

func replFaultErr(a *Array, id string, err error) error {
	return fmt.Errorf("lab: array %s: replication group %s: %w", a.id, id, err)
}

// createRepl creates the group, or finds it made alike (changed false). The
// caller holds replMu, brought up to now, and both arrays' mu.
func (w *World) createRepl(spec array.ReplicationGroupSpec, src, tgt *Array, now time.Duration) (*rgroup, bool, error) {
	r := &w.repl
	if g := r.byID(spec.ID); g != nil {
		if sameReplSpec(g.spec, spec) {
			return g, false, nil
		}
		return nil, false, fmt.Errorf("lab: replication group %s exists between arrays %s and %s: %w", spec.ID, g.spec.SourceArray, g.spec.TargetArray, array.ErrConflict)
	}
	sx, tx := src.index(), tgt.index()
	pairs := make([]rpair, len(spec.Pairs))
	for i, p := range spec.Pairs {
		si, ok := sx.vols[p.SourceVolume]
		if !ok {
			return nil, false, fmt.Errorf("lab: array %s has no volume %q: %w", src.id, p.SourceVolume, array.ErrNotFound)
		}
		ti, ok := tx.vols[p.TargetVolume]
		if !ok {
			return nil, false, fmt.Errorf("lab: array %s has no volume %q: %w", tgt.id, p.TargetVolume, array.ErrNotFound)
		}
		sv, tv := &src.vols[si], &tgt.vols[ti]
		switch {
		case sv.replicated:
			return nil, false, fmt.Errorf("lab: array %s: volume %s is replicated already: %w", src.id, sv.id, array.ErrConflict)
		case tv.replicated:
			return nil, false, fmt.Errorf("lab: array %s: volume %s is replicated already: %w", tgt.id, tv.id, array.ErrConflict)
		case sv.readOnly:
			return nil, false, fmt.Errorf("lab: array %s: volume %s is read-only, the replica of a deleted group: it cannot be a source: %w", src.id, sv.id, array.ErrConflict)
		case tv.size < sv.size:
			return nil, false, fmt.Errorf("lab: array %s: volume %s of %d bytes cannot hold volume %s of %d bytes of array %s: %w",
				tgt.id, tv.id, tv.size, sv.id, sv.size, src.id, array.ErrInvalid)
		}
		pairs[i] = rpair{src: sv.id, tgt: tv.id, srcRate: w.writeRate(src, si), tgtRate: w.writeRate(tgt, ti),
			size: float64(sv.size), pending: float64(sv.used)}
	}
	key, link, bps, rtt, _ := w.replLink(src.site, tgt.site)
	g := &rgroup{spec: spec, id: spec.ID, mode: spec.Mode, src: src, tgt: tgt, lkey: key, link: link, bps: bps, rtt: rtt,
		writable: array.SideSource, down: w.linkDown(link), pairs: pairs}
	if g.down {
		g.strand()
	}
	for _, p := range pairs {
		sv := &src.vols[sx.vols[p.src]]
		sv.replicated = true
		tv := &tgt.vols[tx.vols[p.tgt]]
		tv.replicated, tv.readOnly = true, true
		// The replica will hold what its source holds, and its pool pays
		// for it: allocated when the group is made (a shortcut — a real
		// thin replica grows as the copy lands), as far as the pool has
		// room.
		if tv.thin {
			tp := &tgt.pools[tv.pool]
			if gain := min(sv.used, tv.size, tv.used+tp.logicalRoom()) - tv.used; gain > 0 {
				tv.used += gain
				tp.logical += gain
			}
		}
	}
	r.groups = append(r.groups, g)
	return g, true, nil
}

// replChange runs one change of group id asked of a: faults first, then
// apply under replMu and both arrays' mu, journaled as o when it changed
// something. A group a is no side of is missing: ErrNotFound, or nil when
// missingOK.
func (a *Array) replChange(ctx context.Context, id string, missingOK bool, o op, apply func(g *rgroup, now time.Duration) (bool, error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkID("replication group id", id); err != nil {
		return fmt.Errorf("lab: array %s: %w", a.id, err)
	}
	w := a.w
	missing := func() error {
		if missingOK {
			return nil
		}
		return fmt.Errorf("lab: array %s has no replication group %q: %w", a.id, id, array.ErrNotFound)
	}
	w.replMu.Lock()
	g := w.repl.find(a, id)
	var targets []string
	if g != nil {
		targets = replTargets(g.src, g.tgt, g.link)
		if o.Kind == opRmRepl {
			// Splitting a group is each array's own business: it needs
			// no link (a link outage is when one most wants to).
			targets = slices.DeleteFunc(targets, func(t string) bool { return strings.HasPrefix(t, "link:") })
		}
	}
	w.replMu.Unlock()
	if g == nil {
		return missing()
	}
	applyThenFail, faultErr := w.fault(ctx, array.ErrUnavailable, OpReplicate, targets...)
	if faultErr != nil && !applyThenFail {
		return replFaultErr(a, id, faultErr)
	}
	w.replMu.Lock()
	now := w.replSync()
	if g = w.repl.find(a, id); g == nil {
		w.replMu.Unlock()
		return missing()
	}
	unlock := lockArrays(g.src, g.tgt)
	changed, err := apply(g, now)
	var seq uint64
	if err == nil && changed {
		o.Dev, o.At, o.ID = a.id, now, id
		seq, err = w.record(&o)
		if err != nil {
			err = persistErr("array "+a.id, err, array.ErrUnavailable)
		}
	}
	unlock()
	w.replMu.Unlock()
	if err != nil {
		return err
	}
	if err := w.persisted(seq); err != nil {
		return persistErr("array "+a.id, err, array.ErrUnavailable)
	}
	if faultErr != nil {
		return replFaultErr(a, id, faultErr)
	}
	return nil
}

// DemoteReplicationGroup makes the writable side read-only; see
// array.Replicator and the top of this file.
func (a *Array) DemoteReplicationGroup(ctx context.Context, id string) error {
	return a.replChange(ctx, id, false, op{Kind: opDemoteRepl}, demoteRepl)
}

func demoteRepl(g *rgroup, now time.Duration) (bool, error) {
	switch g.writable {
	case array.SideNone:
		return false, nil
	case array.SideSource:
		g.leaveStep(now)
		if g.replicating() {
			g.strand()
		}
	}
	g.setReadOnly(g.writable, true)
	g.writable = array.SideNone
	return true, nil
}

// PromoteReplicationGroup makes the side on arrayID writable; see
// array.Replicator and the top of this file. An array that is neither side
// is ErrNotFound.
func (a *Array) PromoteReplicationGroup(ctx context.Context, id, arrayID string) error {
	return a.replChange(ctx, id, false, op{Kind: opPromoteRepl, Array: arrayID}, func(g *rgroup, now time.Duration) (bool, error) {
		return promoteRepl(g, arrayID, now, false)
	})
}

// promoteRepl promotes; replaying, it does not wait for the final sync:
// the promote was accepted when it was made, and replay must not refuse it
// over a rounding difference in the figures (they are computed in fewer
// steps than they were live).
func promoteRepl(g *rgroup, arrayID string, now time.Duration, replaying bool) (bool, error) {
	var side, other string
	switch arrayID {
	case g.src.id:
		side, other = array.SideSource, array.SideTarget
	case g.tgt.id:
		side, other = array.SideTarget, array.SideSource
	default:
		return false, fmt.Errorf("lab: replication group %s has no side on array %q: %w", g.id, arrayID, array.ErrNotFound)
	}
	switch g.writable {
	case side:
		return false, nil
	case other:
		return false, fmt.Errorf("lab: replication group %s: the %s side, array %s, is writable: demote it first: %w",
			g.id, other, map[string]string{array.SideSource: g.src.id, array.SideTarget: g.tgt.id}[other], array.ErrConflict)
	}
	pending := g.pendingBytes()
	if side == array.SideTarget {
		if !g.failedOver && pending > 0 && !replaying {
			return false, fmt.Errorf("lab: replication group %s: final sync in progress: %d bytes left: %w", g.id, pending, array.ErrUnavailable)
		}
		g.leaveStep(now)
		g.failedOver = true
	} else {
		if g.failedOver && pending > 0 {
			return false, fmt.Errorf("lab: replication group %s: the target, array %s, took %d bytes of writes its source misses: promote the target and reverse the group instead: %w",
				g.id, g.tgt.id, pending, array.ErrConflict)
		}
		g.failedOver = false
	}
	g.setReadOnly(side, false)
	g.writable = side
	return true, nil
}

// ReverseReplicationGroup makes the writable side the source; see
// array.Replicator and the top of this file.
func (a *Array) ReverseReplicationGroup(ctx context.Context, id string) error {
	return a.replChange(ctx, id, false, op{Kind: opReverseRepl}, reverseRepl)
}

func reverseRepl(g *rgroup, _ time.Duration) (bool, error) {
	switch g.writable {
	case array.SideSource:
		return false, nil
	case array.SideNone:
		return false, fmt.Errorf("lab: replication group %s has no writable side to make its source: promote one first: %w", g.id, array.ErrConflict)
	}
	g.src, g.tgt = g.tgt, g.src
	for i := range g.pairs {
		p := &g.pairs[i]
		p.src, p.tgt = p.tgt, p.src
		p.srcRate, p.tgtRate = p.tgtRate, p.srcRate
		// The writes the new source took since the failover are this
		// direction's copy.
		p.copied = 0
	}
	g.writable, g.failedOver = array.SideSource, false
	return true, nil
}

// DeleteReplicationGroup stops replicating and removes the group; see
// array.Replicator and the top of this file for what stays writable.
func (a *Array) DeleteReplicationGroup(ctx context.Context, id string) error {
	return a.replChange(ctx, id, true, op{Kind: opRmRepl}, func(g *rgroup, _ time.Duration) (bool, error) {
		a.w.deleteRepl(g)
		return true, nil
	})
}

func (w *World) deleteRepl(g *rgroup) {
	if g.writable == array.SideNone {
		side := array.SideSource
		if g.failedOver {
			side = array.SideTarget
		}
		g.setReadOnly(side, false)
	}
	sx, tx := g.src.index(), g.tgt.index()
	for _, p := range g.pairs {
		if vi, ok := sx.vols[p.src]; ok {
			g.src.vols[vi].replicated = false
		}
		if vi, ok := tx.vols[p.tgt]; ok {
			g.tgt.vols[vi].replicated = false
		}
	}
	w.repl.groups = slices.DeleteFunc(w.repl.groups, func(h *rgroup) bool { return h == g })
}

// SetWriteRate sets the rate, in bytes per second, at which a volume's
// workload overwrites it (see the top of this file): a lab control, for
// tests and benchmarks, journaled like a device change. The rate belongs
// to the volume id: a volume deleted and made again under it keeps it.
// Errors: ErrNotFound (array or volume), ErrInvalid (a negative or not
// finite rate).
func (w *World) SetWriteRate(arrayID, volumeID string, bps float64) error {
	if math.IsNaN(bps) || math.IsInf(bps, 0) || bps < 0 {
		return fmt.Errorf("lab: write rate %v of volume %s: want a finite rate >= 0: %w", bps, volumeID, array.ErrInvalid)
	}
	a, ok := w.Array(arrayID)
	if !ok {
		return fmt.Errorf("lab: no array %q: %w", arrayID, array.ErrNotFound)
	}
	w.replMu.Lock()
	now := w.replSync()
	a.lock()
	err := w.setWriteRate(a, volumeID, bps)
	var seq uint64
	if err == nil {
		r := bps
		seq, err = w.record(&op{Kind: opWriteRate, Dev: a.id, At: now, ID: volumeID, Rate: &r})
		if err != nil {
			err = persistErr("array "+a.id, err, array.ErrUnavailable)
		}
	}
	a.mu.Unlock()
	w.replMu.Unlock()
	if err != nil {
		return err
	}
	if err := w.persisted(seq); err != nil {
		return persistErr("array "+a.id, err, array.ErrUnavailable)
	}
	return nil
}

// setWriteRate applies a rate; the caller holds replMu, brought up to now,
// and a.mu.
func (w *World) setWriteRate(a *Array, volumeID string, bps float64) error {
	if _, ok := a.index().vols[volumeID]; !ok {
		return fmt.Errorf("lab: array %s has no volume %q: %w", a.id, volumeID, array.ErrNotFound)
	}
	if w.repl.rates == nil {
		w.repl.rates = make(map[volRef]float64)
	}
	w.repl.rates[volRef{a.id, volumeID}] = bps
	for _, g := range w.repl.groups {
		for i := range g.pairs {
			p := &g.pairs[i]
			if g.src == a && p.src == volumeID {
				p.srcRate = bps
			}
			if g.tgt == a && p.tgt == volumeID {
				p.tgtRate = bps
			}
		}
	}
	return nil
}

// replayRepl applies one replication record (see persist.go).
func (w *World) replayRepl(o *op) error {
	a, ok := w.Array(o.Dev)
	if !ok {
		return fmt.Errorf("no array %q", o.Dev)
	}
	w.replMu.Lock()
	defer w.replMu.Unlock()
	now := w.replSync()
	if o.Kind == opWriteRate {
		if o.Rate == nil {
			return fmt.Errorf("no rate")
		}
		a.lock()
		defer a.mu.Unlock()
		return w.setWriteRate(a, o.ID, *o.Rate)
	}
	if o.Kind == opMkRepl {
		if o.Repl == nil {
			return fmt.Errorf("no group")
		}
		if err := checkReplSpec(*o.Repl); err != nil {
			return err
		}
		src, tgt, _, err := w.replArrays(a, *o.Repl)
		if err != nil {
			return err
		}
		defer lockArrays(src, tgt)()
		_, _, err = w.createRepl(*o.Repl, src, tgt, now)
		return err
	}
	g := w.repl.find(a, o.ID)
	if g == nil {
		return fmt.Errorf("no replication group %q on array %s", o.ID, a.id)
	}
	defer lockArrays(g.src, g.tgt)()
	var err error
	switch o.Kind {
	case opDemoteRepl:
		_, err = demoteRepl(g, now)
	case opPromoteRepl:
		_, err = promoteRepl(g, o.Array, now, true)
	case opReverseRepl:
		_, err = reverseRepl(g, now)
	case opRmRepl:
		w.deleteRepl(g)
	}
	return err
}
