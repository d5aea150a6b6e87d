package mobility

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sanmob/sanmob/inventory"
	"github.com/sanmob/sanmob/store"

	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/fabric/wwn"
	"github.com/sanmob/sanmob/lab"
)

func TestDiscoveryFromSmallLab(t *testing.T) {
	h := newHarness(t, nil)
	if ok, why := h.svc.Readiness(); !ok {
		t.Fatalf("not ready: %v", why)
	}
	if got := len(h.svc.Hosts(inventory.HostFilter{})); got != 8 {
		t.Fatalf("hosts = %d, want 8", got)
	}
	vms := h.svc.VMs(inventory.VMFilter{})
	if len(vms) != 24 {
		t.Fatalf("vms = %d, want 24", len(vms))
	}
	if got := len(h.svc.Volumes(inventory.VolumeFilter{})); got != 48 {
		t.Fatalf("volumes = %d, want 48", got)
	}
	for _, v := range vms {
		if len(v.Vports) != 4 {
			t.Errorf("%s has %d vports, want 4 (a and b on two fabrics)", v.ID, len(v.Vports))
		}
		for _, p := range v.Vports {
			if p.Active != (p.Set == "a") || p.LoggedIn != (p.Set == "a") {
				t.Errorf("%s vport %s set %s active=%v loggedIn=%v", v.ID, p.WWPN, p.Set, p.Active, p.LoggedIn)
			}
		}
		if len(v.Volumes) != 2 || v.Volumes[0].LUN != 0 || v.Volumes[1].LUN != 1 {
			t.Errorf("%s volumes %+v, want LUNs 0 and 1", v.ID, v.Volumes)
		}
		if !strings.HasPrefix(v.ID, v.Site+"-") {
			t.Errorf("%s at site %s", v.ID, v.Site)
		}
	}
	for _, host := range h.svc.Hosts(inventory.HostFilter{Site: "west"}) {
		for _, b := range host.HBAs {
			if !strings.HasPrefix(b.Fabric, "west-") || !b.LoggedIn {
				t.Errorf("%s HBA %s fabric %q loggedIn %v", host.ID, b.WWPN, b.Fabric, b.LoggedIn)
			}
			if b.VportsInUse != 3 { // 12 VMs over 4 hosts, one active vport per fabric each
				t.Errorf("%s HBA %s vportsInUse %d, want 3", host.ID, b.WWPN, b.VportsInUse)
			}
		}
	}
}

func TestInventorySurvivesRestartWithoutRediscovery(t *testing.T) {
	h := newHarness(t, nil)
	vm, err := h.svc.CreateVM(inventory.VMSpec{ID: "app-1", Host: "east-esx02"})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.svc.DeleteVM("east-vm003"); err != nil {
		t.Fatal(err)
	}
	name := "renamed"
	if _, err := h.svc.UpdateHost("west-esx01", inventory.HostPatch{Name: &name}); err != nil {
		t.Fatal(err)
	}
	h.reopen(t)
	got, err := h.svc.VM("app-1")
	if err != nil {
		t.Fatalf("created VM lost: %v", err)
	}
	for i := range got.Vports {
		if got.Vports[i].WWPN != vm.Vports[i].WWPN {
			t.Fatalf("vport %d changed across restart: %v vs %v", i, got.Vports[i].WWPN, vm.Vports[i].WWPN)
		}
	}
	// A rediscovery would bring the deleted lab VM back.
	if _, err := h.svc.VM("east-vm003"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted VM came back: %v", err)
	}
	if host, _ := h.svc.Host("west-esx01"); host.Name != "renamed" {
		t.Fatalf("host patch lost: %q", host.Name)
	}
}

func TestCreateHostValidation(t *testing.T) {
	h := newHarness(t, nil)
	eastHBA := h.svc.Hosts(inventory.HostFilter{})[0].HBAs[0].WWPN
	good := func() inventory.HostSpec {
		return inventory.HostSpec{ID: "new-host", Site: "east", HBAs: []inventory.HBASpec{
			{WWPN: wwn.MustParse("10:00:00:00:c9:00:00:01"), WWNN: wwn.MustParse("20:00:00:00:c9:00:00:01"), Fabric: "east-a"},
		}}
	}
	tests := []struct {
		name   string
		mutate func(*inventory.HostSpec)
		want   error
		field  string
	}{
		{"bad id", func(s *inventory.HostSpec) { s.ID = "Bad_ID" }, ErrInvalid, "id"},
		{"long id", func(s *inventory.HostSpec) { s.ID = strings.Repeat("a", 64) }, ErrInvalid, "id"},
		{"unknown site", func(s *inventory.HostSpec) { s.Site = "north" }, ErrInvalid, "site"},
		{"no hbas", func(s *inventory.HostSpec) { s.HBAs = nil }, ErrInvalid, "hbas"},
		{"missing wwpn", func(s *inventory.HostSpec) { s.HBAs[0].WWPN = wwn.WWN{} }, ErrInvalid, "hbas[0].wwpn"},
		{"missing wwnn", func(s *inventory.HostSpec) { s.HBAs[0].WWNN = wwn.WWN{} }, ErrInvalid, "hbas[0].wwnn"},
		{"fabric elsewhere", func(s *inventory.HostSpec) { s.HBAs[0].Fabric = "west-a" }, ErrInvalid, "hbas[0].fabric"},
		{"unknown fabric", func(s *inventory.HostSpec) { s.HBAs[0].Fabric = "x" }, ErrInvalid, "hbas[0].fabric"},
		{"too many vports", func(s *inventory.HostSpec) { s.HBAs[0].MaxVports = 300 }, ErrInvalid, "hbas[0].maxVports"},
		{"wwpn twice", func(s *inventory.HostSpec) { s.HBAs = append(s.HBAs, s.HBAs[0]) }, ErrInvalid, "hbas[1].wwpn"},
		{"wwpn of another host", func(s *inventory.HostSpec) { s.HBAs[0].WWPN = eastHBA }, ErrConflict, ""},
		{"duplicate id", func(s *inventory.HostSpec) { s.ID = "east-esx01" }, ErrConflict, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := good()
			tt.mutate(&spec)
			_, err := h.svc.CreateHost(spec)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			var fe *FieldError
			if tt.field != "" && (!errors.As(err, &fe) || fe.Field != tt.field) {
				t.Fatalf("err = %v, want field %q", err, tt.field)
			}
		})
	}
	if _, err := h.svc.CreateHost(good()); err != nil {
		t.Fatalf("good spec refused: %v", err)
	}
}

func TestCreateVMValidation(t *testing.T) {
	h := newHarness(t, nil)
	other := h.svc.VMs(inventory.VMFilter{})[0]
	pair := func(n uint64) (wwn.WWN, wwn.WWN) { return wwn.NAA5(wwn.OUIVMware, 2*n), wwn.NAA5(wwn.OUIVMware, 2*n+1) }
	good := func() inventory.VMSpec {
		a1, a2 := pair(1)
		b1, b2 := pair(2)
		return inventory.VMSpec{ID: "vm-x", Host: "east-esx01",
			Vports:  []inventory.VportSpec{{Fabric: "east-a", WWPN: a1, WWNN: a2, Set: "a"}, {Fabric: "east-a", WWPN: b1, WWNN: b2, Set: "b"}},
			Volumes: []inventory.VolumeRef{{ID: "east-vm001-d0", LUN: 5}}}
	}
	yes := true
	tests := []struct {
		name   string
		mutate func(*inventory.VMSpec)
		want   error
		field  string
	}{
		{"unknown host", func(s *inventory.VMSpec) { s.Host = "nope" }, ErrInvalid, "host"},
		{"fabric not on host", func(s *inventory.VMSpec) { s.Vports[0].Fabric = "west-a" }, ErrInvalid, "vports[0].fabric"},
		{"bad set", func(s *inventory.VMSpec) { s.Vports[0].Set = "c" }, ErrInvalid, "vports[0].set"},
		{"same set twice", func(s *inventory.VMSpec) { s.Vports[1].Set = "a" }, ErrInvalid, "vports[1].set"},
		{"two active", func(s *inventory.VMSpec) { s.Vports[1].Active = &yes }, ErrInvalid, "vports"},
		{"wwpn twice", func(s *inventory.VMSpec) { s.Vports[1].WWPN = s.Vports[0].WWPN }, ErrInvalid, "vports[1].wwpn"},
		{"wwpn of another vm", func(s *inventory.VMSpec) { s.Vports[0].WWPN = other.Vports[0].WWPN }, ErrConflict, ""},
		{"unknown volume", func(s *inventory.VMSpec) { s.Volumes[0].ID = "nope" }, ErrInvalid, "volumes[0].id"},
		{"lun range", func(s *inventory.VMSpec) { s.Volumes[0].LUN = 16384 }, ErrInvalid, "volumes[0].lun"},
		{"lun twice", func(s *inventory.VMSpec) {
			s.Volumes = append(s.Volumes, inventory.VolumeRef{ID: "east-vm001-d1", LUN: 5})
		}, ErrInvalid, "volumes[1].lun"},
		{"shares", func(s *inventory.VMSpec) { s.Shares = 20000 }, ErrInvalid, "shares"},
		{"duplicate id", func(s *inventory.VMSpec) { s.ID = other.ID }, ErrConflict, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := good()
			tt.mutate(&spec)
			_, err := h.svc.CreateVM(spec)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			var fe *FieldError
			if tt.field != "" && (!errors.As(err, &fe) || fe.Field != tt.field) {
				t.Fatalf("err = %v, want field %q", err, tt.field)
			}
		})
	}
	if _, err := h.svc.CreateVM(good()); err != nil {
		t.Fatalf("good spec refused: %v", err)
	}
}

func TestGeneratedVportsNeverCollide(t *testing.T) {
	h := newHarness(t, nil)
	logged := map[wwn.WWN]bool{}
	for _, f := range h.world.Fabrics() {
		for _, l := range f.Switch.TruthLogins() {
			logged[l.WWPN] = true
		}
	}
	seen := map[wwn.WWN]bool{}
	for _, v := range h.svc.VMs(inventory.VMFilter{}) {
		for _, p := range v.Vports {
			seen[p.WWPN] = true
		}
	}
	for i := range 20 {
		vm, err := h.svc.CreateVM(inventory.VMSpec{ID: fmt.Sprintf("gen-%d", i), Host: "west-esx03"})
		if err != nil {
			t.Fatal(err)
		}
		if len(vm.Vports) != 4 {
			t.Fatalf("%d vports generated, want a pair on each of 2 fabrics", len(vm.Vports))
		}
		for _, p := range vm.Vports {
			if p.WWPN.NAA() != wwn.NAAIEEERegistered || p.WWNN.NAA() != wwn.NAAIEEERegistered {
				t.Fatalf("generated %v/%v is not NAA 5", p.WWPN, p.WWNN)
			}
			if seen[p.WWPN] || logged[p.WWPN] || seen[p.WWNN] {
				t.Fatalf("generated %v collides", p.WWPN)
			}
			seen[p.WWPN], seen[p.WWNN] = true, true
		}
	}
}

func TestUpdateAndDelete(t *testing.T) {
	h := newHarness(t, nil)
	host := "west-esx02"
	vm := rehome(t, h, "west-vm001", host)
	if vm.Host != host || vm.Site != "west" {
		t.Fatalf("patched VM %+v", vm)
	}
	east := "east-esx01"
	if _, err := h.svc.UpdateVM("west-vm001", inventory.VMPatch{Host: &east}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("moving a VM onto a host without its fabrics: %v", err)
	}
	zero := 0
	if _, err := h.svc.UpdateVM("west-vm001", inventory.VMPatch{Shares: &zero}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("shares 0: %v", err)
	}
	if err := h.svc.DeleteHost("west-esx02"); !errors.Is(err, ErrConflict) {
		t.Fatalf("deleting a host with VMs: %v", err)
	}
	site := "east"
	if _, err := h.svc.UpdateHost("west-esx02", inventory.HostPatch{Site: &site}); !errors.Is(err, ErrConflict) {
		t.Fatalf("moving a host with VMs to another site: %v", err)
	}
	if _, err := h.svc.UpdateVM("nope", inventory.VMPatch{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("patching a missing VM: %v", err)
	}
	if err := h.svc.DeleteVM("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleting a missing VM: %v", err)
	}
	for _, v := range h.svc.VMs(inventory.VMFilter{Host: "east-esx04"}) {
		if err := h.svc.DeleteVM(v.ID); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.svc.DeleteHost("east-esx04"); err != nil {
		t.Fatalf("deleting an empty host: %v", err)
	}
	// Its HBA WWPNs are free again.
	if _, err := h.svc.Host("east-esx04"); !errors.Is(err, ErrNotFound) {
		t.Fatal("host still there")
	}
}

func TestNotReadyUntilDevicesAnswer(t *testing.T) {
	w, err := lab.New(lab.Small())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.InjectFault(lab.Fault{Target: "west-arr1", Op: "read", Rate: 1}); err != nil {
		t.Fatal(err)
	}
	h := &harness{world: w, dir: t.TempDir()}
	h.open(t, nil)
	ok, why := h.svc.Readiness()
	if ok || !strings.Contains(strings.Join(why, ";"), "array west-arr1") {
		t.Fatalf("ready=%v why=%v; want not ready naming west-arr1", ok, why)
	}
	if n := len(h.svc.VMs(inventory.VMFilter{})); n != 0 {
		t.Fatalf("discovered %d VMs with an array missing", n)
	}
	w.ClearFaults()
	h.svc.Refresh(context.Background())
	if ok, why := h.svc.Readiness(); !ok {
		t.Fatalf("still not ready: %v", why)
	}
	if n := len(h.svc.VMs(inventory.VMFilter{})); n != 24 {
		t.Fatalf("discovered %d VMs, want 24", n)
	}
}

func TestGeneratedWWPNsNeverReusedAfterRestart(t *testing.T) {
	h := newHarness(t, nil)
	vm, err := h.svc.CreateVM(inventory.VMSpec{ID: "short-lived", Host: "east-esx01"})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.svc.DeleteVM(vm.ID); err != nil {
		t.Fatal(err)
	}
	h.reopen(t)
	next, err := h.svc.CreateVM(inventory.VMSpec{ID: "successor", Host: "east-esx01"})
	if err != nil {
		t.Fatal(err)
	}
	old := map[wwn.WWN]bool{}
	for _, p := range vm.Vports {
		old[p.WWPN], old[p.WWNN] = true, true
	}
	for _, p := range next.Vports {
		if old[p.WWPN] || old[p.WWNN] {
			t.Fatalf("deleted VM's name %v handed out again after a restart", p.WWPN)
		}
	}
}

func TestInterruptedDiscoveryLeavesNoPhantoms(t *testing.T) {
	w, err := lab.New(lab.Small())
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{world: w, dir: t.TempDir()}
	// A first start that died after writing part of an inventory of a world
	// that has changed since: its records are there, the marker is not.
	st, err := store.Open(store.Options{Dir: filepath.Join(h.dir, "store"), Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Put(inventory.KindVM, "gone-vm", inventory.VM{ID: "gone-vm", Host: "east-esx01"}); err != nil {
		t.Fatal(err)
	}
	if err := st.Put(inventory.KindVolume, "gone-vol", inventory.Volume{ID: "gone-vol", Array: "east-arr1"}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	h.open(t, nil)
	h.reopen(t) // the next start loads from the store
	if _, err := h.svc.VM("gone-vm"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("phantom VM loaded: %v", err)
	}
	if _, err := h.svc.Volume("gone-vol"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("phantom volume loaded: %v", err)
	}
	if n := len(h.svc.VMs(inventory.VMFilter{})); n != 24 {
		t.Fatalf("%d VMs after rediscovery, want 24", n)
	}
}

// TestVMPlacementRespectsNPIVLimit: a host's HBA carries at most MaxVports
// vports; placing one VM more there is refused, by create and by move.
func TestVMPlacementRespectsNPIVLimit(t *testing.T) {
	h := newHarness(t, nil)
	p, n := wwn.NAA5(wwn.OUIVMware, 900), wwn.NAA5(wwn.OUIVMware, 901)
	if _, err := h.svc.CreateHost(inventory.HostSpec{ID: "tiny", Site: "east", HBAs: []inventory.HBASpec{{WWPN: p, WWNN: n, Fabric: "east-a", MaxVports: 1}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.CreateVM(inventory.VMSpec{ID: "first", Host: "tiny"}); err != nil {
		t.Fatalf("the first VM fits: %v", err)
	}
	_, err := h.svc.CreateVM(inventory.VMSpec{ID: "second", Host: "tiny"})
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "limit of 1") {
		t.Fatalf("second VM: %v, want a conflict naming the limit", err)
	}
	// Moving the VM within its own host is no change.
	if _, err := h.svc.UpdateVM("first", inventory.VMPatch{Name: ptr("renamed")}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.UpdateVM("first", inventory.VMPatch{Host: ptr("east-esx01")}); err != nil {
		t.Fatalf("moving away: %v", err)
	}
	if _, err := h.svc.CreateVM(inventory.VMSpec{ID: "third", Host: "tiny"}); err != nil {
		t.Fatalf("the slot freed by the move: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

// TestGeneratedWWPNsSkipZonedOnes: a WWPN an administrator's zone names is
// taken even when nothing is logged in with it.
func TestGeneratedWWPNsSkipZonedOnes(t *testing.T) {
	first := func(h *harness) wwn.WWN {
		vm, err := h.svc.CreateVM(inventory.VMSpec{ID: "probe", Host: "east-esx01"})
		if err != nil {
			t.Fatal(err)
		}
		return vm.Vports[0].WWPN
	}
	next := first(newHarness(t, nil)) // what a fresh service hands out first

	h := newHarness(t, nil)
	sw, _ := h.world.Switch("west-b") // a fabric the new VM's host is not even on
	db := sw.TruthZoneDB()
	tgt := db.Zones[0].Members[0]
	if _, err := sw.Commit(context.Background(), fabric.Txn{Checksum: db.Checksum,
		Put: []fabric.Zone{{Name: "admin_old_host", Members: []wwn.WWN{next, tgt}}}}); err != nil {
		t.Fatal(err)
	}
	h.svc.Refresh(context.Background())
	for _, p := range mustVM(t, h, "probe").Vports {
		if p.WWPN == next {
			t.Fatalf("generated %s, which admin_old_host names", next)
		}
	}
}

func mustVM(t *testing.T, h *harness, id string) inventory.VM {
	t.Helper()
	vm, err := h.svc.CreateVM(inventory.VMSpec{ID: id, Host: "east-esx01"})
	if err != nil {
		t.Fatal(err)
	}
	return vm
}

// rehome re-homes a VM's record by PATCH, as an administrator may once its
// vports are logged out (a PATCH of host is refused while they are logged
// in through another host's HBAs: that is what migrations are for).
func rehome(t *testing.T, h *harness, vmID, host string) inventory.VM {
	t.Helper()
	vm, err := h.svc.VM(vmID)
	if err != nil {
		t.Fatal(err)
	}
	for _, vp := range vm.Vports {
		if err := h.svc.LogoutVport(context.Background(), vmID, vp.WWPN); err != nil {
			t.Fatal(err)
		}
	}
	v, err := h.svc.UpdateVM(vmID, inventory.VMPatch{Host: &host})
	if err != nil {
		t.Fatal(err)
	}
	return v
}
