package lab

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"strings"
	"time"
)

// ErrInvalidConfig is wrapped by every error Validate and New return for a
// config that cannot describe a working data center.
var ErrInvalidConfig = errors.New("lab: invalid config")

// Config describes the world New builds. A zero field takes its default (see
// Small), so Config{Seed: 7} is a complete request; a negative one is an error.
type Config struct {
	// Seed makes the world: one seed, one world, byte for byte.
	Seed int64
	// Sites are site ids: a lowercase letter then lowercase letters or digits,
	// no '-', because fabric, host and link ids are built by joining them with
	// '-' and must split back unambiguously. Zone names truncate the ids
	// they carry (fabric.LabelLen), so any site id keeps them within
	// Brocade's 64 characters.
	Sites                []string
	ArraysPerSite        int
	HostsPerSite         int
	VMsPerSite           int
	TargetPortsPerFabric int // per array per fabric
	TargetsPerVport      int // target ports each vport is SIST-zoned to
	MaxVportsPerHBA      int
	// FabricPairsPerSite is how many pairs of fabrics each site has: pair 0
	// is fabrics <site>-a and <site>-b, pair 1 <site>-c and <site>-d, and
	// so on. Host i of a site is on pair i % FabricPairsPerSite, with an
	// HBA on each fabric of it; every array has TargetPortsPerFabric ports
	// on every fabric of its site. 0 means 1: the world of two fabrics a
	// site, byte for byte the same as before pairs existed.
	FabricPairsPerSite int
	// Speed is how many virtual seconds pass per real second.
	Speed float64
	// CommitLatency is the virtual time one zone commit takes.
	CommitLatency time.Duration
	// ZoneDBMaxBytes caps each fabric's zone database (Brocade: 1 MiB).
	ZoneDBMaxBytes int
	// Epoch is the virtual clock's start; zero means the real time at New.
	// Device timestamps are offsets from it, so two worlds answer byte for
	// byte alike only when their Epochs are equal too.
	Epoch time.Time
	// The inter-site link every pair of sites gets.
	LinkRTTMs         float64
	LinkBandwidthMbps float64
	LinkDistanceKm    float64
	// LinkEfficiency is the share of a link's bandwidth replication gets
	// to carry data, the rest going to protocol overhead (DOMAIN.md: add
	// 20–30 %); in (0, 1], default 0.75.
	LinkEfficiency float64
	// TransferCapBytesPerSec, when > 0, caps each transfer in bytes per
	// second, as a fixed per-migration bandwidth policy does (KubeVirt's
	// bandwidthPerMigration): a replication group's copy, its copying
	// pairs sharing the cap equally (replication.go), and a live move's
	// memory copy (mover.go). 0: no cap. A setting of the world, not a
	// device's state: it is not journaled, and a world resumed from Dir
	// takes the one its Config gives.
	TransferCapBytesPerSec float64
	// Workloads, when true, grows every thin pool by a model drawn from
	// the seed (linear, weekly seasonal, step, bursts or flat), one pool of
	// the world heading for full within a virtual day or two; see
	// workload.go. False: every mapped thin volume writes at its own
	// steady hourly rate, as the lab did before workloads. Kept in the
	// journal's header: a Dir made with other workloads is refused.
	Workloads bool
	// PoolWorkloads sets the workload of the pools it names, by pool id,
	// with or without Workloads (a test's way to pick a model). A pool id
	// the world does not have, or a workload that does not check, is an
	// error.
	PoolWorkloads map[string]Workload
	// Dir, when set, is where the devices keep their state: every change
	// they make is on disk there before the call that made it returns, and
	// New resumes the world from it, its clock included (see persist.go).
	// Empty: the world lives in memory only.
	Dir string
	// Reset discards the state in Dir, so that New starts from the seed.
	Reset bool
}

// Defaults, which Small returns.
const (
	defaultArraysPerSite        = 1
	defaultHostsPerSite         = 4
	defaultVMsPerSite           = 12
	defaultTargetPortsPerFabric = 4
	defaultTargetsPerVport      = 2
	defaultMaxVportsPerHBA      = 64
	defaultSpeed                = 60
	defaultCommitLatency        = 2 * time.Second
	defaultZoneDBMaxBytes       = 1 << 20 // Brocade FOS >= 5.2
	defaultLinkRTTMs            = 4
	defaultLinkBandwidthMbps    = 10000
	defaultLinkDistanceKm       = 300
	defaultLinkEfficiency       = 0.75
)

// Bounds. They keep every generated name inside its numbering space (see
// build.go) and the lab inside what a test machine can hold.
const (
	maxSites             = 16
	maxSiteIDLen         = 32
	maxArraysPerSite     = 256
	maxHostsPerSite      = 60000
	maxVMsPerSite        = 1000000
	maxTargetPortsFabric = 64
	maxFabricPairs       = 4   // fabrics a..h
	maxArrayPorts        = 255 // an array port's WWPN numbers it in one byte (build.go)
	maxNPIVPerPort       = 255 // FC: FDISC addresses per N_Port (port byte 01..ff)
	maxDomains           = 239 // FC domain ids 1..239
	portsPerDomain       = 256
)

// Small is the default world: two sites, east and west, each with one array,
// four hosts and twelve VMs, joined by a 300 km, 4 ms, 10 Gbps link.
func Small() Config {
	return Config{}.withDefaults()
}

// Large is the scale world built by the same generator: 2 sites x 5,000 hosts
// x 50,000 VMs (10,000 hosts and 100,000 VMs in all), four arrays a site with
// eight ports per fabric each, and a zone database limit raised to hold the
// 200,000 SIST zones each fabric then carries.
func Large() Config {
	c := Small()
	c.ArraysPerSite = 4
	c.HostsPerSite = 5000
	c.VMsPerSite = 50000
	c.TargetPortsPerFabric = 8
	c.ZoneDBMaxBytes = 64 << 20
	return c
}

func (c Config) withDefaults() Config {
	if len(c.Sites) == 0 {
		c.Sites = []string{"east", "west"}
	} else {
		c.Sites = append([]string(nil), c.Sites...)
	}
	c.PoolWorkloads = maps.Clone(c.PoolWorkloads)
	setInt := func(p *int, d int) {
		if *p == 0 {
			*p = d
		}
	}
	setInt(&c.ArraysPerSite, defaultArraysPerSite)
	setInt(&c.HostsPerSite, defaultHostsPerSite)
	setInt(&c.VMsPerSite, defaultVMsPerSite)
	setInt(&c.TargetPortsPerFabric, defaultTargetPortsPerFabric)
	// One port a fabric still makes a valid world with the other defaults.
	setInt(&c.TargetsPerVport, min(defaultTargetsPerVport, max(c.TargetPortsPerFabric, 1)))
	setInt(&c.MaxVportsPerHBA, defaultMaxVportsPerHBA)
	setInt(&c.ZoneDBMaxBytes, defaultZoneDBMaxBytes)
	if c.Speed == 0 {
		c.Speed = defaultSpeed
	}
	if c.CommitLatency == 0 {
		c.CommitLatency = defaultCommitLatency
	}
	if c.LinkRTTMs == 0 {
		c.LinkRTTMs = defaultLinkRTTMs
	}
	if c.LinkBandwidthMbps == 0 {
		c.LinkBandwidthMbps = defaultLinkBandwidthMbps
	}
	if c.LinkDistanceKm == 0 {
		c.LinkDistanceKm = defaultLinkDistanceKm
	}
	if c.LinkEfficiency == 0 {
		c.LinkEfficiency = defaultLinkEfficiency
	}
	return c
}

// Validate reports every reason the config, with defaults filled in for its
// zero fields, cannot be built, including a zone database that would outgrow
// ZoneDBMaxBytes.
func (c Config) Validate() error {
	c = c.withDefaults()
	var bad []string
	fail := func(format string, args ...any) { bad = append(bad, fmt.Sprintf(format, args...)) }

	if len(c.Sites) > maxSites {
		fail("%d sites, at most %d", len(c.Sites), maxSites)
	}
	seen := make(map[string]bool, len(c.Sites))
	for _, s := range c.Sites {
		if !validSiteID(s) {
			fail("site id %q: want a lowercase letter then up to %d lowercase letters or digits", s, maxSiteIDLen-1)
		}
		if seen[s] {
			fail("site %q listed twice", s)
		}
		seen[s] = true
	}
	inRange := func(name string, v, lo, hi int) {
		if v < lo || v > hi {
			fail("%s = %d, want %d..%d", name, v, lo, hi)
		}
	}
	inRange("ArraysPerSite", c.ArraysPerSite, 1, maxArraysPerSite)
	inRange("HostsPerSite", c.HostsPerSite, 1, maxHostsPerSite)
	inRange("VMsPerSite", c.VMsPerSite, 1, maxVMsPerSite)
	inRange("TargetPortsPerFabric", c.TargetPortsPerFabric, 1, maxTargetPortsFabric)
	inRange("TargetsPerVport", c.TargetsPerVport, 1, max(c.TargetPortsPerFabric, 1))
	inRange("MaxVportsPerHBA", c.MaxVportsPerHBA, 1, maxNPIVPerPort)
	inRange("FabricPairsPerSite", c.FabricPairsPerSite, 0, maxFabricPairs)
	pairs := c.fabricPairs()
	if c.HostsPerSite > 0 && c.HostsPerSite < pairs {
		fail("%d hosts a site leave fabric pairs without hosts: FabricPairsPerSite %d wants at least as many hosts a site",
			c.HostsPerSite, pairs)
	}
	if ports := 2 * pairs * c.TargetPortsPerFabric; ports > maxArrayPorts {
		fail("%d fabric pairs of %d target ports give an array %d ports, more than %d",
			pairs, c.TargetPortsPerFabric, ports, maxArrayPorts)
	}
	if c.HostsPerSite > 0 && c.VMsPerSite > 0 && c.MaxVportsPerHBA > 0 {
		if perHost := (c.VMsPerSite + c.HostsPerSite - 1) / c.HostsPerSite; perHost > c.MaxVportsPerHBA {
			fail("%d VMs on %d hosts put %d vports on an HBA, more than MaxVportsPerHBA %d",
				c.VMsPerSite, c.HostsPerSite, perHost, c.MaxVportsPerHBA)
		}
	}
	if ports := physicalPortsPerFabric(c); ports > maxDomains*portsPerDomain {
		fail("%d physical ports on a fabric, more than %d domains x %d ports", ports, maxDomains, portsPerDomain)
	}
	finitePositive := func(name string, v float64) {
		if math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 {
			fail("%s = %v, want a positive number", name, v)
		}
	}
	finitePositive("Speed", c.Speed)
	finitePositive("LinkRTTMs", c.LinkRTTMs)
	finitePositive("LinkBandwidthMbps", c.LinkBandwidthMbps)
	finitePositive("LinkDistanceKm", c.LinkDistanceKm)
	if math.IsNaN(c.LinkEfficiency) || c.LinkEfficiency <= 0 || c.LinkEfficiency > 1 {
		fail("LinkEfficiency = %v, want a share in (0, 1]", c.LinkEfficiency)
	}
	if math.IsNaN(c.TransferCapBytesPerSec) || math.IsInf(c.TransferCapBytesPerSec, 0) || c.TransferCapBytesPerSec < 0 {
		fail("TransferCapBytesPerSec = %v, want a finite rate >= 0", c.TransferCapBytesPerSec)
	}
	if c.CommitLatency < 0 {
		fail("CommitLatency = %v, want >= 0", c.CommitLatency)
	}
	if c.ZoneDBMaxBytes < 0 {
		fail("ZoneDBMaxBytes = %d, want > 0", c.ZoneDBMaxBytes)
	}
	if len(bad) == 0 {
		bad = append(bad, c.checkPoolWorkloads()...)
	}
	if len(bad) == 0 {
		for _, s := range c.Sites {
			need := 0
			for k := range pairs {
				need = max(need, zoneDBBytesOfPair(c, s, k))
			}
			if need > c.ZoneDBMaxBytes {
				fail("fabrics of site %s need a %d-byte zone database, more than ZoneDBMaxBytes %d", s, need, c.ZoneDBMaxBytes)
			}
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, strings.Join(bad, "; "))
	}
	return nil
}

func validSiteID(s string) bool {
	if len(s) == 0 || len(s) > maxSiteIDLen || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// fabricPairs is the number of fabric pairs a site has: FabricPairsPerSite,
// 0 meaning 1.
func (c Config) fabricPairs() int { return max(c.FabricPairsPerSite, 1) }

// FabricIDs are the ids of the fabrics the world of c has, in the order
// World.Fabrics lists them, known before it is built: site by site,
// <site>-a, <site>-b, then <site>-c, <site>-d for a second pair, and so on.
// Defaults fill zero fields; a config Validate refuses may name fewer.
func (c Config) FabricIDs() []string {
	c = c.withDefaults()
	n := min(2*c.fabricPairs(), len(fabricLetters))
	ids := make([]string, 0, len(c.Sites)*n)
	for _, s := range c.Sites {
		for f := range n {
			ids = append(ids, fabricID(s, f))
		}
	}
	return ids
}

// hostsOnPair is how many of a site's hosts are on fabric pair k: host i
// is on pair i % pairs.
func hostsOnPair(hosts, pairs, k int) int {
	if k >= hosts {
		return 0
	}
	return (hosts - k + pairs - 1) / pairs
}

// physicalPortsPerFabric counts the FLOGI logins the busiest fabric (one
// of pair 0) carries: the arrays' target ports, the backup server and tape
// drives, and the hosts of its pair.
func physicalPortsPerFabric(c Config) int {
	return c.ArraysPerSite*c.TargetPortsPerFabric + 1 + tapeDrives + hostsOnPair(c.HostsPerSite, c.fabricPairs(), 0)
}

// zoneDBBytes is zoneDBBytesOfPair of pair 0.
func zoneDBBytes(c Config, site string) int { return zoneDBBytesOfPair(c, site, 0) }

// vmsOfArrayOnPair counts the VMs of a site that are on array a and on a
// host of fabric pair k. VM i is on array i % ArraysPerSite and host
// i % HostsPerSite.
func vmsOfArrayOnPair(c Config, a, k int) int {
	A, P := c.ArraysPerSite, c.fabricPairs()
	if P == 1 {
		vms := c.VMsPerSite / A
		if a < c.VMsPerSite%A {
			vms++
		}
		return vms
	}
	n := 0
	for i := a; i < c.VMsPerSite; i += A {
		if i%c.HostsPerSite%P == k {
			n++
		}
	}
	return n
}

// zoneDBBytesOfPair is the exact size of the canonical serialization (see
// Switch.recomputeChecksum) of a freshly built fabric of site's fabric pair
// k, computed from the config alone so Validate can refuse a world before
// building it. Both fabrics of a pair are the same size.
func zoneDBBytesOfPair(c Config, site string, k int) int {
	vmIDLen := len(site) + len("-vm") + width(c.VMsPerSite, 3)
	total, effNames, effCount := 0, 0, 0
	for a := range c.ArraysPerSite {
		vms := vmsOfArrayOnPair(c, a, k)
		zones := vms * 2 * c.TargetsPerVport // both sets
		nameLen := sistZoneNameLen(vmIDLen, len(arrayID(site, a)))
		total += zones * zoneLineBytes(nameLen, 2, 0)
		effNames += zones * nameLen
		effCount += zones
	}
	for _, z := range adminZones {
		total += zoneLineBytes(len(z.name), z.members, z.principals)
		effNames += len(z.name)
		effCount++
	}
	return total + cfgLineBytes(len(cfgName(site, 0)), effNames, effCount)
}
