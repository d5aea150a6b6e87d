package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/sanmob/sanmob/compute"
	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/fabric/wwn"
)

// TestFabricPairsOneIsZero: FabricPairsPerSite 1 is the world of 0, byte
// for byte, journal header included.
func TestFabricPairsOneIsZero(t *testing.T) {
	for _, seed := range []int64{1, 42} {
		zero := Config{Seed: seed, Epoch: testEpoch}
		one := zero
		one.FabricPairsPerSite = 1
		if !bytes.Equal(dump(t, newWorld(t, zero)), dump(t, newWorld(t, one))) {
			t.Fatalf("seed %d: FabricPairsPerSite 1 makes another world than 0", seed)
		}
		h0, err := json.Marshal(headerOf(zero.withDefaults()))
		must(t, err)
		h1, err := json.Marshal(headerOf(one.withDefaults()))
		must(t, err)
		if !bytes.Equal(h0, h1) {
			t.Fatalf("seed %d: the journal headers differ: %s and %s", seed, h0, h1)
		}
	}
}

func TestFabricPairsWorld(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"two pairs", Config{Seed: 1, FabricPairsPerSite: 2}},
		{"two pairs other seed", Config{Seed: -987654321, FabricPairsPerSite: 2}},
		{"three pairs odd counts", Config{Seed: 3, FabricPairsPerSite: 3, ArraysPerSite: 3, HostsPerSite: 7, VMsPerSite: 50,
			TargetPortsPerFabric: 6, TargetsPerVport: 4}},
		{"four pairs one site", Config{Seed: 4, FabricPairsPerSite: 4, Sites: []string{"solo"}, HostsPerSite: 9, VMsPerSite: 40}},
		{"two pairs many arrays", Config{Seed: 8, FabricPairsPerSite: 2, Sites: []string{"frankfurtmainzone", "b"}, ArraysPerSite: 12, VMsPerSite: 48}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, tt.cfg)
			checkPairs(t, w)
			c := tt.cfg
			if !bytes.Equal(dump(t, w), dump(t, newWorld(t, c))) {
				t.Fatal("two worlds from one seed differ")
			}
		})
	}
}

// TestFabricPairsIDs pins the names of a two-pair world.
func TestFabricPairsIDs(t *testing.T) {
	w := newWorld(t, Config{Seed: 1, FabricPairsPerSite: 2})
	var ids, cfgs []string
	for _, f := range w.Fabrics() {
		ids = append(ids, f.ID)
		cfgs = append(cfgs, f.Switch.TruthZoneDB().EffectiveCfg)
		if s, ok := w.Switch(f.ID); !ok || s != f.Switch {
			t.Fatalf("Switch(%s) does not find it", f.ID)
		}
	}
	if want := []string{"east-a", "east-b", "east-c", "east-d", "west-a", "west-b", "west-c", "west-d"}; !slices.Equal(ids, want) {
		t.Fatalf("fabrics %v, want %v", ids, want)
	}
	if want := []string{"cfg_east_a", "cfg_east_b", "cfg_east_c", "cfg_east_d", "cfg_west_a", "cfg_west_b", "cfg_west_c", "cfg_west_d"}; !slices.Equal(cfgs, want) {
		t.Fatalf("cfgs %v", cfgs)
	}
	fabs := hostFabrics(t, w)
	for h, want := range map[string][2]string{
		"east-esx01": {"east-a", "east-b"}, "east-esx02": {"east-c", "east-d"},
		"east-esx03": {"east-a", "east-b"}, "east-esx04": {"east-c", "east-d"},
		"west-esx02": {"west-c", "west-d"},
	} {
		if fabs[h] != want {
			t.Errorf("%s on %v, want %v", h, fabs[h], want)
		}
	}
	for _, v := range []struct{ vm, host, a, b string }{
		{"east-vm001", "east-esx01", "east-a", "east-b"},
		{"east-vm002", "east-esx02", "east-c", "east-d"},
		{"west-vm004", "west-esx04", "west-c", "west-d"},
	} {
		vm := vmOf(t, w, v.vm)
		if vm.Host != v.host || vm.Vports[0].Fabric != v.a || vm.Vports[1].Fabric != v.a || vm.Vports[2].Fabric != v.b || vm.Vports[3].Fabric != v.b {
			t.Errorf("%s: %+v, want on %s, vports on %s and %s", v.vm, vm, v.host, v.a, v.b)
		}
	}
}

// hostFabrics is, by host id, the fabric each of its HBAs (side a, side b)
// is logged in on, read off the name servers.
func hostFabrics(t *testing.T, w *World) map[string][2]string {
	t.Helper()
	hosts, err := w.Compute().Hosts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	on := map[wwn.WWN]string{}
	for _, f := range w.Fabrics() {
		for _, l := range f.Switch.TruthLogins() {
			on[l.WWPN] = f.ID
		}
	}
	out := map[string][2]string{}
	for _, h := range hosts {
		out[h.ID] = [2]string{on[h.HBAs[0].WWPN], on[h.HBAs[1].WWPN]}
	}
	return out
}

// checkPairs checks what FabricPairsPerSite promises of a fresh world,
// through the driver interfaces.
func checkPairs(t *testing.T, w *World) {
	t.Helper()
	ctx := context.Background()
	cfg := w.Config()
	P, N, T := cfg.fabricPairs(), cfg.TargetPortsPerFabric, cfg.TargetsPerVport

	// Fabrics: a..(2P) per site, in order.
	fabrics := w.Fabrics()
	if len(fabrics) != 2*P*len(cfg.Sites) {
		t.Fatalf("%d fabrics, want %d", len(fabrics), 2*P*len(cfg.Sites))
	}
	pairOf := map[string]int{} // fabric id -> pair
	siteFabrics := map[string][]string{}
	for i, f := range fabrics {
		site := cfg.Sites[i/(2*P)]
		if want := fmt.Sprintf("%s-%c", site, 'a'+i%(2*P)); f.ID != want || f.Site != site {
			t.Fatalf("fabric %d is %s at %s, want %s", i, f.ID, f.Site, want)
		}
		pairOf[f.ID] = i % (2 * P) / 2
		siteFabrics[site] = append(siteFabrics[site], f.ID)
	}
	pairFabrics := func(site string, k int) [2]string {
		return [2]string{siteFabrics[site][2*k], siteFabrics[site][2*k+1]}
	}

	// Name servers: no WWPN twice anywhere.
	loggedIn := map[wwn.WWN]string{}
	logins := map[string]map[wwn.WWN]fabric.Login{}
	for _, f := range fabrics {
		m := map[wwn.WWN]fabric.Login{}
		for _, l := range f.Switch.TruthLogins() {
			if prev, dup := loggedIn[l.WWPN]; dup {
				t.Fatalf("%v logged in on %s and %s", l.WWPN, prev, f.ID)
			}
			loggedIn[l.WWPN] = f.ID
			m[l.WWPN] = l
		}
		for _, l := range m {
			if l.NPIV {
				if phys, ok := m[l.PhysicalWWPN]; !ok || phys.NPIV || phys.PortID[:6] != l.PortID[:6] {
					t.Fatalf("%s: NPIV login %+v on physical %+v", f.ID, l, phys)
				}
			}
		}
		logins[f.ID] = m
	}

	// Hosts: host i of a site on pair i % P, one HBA on each of its fabrics.
	hosts, err := w.Compute().Hosts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	hostPair := map[string]int{}
	hostByID := map[string]compute.Host{}
	for i, h := range hosts {
		site, k := cfg.Sites[i/cfg.HostsPerSite], i%cfg.HostsPerSite%P
		hostPair[h.ID], hostByID[h.ID] = k, h
		want := pairFabrics(site, k)
		for side, b := range h.HBAs {
			l, ok := logins[want[side]][b.WWPN]
			if !ok || l.NPIV || l.Kind != fabric.Initiator {
				t.Fatalf("%s: HBA %d (%v) not logged in on %s (it is on %q)", h.ID, side, b.WWPN, want[side], loggedIn[b.WWPN])
			}
		}
	}

	// Arrays: TargetPortsPerFabric ports on every fabric of the site.
	arrayOf, targetOn := map[wwn.WWN]string{}, map[wwn.WWN]string{}
	for _, a := range w.Arrays() {
		ports, err := a.Array.TargetPorts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(ports) != 2*P*N {
			t.Fatalf("%s: %d ports, want %d", a.ID, len(ports), 2*P*N)
		}
		per := map[string]int{}
		for _, p := range ports {
			fid := loggedIn[p.WWPN]
			if l := logins[fid][p.WWPN]; l.Kind != fabric.Target || l.NPIV || !strings.HasPrefix(fid, a.Site+"-") {
				t.Fatalf("%s: port %s (%v) logged in on %q as %+v", a.ID, p.Name, p.WWPN, fid, l)
			}
			if arrayOf[p.WWPN] != "" {
				t.Fatalf("%s: port %v twice", a.ID, p.WWPN)
			}
			arrayOf[p.WWPN], targetOn[p.WWPN] = a.ID, fid
			per[fid]++
		}
		for _, fid := range siteFabrics[a.Site] {
			if per[fid] != N {
				t.Fatalf("%s: %d ports on %s, want %d", a.ID, per[fid], fid, N)
			}
		}
	}

	// Zone databases: sized as Validate computed, admin zones on every
	// fabric, SIST zones by initiator.
	type zkey struct {
		fabric string
		wwpn   wwn.WWN
	}
	zonesOf := map[zkey][]fabric.Zone{}
	zonedOn := map[wwn.WWN][]string{} // initiator -> fabrics with a zone of it
	for _, f := range fabrics {
		db := f.Switch.TruthZoneDB()
		ser := refSerialize(db)
		if db.Checksum != md5hex(ser) || db.SizeBytes != len(ser) {
			t.Fatalf("%s: checksum %s size %d; serialization %d bytes, md5 %s", f.ID, db.Checksum, db.SizeBytes, len(ser), md5hex(ser))
		}
		if want := zoneDBBytesOfPair(cfg, f.Site, pairOf[f.ID]); db.SizeBytes != want {
			t.Fatalf("%s: %d bytes, Validate computed %d", f.ID, db.SizeBytes, want)
		}
		admin := 0
		for _, z := range db.Zones {
			if !strings.HasPrefix(z.Name, fabric.OwnedPrefix) {
				admin++
				for _, m := range append(slices.Clone(z.Members), z.Principals...) {
					if loggedIn[m] != f.ID {
						t.Fatalf("%s: admin zone %s member %v logged in on %q", f.ID, z.Name, m, loggedIn[m])
					}
				}
				continue
			}
			k := zkey{f.ID, z.Members[0]}
			zonesOf[k] = append(zonesOf[k], z)
			if !slices.Contains(zonedOn[z.Members[0]], f.ID) {
				zonedOn[z.Members[0]] = append(zonedOn[z.Members[0]], f.ID)
			}
		}
		if admin != len(adminZones) {
			t.Fatalf("%s: %d admin zones", f.ID, admin)
		}
	}

	// VMs: vports on their host's pair, set a logged in there only, zoned
	// there only, masked to those targets. The ports a fabric's VMs are
	// zoned to spread evenly.
	vms, err := w.Compute().VMs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mappings := map[string][]wwn.WWN{} // host group -> target ports
	initiators := map[string][]wwn.WWN{}
	for _, a := range w.Arrays() {
		maps, _ := a.Array.Mappings(ctx)
		for _, m := range maps {
			mappings[m.HostGroup], initiators[m.HostGroup] = m.TargetPorts, m.Initiators
		}
	}
	use := map[wwn.WWN]int{} // set a zones per target port
	onHBA := map[wwn.WWN]int{}
	for _, v := range vms {
		h := hostByID[v.Host]
		want := pairFabrics(h.Site, hostPair[v.Host])
		targets := map[wwn.WWN]bool{}
		var inits []wwn.WWN
		for i, p := range v.Vports {
			side := i / 2
			inits = append(inits, p.WWPN)
			if p.Fabric != want[side] {
				t.Fatalf("%s on %s: vport %d on %s, want %s", v.ID, v.Host, i, p.Fabric, want[side])
			}
			switch p.Set {
			case "a":
				l, ok := logins[p.Fabric][p.WWPN]
				if !p.Active || !ok || l.PhysicalWWPN != h.HBAs[side].WWPN || p.HBA != h.HBAs[side].WWPN {
					t.Fatalf("%s: set a vport %+v, login %+v (logged in on %q)", v.ID, p, l, loggedIn[p.WWPN])
				}
				onHBA[p.HBA]++
			case "b":
				if p.Active || !p.HBA.IsZero() || loggedIn[p.WWPN] != "" {
					t.Fatalf("%s: set b vport %+v is up", v.ID, p)
				}
			}
			if on := zonedOn[p.WWPN]; len(on) != 1 || on[0] != p.Fabric {
				t.Fatalf("%s: vport %v zoned on %v, want %s alone", v.ID, p.WWPN, on, p.Fabric)
			}
			zs := zonesOf[zkey{p.Fabric, p.WWPN}]
			if len(zs) != T {
				t.Fatalf("%s: vport %v in %d zones, want %d", v.ID, p.WWPN, len(zs), T)
			}
			for _, z := range zs {
				tgt := z.Members[1]
				if targetOn[tgt] != p.Fabric || logins[p.Fabric][tgt].Kind != fabric.Target {
					t.Fatalf("%s: zone %s names %v, logged in on %q, not %s", v.ID, z.Name, tgt, targetOn[tgt], p.Fabric)
				}
				if want := refZoneName(v.ID, p.WWPN, arrayOf[tgt], tgt); z.Name != want {
					t.Fatalf("zone %q, want %q", z.Name, want)
				}
				targets[tgt] = true
				if p.Set == "a" {
					use[tgt]++
				}
			}
		}
		if len(targets) != 2*T || !sameSet(mappings[v.ID], slices.Collect(maps.Keys(targets))) || !sameSet(initiators[v.ID], inits) {
			t.Fatalf("%s: masked to %v for %v, zoned to %v", v.ID, mappings[v.ID], initiators[v.ID], targets)
		}
	}
	for _, h := range hosts {
		for _, b := range h.HBAs {
			if b.VportsInUse != onHBA[b.WWPN] {
				t.Fatalf("%s: HBA %v reports %d vports, %d logged in", h.ID, b.WWPN, b.VportsInUse, onHBA[b.WWPN])
			}
		}
	}
	spread := map[[2]string][]int{} // array, fabric -> set a zones per port
	for p, fid := range targetOn {
		k := [2]string{arrayOf[p], fid}
		spread[k] = append(spread[k], use[p])
	}
	for k, n := range spread {
		if slices.Max(n)-slices.Min(n) > 1 {
			t.Fatalf("%s on %s: ports carry %v initiators, not spread evenly", k[0], k[1], n)
		}
	}
}

// moveVM moves a VM as a migration does: its idle set logs in on the
// destination host's fabrics, the VM moves, its active set logs out; then
// the idle set now carries the VM.
func moveVM(t *testing.T, w *World, vmID, dst string, mode compute.MoveMode) {
	t.Helper()
	ctx := context.Background()
	hosts, err := w.Compute().Hosts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h := hostByID(hosts, dst)
	dstFabrics := hostFabrics(t, w)[dst]
	v := vmOf(t, w, vmID)
	for i, p := range v.Vports {
		if !p.HBA.IsZero() {
			continue
		}
		side := i / 2
		s, _ := w.Switch(dstFabrics[side])
		if err := s.LoginVport(ctx, h.HBAs[side].WWPN, p.WWPN, p.WWNN); err != nil {
			t.Fatalf("login of %s's %v at %s: %v", vmID, p.WWPN, dst, err)
		}
	}
	if mode == compute.MoveCold {
		must(t, w.Compute().PowerOff(ctx, vmID))
	}
	if err := w.Compute().Move(ctx, vmID, dst, mode); err != nil {
		t.Fatalf("Move: %v", err)
	}
	if mode == compute.MoveCold {
		must(t, w.Compute().PowerOn(ctx, vmID))
	}
	for _, p := range v.Vports {
		if p.HBA.IsZero() {
			continue
		}
		s, _ := w.Switch(p.Fabric)
		if err := s.LogoutVport(ctx, p.WWPN); err != nil {
			t.Fatalf("logout of %s's %v from %s: %v", vmID, p.WWPN, p.Fabric, err)
		}
	}
}

// checkLogins checks every HBA's count against the name servers, that no
// WWPN is logged in twice, and that a VM's instantiated vports are on its
// host's HBAs on the fabrics it reports.
func checkLogins(t *testing.T, w *World) {
	t.Helper()
	ctx := context.Background()
	if n := w.DuplicateLogins(); n != 0 {
		t.Fatalf("%d duplicate logins", n)
	}
	on := map[wwn.WWN]fabric.Login{}
	onFabric := map[wwn.WWN]string{}
	perHBA := map[wwn.WWN]int{}
	for _, f := range w.Fabrics() {
		for _, l := range f.Switch.TruthLogins() {
			if prev, dup := onFabric[l.WWPN]; dup {
				t.Fatalf("%v logged in on %s and %s", l.WWPN, prev, f.ID)
			}
			on[l.WWPN], onFabric[l.WWPN] = l, f.ID
			if l.NPIV {
				perHBA[l.PhysicalWWPN]++
			}
		}
	}
	hosts, _ := w.Compute().Hosts(ctx)
	for _, h := range hosts {
		for _, b := range h.HBAs {
			if b.VportsInUse != perHBA[b.WWPN] {
				t.Fatalf("%s: HBA %v counts %d vports, %d are logged in through it", h.ID, b.WWPN, b.VportsInUse, perHBA[b.WWPN])
			}
		}
	}
	vms, _ := w.Compute().VMs(ctx)
	fabs := hostFabrics(t, w)
	for _, v := range vms {
		h := hostByID(hosts, v.Host)
		for i, p := range v.Vports {
			if p.Fabric != fabs[v.Host][i/2] {
				t.Fatalf("%s on %s: vport %v reports fabric %s, want %s", v.ID, v.Host, p.WWPN, p.Fabric, fabs[v.Host][i/2])
			}
			l, ok := on[p.WWPN]
			if ok != !p.HBA.IsZero() || ok && (onFabric[p.WWPN] != p.Fabric || l.PhysicalWWPN != h.HBAs[i/2].WWPN) {
				t.Fatalf("%s on %s: vport %+v, logged in %v on %q", v.ID, v.Host, p, ok, onFabric[p.WWPN])
			}
		}
	}
}

// TestFabricPairsMove moves a VM live to a host of the site's other fabric
// pair, and cold back: its vports follow it to the other fabrics and back,
// each logged in once, the HBAs counting what they carry.
func TestFabricPairsMove(t *testing.T) {
	const vmID = "east-vm001"
	w := newWorld(t, Config{Seed: 7, Speed: fastSpeed, FabricPairsPerSite: 2})
	ctx := context.Background()
	inUse := func(host string) [2]int {
		hosts, _ := w.Compute().Hosts(ctx)
		h := hostByID(hosts, host)
		return [2]int{h.HBAs[0].VportsInUse, h.HBAs[1].VportsInUse}
	}
	src, dst := inUse("east-esx01"), inUse("east-esx02")
	checkLogins(t, w)

	moveVM(t, w, vmID, "east-esx02", compute.MoveLive)
	checkLogins(t, w)
	v := vmOf(t, w, vmID)
	if v.Host != "east-esx02" {
		t.Fatalf("after the move: %+v", v)
	}
	for i, p := range v.Vports {
		wantFabric := []string{"east-c", "east-d"}[i/2]
		if p.Fabric != wantFabric || (p.Set == "b") == p.HBA.IsZero() {
			t.Fatalf("after the move: vport %+v, want on %s, set b logged in", p, wantFabric)
		}
	}
	if got := inUse("east-esx01"); got != [2]int{src[0] - 1, src[1] - 1} {
		t.Fatalf("source HBAs carry %v, want %v less one", got, src)
	}
	if got := inUse("east-esx02"); got != [2]int{dst[0] + 1, dst[1] + 1} {
		t.Fatalf("destination HBAs carry %v, want %v and one", got, dst)
	}
	// A vport cannot log in through an HBA of the other pair.
	s, _ := w.Switch("east-a")
	hosts, _ := w.Compute().Hosts(ctx)
	if err := s.LoginVport(ctx, hostByID(hosts, "east-esx02").HBAs[0].WWPN, v.Vports[0].WWPN, v.Vports[0].WWNN); !errors.Is(err, fabric.ErrNotFound) {
		t.Fatalf("login on east-a through east-esx02's HBA = %v, want not found", err)
	}

	moveVM(t, w, vmID, "east-esx01", compute.MoveCold)
	checkLogins(t, w)
	v = vmOf(t, w, vmID)
	for i, p := range v.Vports {
		wantFabric := []string{"east-a", "east-b"}[i/2]
		if p.Fabric != wantFabric || (p.Set == "a") == p.HBA.IsZero() {
			t.Fatalf("after the move back: vport %+v, want on %s, set a logged in", p, wantFabric)
		}
	}
	if got, got2 := inUse("east-esx01"), inUse("east-esx02"); got != src || got2 != dst {
		t.Fatalf("after the move back the HBAs carry %v and %v, want %v and %v", got, got2, src, dst)
	}

	// Same pair, other host, then across sites to a pair 1 host.
	moveVM(t, w, vmID, "east-esx03", compute.MoveLive)
	checkLogins(t, w)
	moveVM(t, w, vmID, "west-esx04", compute.MoveLive)
	checkLogins(t, w)
	if v := vmOf(t, w, vmID); v.Vports[0].Fabric != "west-c" || v.Vports[2].Fabric != "west-d" {
		t.Fatalf("after the move to west-esx04: %+v", v)
	}
}

// TestFabricIDs: Config.FabricIDs names the fabrics World.Fabrics lists.
func TestFabricIDs(t *testing.T) {
	for _, c := range []Config{{Seed: 1}, {Seed: 1, FabricPairsPerSite: 1}, {Seed: 1, FabricPairsPerSite: 3, Sites: []string{"ams", "fra", "lon"}}} {
		var want []string
		for _, f := range newWorld(t, c).Fabrics() {
			want = append(want, f.ID)
		}
		if got := c.FabricIDs(); !slices.Equal(got, want) {
			t.Fatalf("%d pairs: FabricIDs %v, the world has %v", c.FabricPairsPerSite, got, want)
		}
	}
}
