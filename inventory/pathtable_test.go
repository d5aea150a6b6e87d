package inventory

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/fabric/wwn"
	"github.com/sanmob/sanmob/lab"
)

// table returns the path table kept for a VM, or nil.
func (s *Inventory) table(vmID string) *pathTable {
	s.tablesMu.Lock()
	defer s.tablesMu.Unlock()
	return s.tables[vmID]
}

// traced answers a VM's topology from a fresh trace, with no kept table.
func traced(t *testing.T, s *Inventory, vmID string) Topology {
	t.Helper()
	s.tablesMu.Lock()
	clear(s.tables)
	s.tablesMu.Unlock()
	topo, err := s.Topology(context.Background(), vmID, false)
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

func TestPathTableKeptAcrossReadsThatChangeNothing(t *testing.T) {
	h := newHarness(t, lab.Small())
	ctx := context.Background()
	if _, err := h.svc.Topology(ctx, "east-vm003", false); err != nil {
		t.Fatal(err)
	}
	kept := h.svc.table("east-vm003")
	if kept == nil || len(kept.paths) != 16 {
		t.Fatalf("no table kept after an answer: %+v", kept)
	}
	// A refresh reads every device again, and verify reads the VM's own;
	// neither changes zones, logins or masking, so the table stays.
	h.svc.Refresh(ctx)
	if _, err := h.svc.Topology(ctx, "east-vm003", true); err != nil {
		t.Fatal(err)
	}
	if got := h.svc.table("east-vm003"); got != kept {
		t.Fatal("the path table was traced again although no device changed")
	}
	before, _ := h.svc.Topology(ctx, "east-vm003", false)
	if want := traced(t, h.svc, "east-vm003"); !reflect.DeepEqual(before, want) {
		t.Fatalf("answer from the kept table differs from a fresh trace:\n got %+v\nwant %+v", before, want)
	}
}

// TestPathTableFollowsEveryChange changes, one after the other, each thing a
// path depends on, and checks after each that the answer changed and is the
// one a fresh trace gives.
func TestPathTableFollowsEveryChange(t *testing.T) {
	h := newHarness(t, lab.Small())
	ctx := context.Background()
	const vmID = "east-vm002"
	vm, err := h.svc.VM(vmID)
	if err != nil {
		t.Fatal(err)
	}
	arr, _ := h.world.Array("east-arr1")
	var hostGroup string
	var initiators, ports []wwn.WWN
	for _, m := range arr.TruthMappings() {
		if m.Volume == vm.Volumes[1].ID {
			hostGroup, initiators, ports = m.HostGroup, m.Initiators, m.TargetPorts
		}
	}
	vport := func(fabricID, set string) wwn.WWN {
		for _, p := range vm.Vports {
			if p.Fabric == fabricID && p.Set == set {
				return p.WWPN
			}
		}
		t.Fatalf("no vport %s/%s", fabricID, set)
		return wwn.WWN{}
	}
	wwnnOf := func(fabricID, set string) wwn.WWN {
		for _, p := range vm.Vports {
			if p.Fabric == fabricID && p.Set == set {
				return p.WWNN
			}
		}
		return wwn.WWN{}
	}
	host, err := h.svc.Host(vm.Host)
	if err != nil {
		t.Fatal(err)
	}
	hbaOn := func(fabricID string) wwn.WWN {
		for _, b := range host.HBAs {
			if b.Fabric == fabricID {
				return b.WWPN
			}
		}
		return wwn.WWN{}
	}
	steps := []struct {
		name   string
		change func() error
		want   string // in the issues afterwards, when set
	}{
		{"zone deleted on the switch", func() error {
			topo, _ := h.svc.Topology(ctx, vmID, false)
			sw, _ := h.world.Switch("east-a")
			return sw.DeleteZone(topo.Paths[0].Zone)
		}, ""},
		{"active vport logged out, the other set logged in instead", func() error {
			// The name server keeps its size: only which WWPN is logged in changes.
			sw, _ := h.world.Switch("east-b")
			if err := sw.LogoutVport(ctx, vport("east-b", "a")); err != nil {
				return err
			}
			return sw.LoginVport(ctx, hbaOn("east-b"), vport("east-b", "b"), wwnnOf("east-b", "b"))
		}, "is not logged in to fabric east-b"},
		{"volume unmapped on the array", func() error {
			return arr.Unmap(ctx, vm.Volumes[1].ID, hostGroup)
		}, "has no path through vport"},
		{"volume mapped again under another LUN", func() error {
			return arr.Map(ctx, array.MapSpec{Volume: vm.Volumes[1].ID, HostGroup: hostGroup, Initiators: initiators, TargetPorts: ports, LUN: vm.Volumes[1].LUN + 7})
		}, "the inventory says LUN"},
		{"volume mapped again under its own LUN", func() error {
			// The masking keeps its size and order: only the LUN changes.
			if err := arr.Unmap(ctx, vm.Volumes[1].ID, hostGroup); err != nil {
				return err
			}
			return arr.Map(ctx, array.MapSpec{Volume: vm.Volumes[1].ID, HostGroup: hostGroup, Initiators: initiators, TargetPorts: ports, LUN: vm.Volumes[1].LUN})
		}, ""},
		{"host's HBAs replaced", func() error {
			var hbas []HBASpec
			for i, b := range host.HBAs {
				w := b.WWPN
				if b.Fabric == "east-a" {
					w = wwn.MustParse("21:00:00:24:ff:99:00:0" + string(rune('1'+i)))
				}
				hbas = append(hbas, HBASpec{Name: b.Name, WWPN: w, WWNN: b.WWNN, Fabric: b.Fabric, MaxVports: b.MaxVports})
			}
			_, err = h.svc.UpdateHost(vm.Host, HostPatch{HBAs: &hbas})
			return err
		}, "which is not an HBA of host"},
		{"VM moved to another host in the inventory", func() error {
			// A PATCH of host is refused while the vports are logged in
			// through the old host: log them out first, as an admin must.
			cur, err := h.svc.VM(vmID)
			if err != nil {
				return err
			}
			for _, vp := range cur.Vports {
				sw, _ := h.world.Switch(vp.Fabric)
				_ = sw.LogoutVport(ctx, vp.WWPN) // not logged in is fine
			}
			h.svc.Refresh(ctx)
			to := "east-esx04"
			_, err = h.svc.UpdateVM(vmID, VMPatch{Host: &to})
			return err
		}, "is not logged in to fabric"},
	}
	prev, _ := h.svc.Topology(ctx, vmID, false)
	for _, st := range steps {
		if err := st.change(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		h.svc.Refresh(ctx)
		got, err := h.svc.Topology(ctx, vmID, false)
		if err != nil {
			t.Fatal(err)
		}
		if reflect.DeepEqual(got.Paths, prev.Paths) && reflect.DeepEqual(got.Issues, prev.Issues) {
			t.Fatalf("%s: the answer did not change:\n%+v", st.name, got)
		}
		if st.want != "" && !strings.Contains(strings.Join(got.Issues, "\n"), st.want) {
			t.Errorf("%s: issues %q, want one with %q", st.name, got.Issues, st.want)
		}
		if want := traced(t, h.svc, vmID); !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: answer differs from a fresh trace:\n got %+v\nwant %+v", st.name, got, want)
		}
		prev = got
	}
	// A deleted VM's table goes with it.
	if _, err := h.svc.Topology(ctx, "east-vm011", false); err != nil || h.svc.table("east-vm011") == nil {
		t.Fatalf("no table for east-vm011 after an answer (%v)", err)
	}
	if err := h.svc.DeleteVM("east-vm011"); err != nil {
		t.Fatal(err)
	}
	if h.svc.table("east-vm011") != nil {
		t.Fatal("a deleted VM's path table is kept")
	}
}
