package mobility

import (
	"context"
	"slices"
	"testing"

	"github.com/sanmob/sanmob/lab"
)

// pairsLab is fastLab with two fabric pairs per site: hosts esx01 and
// esx03 on fabrics a and b, esx02 and esx04 on c and d.
func pairsLab() lab.Config {
	c := fastLab()
	c.FabricPairsPerSite = 2
	return c
}

func keysOf(m map[string]bool) []string {
	var out []string
	for k, v := range m {
		if v {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// TestCrossFabricMove: a VM moves to a host of its site on the other
// fabric pair, live and then cold back: its vports log in there, its
// zones and its volumes' presentation move to those fabrics with the same
// LUN ids, and nothing is left on the fabrics it left.
func TestCrossFabricMove(t *testing.T) {
	h := newHarnessLab(t, pairsLab(), nil)
	ctx := context.Background()
	const vmID = "east-vm001"
	vm, err := h.svc.VM(vmID)
	if err != nil {
		t.Fatal(err)
	}
	if vm.Host != "east-esx01" {
		t.Fatalf("the lab put %s on %s, want east-esx01", vmID, vm.Host)
	}
	wwpns := vmWWPNs(t, h, vmID)
	lunsBefore := map[string]int{}
	for _, r := range vm.Volumes {
		lunsBefore[r.ID] = r.LUN
	}
	before := footprint(t, h.world, wwpns)
	if got := keysOf(before.zonedOn); !slices.Equal(got, []string{"east-a", "east-b"}) {
		t.Fatalf("before: zoned on %v", got)
	}
	if got := keysOf(before.presentedOn); !slices.Equal(got, []string{"east-a", "east-b"}) {
		t.Fatalf("before: presented through %v", got)
	}
	for _, step := range []struct {
		to, mode string
		fabrics  []string
	}{{"east-esx02", "live", []string{"east-c", "east-d"}}, {"east-esx01", "cold", []string{"east-a", "east-b"}}} {
		p, err := h.svc.PlanMove(MigrationSpec{VM: vmID, DestinationHost: step.to, Mode: step.mode})
		if err != nil || p.Kind != KindCrossFabric || !p.Feasible {
			t.Fatalf("plan to %s: %+v %v", step.to, p, err)
		}
		for from, to := range p.FabricMap {
			if !slices.Contains(step.fabrics, to) || slices.Contains(step.fabrics, from) {
				t.Errorf("plan to %s maps fabric %s to %s", step.to, from, to)
			}
		}
		m, err := h.svc.StartMigration(MigrationSpec{VM: vmID, DestinationHost: step.to, Mode: step.mode})
		if err != nil {
			t.Fatal(err)
		}
		end, err := h.svc.WaitMigration(ctx, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		if end.Phase != "succeeded" || end.Kind != KindCrossFabric {
			t.Fatalf("%s move to %s ended %s (%s): %s %+v", m.Kind, step.to, end.Phase, end.Kind, end.Error, end.Steps)
		}
		fp := footprint(t, h.world, wwpns)
		if got := keysOf(fp.zonedOn); !slices.Equal(got, step.fabrics) {
			t.Errorf("after the move to %s: zoned on %v, want %v", step.to, got, step.fabrics)
		}
		if got := keysOf(fp.presentedOn); !slices.Equal(got, step.fabrics) {
			t.Errorf("after the move to %s: presented through %v, want %v", step.to, got, step.fabrics)
		}
		vm, err := h.svc.VM(vmID)
		if err != nil {
			t.Fatal(err)
		}
		if vm.Host != step.to {
			t.Errorf("record says host %s, want %s", vm.Host, step.to)
		}
		for _, vp := range vm.Vports {
			if !slices.Contains(step.fabrics, vp.Fabric) {
				t.Errorf("vport %s recorded on %s, want one of %v", vp.WWPN, vp.Fabric, step.fabrics)
			}
		}
		for _, r := range vm.Volumes {
			if lunsBefore[r.ID] != r.LUN {
				t.Errorf("volume %s: LUN %d, was %d", r.ID, r.LUN, lunsBefore[r.ID])
			}
		}
		checkInvariants(t, h)
	}
}
