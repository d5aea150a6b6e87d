package mobility

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/inventory"
	"github.com/sanmob/sanmob/thin"
)

// Migration kinds (API.md, the Migration object).
const (
	KindSameFabric  = "same-fabric"  // the destination host is on every fabric the VM's vports use
	KindCrossFabric = "cross-fabric" // same site, but the destination host is on other fabrics
	KindCrossSite   = "cross-site"   // the destination host is at another site: storage is copied
)

// Migration modes.
const (
	ModeLive = "live" // the compute moves while the VM runs
	ModeCold = "cold" // power off, final sync, power on
)

// Planner defaults and constants. Every figure comes from DOMAIN.md
// "Replication and migration".
const (
	// DefaultSyncRTTLimitMs is the highest RTT at which replication can run
	// synchronously (metro clusters: ≤ 5 ms, ~50–100 km of fibre); a live
	// cross-site move needs it, since the VM's writes must be at both sites
	// when the compute switches.
	DefaultSyncRTTLimitMs = 5.0
	// DefaultEfficiency is the share of a link's raw bandwidth a bulk copy
	// achieves ("add 20–30 % overhead").
	DefaultEfficiency = 0.8
	// DefaultBandwidthShare is the share of the link this move may use (1:
	// all of it; an evacuation running several moves gives each less).
	DefaultBandwidthShare = 1.0
	// LiveCutoverSeconds is the time a live cutover takes end to end: the
	// compute switch, and the idle vport set made active.
	LiveCutoverSeconds = 1.0
	// LiveDowntimeSeconds is the VM's pause during a live switchover (QEMU's
	// default maximum downtime, 300 ms).
	LiveDowntimeSeconds = 0.3
	// ColdCutoverSeconds is a cold cutover: power off, the final sync of
	// what was written since the catch-up, demote the source, promote the
	// destination, power on. The VM is down for all of it.
	ColdCutoverSeconds = 30.0
	// MigrationNetworkMbps is the network a live move copies memory over
	// within a site (a 10 GbE vMotion network).
	MigrationNetworkMbps = 10000.0
	// bytesPerMbps turns megabits per second into bytes per second.
	bytesPerMbps = 1e6 / 8
)

// PlanArray is what the planner knows of one array: its site and its
// pools as last observed.
type PlanArray struct {
	Site  string
	Pools []array.Pool
	// Fabrics are those where a target port of the array is logged in;
	// nil: not known (a fabric not read yet), and not checked.
	Fabrics []string
}

// PlanInput is everything a plan depends on. The planner reads nothing
// else: no devices, no store, no clock.
type PlanInput struct {
	VM                   inventory.VM
	SourceHost, DestHost inventory.Host
	// Volumes are the VM's volume records (those VM.Volumes names).
	Volumes []inventory.Volume
	Links   []inventory.Link
	// Arrays by id.
	Arrays map[string]PlanArray
	// DestArray is the array a cross-site move copies to; "" picks the
	// array at the destination host's site with the most room.
	DestArray string
	// Mode is live or cold ("" is live).
	Mode string
	// Moving says the VM has a migration under way already.
	Moving bool
	// WriteRateBps is each volume's write rate in bytes per second; a
	// volume absent or 0 is taken as not writing (unknown).
	WriteRateBps map[string]float64
	// ReplicaBytes is, per volume, what a replica at the destination array
	// already holds; such a replica exists, so its pool is not admitted again.
	ReplicaBytes map[string]int64
	// MemoryBytes is the VM's memory, what a live move copies (0: not
	// known, not estimated).
	MemoryBytes int64
	// SyncRTTLimitMs, Efficiency and BandwidthShare: 0 takes the default.
	SyncRTTLimitMs float64
	Efficiency     float64
	BandwidthShare float64
}

// Plan is a migration's plan: its kind, whether it may run (and every
// reason it may not), and what it costs.
type Plan struct {
	Kind     string   `json:"kind"`
	Feasible bool     `json:"feasible"`
	Reasons  []string `json:"reasons,omitempty"`
	// Conflict is set when the VM is already moving: the edge answers 409
	// rather than 422.
	Conflict  bool     `json:"conflict,omitempty"`
	Estimate  Estimate `json:"estimate"`
	DestArray string   `json:"destArray,omitempty"`
	// DestPools is the pool each copied volume's replica goes to.
	DestPools map[string]string `json:"destPools,omitempty"`
	// FabricMap is, for each fabric the VM's vports use, the destination
	// host's fabric they log in on (the same one on a same-fabric move).
	FabricMap map[string]string `json:"fabricMap,omitempty"`
}

// Estimate is API.md's migration estimate.
type Estimate struct {
	Seconds         float64  `json:"seconds"`
	BytesToCopy     int64    `json:"bytesToCopy"`
	DowntimeSeconds float64  `json:"downtimeSeconds"`
	Tromboning      bool     `json:"tromboning"`
	Notes           []string `json:"notes"`
}

// ReasonMoving is the reason given when the VM is already moving.
const ReasonMoving = "already moving: the VM has a migration under way"

// planner carries one plan being built.
type planner struct {
	in   PlanInput
	plan Plan
}

func (p *planner) reason(format string, args ...any) {
	p.plan.Reasons = append(p.plan.Reasons, fmt.Sprintf(format, args...))
}
func (p *planner) note(format string, args ...any) {
	p.plan.Estimate.Notes = append(p.plan.Estimate.Notes, fmt.Sprintf(format, args...))
}

// PlanMigration plans moving in.VM from in.SourceHost to in.DestHost. It
// is a pure function of its input. It never stops at the first problem:
// Reasons lists every one, and Feasible is true only when there are none.
func PlanMigration(in PlanInput) Plan {
	if in.SyncRTTLimitMs <= 0 {
		in.SyncRTTLimitMs = DefaultSyncRTTLimitMs
	}
	if in.Efficiency <= 0 || in.Efficiency > 1 {
		in.Efficiency = DefaultEfficiency
	}
	if in.BandwidthShare <= 0 || in.BandwidthShare > 1 {
		in.BandwidthShare = DefaultBandwidthShare
	}
	if in.Mode == "" {
		in.Mode = ModeLive
	}
	p := &planner{in: in, plan: Plan{Estimate: Estimate{Notes: []string{}}}}
	if in.Moving {
		p.plan.Conflict = true
		p.reason(ReasonMoving)
	}
	if in.Mode != ModeLive && in.Mode != ModeCold {
		p.reason("mode %q: must be %s or %s", in.Mode, ModeLive, ModeCold)
	}
	if in.DestHost.ID != "" && in.DestHost.ID == in.SourceHost.ID {
		p.reason("destination host %s is the VM's current host", in.DestHost.ID)
	}
	p.plan.Kind = p.classify()
	p.vports()
	vols := p.volumes()
	if p.plan.Kind == KindCrossSite {
		p.crossSite(vols)
	} else {
		p.sameSite(vols)
	}
	p.reach(vols)
	p.plan.Feasible = len(p.plan.Reasons) == 0
	return p.plan
}

// reach checks that the array the VM's volumes are presented from after
// the move — the destination array of a cross-site move, the volumes' own
// otherwise — has a target port on every fabric the VM's vports land on:
// a fabric left out would leave the VM with half its paths.
func (p *planner) reach(vols []inventory.Volume) {
	if len(vols) == 0 || p.plan.FabricMap == nil || p.plan.Kind == KindSameFabric {
		return
	}
	arrays := []string{p.plan.DestArray}
	if p.plan.Kind != KindCrossSite {
		arrays = nil
		for _, v := range vols {
			if !slices.Contains(arrays, v.Array) {
				arrays = append(arrays, v.Array)
			}
		}
	}
	for _, id := range arrays {
		a, ok := p.in.Arrays[id]
		if !ok || a.Fabrics == nil {
			continue
		}
		for _, f := range slices.Sorted(maps.Values(p.plan.FabricMap)) {
			if !slices.Contains(a.Fabrics, f) {
				p.reason("array %s has no target port logged in on fabric %s, where the VM's vports would land", id, f)
			}
		}
	}
}

// sourceSite is where the VM's compute runs now.
func (p *planner) sourceSite() string {
	return cmp.Or(p.in.SourceHost.Site, p.in.VM.Site)
}

// classify names the kind of move.
func (p *planner) classify() string {
	if p.in.DestHost.Site != p.sourceSite() {
		return KindCrossSite
	}
	for f := range vmPairs(p.in.VM) {
		if !slices.ContainsFunc(p.in.DestHost.HBAs, func(h inventory.HBA) bool { return h.Fabric == f }) {
			return KindCrossFabric
		}
	}
	return KindSameFabric
}

// vmPairs is, per fabric the VM uses, the vports one of its sets holds
// there — its pair count. Only the idle set logs in at the destination
// while the active one serves the source, so that is the slots it needs.
func vmPairs(vm inventory.VM) map[string]int {
	per := map[[2]string]int{}
	out := map[string]int{}
	for _, v := range vm.Vports {
		k := [2]string{v.Fabric, v.Set}
		per[k]++
		out[v.Fabric] = max(out[v.Fabric], per[k])
	}
	return out
}

// vports checks the destination HBAs' free NPIV slots. On a same-fabric
// move each fabric the VM uses must have room for its pairs. Otherwise
// the VM keeps its redundancy: each fabric it uses is matched to one of
// the destination host's fabrics — a fabric of the same name first, then
// one of the same side (the last letter: east-a → west-a, the A side
// stays the A side), then the free one with the most slots — which must
// have room for its pairs. The match is the plan's FabricMap, which the
// move then follows.
func (p *planner) vports() {
	h := p.in.DestHost
	if len(h.HBAs) == 0 && len(p.in.VM.Vports) > 0 {
		p.reason("destination host %s has no HBAs", h.ID)
		return
	}
	free, npiv := map[string]int{}, map[string]bool{}
	for _, hba := range h.HBAs {
		if hba.MaxVports > 0 {
			npiv[hba.Fabric] = true
			free[hba.Fabric] += max(hba.MaxVports-hba.VportsInUse, 0)
		} else if _, ok := free[hba.Fabric]; !ok {
			free[hba.Fabric] = 0
		}
	}
	need := vmPairs(p.in.VM)
	fm := map[string]string{}
	used := map[string]bool{}
	side := func(f string) string { return f[strings.LastIndexByte(f, '-')+1:] }
	for _, same := range []func(f, d string) bool{
		func(f, d string) bool { return f == d },
		func(f, d string) bool { return side(f) == side(d) },
	} {
		for _, f := range slices.Sorted(maps.Keys(need)) {
			if _, ok := fm[f]; ok {
				continue
			}
			for _, d := range slices.Sorted(maps.Keys(free)) {
				if !used[d] && same(f, d) {
					fm[f], used[d] = d, true
					break
				}
			}
		}
	}
	others := slices.DeleteFunc(slices.Sorted(maps.Keys(free)), func(f string) bool { return used[f] })
	slices.SortStableFunc(others, func(a, b string) int { return cmp.Compare(free[b], free[a]) })
	for _, f := range slices.Sorted(maps.Keys(need)) {
		if _, ok := fm[f]; !ok && len(others) > 0 {
			fm[f], others = others[0], others[1:]
		}
	}
	for _, f := range slices.Sorted(maps.Keys(need)) {
		d, ok := fm[f]
		if !ok {
			p.reason("fabric %s: destination host %s has no HBA on another fabric to take the VM's %d vport(s) (it uses %d fabrics)",
				f, h.ID, need[f], len(need))
			continue
		}
		if d != f {
			p.note("the VM's vports of fabric %s log in on fabric %s at the destination", f, d)
		}
		p.slots(f, d, need[f], free[d], npiv[d])
	}
	if len(fm) == len(need) {
		p.plan.FabricMap = fm
	}
}

func (p *planner) slots(vmFabric, destFabric string, need, free int, npiv bool) {
	where := "fabric " + destFabric
	if vmFabric != destFabric {
		where += " (for the VM's fabric " + vmFabric + ")"
	}
	switch {
	case !npiv:
		p.reason("%s: destination host %s's HBAs do not support NPIV (maxVports 0), the VM needs %d vport slot(s)",
			where, p.in.DestHost.ID, need)
	case free < need:
		p.reason("%s: destination host %s has %d free vport slot(s) (maxVports − vportsInUse), the VM needs %d",
			where, p.in.DestHost.ID, free, need)
	}
}

// volumes returns the VM's volume records in its order, giving a reason
// for each it names that is unknown or missing.
func (p *planner) volumes() []inventory.Volume {
	byID := map[string]inventory.Volume{}
	for _, v := range p.in.Volumes {
		byID[v.ID] = v
	}
	var out []inventory.Volume
	for _, ref := range p.in.VM.Volumes {
		v, ok := byID[ref.ID]
		switch {
		case !ok:
			p.reason("volume %s: unknown", ref.ID)
		case v.Missing:
			p.reason("volume %s: missing from array %s", v.ID, v.Array)
		default:
			out = append(out, v)
		}
	}
	return out
}

// sameSite: storage stays where it is and is re-presented to the
// destination host; nothing is copied.
func (p *planner) sameSite(vols []inventory.Volume) {
	if p.in.DestArray != "" {
		p.note("destination array %s ignored: a same-site move re-presents the volumes where they are", p.in.DestArray)
	}
	p.note("same-site move: storage is re-presented, not copied")
	p.cutover()
	p.trombone(vols, "")
}

// cutover adds the cutover to the estimate and sets the downtime.
func (p *planner) cutover() {
	e := &p.plan.Estimate
	if p.in.Mode == ModeCold {
		e.Seconds += ColdCutoverSeconds
		e.DowntimeSeconds = ColdCutoverSeconds
		p.note("cutover %gs: power off, final sync, power on (the VM is down for all of it)", ColdCutoverSeconds)
		return
	}
	e.Seconds += LiveCutoverSeconds
	e.DowntimeSeconds = LiveDowntimeSeconds
	p.note("cutover %gs: live switch, %gs pause", LiveCutoverSeconds, LiveDowntimeSeconds)
	if m := p.in.MemoryBytes; m > 0 {
		// The memory copy runs over the migration network (a 10 GbE vMotion
		// network), or the inter-site link when that is slower.
		mbps := MigrationNetworkMbps
		if l, ok := p.link(p.sourceSite(), p.in.DestHost.Site); ok && p.in.DestHost.Site != p.sourceSite() {
			mbps = min(mbps, l.BandwidthMbps)
		}
		sec := float64(m) / (mbps * bytesPerMbps * p.in.Efficiency)
		e.Seconds += sec
		p.note("memory copy: %d bytes at %g Mbps × efficiency %g = %.1fs (one pre-copy pass)", m, mbps, p.in.Efficiency, sec)
	}
}

// trombone flags compute that would run at a site other than its storage.
// dest is the array copied volumes go to ("" when none are copied).
func (p *planner) trombone(vols []inventory.Volume, dest string) {
	site := p.in.DestHost.Site
	for _, v := range vols {
		a := v.Array
		if dest != "" {
			a = dest
		}
		arr, ok := p.in.Arrays[a]
		switch {
		case !ok:
			p.note("volume %s: array %s unknown, cannot tell whether I/O would trombone", v.ID, a)
		case arr.Site != site:
			p.plan.Estimate.Tromboning = true
			p.note("tromboning: volume %s stays on array %s at site %s while compute runs at %s; every I/O crosses the link and back",
				v.ID, a, arr.Site, site)
		}
	}
}

// link finds the link between two sites, either way round.
func (p *planner) link(a, b string) (inventory.Link, bool) {
	for _, l := range p.in.Links {
		if (l.From == a && l.To == b) || (l.From == b && l.To == a) {
			return l, true
		}
	}
	return inventory.Link{}, false
}

// pickArray chooses the destination array of a cross-site move.
func (p *planner) pickArray() string {
	site := p.in.DestHost.Site
	if d := p.in.DestArray; d != "" {
		a, ok := p.in.Arrays[d]
		if !ok {
			p.reason("destination array %s: unknown", d)
			return ""
		}
		if a.Site != site {
			p.note("destination array %s is at site %s, not at the destination host's site %s", d, a.Site, site)
		}
		return d
	}
	best, bestRoom := "", int64(-1)
	for _, id := range slices.Sorted(maps.Keys(p.in.Arrays)) {
		if p.in.Arrays[id].Site != site {
			continue
		}
		for _, pool := range p.in.Arrays[id].Pools {
			if r := thin.Room(pool, true); r > bestRoom {
				best, bestRoom = id, r
			}
		}
		if best == "" {
			best = id
		}
	}
	if best == "" {
		p.reason("no known array at site %s to copy the VM's volumes to", site)
		return ""
	}
	p.note("destination array %s: the array at site %s with the most room", best, site)
	return best
}

// crossSite plans the copy of the VM's volumes to the destination array.
func (p *planner) crossSite(vols []inventory.Volume) {
	dest := p.pickArray()
	p.plan.DestArray = dest
	if dest == "" {
		p.cutover()
		p.note("without a copy, storage would stay at its site")
		p.trombone(vols, "")
		return
	}
	destSite := p.in.Arrays[dest].Site
	// Copy bytes and write rate per source site, each copied over its link.
	type group struct {
		bytes int64
		write float64
	}
	groups := map[string]*group{}
	pools := slices.Clone(p.in.Arrays[dest].Pools)
	for _, v := range vols {
		if v.Array == dest {
			p.note("volume %s is on array %s already: nothing to copy", v.ID, dest)
			continue
		}
		src, ok := p.in.Arrays[v.Array]
		if !ok {
			p.reason("volume %s: array %s unknown, no replication path from it", v.ID, v.Array)
			continue
		}
		copyBytes := max(v.UsedBytes-p.in.ReplicaBytes[v.ID], 0)
		if r := p.in.ReplicaBytes[v.ID]; r > 0 {
			p.note("volume %s: a replica at the destination holds %d bytes already; %d left to copy", v.ID, r, copyBytes)
		} else {
			p.place(v, dest, pools)
		}
		if groups[src.Site] == nil {
			groups[src.Site] = &group{}
		}
		g := groups[src.Site]
		g.bytes += copyBytes
		g.write += p.in.WriteRateBps[v.ID]
		p.plan.Estimate.BytesToCopy += copyBytes
	}
	e := &p.plan.Estimate
	for _, site := range slices.Sorted(maps.Keys(groups)) {
		g := groups[site]
		if site == destSite {
			p.note("%d bytes are copied between arrays within site %s: not timed", g.bytes, site)
			continue
		}
		l, ok := p.link(site, destSite)
		if !ok {
			p.reason("no replication path: no link between sites %s and %s", site, destSite)
			continue
		}
		// Usable rate: the link's bytes/s × this move's share × copy
		// efficiency. A live move needs it above the VM's write rate (not
		// the raw bandwidth): below, the copy never catches up.
		rate := l.BandwidthMbps * bytesPerMbps * p.in.BandwidthShare * p.in.Efficiency
		live := p.in.Mode == ModeLive
		if live && l.RTTMs > p.in.SyncRTTLimitMs {
			p.reason("link %s–%s: RTT %g ms is above the synchronous limit %g ms a live move needs",
				site, destSite, l.RTTMs, p.in.SyncRTTLimitMs)
		}
		if rate <= 0 {
			p.reason("link %s–%s: no bandwidth", site, destSite)
			continue
		}
		if live && g.write >= rate {
			p.reason("link %s–%s: %.0f bytes/s usable (%g Mbps × share %g × efficiency %g) does not exceed the VM's write rate %.0f bytes/s",
				site, destSite, rate, l.BandwidthMbps, p.in.BandwidthShare, p.in.Efficiency, g.write)
		}
		// The sync tail: what the VM wrote during the copy, sent once more
		// at the same rate (one catch-up pass; after it replication keeps
		// up, synchronously when the RTT allows).
		copySec := float64(g.bytes) / rate
		tail := g.write * copySec / rate
		e.Seconds += copySec + tail
		p.note("copy from %s: %d bytes at %.0f bytes/s (%g Mbps × share %g × efficiency %g) = %.1fs",
			site, g.bytes, rate, l.BandwidthMbps, p.in.BandwidthShare, p.in.Efficiency, copySec)
		if g.write > 0 {
			p.note("sync tail from %s: %.0f bytes/s written during the copy, caught up in one pass = %.3gs", site, g.write, tail)
			if g.write >= rate && p.in.Mode == ModeCold {
				p.note("the VM writes faster than the link copies: catch-up does not converge while it runs; the cold cutover's final sync carries the rest")
			}
		} else {
			p.note("write rate from %s unknown or 0: no sync tail", site)
		}
	}
	p.cutover()
	p.trombone(vols, dest)
}

// place picks the pool with the most room for v's replica on the
// destination array and admits its size there (thin admission), taking
// the room from pools so that the next volume sees what is left.
func (p *planner) place(v inventory.Volume, dest string, pools []array.Pool) {
	if len(pools) == 0 {
		p.reason("volume %s: destination array %s has no observed pool", v.ID, dest)
		return
	}
	best := 0
	for i := range pools {
		if thin.Room(pools[i], v.Thin) > thin.Room(pools[best], v.Thin) {
			best = i
		}
	}
	pool := &pools[best]
	if err := thin.Admit(*pool, v.SizeBytes, v.Thin); err != nil {
		if r, ok := errors.AsType[*thin.Refusal](err); ok {
			r.Array = dest
		}
		p.reason("volume %s: no room at the destination: %v", v.ID, err)
		return
	}
	pool.ProvisionedBytes += v.SizeBytes
	if !v.Thin {
		pool.UsedBytes += v.SizeBytes
	}
	if p.plan.DestPools == nil {
		p.plan.DestPools = map[string]string{}
	}
	p.plan.DestPools[v.ID] = pool.ID
}
