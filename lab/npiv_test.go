package lab

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sanmob/sanmob/compute"
	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/fabric/wwn"
)

// vportFixture names the ports the NPIV tests use, all on fabric east-a
// unless said otherwise.
type vportFixture struct {
	w             *World
	s             *Switch
	setA, setB    compute.Vport // of east-vm001, on east-esx01
	hba, other    wwn.WWN       // east-esx01's and east-esx02's HBAs
	hbaB, westHBA wwn.WWN       // east-esx01's HBA on east-b; west-esx01's on west-a
	backup        wwn.WWN       // the backup server's port
}

func newVportFixture(t *testing.T, cfg Config) *vportFixture {
	t.Helper()
	ctx := context.Background()
	w := newWorld(t, cfg)
	s, _ := w.Switch("east-a")
	vms, _ := w.Compute().VMs(ctx)
	hosts, _ := w.Compute().Hosts(ctx)
	vm := vms[0]
	f := &vportFixture{w: w, s: s, setA: vm.Vports[0], setB: vm.Vports[1],
		hba: hostByID(hosts, "east-esx01").HBAs[0].WWPN, other: hostByID(hosts, "east-esx02").HBAs[0].WWPN,
		hbaB: hostByID(hosts, "east-esx01").HBAs[1].WWPN, westHBA: hostByID(hosts, "west-esx01").HBAs[0].WWPN}
	if vm.ID != "east-vm001" || vm.Host != "east-esx01" || f.setA.Fabric != "east-a" || f.setA.Set != "a" || f.setB.Set != "b" {
		t.Fatalf("fixture: %+v", vm)
	}
	for _, z := range s.TruthZoneDB().Zones {
		if z.Name == "backup_srv01_tape01_drv1" {
			f.backup = z.Members[0]
		}
	}
	return f
}

func hostByID(hosts []compute.Host, id string) compute.Host {
	for _, h := range hosts {
		if h.ID == id {
			return h
		}
	}
	return compute.Host{}
}

func loginOf(s *Switch, p wwn.WWN) (fabric.Login, bool) {
	for _, l := range s.TruthLogins() {
		if l.WWPN == p {
			return l, true
		}
	}
	return fabric.Login{}, false
}

// hbaState is what the hypervisor says of an HBA, and of a vport.
func hbaState(t *testing.T, w *World, hba wwn.WWN) (inUse int, found bool) {
	t.Helper()
	hosts, err := w.Compute().Hosts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		for _, b := range h.HBAs {
			if b.WWPN == hba {
				return b.VportsInUse, true
			}
		}
	}
	return 0, false
}

func vportState(t *testing.T, w *World, p wwn.WWN) (compute.Vport, bool) {
	t.Helper()
	vms, err := w.Compute().VMs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vms {
		for _, vp := range v.Vports {
			if vp.WWPN == p {
				return vp, true
			}
		}
	}
	return compute.Vport{}, false
}

var stranger = wwn.MustParse("c0:50:76:00:00:00:00:01")

func TestLoginVport(t *testing.T) {
	ctx := context.Background()
	fewSlots := func(c *Config) { c.MaxVportsPerHBA = 3 } // Small puts 3 VMs on each host
	tests := []struct {
		name    string
		cfg     func(*Config)
		setup   func(t *testing.T, f *vportFixture)
		fabric  string // east-a if empty
		args    func(f *vportFixture) (physical, wwpn, wwnn wwn.WWN)
		want    error
		wantDup int
	}{
		{name: "set b at its host", args: func(f *vportFixture) (_, _, _ wwn.WWN) { return f.hba, f.setB.WWPN, f.setB.WWNN }},
		{name: "set b at another host", args: func(f *vportFixture) (_, _, _ wwn.WWN) { return f.other, f.setB.WWPN, f.setB.WWNN }},
		{name: "set b at another site", fabric: "west-a",
			args: func(f *vportFixture) (_, _, _ wwn.WWN) { return f.westHBA, f.setB.WWPN, f.setB.WWNN }},
		{name: "a stranger through the backup server",
			args: func(f *vportFixture) (_, _, _ wwn.WWN) { return f.backup, stranger, stranger }},
		{name: "a stranger after 254 others", setup: func(t *testing.T, f *vportFixture) { fillPort(t, f, 254) },
			args: func(f *vportFixture) (_, _, _ wwn.WWN) { return f.backup, stranger, stranger }},
		{name: "duplicate on the same fabric", want: fabric.ErrConflict, wantDup: 1,
			args: func(f *vportFixture) (_, _, _ wwn.WWN) { return f.other, f.setA.WWPN, f.setA.WWNN }},
		{name: "duplicate through the same port", want: fabric.ErrConflict, wantDup: 1,
			args: func(f *vportFixture) (_, _, _ wwn.WWN) { return f.hba, f.setA.WWPN, f.setA.WWNN }},
		{name: "duplicate on another fabric", fabric: "west-a", want: fabric.ErrConflict, wantDup: 1,
			args: func(f *vportFixture) (_, _, _ wwn.WWN) { return f.westHBA, f.setA.WWPN, f.setA.WWNN }},
		{name: "a physical port's WWPN", want: fabric.ErrConflict, wantDup: 1,
			args: func(f *vportFixture) (_, _, _ wwn.WWN) { return f.backup, f.other, f.other }},
		{name: "a port of another fabric", want: fabric.ErrConflict, wantDup: 1,
			args: func(f *vportFixture) (_, _, _ wwn.WWN) { return f.backup, f.hbaB, f.hbaB }},
		{name: "unknown physical port", want: fabric.ErrNotFound,
			args: func(f *vportFixture) (_, _, _ wwn.WWN) { return stranger, f.setB.WWPN, f.setB.WWNN }},
		{name: "physical port of another fabric", want: fabric.ErrNotFound,
			args: func(f *vportFixture) (_, _, _ wwn.WWN) { return f.hbaB, f.setB.WWPN, f.setB.WWNN }},
		{name: "a vport as the physical port", want: fabric.ErrNotFound,
			args: func(f *vportFixture) (_, _, _ wwn.WWN) { return f.setA.WWPN, f.setB.WWPN, f.setB.WWNN }},
		{name: "zero WWPN", want: fabric.ErrInvalid,
			args: func(f *vportFixture) (_, _, _ wwn.WWN) { return f.hba, wwn.WWN{}, f.setB.WWNN }},
		{name: "zero WWNN", want: fabric.ErrInvalid,
			args: func(f *vportFixture) (_, _, _ wwn.WWN) { return f.hba, f.setB.WWPN, wwn.WWN{} }},
		{name: "HBA out of slots", cfg: fewSlots, want: fabric.ErrFull,
			args: func(f *vportFixture) (_, _, _ wwn.WWN) { return f.hba, f.setB.WWPN, f.setB.WWNN }},
		// The HBA refuses before the FDISC reaches the fabric: no duplicate.
		{name: "a duplicate a full HBA never sends", cfg: fewSlots, want: fabric.ErrFull,
			args: func(f *vportFixture) (_, _, _ wwn.WWN) { return f.hba, f.setA.WWPN, f.setA.WWNN }},
		{name: "port out of NPIV addresses", setup: func(t *testing.T, f *vportFixture) { fillPort(t, f, 255) }, want: fabric.ErrFull,
			args: func(f *vportFixture) (_, _, _ wwn.WWN) { return f.backup, stranger, stranger }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Small()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			f := newVportFixture(t, cfg)
			if tt.setup != nil {
				tt.setup(t, f)
			}
			s := f.s
			if tt.fabric != "" {
				s, _ = f.w.Switch(tt.fabric)
			}
			physical, wwpn, wwnn := tt.args(f)
			before := dump(t, f.w)
			inUse, isHBA := hbaState(t, f.w, physical)
			err := s.LoginVport(ctx, physical, wwpn, wwnn)
			if f.w.DuplicateLogins() != tt.wantDup {
				t.Fatalf("%d duplicate logins counted, want %d", f.w.DuplicateLogins(), tt.wantDup)
			}
			if tt.want != nil {
				if !errors.Is(err, tt.want) || fabric.IsTransient(err) {
					t.Fatalf("LoginVport = %v, want %v", err, tt.want)
				}
				if !bytes.Equal(dump(t, f.w), before) {
					t.Fatal("a refused login changed the world")
				}
				return
			}
			if err != nil {
				t.Fatalf("LoginVport: %v", err)
			}
			l, ok := loginOf(s, wwpn)
			phys, _ := loginOf(s, physical)
			if !ok || !l.NPIV || l.Kind != fabric.Initiator || l.WWNN != wwnn || l.PhysicalWWPN != physical ||
				l.SwitchPort != phys.SwitchPort || l.PortID[:6] != phys.PortID[:6] || l.LoggedInAt.Before(testEpoch) {
				t.Fatalf("login %+v on physical %+v", l, phys)
			}
			seen := map[string]bool{}
			for _, x := range s.TruthLogins() {
				if seen[x.PortID] {
					t.Fatalf("port id %s twice", x.PortID)
				}
				seen[x.PortID] = true
			}
			if got, _ := hbaState(t, f.w, physical); isHBA && got != inUse+1 {
				t.Fatalf("the HBA reports %d vports in use, was %d", got, inUse)
			}
			if vp, ok := vportState(t, f.w, wwpn); ok && vp.HBA != physical {
				t.Fatalf("the hypervisor shows vport %+v, want it on %v", vp, physical)
			}
		})
	}
}

// fillPort logs n strangers in through the backup server's port.
func fillPort(t *testing.T, f *vportFixture, n int) {
	t.Helper()
	for i := range n {
		p := wwn.FromUint64(0xc050770000000000 | uint64(i))
		if err := f.s.LoginVport(context.Background(), f.backup, p, p); err != nil {
			t.Fatalf("login %d: %v", i+1, err)
		}
	}
}

func TestLogoutVport(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		fabric  string // east-a if empty
		wwpn    func(f *vportFixture) wwn.WWN
		want    error
		changed bool
	}{
		{name: "set a", wwpn: func(f *vportFixture) wwn.WWN { return f.setA.WWPN }, changed: true},
		{name: "not logged in", wwpn: func(f *vportFixture) wwn.WWN { return f.setB.WWPN }},
		{name: "logged in on another fabric", fabric: "east-b", wwpn: func(f *vportFixture) wwn.WWN { return f.setA.WWPN }},
		{name: "unknown", wwpn: func(*vportFixture) wwn.WWN { return stranger }},
		{name: "a physical port", wwpn: func(f *vportFixture) wwn.WWN { return f.hba }, want: fabric.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newVportFixture(t, Small())
			s := f.s
			if tt.fabric != "" {
				s, _ = f.w.Switch(tt.fabric)
			}
			p := tt.wwpn(f)
			before := dump(t, f.w)
			inUse, _ := hbaState(t, f.w, f.hba)
			err := s.LogoutVport(ctx, p)
			if !errors.Is(err, tt.want) {
				t.Fatalf("LogoutVport = %v, want %v", err, tt.want)
			}
			if changed := !bytes.Equal(dump(t, f.w), before); changed != tt.changed {
				t.Fatalf("the world changed: %v, want %v", changed, tt.changed)
			}
			if !tt.changed {
				return
			}
			if _, ok := loginOf(s, p); ok {
				t.Fatal("still logged in")
			}
			if got, _ := hbaState(t, f.w, f.hba); got != inUse-1 {
				t.Fatalf("the HBA reports %d vports in use, was %d", got, inUse)
			}
			if vp, _ := vportState(t, f.w, p); !vp.HBA.IsZero() {
				t.Fatalf("the hypervisor still shows vport %+v on an HBA", vp)
			}
		})
	}
}

// TestVportMove moves set a from one host to another, the way a migration
// without a second set must: out at the source first, then in at the
// destination; the freed NPIV address is handed out again.
func TestVportMove(t *testing.T) {
	ctx := context.Background()
	f := newVportFixture(t, Small())
	l0, _ := loginOf(f.s, f.setA.WWPN)
	if err := f.s.LoginVport(ctx, f.other, f.setA.WWPN, f.setA.WWNN); !errors.Is(err, fabric.ErrConflict) {
		t.Fatalf("login at the destination before the logout = %v", err)
	}
	if err := f.s.LogoutVport(ctx, f.setA.WWPN); err != nil {
		t.Fatal(err)
	}
	if err := f.s.LoginVport(ctx, f.other, f.setA.WWPN, f.setA.WWNN); err != nil {
		t.Fatal(err)
	}
	if vp, _ := vportState(t, f.w, f.setA.WWPN); vp.HBA != f.other {
		t.Fatalf("vport %+v, want it on %v", vp, f.other)
	}
	if err := f.s.LoginVport(ctx, f.hba, f.setB.WWPN, f.setB.WWNN); err != nil {
		t.Fatal(err)
	}
	if l, _ := loginOf(f.s, f.setB.WWPN); l.PortID != l0.PortID {
		t.Fatalf("set b got port id %s, want the freed %s", l.PortID, l0.PortID)
	}
	if f.w.DuplicateLogins() != 1 {
		t.Fatalf("%d duplicate logins, want the one refused", f.w.DuplicateLogins())
	}
}

func TestVportFaults(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name          string
		fault         Fault
		logout        bool
		wantErr       bool
		wantApplied   bool
		wantTransient bool
	}{
		{name: "fabric unavailable", fault: Fault{Target: "east-a", Op: OpLogin, Count: 1}, wantErr: true, wantTransient: true},
		{name: "host unavailable", fault: Fault{Target: "east-esx01", Op: OpLogin, Count: 1}, wantErr: true, wantTransient: true},
		{name: "host final", fault: Fault{Target: "east-esx01", Op: OpAny, Count: 1, Kind: KindFinal}, wantErr: true},
		{name: "fabric applied-timeout", fault: Fault{Target: "east-a", Op: OpLogin, Count: 1, Kind: KindAppliedTimeout},
			wantErr: true, wantApplied: true, wantTransient: true},
		{name: "host latency", fault: Fault{Target: "east-esx01", Op: OpLogin, Count: 1, Latency: time.Second}, wantApplied: true},
		{name: "another host", fault: Fault{Target: "east-esx02", Op: OpLogin, Count: 1, Kind: KindFinal}, wantApplied: true},
		{name: "another fabric", fault: Fault{Target: "east-b", Op: OpLogin, Count: 1, Kind: KindFinal}, wantApplied: true},
		{name: "commits only", fault: Fault{Target: "east-a", Op: OpCommit, Count: 1, Kind: KindFinal}, wantApplied: true},
		{name: "logout, host unavailable", logout: true, fault: Fault{Target: "east-esx01", Op: OpLogin, Count: 1},
			wantErr: true, wantTransient: true},
		{name: "logout, fabric applied-timeout", logout: true, fault: Fault{Target: "east-a", Op: OpLogin, Count: 1, Kind: KindAppliedTimeout},
			wantErr: true, wantApplied: true, wantTransient: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newVportFixture(t, Small())
			if err := f.w.InjectFault(tt.fault); err != nil {
				t.Fatal(err)
			}
			var err error
			p := f.setB.WWPN
			if tt.logout {
				p = f.setA.WWPN
				err = f.s.LogoutVport(ctx, p)
			} else {
				err = f.s.LoginVport(ctx, f.hba, p, f.setB.WWNN)
			}
			if (err != nil) != tt.wantErr || (err != nil && (!errors.Is(err, ErrInjected) || fabric.IsTransient(err) != tt.wantTransient)) {
				t.Fatalf("err = %v; want an injected error %v, transient %v", err, tt.wantErr, tt.wantTransient)
			}
			_, in := loginOf(f.s, p)
			if applied := in != tt.logout; applied != tt.wantApplied {
				t.Fatalf("applied %v, want %v", applied, tt.wantApplied)
			}
			if vp, _ := vportState(t, f.w, p); vp.HBA.IsZero() == in {
				t.Fatalf("logged in %v, but the hypervisor shows %+v", in, vp)
			}
		})
	}
}

// TestVportLookup checks the arithmetic that finds a VM's vport by name.
func TestVportLookup(t *testing.T) {
	w := newWorld(t, Config{Sites: []string{"ams", "fra", "lon"}, VMsPerSite: 30, Seed: 5})
	hv := w.Compute()
	for i := range hv.vms {
		for f := range 2 {
			for s := range 2 {
				vp := &hv.vms[i].vp[f][s]
				if got := hv.vport(vp.wwpn); got != vp {
					t.Fatalf("vport(%v) of %s [%d][%d] = %p, want %p", vp.wwpn, hv.vms[i].id, f, s, got, vp)
				}
				if hv.vport(vp.wwnn) != nil {
					t.Fatalf("the node name %v found a vport", vp.wwnn)
				}
			}
		}
	}
	last := hv.vms[len(hv.vms)-1].vp[1][1].wwpn.Uint64()
	first := hv.vms[0].vp[0][0].wwpn.Uint64()
	for _, p := range []wwn.WWN{stranger, hv.hosts[0].hbas[0].wwpn, wwn.FromUint64(last + 2), wwn.FromUint64(first - 2), {}} {
		if hv.vport(p) != nil {
			t.Fatalf("%v found a vport", p)
		}
	}
}
