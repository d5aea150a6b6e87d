package lab

import (
	"maps"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/compute"
	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/fabric/wwn"
)

var (
	_ fabric.Driver         = (*Switch)(nil)
	_ fabric.ChecksumReader = (*Switch)(nil)
	_ fabric.PeerZoner      = (*Switch)(nil)
	_ fabric.Vporter        = (*Switch)(nil)
	_ array.Driver          = (*Array)(nil)
	_ array.Replicator      = (*Array)(nil)
	_ compute.Driver        = (*Hypervisor)(nil)
)

// Site is a data center.
type Site struct {
	ID string `json:"id"`
}

// Link joins two sites; From < To.
type Link struct {
	From          string  `json:"from"`
	To            string  `json:"to"`
	RTTMs         float64 `json:"rttMs"`
	BandwidthMbps float64 `json:"bandwidthMbps"`
	DistanceKm    float64 `json:"distanceKm"`
}

// FabricRef names a fabric and the lab switch that answers for it.
type FabricRef struct {
	ID, Site string
	Switch   *Switch
}

// ArrayRef names an array and its lab implementation.
type ArrayRef struct {
	ID, Site string
	Array    *Array
}

// World is one simulated data center. The core reaches it only through the
// driver interfaces of its devices; the other methods are the lab's own
// controls, served under /lab.
type World struct {
	cfg      Config
	clock    *Clock
	sites    []Site
	links    []Link
	switches []*Switch // per site, per fabric pair: side a, side b (see switchOf)
	arrays   []*Array  // per site, by number
	hv       *Hypervisor
	byID     map[string]any // fabrics and arrays: few next to hosts and VMs, which are parsed

	// vports hands out the names of VMs' virtual ports; later VMs draw from
	// the same sequence so they can never collide with generated ones.
	// vportBase is the vendor part of the first (see Hypervisor.vport).
	vports    *wwn.Generator
	vportBase uint64

	// loginMu serializes vport logins and logouts across every fabric, so
	// that "is this WWPN logged in anywhere?" and the login are one step.
	// Lock order: loginMu, then Hypervisor.mu, then a Switch's mu; a
	// goroutine holds at most one Switch's mu at a time.
	loginMu   sync.Mutex
	dupLogins atomic.Int64

	faultMu  sync.Mutex
	faults   []activeFault
	faultRNG *rand.Rand

	// replMu guards repl, the replication groups of every array
	// (replication.go). Lock order: replMu, then faultMu or arrays' mu.
	replMu sync.Mutex
	repl   replication

	// Persistence (persist.go); j is nil for a world in memory. replaying
	// and replayAt are set while New replays the journal, before the world
	// is handed over.
	j                    *journal
	clockFile            *clockSaver
	stopClock, clockDone chan struct{}
	closeOnce            sync.Once
	replaying            bool
	replayAt             time.Duration
	rezoned              map[string]bool // fabrics the build need not checksum: replay does
	fresh                bool            // see Fresh
	recovered            string          // see Recovered
}

// New fills defaults for zero fields, validates and builds the world. With a
// Dir, it then replays the changes recorded there (see persist.go), and
// refuses, wrapping ErrJournal, a directory made for another world or
// damaged anywhere but in its last record.
func New(cfg Config) (*World, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var ops []op
	var j *journal
	if cfg.Dir != "" {
		var recs [][]byte
		var err error
		if j, recs, err = restore(&cfg); err != nil {
			return nil, err
		}
		if ops, err = decodeOps(cfg.Dir, recs); err != nil {
			_ = j.close()
			return nil, err
		}
	}
	w, err := open(cfg, j, ops)
	if err != nil && j != nil {
		_ = j.close()
	}
	return w, err
}

func open(cfg Config, j *journal, ops []op) (*World, error) {
	if cfg.Epoch.IsZero() {
		cfg.Epoch = time.Now()
	}
	cfg.Epoch = cfg.Epoch.Round(0)
	w := &World{
		cfg:  cfg,
		byID: make(map[string]any),
		// A stream of its own, so that drawing fault rates never shifts the
		// world the build draws from the seed.
		faultRNG: rand.New(rand.NewPCG(uint64(cfg.Seed), 0x6661756c74)),
	}
	w.repl.capBps = cfg.TransferCapBytesPerSec
	for i, s := range cfg.Sites {
		w.sites = append(w.sites, Site{ID: s})
		for _, t := range cfg.Sites[i+1:] {
			from, to := min(s, t), max(s, t)
			w.links = append(w.links, Link{From: from, To: to, RTTMs: cfg.LinkRTTMs,
				BandwidthMbps: cfg.LinkBandwidthMbps, DistanceKm: cfg.LinkDistanceKm})
		}
	}
	if j != nil {
		w.rezoned = rezoned(ops)
	}
	if err := build(w); err != nil {
		return nil, err
	}
	w.setWorkloads()
	for _, s := range w.switches {
		w.byID[s.id] = s
	}
	for _, a := range w.arrays {
		w.byID[a.id] = a
	}
	if j == nil {
		// The clock starts when the world is handed over, so a slow build
		// of a large world does not age it.
		w.clock = newClock(cfg.Epoch, cfg.Speed)
		return w, nil
	}
	last, err := w.replay(ops)
	if err != nil {
		return nil, err
	}
	// All of the journal is checked and replayed: only now is its torn
	// end, if any, cut off.
	if err := j.dropTorn(); err != nil {
		return nil, err
	}
	w.fresh, w.recovered = j.fresh, j.torn
	cf, saved, ok, err := openClock(cfg.Dir)
	if err != nil {
		return nil, err
	}
	if ok {
		last = max(last, saved)
	}
	// The clock resumes where it was last recorded, never earlier.
	w.clock = newClock(cfg.Epoch.Add(max(last, 0)), cfg.Speed)
	w.j, w.clockFile = j, cf
	if err := w.saveClock(); err != nil {
		_ = cf.close()
		return nil, err
	}
	w.stopClock, w.clockDone = make(chan struct{}), make(chan struct{})
	go w.keepClock()
	return w, nil
}

// Fresh reports whether New started the device state in Dir from the seed:
// Dir held no journal (or an empty one: nothing was ever recorded), or
// Reset discarded it. A caller that expected state to be there — its own
// store already exists — should say so loudly: the lab's devices no longer
// match what it remembers. A world without a Dir is not fresh: it keeps
// nothing to start from.
func (w *World) Fresh() bool { return w.fresh }

// Recovered says what New dropped to resume from Dir: the torn last record
// of the journal that a crash cut short (its number, byte offset and size,
// and why it is torn), or "" when there was none. The change it held was
// never acknowledged, so no acknowledged state is lost; the caller should
// still log it.
func (w *World) Recovered() string { return w.recovered }

// Config is the config the world was built from, defaults and Epoch filled in.
func (w *World) Config() Config {
	c := w.cfg
	c.Sites = append([]string(nil), c.Sites...)
	c.PoolWorkloads = maps.Clone(c.PoolWorkloads)
	return c
}

// Clock is the world's virtual clock.
func (w *World) Clock() *Clock { return w.clock }

// Sites lists the sites in config order.
func (w *World) Sites() []Site { return append([]Site(nil), w.sites...) }

// Links lists one link per pair of sites.
func (w *World) Links() []Link { return append([]Link(nil), w.links...) }

// Fabrics lists the fabrics, site by site, two per fabric pair: a site's
// a, b, c, d and so on.
func (w *World) Fabrics() []FabricRef {
	out := make([]FabricRef, len(w.switches))
	for i, s := range w.switches {
		out[i] = FabricRef{ID: s.id, Site: s.site, Switch: s}
	}
	return out
}

// Arrays lists the arrays, site by site.
func (w *World) Arrays() []ArrayRef {
	out := make([]ArrayRef, len(w.arrays))
	for i, a := range w.arrays {
		out[i] = ArrayRef{ID: a.id, Site: a.site, Array: a}
	}
	return out
}

// TruthMappingsAll is every array's maps, by array id, read at one
// instant: no replication promote or demote lands between two arrays'
// reads, so a volume shows writable at two sites only if it was.
func (w *World) TruthMappingsAll() map[string][]array.Mapping {
	w.replMu.Lock()
	defer w.replMu.Unlock()
	out := make(map[string][]array.Mapping, len(w.arrays))
	for _, a := range w.arrays {
		out[a.id] = a.TruthMappings()
	}
	return out
}

// Compute is the hypervisor manager of every site.
func (w *World) Compute() *Hypervisor { return w.hv }

// Switch finds a fabric's switch by fabric id.
func (w *World) Switch(id string) (*Switch, bool) {
	s, ok := w.byID[id].(*Switch)
	return s, ok
}

// Array finds an array by id.
func (w *World) Array(id string) (*Array, bool) {
	a, ok := w.byID[id].(*Array)
	return a, ok
}

// switchOf is the switch of side (0 or 1) of fabric pair k of site s.
func (w *World) switchOf(s, k, side int) *Switch {
	return w.switches[s*2*w.cfg.fabricPairs()+fabricOf(k, side)]
}

func (w *World) siteIndex(id string) (int, bool) {
	for i, s := range w.cfg.Sites {
		if s == id {
			return i, true
		}
	}
	return -1, false
}

// hostIndex resolves a host id to its index in the hypervisor's table by
// parsing it, which spares a map over every host of a large world.
func (w *World) hostIndex(id string) (int, bool) {
	site, num, ok := strings.Cut(id, "-esx")
	if !ok {
		return -1, false
	}
	s, ok := w.siteIndex(site)
	if !ok || len(num) != width(w.cfg.HostsPerSite, 2) {
		return -1, false
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 1 || n > w.cfg.HostsPerSite || num[0] == '+' || num[0] == '-' {
		return -1, false
	}
	return s*w.cfg.HostsPerSite + n - 1, true
}

// linkTarget returns the canonical fault target "link:FROM-TO" of the link
// between two sites, given in either order.
func (w *World) linkTarget(spec string) (string, bool) {
	a, b, ok := strings.Cut(spec, "-")
	if !ok {
		return "", false
	}
	for _, l := range w.links {
		if (l.From == a && l.To == b) || (l.From == b && l.To == a) {
			return linkPrefix + l.From + "-" + l.To, true
		}
	}
	return "", false
}
