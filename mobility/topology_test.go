package mobility

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/compute"
	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/inventory"
	"github.com/sanmob/sanmob/lab"
)

func TestTopologyOfUntouchedVM(t *testing.T) {
	h := newHarness(t, nil)
	topo, err := h.svc.Topology(context.Background(), "east-vm001", false)
	if err != nil {
		t.Fatal(err)
	}
	if topo.Source != "model" {
		t.Fatalf("source %q: a freshly discovered VM should be answered from the model", topo.Source)
	}
	if topo.Issues == nil || len(topo.Issues) != 0 {
		t.Fatalf("issues on an untouched VM: %#v (want an empty list, not nil)", topo.Issues)
	}
	// 2 volumes × 2 fabrics × 2 sets × TargetsPerVport (2) target ports.
	if len(topo.Paths) != 16 {
		t.Fatalf("%d paths, want 16", len(topo.Paths))
	}
	vm, _ := h.svc.VM("east-vm001")
	host, _ := h.svc.Host(vm.Host)
	hbaOn := map[string]string{}
	for _, b := range host.HBAs {
		hbaOn[b.Fabric] = b.WWPN.String()
	}
	arr, _ := h.svc.Array("east-arr1")
	portFabric := map[string]string{}
	for _, p := range arr.TargetPorts {
		portFabric[p.WWPN.String()] = p.Fabric
	}
	for _, p := range topo.Paths {
		if p.HBAWWPN.String() != hbaOn[p.Fabric] {
			t.Errorf("path %+v: HBA is not the host's on %s", p, p.Fabric)
		}
		if portFabric[p.TargetPortWWPN.String()] != p.Fabric {
			t.Errorf("path %+v: target port is on fabric %q", p, portFabric[p.TargetPortWWPN.String()])
		}
		if !strings.HasPrefix(p.Zone, fabric.OwnedPrefix) || p.Array != "east-arr1" {
			t.Errorf("path %+v", p)
		}
		if p.LoggedIn != (p.Set == "a") {
			t.Errorf("path %+v: only set a is logged in", p)
		}
	}
	sorted := slices.IsSortedFunc(topo.Paths, func(a, b inventory.Path) int {
		return cmp.Or(strings.Compare(a.Volume, b.Volume), strings.Compare(a.Fabric, b.Fabric),
			strings.Compare(a.Set, b.Set), cmp.Compare(a.TargetPortWWPN.Uint64(), b.TargetPortWWPN.Uint64()))
	})
	if !sorted {
		t.Fatalf("paths not ordered by volume, fabric, set, target port: %+v", topo.Paths)
	}
	if len(topo.Volumes) != 2 {
		t.Fatalf("volumes %+v", topo.Volumes)
	}
	for _, v := range topo.Volumes {
		if v.Array != "east-arr1" || v.Pool == "" || !strings.HasPrefix(v.WWN, "naa.6") || v.SizeBytes <= 0 || v.UsedBytes <= 0 || len(v.Snapshots) == 0 {
			t.Errorf("volume %+v", v)
		}
	}
}

func TestTopologySeesDeviceDrift(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	before, _ := h.svc.Topology(ctx, "west-vm002", false)
	// Another admin removes both zones of the VM's active vport on west-a.
	var victim string
	var zones []string
	for _, p := range before.Paths {
		if p.Fabric == "west-a" && p.Set == "a" {
			victim = p.VportWWPN.String()
			if len(zones) == 0 || zones[len(zones)-1] != p.Zone {
				zones = append(zones, p.Zone)
			}
		}
	}
	sw, _ := h.world.Switch("west-a")
	seen := map[string]bool{}
	for _, z := range zones {
		if seen[z] {
			continue
		}
		seen[z] = true
		if err := sw.DeleteZone(z); err != nil {
			t.Fatal(err)
		}
	}
	// The model has not been refreshed: without verify the answer is the old one.
	stale, _ := h.svc.Topology(ctx, "west-vm002", false)
	if len(stale.Paths) != len(before.Paths) {
		t.Fatalf("model answer changed without a refresh: %d → %d", len(before.Paths), len(stale.Paths))
	}
	fresh, err := h.svc.Topology(ctx, "west-vm002", true)
	if err != nil {
		t.Fatal(err)
	}
	if fresh.Source != "devices" {
		t.Fatalf("source %q with verify", fresh.Source)
	}
	if len(fresh.Paths) != len(before.Paths)-4 {
		t.Fatalf("%d paths after removing 2 zones, want %d", len(fresh.Paths), len(before.Paths)-4)
	}
	n := 0
	for _, is := range fresh.Issues {
		if strings.Contains(is, victim) && strings.Contains(is, "no path") {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("want one 'no path' issue per volume for %s, got %v", victim, fresh.Issues)
	}
	// Each zone deleted behind sanmob's back is named (a single deleted zone
	// leaves every volume a path, and no "no path" issue, so this is what
	// tells it).
	for z := range seen {
		named := false
		for _, is := range fresh.Issues {
			named = named || strings.Contains(is, "zone "+z+" on fabric west-a is missing")
		}
		if !named {
			t.Errorf("deleted zone %s not named in %v", z, fresh.Issues)
		}
	}
	// Without verify nothing is claimed missing from a read that did not happen.
	for _, is := range stale.Issues {
		if strings.Contains(is, "is missing") {
			t.Errorf("unverified answer names %q", is)
		}
	}
	// The fresh read became the model's observation.
	again, _ := h.svc.Topology(ctx, "west-vm002", false)
	if len(again.Paths) != len(fresh.Paths) {
		t.Fatalf("verified read not kept: %d vs %d paths", len(again.Paths), len(fresh.Paths))
	}
}

func TestTopologyWhenADeviceFails(t *testing.T) {
	h := newHarness(t, nil)
	if err := h.world.InjectFault(lab.Fault{Target: "east-b", Op: "read", Count: 1}); err != nil {
		t.Fatal(err)
	}
	topo, err := h.svc.Topology(context.Background(), "east-vm004", true)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, is := range topo.Issues {
		if strings.Contains(is, "fabric east-b could not be read") {
			found = true
		}
	}
	if !found {
		t.Fatalf("issues %v: want the failed read of east-b", topo.Issues)
	}
	if len(topo.Paths) != 16 {
		t.Fatalf("%d paths: the unreadable fabric should be answered from the model", len(topo.Paths))
	}
}

func TestTopologyNoticesInventoryChanges(t *testing.T) {
	h := newHarness(t, nil)
	host := "east-esx03"
	rehome(t, h, "east-vm001", host)
	topo, err := h.svc.Topology(context.Background(), "east-vm001", false)
	if err != nil {
		t.Fatal(err)
	}
	if topo.Source != "devices" {
		t.Fatalf("source %q: a record changed after the last device read is unsure", topo.Source)
	}
	var sawHBA, sawHypervisor bool
	for _, is := range topo.Issues {
		// Re-homed by PATCH after its vports were logged out (a PATCH is
		// refused while they are logged in through the old host's HBAs):
		// the topology says they are down.
		sawHBA = sawHBA || strings.Contains(is, "is not logged in to fabric east-a")
		sawHypervisor = sawHypervisor || strings.Contains(is, "hypervisor manager reports the VM on host \"east-esx01\"")
	}
	if !sawHBA || !sawHypervisor {
		t.Fatalf("issues %v", topo.Issues)
	}
	if _, err := h.svc.Topology(context.Background(), "nope", false); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown VM: %v", err)
	}
}

// hidingArray is a lab array that stops reporting one volume, as if it was
// deleted on the array behind sanmob's back.
type hidingArray struct {
	array.Driver
	hide *string
}

func (a hidingArray) Volumes(ctx context.Context) ([]array.Volume, error) {
	vols, err := a.Driver.Volumes(ctx)
	out := vols[:0:0]
	for _, v := range vols {
		if v.ID != *a.hide {
			out = append(out, v)
		}
	}
	return out, err
}

func TestVanishedVolumeIsFlaggedNotDropped(t *testing.T) {
	hide := ""
	h := newHarness(t, func(d array.Driver) array.Driver { return hidingArray{d, &hide} })
	hide = "east-vm005-d1"
	h.svc.Refresh(context.Background())
	v, err := h.svc.Volume("east-vm005-d1")
	if err != nil {
		t.Fatalf("record dropped: %v", err)
	}
	if !v.Missing {
		t.Fatal("vanished volume not flagged missing")
	}
	topo, _ := h.svc.Topology(context.Background(), "east-vm005", false)
	found := false
	for _, is := range topo.Issues {
		found = found || strings.Contains(is, "no longer reports volume east-vm005-d1")
	}
	if !found {
		t.Fatalf("issues %v", topo.Issues)
	}
	// The flag is durable, and clears when the array reports the volume again.
	h.reopen(t)
	if v, _ := h.svc.Volume("east-vm005-d1"); !v.Missing {
		t.Fatal("missing flag lost on restart")
	}
	hide = ""
	h.svc.Refresh(context.Background())
	if v, _ := h.svc.Volume("east-vm005-d1"); v.Missing {
		t.Fatal("volume reported again but still flagged missing")
	}
}

func TestTopologyAppendJSONMatchesEncodingJSON(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	// An unsure VM gives issues with quotes; a VM with no HBA WWPN on a path
	// omits the field.
	rehome(t, h, "east-vm007", "east-esx02")
	for _, id := range []string{"east-vm001", "west-vm012", "east-vm007"} {
		topo, err := h.svc.Topology(ctx, id, false)
		if err != nil {
			t.Fatal(err)
		}
		topo.Issues = append(topo.Issues, `a <tricky> "issue" & \ more`+"\n\u00e9")
		topo.Paths = append(topo.Paths, inventory.Path{Fabric: "x", Zone: "z<&>", LUN: 3})
		topo.Volumes = append(topo.Volumes, inventory.TopologyVolume{ID: "v\"q", Snapshots: []inventory.SnapshotView{{Snapshot: array.Snapshot{ID: "s", Group: "g"}, Array: "a"}}, Replica: &inventory.Replica{Array: "w", State: "SYNCHRONIZED", LagBytes: 5}})
		type plain inventory.Topology // encoding/json's view, without AppendJSON
		want, err := json.Marshal(plain(topo))
		if err != nil {
			t.Fatal(err)
		}
		got, err := topo.AppendJSON(nil)
		if err != nil {
			t.Fatal(err)
		}
		var a, b any
		if err := json.Unmarshal(got, &a); err != nil {
			t.Fatalf("AppendJSON wrote invalid JSON: %v\n%s", err, got)
		}
		_ = json.Unmarshal(want, &b)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("%s: AppendJSON differs from encoding/json:\n got %s\nwant %s", id, got, want)
		}
	}
}

// growingArray reports one volume larger than the lab has it, as after an
// expansion on the array.
type growingArray struct {
	array.Driver
	grow *string
}

func (a growingArray) Volumes(ctx context.Context) ([]array.Volume, error) {
	vols, err := a.Driver.Volumes(ctx)
	for i := range vols {
		if vols[i].ID == *a.grow {
			vols[i].SizeBytes *= 2
		}
	}
	return vols, err
}

func TestChangedVolumeIsUpdatedDurably(t *testing.T) {
	grow := ""
	h := newHarness(t, func(d array.Driver) array.Driver { return growingArray{d, &grow} })
	before, _ := h.svc.Volume("west-vm003-d0")
	grow = "west-vm003-d0"
	h.svc.Refresh(context.Background())
	after, _ := h.svc.Volume("west-vm003-d0")
	if after.SizeBytes != 2*before.SizeBytes || !after.CreatedAt.Equal(before.CreatedAt) {
		t.Fatalf("after expansion: %+v (before %+v)", after, before)
	}
	h.reopen(t)
	if again, _ := h.svc.Volume("west-vm003-d0"); again.SizeBytes != after.SizeBytes {
		t.Fatalf("expansion not stored: %d", again.SizeBytes)
	}
	untouched, _ := h.svc.Volume("west-vm003-d1")
	if untouched.Missing || untouched.SizeBytes == 0 {
		t.Fatalf("neighbour changed: %+v", untouched)
	}
}

// movedHypervisor reports one VM on another host, and forgets another, as a
// hypervisor manager would after moves sanmob was not told about.
type movedHypervisor struct {
	compute.Driver
	moved, forgotten, to string
	on                   *bool
}

func (m movedHypervisor) VMs(ctx context.Context) ([]compute.VM, error) {
	vms, err := m.Driver.VMs(ctx)
	if !*m.on {
		return vms, err
	}
	out := vms[:0]
	for _, v := range vms {
		if v.ID == m.forgotten {
			continue
		}
		if v.ID == m.moved {
			v.Host = m.to
		}
		out = append(out, v)
	}
	return out, err
}

func TestTopologyReportsHypervisorDisagreement(t *testing.T) {
	w, err := lab.New(lab.Small())
	if err != nil {
		t.Fatal(err)
	}
	on := false
	h := &harness{world: w, dir: t.TempDir(),
		hv: movedHypervisor{Driver: w.Compute(), moved: "west-vm004", forgotten: "west-vm005", to: "west-esx02", on: &on}}
	h.open(t, nil)
	ctx := context.Background()
	on = true // after discovery: the hypervisor manager moves on without telling sanmob
	h.svc.Refresh(ctx)
	tests := []struct{ vm, issue string }{
		{"west-vm004", `reports the VM on host "west-esx02"`},
		{"west-vm005", "does not know this VM"},
		{"west-vm006", ""},
	}
	for _, tt := range tests {
		topo, err := h.svc.Topology(ctx, tt.vm, false)
		if err != nil {
			t.Fatal(err)
		}
		if topo.Source != "model" {
			t.Fatalf("%s answered from %s", tt.vm, topo.Source)
		}
		got := strings.Join(topo.Issues, "; ")
		if tt.issue == "" && got != "" || !strings.Contains(got, tt.issue) {
			t.Errorf("%s issues %q, want %q", tt.vm, got, tt.issue)
		}
	}
	// Correcting the inventory clears the disagreement at once.
	rehome(t, h, "west-vm004", "west-esx02")
	topo, _ := h.svc.Topology(ctx, "west-vm004", false)
	for _, is := range topo.Issues {
		if strings.Contains(is, "hypervisor") {
			t.Fatalf("disagreement persists after the correction: %v", topo.Issues)
		}
	}
}
