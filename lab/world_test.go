package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/compute"
	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/fabric/wwn"
)

func TestConfigDefaults(t *testing.T) {
	s := Small()
	want := Config{Sites: []string{"east", "west"}, ArraysPerSite: 1, HostsPerSite: 4, VMsPerSite: 12,
		TargetPortsPerFabric: 4, TargetsPerVport: 2, MaxVportsPerHBA: 64, Speed: 60, CommitLatency: 2e9,
		ZoneDBMaxBytes: 1 << 20, LinkRTTMs: 4, LinkBandwidthMbps: 10000, LinkDistanceKm: 300, LinkEfficiency: 0.75}
	if fmt.Sprint(s) != fmt.Sprint(want) {
		t.Fatalf("Small() = %+v\nwant      %+v", s, want)
	}
	w := newWorld(t, Config{Seed: 3})
	got := w.Config()
	got.Epoch, got.Seed = s.Epoch, s.Seed
	if fmt.Sprint(got) != fmt.Sprint(s) {
		t.Fatalf("New(Config{}) config = %+v, want Small()", got)
	}
	if !w.Config().Epoch.Equal(testEpoch) {
		t.Fatalf("epoch %v", w.Config().Epoch)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		want string // substring of the error; "" = valid
	}{
		{"small", func(*Config) {}, ""},
		{"zero value", func(c *Config) { *c = Config{} }, ""},
		{"large", func(c *Config) { *c = Large() }, ""},
		{"one site", func(c *Config) { c.Sites = []string{"solo"} }, ""},
		{"one port defaults one target", func(c *Config) { *c = Config{TargetPortsPerFabric: 1} }, ""},
		{"empty sites default", func(c *Config) { c.Sites = []string{} }, ""},
		{"long site id, truncated in zone names", func(c *Config) { c.Sites = []string{"frankfurtmainzone"} }, ""},
		{"site with dash", func(c *Config) { c.Sites = []string{"us-east"} }, "site id"},
		{"site uppercase", func(c *Config) { c.Sites = []string{"East"} }, "site id"},
		{"duplicate site", func(c *Config) { c.Sites = []string{"east", "east"} }, "twice"},
		{"negative hosts", func(c *Config) { c.HostsPerSite = -1 }, "HostsPerSite"},
		{"targets beyond ports", func(c *Config) { c.TargetsPerVport = 5 }, "TargetsPerVport"},
		{"npiv beyond 255", func(c *Config) { c.MaxVportsPerHBA = 256 }, "MaxVportsPerHBA"},
		{"too many vports per hba", func(c *Config) { c.MaxVportsPerHBA = 2 }, "more than MaxVportsPerHBA"},
		{"negative speed", func(c *Config) { c.Speed = -1 }, "Speed"},
		{"nan speed", func(c *Config) { c.Speed = math.NaN() }, "Speed"},
		{"negative commit latency", func(c *Config) { c.CommitLatency = -1 }, "CommitLatency"},
		{"link efficiency above 1", func(c *Config) { c.LinkEfficiency = 1.5 }, "LinkEfficiency"},
		{"negative link efficiency", func(c *Config) { c.LinkEfficiency = -0.1 }, "LinkEfficiency"},
		{"link efficiency 1", func(c *Config) { c.LinkEfficiency = 1 }, ""},
		{"negative transfer cap", func(c *Config) { c.TransferCapBytesPerSec = -1 }, "TransferCapBytesPerSec"},
		{"infinite transfer cap", func(c *Config) { c.TransferCapBytesPerSec = math.Inf(1) }, "TransferCapBytesPerSec"},
		{"transfer cap", func(c *Config) { c.TransferCapBytesPerSec = 64 << 20 }, ""},
		{"zone db too small", func(c *Config) { c.ZoneDBMaxBytes = 4096 }, "zone database"},
		{"large at brocade limit", func(c *Config) { *c = Large(); c.ZoneDBMaxBytes = 1 << 20 }, "zone database"},
		{"zero is one pair", func(c *Config) { c.FabricPairsPerSite = 0 }, ""},
		{"one pair", func(c *Config) { c.FabricPairsPerSite = 1 }, ""},
		{"two pairs", func(c *Config) { c.FabricPairsPerSite = 2 }, ""},
		{"four pairs, four hosts", func(c *Config) { c.FabricPairsPerSite = 4 }, ""},
		{"negative", func(c *Config) { c.FabricPairsPerSite = -1 }, "FabricPairsPerSite = -1"},
		{"beyond the letters", func(c *Config) { c.FabricPairsPerSite = 5 }, "FabricPairsPerSite = 5"},
		{"a pair without hosts", func(c *Config) { c.FabricPairsPerSite, c.HostsPerSite = 3, 2 }, "without hosts"},
		{"array ports beyond a byte", func(c *Config) { c.FabricPairsPerSite, c.TargetPortsPerFabric = 4, 32 }, "more than 255"},
		{"array ports at a byte's end", func(c *Config) { c.FabricPairsPerSite, c.TargetPortsPerFabric = 3, 42 }, ""},
		{"large, two pairs", func(c *Config) { *c = Large(); c.FabricPairsPerSite = 2 }, ""},
		{"too many ports", func(c *Config) {
			c.HostsPerSite = 60000
			c.VMsPerSite = 60000
			c.ArraysPerSite = 30
			c.TargetPortsPerFabric = 64
			c.ZoneDBMaxBytes = 1 << 30
		}, "physical ports"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Small()
			tt.mod(&c)
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want ErrInvalidConfig mentioning %q", err, tt.want)
			}
			if _, err := New(c); !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("New = %v, want ErrInvalidConfig", err)
			}
		})
	}
}

func TestDeterminism(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  Config
	}{
		{"small", Config{}},
		{"three sites", Config{Sites: []string{"ams", "fra", "lon"}, ArraysPerSite: 2, VMsPerSite: 30}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.cfg
			c.Seed = 42
			a, b := dump(t, newWorld(t, c)), dump(t, newWorld(t, c))
			if !bytes.Equal(a, b) {
				t.Fatal("two worlds from one seed differ")
			}
			c.Seed = 43
			if bytes.Equal(a, dump(t, newWorld(t, c))) {
				t.Fatal("seeds 42 and 43 made the same world")
			}
		})
	}
}

func TestSmallCounts(t *testing.T) {
	w := newWorld(t, Small())
	ctx := context.Background()
	if got := w.Sites(); len(got) != 2 || got[0].ID != "east" || got[1].ID != "west" {
		t.Fatalf("sites %v", got)
	}
	want := []Link{{From: "east", To: "west", RTTMs: 4, BandwidthMbps: 10000, DistanceKm: 300}}
	if got := w.Links(); !slices.Equal(got, want) {
		t.Fatalf("links %v", got)
	}
	var fids, aids []string
	for _, f := range w.Fabrics() {
		fids = append(fids, f.ID)
		if s, ok := w.Switch(f.ID); !ok || s != f.Switch || f.Site != strings.Split(f.ID, "-")[0] {
			t.Fatalf("fabric %v", f)
		}
	}
	for _, a := range w.Arrays() {
		aids = append(aids, a.ID)
		if x, ok := w.Array(a.ID); !ok || x != a.Array {
			t.Fatalf("array %v", a)
		}
	}
	if !slices.Equal(fids, []string{"east-a", "east-b", "west-a", "west-b"}) {
		t.Fatalf("fabrics %v", fids)
	}
	if !slices.Equal(aids, []string{"east-arr1", "west-arr1"}) {
		t.Fatalf("arrays %v", aids)
	}
	if _, ok := w.Switch("east-arr1"); ok {
		t.Fatal("an array id found a switch")
	}
	hosts, _ := w.Compute().Hosts(ctx)
	vms, _ := w.Compute().VMs(ctx)
	if len(hosts) != 8 || hosts[0].ID != "east-esx01" || hosts[7].ID != "west-esx04" {
		t.Fatalf("%d hosts, first %s", len(hosts), hosts[0].ID)
	}
	if len(vms) != 24 || vms[0].ID != "east-vm001" || vms[23].ID != "west-vm012" {
		t.Fatalf("%d vms", len(vms))
	}
	for _, a := range w.Arrays() {
		ports, _ := a.Array.TargetPorts(ctx)
		pools, _ := a.Array.Pools(ctx)
		vols, _ := a.Array.Volumes(ctx)
		maps, _ := a.Array.Mappings(ctx)
		if len(ports) != 8 || len(pools) != 2 || len(vols) != 24 || len(maps) != 24 {
			t.Fatalf("%s: %d ports %d pools %d volumes %d mappings", a.ID, len(ports), len(pools), len(vols), len(maps))
		}
	}
	for _, f := range w.Fabrics() {
		db, _ := f.Switch.ZoneDB(ctx)
		logins, _ := f.Switch.Logins(ctx)
		// 12 VMs x 2 sets x 2 targets, 3 admin zones; 4 targets, backup, 2 tapes, 4 hosts, 12 vports.
		if len(db.Zones) != 51 || len(logins) != 23 || db.EffectiveCfg != "cfg_"+strings.Replace(f.ID, "-", "_", 1) {
			t.Fatalf("%s: %d zones, %d logins, cfg %s", f.ID, len(db.Zones), len(logins), db.EffectiveCfg)
		}
	}
}

func TestWorldInvariants(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"small", Config{Seed: 1}},
		{"other seed", Config{Seed: -987654321}},
		{"one site one port", Config{Seed: 2, Sites: []string{"solo"}, TargetPortsPerFabric: 1}},
		{"many arrays odd counts", Config{Seed: 3, ArraysPerSite: 3, HostsPerSite: 7, VMsPerSite: 50, TargetPortsPerFabric: 6, TargetsPerVport: 4}},
		{"longest site ids", Config{Seed: 4, Sites: []string{"frank", "amste"}, VMsPerSite: 20}},
		{"ids truncated in zone names", Config{Seed: 8, Sites: []string{"frankfurtmainzone"}, ArraysPerSite: 12, VMsPerSite: 24}},
		{"mid size", Config{Seed: 5, HostsPerSite: 250, VMsPerSite: 2500, ArraysPerSite: 2, ZoneDBMaxBytes: 4 << 20}},
		{"many vports per hba", Config{Seed: 6, HostsPerSite: 2, VMsPerSite: 128}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkInvariants(t, newWorld(t, tt.cfg))
		})
	}
}

// checkInvariants checks what the brief promises of a fresh world, reading
// it only through the driver interfaces, as the core does.
func checkInvariants(t *testing.T, w *World) {
	t.Helper()
	ctx := context.Background()
	cfg := w.Config()
	T := cfg.TargetsPerVport

	hosts, err := w.Compute().Hosts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	vms, err := w.Compute().VMs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(hosts) != len(cfg.Sites)*cfg.HostsPerSite || len(vms) != len(cfg.Sites)*cfg.VMsPerSite {
		t.Fatalf("%d hosts, %d VMs", len(hosts), len(vms))
	}
	fabrics, arrays := w.Fabrics(), w.Arrays()
	if len(fabrics) != 2*len(cfg.Sites) || len(arrays) != cfg.ArraysPerSite*len(cfg.Sites) {
		t.Fatalf("%d fabrics, %d arrays", len(fabrics), len(arrays))
	}

	// Every port entity in the world, by WWPN: no name may be owned twice.
	owner := map[wwn.WWN]string{}
	claim := func(w wwn.WWN, who string) {
		if w.IsZero() {
			t.Fatalf("%s has no WWPN", who)
		}
		if prev, dup := owner[w]; dup {
			t.Fatalf("WWPN %v belongs to %s and %s", w, prev, who)
		}
		owner[w] = who
	}

	// Name servers, and no WWPN logged in twice anywhere.
	logins := map[string]map[wwn.WWN]fabric.Login{}
	loggedIn := map[wwn.WWN]string{}
	for _, f := range fabrics {
		ls, err := f.Switch.Logins(ctx)
		if err != nil {
			t.Fatal(err)
		}
		m := map[wwn.WWN]fabric.Login{}
		pids := map[string]bool{}
		for _, l := range ls {
			if prev, dup := loggedIn[l.WWPN]; dup {
				t.Fatalf("WWPN %v logged in on %s and %s", l.WWPN, prev, f.ID)
			}
			loggedIn[l.WWPN] = f.ID
			if pids[l.PortID] {
				t.Fatalf("%s: port id %s twice", f.ID, l.PortID)
			}
			pids[l.PortID] = true
			if !portIDRe.MatchString(l.PortID) || !switchPortRe.MatchString(l.SwitchPort) {
				t.Fatalf("%s: login %+v", f.ID, l)
			}
			if l.LoggedInAt.IsZero() || l.LoggedInAt.After(cfg.Epoch) {
				t.Fatalf("%s: %v logged in at %v", f.ID, l.WWPN, l.LoggedInAt)
			}
			m[l.WWPN] = l
		}
		for _, l := range ls {
			if !l.NPIV {
				if !l.PhysicalWWPN.IsZero() || !strings.HasSuffix(l.PortID, "00") {
					t.Fatalf("%s: FLOGI %+v", f.ID, l)
				}
				continue
			}
			phys, ok := m[l.PhysicalWWPN]
			if !ok || phys.NPIV || l.Kind != fabric.Initiator || l.PortID[:6] != phys.PortID[:6] || l.SwitchPort != phys.SwitchPort {
				t.Fatalf("%s: NPIV login %+v on physical %+v", f.ID, l, phys)
			}
		}
		logins[f.ID] = m
	}

	// Arrays.
	targetFabric := map[wwn.WWN]string{} // target port -> fabric it is logged in on
	arrayOf := map[wwn.WWN]string{}
	volWWNs := map[string]bool{}
	mappings := map[string][]array.Mapping{} // by host group
	volumes := map[string]array.Volume{}
	volRe := regexp.MustCompile(`^naa\.6[0-9a-f]{31}$`)
	for _, a := range arrays {
		ports, err := a.Array.TargetPorts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(ports) != 2*cfg.TargetPortsPerFabric {
			t.Fatalf("%s: %d ports", a.ID, len(ports))
		}
		perFabric := map[string]int{}
		for _, p := range ports {
			claim(p.WWPN, a.ID+" port "+p.Name)
			arrayOf[p.WWPN] = a.ID
			if oui, _ := p.WWPN.OUI(); p.WWPN.NAA() != wwn.NAAIEEERegistered || oui != ouiStorage || (p.QueueLimit != 2048 && p.QueueLimit != 3276) {
				t.Fatalf("%s: port %+v", a.ID, p)
			}
			fid := loggedIn[p.WWPN]
			if l := logins[fid][p.WWPN]; !strings.HasPrefix(fid, a.Site+"-") || l.Kind != fabric.Target || l.NPIV {
				t.Fatalf("%s: port %v logged in on %q as %+v", a.ID, p.WWPN, fid, l)
			}
			targetFabric[p.WWPN] = fid
			perFabric[fid]++
		}
		for fid, n := range perFabric {
			if n != cfg.TargetPortsPerFabric {
				t.Fatalf("%s: %d ports on %s", a.ID, n, fid)
			}
		}
		pools, _ := a.Array.Pools(ctx)
		vols, _ := a.Array.Volumes(ctx)
		snaps, _ := a.Array.Snapshots(ctx)
		maps, _ := a.Array.Mappings(ctx)
		prov := map[string]int64{}
		for _, v := range vols {
			volumes[v.ID] = v
			prov[v.Pool] += v.SizeBytes
			if volWWNs[v.WWN] || !volRe.MatchString(v.WWN) {
				t.Fatalf("%s: volume WWN %q duplicate or malformed", v.ID, v.WWN)
			}
			volWWNs[v.WWN] = true
			gib := float64(v.SizeBytes) / (1 << 30)
			u := float64(v.UsedBytes) / float64(v.SizeBytes)
			if gib < 40 || gib > 500 || u < 0.099 || u > 0.80 || !v.Thin || v.Name != v.ID || v.CreatedAt.After(cfg.Epoch) {
				t.Fatalf("volume %+v", v)
			}
		}
		if len(pools) != 2 {
			t.Fatalf("%s: %d pools", a.ID, len(pools))
		}
		for i, p := range pools {
			if p.ID != fmt.Sprintf("%s-pool%d", a.ID, i+1) || p.ProvisionedBytes != prov[p.ID] || p.MaxOvercommit != 4 || p.ReservedPercent != 5 {
				t.Fatalf("pool %+v, provisioned by volumes %d", p, prov[p.ID])
			}
			if p.ProvisionedBytes == 0 {
				continue
			}
			oc := float64(p.ProvisionedBytes) / float64(p.PhysicalBytes)
			used := float64(p.UsedBytes) / float64(p.PhysicalBytes)
			if oc < 1.499 || oc > 2.501 || used < 0.399 || used > 0.701 {
				t.Fatalf("pool %s: overcommit %.3f, used %.3f", p.ID, oc, used)
			}
		}
		perVol := map[string][]string{}
		for _, s := range snaps {
			perVol[s.Volume] = append(perVol[s.Volume], s.ID)
			v, ok := volumes[s.Volume]
			if !ok || s.CreatedAt.Before(v.CreatedAt) || s.CreatedAt.After(cfg.Epoch) || s.UsedBytes > v.UsedBytes {
				t.Fatalf("snapshot %+v of %+v", s, v)
			}
		}
		for _, v := range vols {
			ids := perVol[v.ID]
			if len(ids) < 1 || len(ids) > 2 || ids[0] != v.ID+"-snap1" || (len(ids) == 2 && ids[1] != v.ID+"-snap2") {
				t.Fatalf("%s: snapshots %v", v.ID, ids)
			}
		}
		if len(maps) != len(vols) {
			t.Fatalf("%s: %d mappings for %d volumes", a.ID, len(maps), len(vols))
		}
		for _, m := range maps {
			mappings[m.HostGroup] = append(mappings[m.HostGroup], m)
		}
	}

	// Zone databases.
	type zkey struct {
		fabric string
		wwpn   wwn.WWN
	}
	zonesOf := map[zkey][]fabric.Zone{}
	adminMembers := map[wwn.WWN]bool{}
	for _, f := range fabrics {
		db, err := f.Switch.ZoneDB(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ser := refSerialize(db)
		if db.Checksum != md5hex(ser) || db.SizeBytes != len(ser) || db.SizeBytes > db.MaxBytes || db.MaxBytes != cfg.ZoneDBMaxBytes {
			t.Fatalf("%s: checksum %s size %d max %d; serialization %d bytes, md5 %s", f.ID, db.Checksum, db.SizeBytes, db.MaxBytes, len(ser), md5hex(ser))
		}
		if want := zoneDBBytes(cfg, f.Site); db.SizeBytes != want {
			t.Fatalf("%s: %d bytes, Validate computed %d", f.ID, db.SizeBytes, want)
		}
		names := make([]string, len(db.Zones))
		sm := 0
		for i, z := range db.Zones {
			names[i] = z.Name
			if !validZoneName(z.Name) {
				t.Fatalf("%s: zone name %q", f.ID, z.Name)
			}
			if !strings.HasPrefix(z.Name, "sm_") {
				// Admin zones: every member is on the fabric.
				for _, m := range append(slices.Clone(z.Members), z.Principals...) {
					if loggedIn[m] != f.ID {
						t.Fatalf("%s: admin zone %s member %v not logged in", f.ID, z.Name, m)
					}
					adminMembers[m] = true
				}
				continue
			}
			sm++
			if len(z.Members) != 2 || z.Peer() {
				t.Fatalf("%s: zone %+v is not SIST", f.ID, z)
			}
			zonesOf[zkey{f.ID, z.Members[0]}] = append(zonesOf[zkey{f.ID, z.Members[0]}], z)
		}
		if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
			t.Fatalf("%s: zone names not sorted and unique", f.ID)
		}
		if !slices.Equal(db.Effective, names) {
			t.Fatalf("%s: effective cfg is not every zone", f.ID)
		}
		if sm != cfg.VMsPerSite*2*T || len(db.Zones) != sm+len(adminZones) {
			t.Fatalf("%s: %d sanmob zones of %d", f.ID, sm, len(db.Zones))
		}
	}

	// Hosts.
	hostByID := map[string]compute.Host{}
	vmsOnHBA := map[wwn.WWN]int{}
	for i, h := range hosts {
		site := cfg.Sites[i/cfg.HostsPerSite]
		if want := fmt.Sprintf("%s-esx%0*d", site, width(cfg.HostsPerSite, 2), i%cfg.HostsPerSite+1); h.ID != want || h.Site != site {
			t.Fatalf("host %d is %s at %s, want %s", i, h.ID, h.Site, want)
		}
		if len(h.HBAs) != 2 {
			t.Fatalf("%s: %d HBAs", h.ID, len(h.HBAs))
		}
		fabs := map[string]bool{}
		for _, b := range h.HBAs {
			claim(b.WWPN, h.ID+" "+b.Name)
			oui, _ := b.WWPN.OUI()
			if (b.WWPN.NAA() != wwn.NAAIEEE && b.WWPN.NAA() != wwn.NAAIEEEExtended) || (oui != ouiEmulex && oui != ouiQLogic) ||
				b.WWNN == b.WWPN || b.MaxVports != cfg.MaxVportsPerHBA {
				t.Fatalf("%s: HBA %+v", h.ID, b)
			}
			l, ok := logins[loggedIn[b.WWPN]][b.WWPN]
			if !ok || l.NPIV || l.Kind != fabric.Initiator || !strings.HasPrefix(loggedIn[b.WWPN], site+"-") {
				t.Fatalf("%s: HBA %v login %+v", h.ID, b.WWPN, l)
			}
			fabs[loggedIn[b.WWPN]] = true
		}
		if len(fabs) != 2 {
			t.Fatalf("%s: HBAs on fabrics %v", h.ID, fabs)
		}
		hostByID[h.ID] = h
	}

	// VMs: vports, logins, zoning, masking.
	for i, v := range vms {
		site := cfg.Sites[i/cfg.VMsPerSite]
		k := i % cfg.VMsPerSite
		if want := fmt.Sprintf("%s-vm%0*d", site, width(cfg.VMsPerSite, 3), k+1); v.ID != want {
			t.Fatalf("vm %d is %s, want %s", i, v.ID, want)
		}
		h, ok := hostByID[v.Host]
		if wantHost := fmt.Sprintf("%s-esx%0*d", site, width(cfg.HostsPerSite, 2), k%cfg.HostsPerSite+1); !ok || v.Host != wantHost {
			t.Fatalf("%s on %s, want round robin %s", v.ID, v.Host, wantHost)
		}
		if v.Shares != 1000 && v.Shares != 2000 && v.Shares != 500 {
			t.Fatalf("%s: shares %d", v.ID, v.Shares)
		}
		if len(v.Vports) != 4 {
			t.Fatalf("%s: %d vports", v.ID, len(v.Vports))
		}
		var initiators []wwn.WWN
		targets := map[wwn.WWN]bool{}
		sets := map[string]bool{}
		for _, p := range v.Vports {
			claim(p.WWPN, v.ID+" vport")
			initiators = append(initiators, p.WWPN)
			if oui, _ := p.WWPN.OUI(); p.WWPN.NAA() != wwn.NAAIEEERegistered || oui != wwn.OUIQEMU || p.WWNN == p.WWPN || owner[p.WWNN] != "" {
				t.Fatalf("%s: vport %+v", v.ID, p)
			}
			sets[p.Fabric+"/"+p.Set] = true
			if !strings.HasPrefix(p.Fabric, site+"-") {
				t.Fatalf("%s: vport on fabric %s", v.ID, p.Fabric)
			}
			switch p.Set {
			case "a":
				l, ok := logins[p.Fabric][p.WWPN]
				if !p.Active || !ok || !l.NPIV || l.PhysicalWWPN != p.HBA || loggedIn[p.HBA] != p.Fabric || l.WWNN != p.WWNN ||
					!slices.ContainsFunc(h.HBAs, func(b compute.HBA) bool { return b.WWPN == p.HBA }) {
					t.Fatalf("%s: set a vport %+v, login %+v", v.ID, p, l)
				}
				vmsOnHBA[p.HBA]++
			case "b":
				if p.Active || !p.HBA.IsZero() || loggedIn[p.WWPN] != "" {
					t.Fatalf("%s: set b vport %+v is up (logged in on %q)", v.ID, p, loggedIn[p.WWPN])
				}
			default:
				t.Fatalf("%s: vport set %q", v.ID, p.Set)
			}
			zs := zonesOf[zkey{p.Fabric, p.WWPN}]
			if len(zs) != T {
				t.Fatalf("%s: vport %v in %d zones on %s, want %d", v.ID, p.WWPN, len(zs), p.Fabric, T)
			}
			seen := map[wwn.WWN]bool{}
			for _, z := range zs {
				tgt := z.Members[1]
				arr := arrayOf[tgt]
				if seen[tgt] || targetFabric[tgt] != p.Fabric || logins[p.Fabric][tgt].Kind != fabric.Target {
					t.Fatalf("%s: zone %s target %v not a distinct array port on %s", v.ID, z.Name, tgt, p.Fabric)
				}
				seen[tgt] = true
				if want := refZoneName(v.ID, p.WWPN, arr, tgt); z.Name != want || len(z.Name) > 64 {
					t.Fatalf("zone %q, want %q", z.Name, want)
				}
				targets[tgt] = true
			}
		}
		if len(sets) != 4 {
			t.Fatalf("%s: vports %v", v.ID, sets)
		}
		// Both sets are zoned to the same ports, so the VM has T per fabric.
		if len(targets) != 2*T {
			t.Fatalf("%s: zoned to %d ports, want %d", v.ID, len(targets), 2*T)
		}
		ms := mappings[v.ID]
		if len(ms) != 2 {
			t.Fatalf("%s: %d mappings", v.ID, len(ms))
		}
		for _, m := range ms {
			wantLUN := map[string]int{v.ID + "-d0": 0, v.ID + "-d1": 1}
			lun, ok := wantLUN[m.Volume]
			if !ok || m.LUN != lun || !m.Writable || !sameSet(m.Initiators, initiators) || len(m.TargetPorts) != len(targets) {
				t.Fatalf("%s: mapping %+v", v.ID, m)
			}
			for _, tp := range m.TargetPorts {
				if !targets[tp] {
					t.Fatalf("%s: masked through %v, which it is not zoned to", v.ID, tp)
				}
			}
			if vol, ok := volumes[m.Volume]; !ok || !strings.HasPrefix(vol.Pool, arrayOf[m.TargetPorts[0]]+"-pool") {
				t.Fatalf("%s: volume %s not on the array of its target ports", v.ID, m.Volume)
			}
		}
	}
	for _, h := range hosts {
		for _, b := range h.HBAs {
			if b.VportsInUse != vmsOnHBA[b.WWPN] {
				t.Fatalf("%s: HBA %v reports %d vports, %d logged in", h.ID, b.WWPN, b.VportsInUse, vmsOnHBA[b.WWPN])
			}
		}
	}
	// Every login belongs to something the world knows, or to the backup
	// server and tapes the admin zones name.
	stray := map[string]int{}
	for wp, fid := range loggedIn {
		if owner[wp] == "" {
			if !adminMembers[wp] {
				t.Fatalf("%s: login %v belongs to nothing", fid, wp)
			}
			stray[fid]++
		}
	}
	for _, f := range fabrics {
		if stray[f.ID] != 1+tapeDrives {
			t.Fatalf("%s: %d logins outside the inventory, want the backup server and %d tape drives", f.ID, stray[f.ID], tapeDrives)
		}
	}
}

var (
	portIDRe     = regexp.MustCompile(`^0x[0-9a-f]{6}$`)
	switchPortRe = regexp.MustCompile(`^\d+,\d+$`)
)

func sameSet(a, b []wwn.WWN) bool {
	if len(a) != len(b) {
		return false
	}
	x, y := slices.Clone(a), slices.Clone(b)
	cmp := func(p, q wwn.WWN) int { return bytes.Compare(p[:], q[:]) }
	slices.SortFunc(x, cmp)
	slices.SortFunc(y, cmp)
	return slices.Equal(x, y)
}

func TestZoneNames(t *testing.T) {
	ini := wwn.MustParse("50:01:a4:a0:00:00:00:02")
	tgt := wwn.MustParse("50:00:2a:c0:05:60:21:01")
	tests := []struct {
		name, vm, array string
	}{
		{"plain", "east-vm001", "east-arr1"},
		{"longest lab ids", "abcde-vm999999", "abcde-arr256"},
		{"unsafe characters", "vm.1:x y", "arr/2"},
		{"short", "a", "b"},
		{"empty", "", ""},
		// Both parts at the 13-character cap make exactly Brocade's 64.
		{"both truncated", "frankfurtmainzone-vm00001", "frankfurtmainzone-arr12"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := fabric.SISTZoneName(tt.vm, ini, tt.array, tgt)
			if want := refZoneName(tt.vm, ini, tt.array, tgt); got != want {
				t.Fatalf("name %q, want %q", got, want)
			}
			if !validZoneName(got) || fabric.CheckZoneName(got) != nil || !fabric.Owned(got) {
				t.Fatalf("name %q (%d chars) is not a valid sanmob zone name", got, len(got))
			}
			if len(got) != sistZoneNameLen(len(tt.vm), len(tt.array)) {
				t.Fatalf("length %d, sistZoneNameLen %d", len(got), sistZoneNameLen(len(tt.vm), len(tt.array)))
			}
		})
	}
}

func TestHostIndex(t *testing.T) {
	w := newWorld(t, Small())
	for _, tt := range []struct {
		id   string
		want int
	}{
		{"east-esx01", 0}, {"east-esx04", 3}, {"west-esx01", 4}, {"west-esx04", 7},
		{"east-esx05", -1}, {"east-esx00", -1}, {"east-esx1", -1}, {"north-esx01", -1},
		{"east-esx+1", -1}, {"east-vm001", -1}, {"", -1},
	} {
		t.Run(tt.id, func(t *testing.T) {
			got, ok := w.hostIndex(tt.id)
			if (tt.want < 0 && ok) || (tt.want >= 0 && (!ok || got != tt.want)) {
				t.Fatalf("hostIndex(%q) = %d, %v; want %d", tt.id, got, ok, tt.want)
			}
		})
	}
}
