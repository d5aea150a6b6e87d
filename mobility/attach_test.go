package mobility

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/fabric/wwn"
	"github.com/sanmob/sanmob/inventory"
	"github.com/sanmob/sanmob/lab"
)

const gib = int64(1) << 30

func TestVolumeLifecycle(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	v, err := h.svc.CreateVolume(ctx, VolumeSpec{Name: "pvc-0001", SizeBytes: 10 * gib, Site: "east"})
	if err != nil {
		t.Fatal(err)
	}
	if v.Array != "east-arr1" || !v.Thin || !strings.HasPrefix(v.WWN, "naa.6") || v.SizeBytes != 10*gib {
		t.Fatalf("volume %+v", v)
	}
	again, err := h.svc.CreateVolume(ctx, VolumeSpec{Name: "pvc-0001", SizeBytes: 10 * gib, Site: "east"})
	if err != nil || again.ID != v.ID {
		t.Fatalf("create again: %+v, %v", again, err)
	}
	if _, err := h.svc.CreateVolume(ctx, VolumeSpec{Name: "pvc-0001", SizeBytes: 20 * gib}); !errors.Is(err, ErrConflict) {
		t.Fatalf("same name, other size: %v", err)
	}
	if got, err := h.svc.VolumeByName("pvc-0001"); err != nil || got.ID != v.ID {
		t.Fatalf("by name: %+v, %v", got, err)
	}
	if !slices.ContainsFunc(h.svc.Volumes(inventory.VolumeFilter{}), func(x inventory.Volume) bool { return x.ID == v.ID }) {
		t.Fatal("not listed")
	}
	sn, err := h.svc.CreateSnapshot(ctx, v.ID, SnapshotSpec{Name: "pvc-0001-snap"})
	if err != nil || sn.Volume != v.ID {
		t.Fatalf("snapshot: %+v, %v", sn, err)
	}
	if again, err := h.svc.CreateSnapshot(ctx, v.ID, SnapshotSpec{Name: "pvc-0001-snap"}); err != nil || again.ID != sn.ID {
		t.Fatalf("snapshot again: %+v, %v", again, err)
	}
	cp, err := h.svc.CreateVolume(ctx, VolumeSpec{Name: "pvc-0002", FromSnapshot: sn.ID})
	if err != nil || cp.FromSnapshot != sn.ID || cp.Array != v.Array || cp.SizeBytes != v.SizeBytes {
		t.Fatalf("copy of the snapshot: %+v, %v", cp, err)
	}
	if _, err := h.svc.CreateVolume(ctx, VolumeSpec{Name: "pvc-0003", FromSnapshot: "nope", SizeBytes: gib}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("copy of an unknown snapshot: %v", err)
	}
	if _, err := h.svc.CreateVolume(ctx, VolumeSpec{Name: "pvc-0003", FromSnapshot: sn.ID, SizeBytes: gib}); !errors.Is(err, array.ErrInvalid) {
		t.Fatalf("copy smaller than the source: %v", err)
	}
	if err := h.svc.DeleteSnapshot(ctx, sn.ID); err != nil {
		t.Fatal(err)
	}
	if err := h.svc.DeleteSnapshot(ctx, sn.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete snapshot again: %v", err)
	}
	big, err := h.svc.ExpandVolume(ctx, v.ID, 15*gib)
	if err != nil || big.SizeBytes != 15*gib {
		t.Fatalf("expand: %+v, %v", big, err)
	}
	if _, err := h.svc.ExpandVolume(ctx, v.ID, 5*gib); !errors.Is(err, ErrInvalid) {
		t.Fatalf("shrink: %v", err)
	}
	if err := h.svc.DeleteVolume(ctx, v.ID); err != nil {
		t.Fatal(err)
	}
	if err := h.svc.DeleteVolume(ctx, v.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete again: %v", err)
	}
	// A refresh that read the array before the delete must not bring it back.
	h.svc.Refresh(ctx)
	if _, err := h.svc.Volume(v.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted volume came back: %v", err)
	}
}

// zonesOf returns, on every lab fabric, the sanmob zones admitting w.
func zonesOf(w *lab.World, x wwn.WWN) []string {
	var out []string
	for _, f := range w.Fabrics() {
		for _, z := range f.Switch.TruthZoneDB().Zones {
			if fabric.Owned(z.Name) && z.Has(x) {
				out = append(out, f.ID+"/"+z.Name)
			}
		}
	}
	return out
}

func mappingOf(w *lab.World, arrayID, volume, hostGroup string) (array.Mapping, bool) {
	a, _ := w.Array(arrayID)
	for _, m := range a.TruthMappings() {
		if m.Volume == volume && m.HostGroup == hostGroup {
			return m, true
		}
	}
	return array.Mapping{}, false
}

func TestAttachDetachHost(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	host, _ := h.svc.Host("east-esx02")
	v1, err := h.svc.CreateVolume(ctx, VolumeSpec{Name: "data-1", SizeBytes: gib, Site: "east"})
	if err != nil {
		t.Fatal(err)
	}
	v2, err := h.svc.CreateVolume(ctx, VolumeSpec{Name: "data-2", SizeBytes: gib, Site: "east"})
	if err != nil {
		t.Fatal(err)
	}
	at, err := h.svc.Attach(ctx, AttachmentSpec{Volume: v1.ID, Node: host.ID})
	if err != nil {
		t.Fatal(err)
	}
	pc := at.PublishContext
	if pc["lun"] != strconv.Itoa(at.LUN) || pc["volumeWWN"] != v1.WWN || pc["fabrics"] != "east-a,east-b" || len(strings.Split(pc["targetWWPNs"], ",")) != 4 {
		t.Fatalf("publish context %v", pc)
	}
	m, ok := mappingOf(h.world, "east-arr1", v1.ID, "sm-host-east-esx02")
	if !ok || m.LUN != at.LUN || len(m.Initiators) != 2 {
		t.Fatalf("mapping %+v, %v", m, ok)
	}
	for _, b := range host.HBAs {
		if got := zonesOf(h.world, b.WWPN); len(got) != 2 {
			t.Fatalf("HBA %s on %s: zones %v, want 2 (one per target port)", b.WWPN, b.Fabric, got)
		}
	}
	again, err := h.svc.Attach(ctx, AttachmentSpec{Volume: v1.ID, Node: host.ID})
	if err != nil || again.LUN != at.LUN {
		t.Fatalf("attach again: %+v, %v", again, err)
	}
	if _, err := h.svc.Attach(ctx, AttachmentSpec{Volume: v1.ID, Node: "east-esx03"}); !errors.Is(err, ErrConflict) {
		t.Fatalf("a single-node volume on a second node: %v", err)
	}
	at2, err := h.svc.Attach(ctx, AttachmentSpec{Volume: v2.ID, Node: host.ID})
	if err != nil || at2.LUN == at.LUN {
		t.Fatalf("second volume: %+v, %v (LUN must differ from %d)", at2, err, at.LUN)
	}
	if err := h.svc.DeleteVolume(ctx, v1.ID); !errors.Is(err, ErrConflict) {
		t.Fatalf("delete while attached: %v", err)
	}
	if err := h.svc.DeleteHost(host.ID); !errors.Is(err, ErrConflict) {
		// it also runs VMs; either way it must be refused
		t.Fatalf("delete an attached host: %v", err)
	}
	// Detaching one volume keeps the zones the other still needs.
	if err := h.svc.Detach(ctx, v1.ID, host.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok := mappingOf(h.world, "east-arr1", v1.ID, "sm-host-east-esx02"); ok {
		t.Fatal("mapping left after detach")
	}
	for _, b := range host.HBAs {
		if got := zonesOf(h.world, b.WWPN); len(got) != 2 {
			t.Fatalf("after detaching one of two volumes: zones %v, want the 2 the other needs", got)
		}
	}
	if err := h.svc.Detach(ctx, v1.ID, host.ID); err != nil {
		t.Fatalf("detach again: %v", err)
	}
	if err := h.svc.Detach(ctx, v2.ID, host.ID); err != nil {
		t.Fatal(err)
	}
	for _, b := range host.HBAs {
		if got := zonesOf(h.world, b.WWPN); len(got) != 0 {
			t.Fatalf("zones left after the last detach: %v", got)
		}
	}
	if err := h.svc.Detach(ctx, "nope", host.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown volume: %v", err)
	}
	if err := h.svc.Detach(ctx, v1.ID, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown node: %v", err)
	}
	if _, err := h.svc.Attach(ctx, AttachmentSpec{Volume: v1.ID, Node: "nope"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("attach to unknown node: %v", err)
	}
	if _, err := h.svc.Attach(ctx, AttachmentSpec{Volume: v1.ID, Node: "west-esx01"}); !errors.Is(err, ErrConflict) {
		t.Fatalf("attach across sites: %v", err)
	}
}

func TestAttachVMMasksAndZonesBothSets(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	vm, _ := h.svc.VM("east-vm005")
	v, err := h.svc.CreateVolume(ctx, VolumeSpec{Name: "rdm-1", SizeBytes: gib, Site: "east", MultiNode: true})
	if err != nil {
		t.Fatal(err)
	}
	at, err := h.svc.Attach(ctx, AttachmentSpec{Volume: v.ID, Node: vm.ID})
	if err != nil {
		t.Fatal(err)
	}
	// The lab masks the VM's own volumes to a host group of its vports
	// already; an array puts an initiator in one group, so that one is used.
	m, ok := mappingOf(h.world, "east-arr1", v.ID, "east-vm005")
	if !ok || len(m.Initiators) != 4 || at.HostGroup != "east-vm005" {
		t.Fatalf("mapping %+v: want all 4 vports (sets a and b on both fabrics)", m)
	}
	held := h.svc.Zoner().Holds(attachUser(v.ID, vm.ID))
	if len(held) != 8 { // 4 vports × 2 target ports
		t.Fatalf("intents %d, want 8", len(held))
	}
	// A multi-node volume may be attached to a second node too.
	if _, err := h.svc.Attach(ctx, AttachmentSpec{Volume: v.ID, Node: "east-vm006"}); err != nil {
		t.Fatalf("multi-node: %v", err)
	}
	if got := h.svc.Attachments(v.ID); len(got) != 2 || got[0].LUN != at.LUN || got[1].LUN != at.LUN {
		t.Fatalf("attachments %+v: want two, under one LUN id", got)
	}
	if err := h.svc.DeleteVM(vm.ID); !errors.Is(err, ErrConflict) {
		t.Fatalf("delete an attached VM: %v", err)
	}
}

func TestAttachUndoesMaskingWhenZoningFails(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	v, err := h.svc.CreateVolume(ctx, VolumeSpec{Name: "doomed", SizeBytes: gib, Site: "east"})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.world.InjectFault(lab.Fault{Target: "east-b", Op: lab.OpCommit, Count: 1, Kind: lab.KindFinal}); err != nil {
		t.Fatal(err)
	}
	_, err = h.svc.Attach(ctx, AttachmentSpec{Volume: v.ID, Node: "east-esx03"})
	if err == nil || !strings.Contains(err.Error(), "east-b") {
		t.Fatalf("err %v, want the failure on east-b", err)
	}
	if _, ok := mappingOf(h.world, "east-arr1", v.ID, "sm-host-east-esx03"); ok {
		t.Fatal("masking left after zoning failed")
	}
	host, _ := h.svc.Host("east-esx03")
	for _, b := range host.HBAs {
		if got := zonesOf(h.world, b.WWPN); len(got) != 0 {
			t.Fatalf("zones left after a failed attach: %v", got)
		}
	}
	if got := h.svc.Attachments(v.ID); len(got) != 0 {
		t.Fatalf("attachment recorded: %+v", got)
	}
	// And it works once the fabric does.
	if _, err := h.svc.Attach(ctx, AttachmentSpec{Volume: v.ID, Node: "east-esx03"}); err != nil {
		t.Fatal(err)
	}
}

func TestAttachmentsSurviveRestart(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	v, err := h.svc.CreateVolume(ctx, VolumeSpec{Name: "keep", SizeBytes: gib, Site: "east"})
	if err != nil {
		t.Fatal(err)
	}
	at, err := h.svc.Attach(ctx, AttachmentSpec{Volume: v.ID, Node: "east-esx04"})
	if err != nil {
		t.Fatal(err)
	}
	h.reopen(t)
	got := h.svc.Attachments(v.ID)
	if len(got) != 1 || got[0].LUN != at.LUN || got[0].PublishContext["volumeWWN"] != v.WWN {
		t.Fatalf("after restart: %+v", got)
	}
	if vv, _ := h.svc.Volume(v.ID); vv.LUN == nil || *vv.LUN != at.LUN {
		t.Fatalf("volume LUN after restart: %+v", vv.LUN)
	}
	if n := len(h.svc.Zoner().Holds(attachUser(v.ID, "east-esx04"))); n != 4 {
		t.Fatalf("the Zoner holds %d intents of the attachment after restart, want 4", n)
	}
	if err := h.svc.Detach(ctx, v.ID, "east-esx04"); err != nil {
		t.Fatal(err)
	}
	host, _ := h.svc.Host("east-esx04")
	for _, b := range host.HBAs {
		if z := zonesOf(h.world, b.WWPN); len(z) != 0 {
			t.Fatalf("zones left: %v", z)
		}
	}
}

func TestConcurrentAttachesToOneHost(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	const n = 12
	ids := make([]string, n)
	for i := range n {
		v, err := h.svc.CreateVolume(ctx, VolumeSpec{Name: fmt.Sprint("c-", i), SizeBytes: gib, Site: "east"})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = v.ID
	}
	var wg sync.WaitGroup
	luns := make([]int, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			at, err := h.svc.Attach(ctx, AttachmentSpec{Volume: ids[i], Node: "east-esx01"})
			luns[i], errs[i] = at.LUN, err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	slices.Sort(luns)
	if len(slices.Compact(slices.Clone(luns))) != n {
		t.Fatalf("LUN ids %v are not distinct", luns)
	}
}

// TestAttachLogsInANewVMsActiveVports: a VM created through the API has
// vports no fabric has seen; attaching storage logs its active set in (set
// b stays out), and a login that fails undoes the attach.
func TestAttachLogsInANewVMsActiveVports(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	vm, err := h.svc.CreateVM(inventory.VMSpec{ID: "fresh", Host: "east-esx02"})
	if err != nil {
		t.Fatal(err)
	}
	v, err := h.svc.CreateVolume(ctx, VolumeSpec{Name: "fresh-disk", SizeBytes: gib, Site: "east"})
	if err != nil {
		t.Fatal(err)
	}
	loggedIn := func(w wwn.WWN) bool {
		for _, f := range h.world.Fabrics() {
			for _, l := range f.Switch.TruthLogins() {
				if l.WWPN == w {
					return true
				}
			}
		}
		return false
	}
	if err := h.world.InjectFault(lab.Fault{Target: "east-b", Op: lab.OpLogin, Count: 1, Kind: lab.KindFinal}); err != nil { // east-a logs in first, and must be undone
		t.Fatal(err)
	}
	if _, err := h.svc.Attach(ctx, AttachmentSpec{Volume: v.ID, Node: vm.ID}); err == nil || !strings.Contains(err.Error(), "logging in") {
		t.Fatalf("attach with a failing login: %v", err)
	}
	if _, ok := mappingOf(h.world, "east-arr1", v.ID, "sm-vm-fresh"); ok {
		t.Fatal("masking left after the login failed")
	}
	for _, p := range vm.Vports {
		if loggedIn(p.WWPN) {
			t.Fatalf("vport %s left logged in after the attach failed", p.WWPN)
		}
	}
	for _, p := range vm.Vports {
		if z := zonesOf(h.world, p.WWPN); len(z) != 0 {
			t.Fatalf("zones left after the login failed: %v", z)
		}
	}
	if _, err := h.svc.Attach(ctx, AttachmentSpec{Volume: v.ID, Node: vm.ID}); err != nil {
		t.Fatal(err)
	}
	for _, p := range vm.Vports {
		if loggedIn(p.WWPN) != p.Active {
			t.Errorf("vport %s set %s: logged in %v", p.WWPN, p.Set, loggedIn(p.WWPN))
		}
	}
	if n := h.world.DuplicateLogins(); n != 0 {
		t.Fatalf("%d duplicate logins", n)
	}
}

// TestAttachKeepsTheNodesOtherPaths: a host group's target ports are
// shared by its volumes, so an attach to a VM whose group exists presents
// through the ports it has; the VM's own volumes keep every path through
// the attach and after the detach (an attach that moved the group to
// other ports, and a detach that then released their zones, cut the VM
// off from its boot disk).
func TestAttachKeepsTheNodesOtherPaths(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	const vmID = "east-vm009"
	paths := func(when string) int {
		t.Helper()
		h.svc.Refresh(ctx)
		tp, err := h.svc.Topology(ctx, vmID, true)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, p := range tp.Paths {
			if p.Volume == vmID+"-d0" || p.Volume == vmID+"-d1" {
				n++
			}
		}
		if len(tp.Issues) > 0 {
			t.Errorf("%s: topology issues %v", when, tp.Issues)
		}
		return n
	}
	portsOf := func() map[string][]wwn.WWN {
		out := map[string][]wwn.WWN{}
		a, _ := h.world.Array("east-arr1")
		for _, m := range a.TruthMappings() {
			if m.HostGroup == vmID {
				ps := slices.Clone(m.TargetPorts)
				slices.SortFunc(ps, wwn.WWN.Compare)
				out[m.Volume] = ps
			}
		}
		return out
	}
	before, ports := paths("before"), portsOf()
	if before == 0 || len(ports) == 0 {
		t.Fatalf("the lab VM has %d paths and maps %v", before, ports)
	}
	v, err := h.svc.CreateVolume(ctx, VolumeSpec{Name: "extra", SizeBytes: 10 << 30, Site: "east"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Attach(ctx, AttachmentSpec{Volume: v.ID, Node: vmID}); err != nil {
		t.Fatal(err)
	}
	after := portsOf()
	for vol, ps := range ports {
		if !slices.Equal(after[vol], ps) {
			t.Errorf("attach moved volume %s from target ports %v to %v", vol, ps, after[vol])
		}
	}
	if n := paths("attached"); n != before {
		t.Errorf("the VM's own volumes have %d paths with the extra volume attached, %d before", n, before)
	}
	if err := h.svc.Detach(ctx, v.ID, vmID); err != nil {
		t.Fatal(err)
	}
	if n := paths("detached"); n != before {
		t.Errorf("the VM's own volumes have %d paths after the detach, %d before", n, before)
	}
	checkInvariants(t, h)
}

// TestAttachOnUnreadFabricsIsUnavailable: when the fabrics a node sits on
// have not been read since the start (their reads failed), which array
// ports are logged in there is unknown: the attach is unavailable (retry),
// not a conflict that says the array has no port there.
func TestAttachOnUnreadFabricsIsUnavailable(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	v, err := h.svc.CreateVolume(ctx, VolumeSpec{Name: "unread", SizeBytes: 1 << 30, Site: "east"})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"east-a", "east-b"} {
		h.svc.fabrics[id].Obs.Store(nil)
	}
	_, err = h.svc.Attach(ctx, AttachmentSpec{Volume: v.ID, Node: "east-vm001"})
	if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrConflict) {
		t.Fatalf("attach with the fabrics unread: %v, want unavailable", err)
	}
}
