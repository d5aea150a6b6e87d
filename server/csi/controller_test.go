package csi

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/sanmob/sanmob/mobility"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func topo(sites ...string) []*csi.Topology {
	var out []*csi.Topology
	for _, s := range sites {
		out = append(out, &csi.Topology{Segments: map[string]string{TopologyKeySite: s}})
	}
	return out
}

func TestCandidateSites(t *testing.T) {
	known := func(s string) bool { return s == "east" || s == "west" || s == "north" }
	tests := []struct {
		name      string
		req       *csi.TopologyRequirement
		paramSite string
		want      []string
		code      codes.Code
	}{
		{name: "no requirement: anywhere", want: nil},
		{name: "parameter only", paramSite: "west", want: []string{"west"}},
		{name: "requisite in order", req: &csi.TopologyRequirement{Requisite: topo("west", "east")}, want: []string{"west", "east"}},
		{name: "preferred first", req: &csi.TopologyRequirement{Requisite: topo("east", "west", "north"), Preferred: topo("north", "west")},
			want: []string{"north", "west", "east"}},
		{name: "preferred outside requisite ignored", req: &csi.TopologyRequirement{Requisite: topo("east"), Preferred: topo("west")},
			want: []string{"east"}},
		{name: "preferred only, then anywhere", req: &csi.TopologyRequirement{Preferred: topo("west")}, want: []string{"west", ""}},
		{name: "sites without arrays dropped", req: &csi.TopologyRequirement{Requisite: topo("mars", "east")}, want: []string{"east"}},
		{name: "no requisite site has arrays", req: &csi.TopologyRequirement{Requisite: topo("mars")}, code: codes.ResourceExhausted},
		{name: "parameter within requisite", req: &csi.TopologyRequirement{Requisite: topo("east", "west")}, paramSite: "west", want: []string{"west"}},
		{name: "parameter outside requisite", req: &csi.TopologyRequirement{Requisite: topo("east")}, paramSite: "west", code: codes.ResourceExhausted},
		{name: "duplicates once", req: &csi.TopologyRequirement{Requisite: topo("east", "east")}, want: []string{"east"}},
		{name: "foreign key", req: &csi.TopologyRequirement{Requisite: []*csi.Topology{{Segments: map[string]string{"zone": "z"}}}}, code: codes.InvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := candidateSites(tc.req, tc.paramSite, known)
			if c := status.Code(err); c != tc.code {
				t.Fatalf("code %v (%v), want %v", c, err, tc.code)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("sites %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSizeRange(t *testing.T) {
	const gib = 1 << 30
	tests := []struct {
		name        string
		r           *csi.CapacityRange
		size, limit int64
		code        codes.Code
	}{
		{name: "none: the default", r: nil, size: gib},
		{name: "required", r: &csi.CapacityRange{RequiredBytes: 5 * gib}, size: 5 * gib},
		{name: "required equals limit", r: &csi.CapacityRange{RequiredBytes: 5 * gib, LimitBytes: 5 * gib}, size: 5 * gib, limit: 5 * gib},
		{name: "limit below the default", r: &csi.CapacityRange{LimitBytes: gib / 2}, size: gib / 2, limit: gib / 2},
		{name: "limit above the default", r: &csi.CapacityRange{LimitBytes: 4 * gib}, size: gib, limit: 4 * gib},
		{name: "required above limit", r: &csi.CapacityRange{RequiredBytes: 2 * gib, LimitBytes: gib}, code: codes.OutOfRange},
		{name: "negative", r: &csi.CapacityRange{RequiredBytes: -1}, code: codes.InvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			size, limit, err := sizeRange(tc.r, gib)
			if c := status.Code(err); c != tc.code {
				t.Fatalf("code %v (%v), want %v", c, err, tc.code)
			}
			if size != tc.size || limit != tc.limit {
				t.Errorf("size %d limit %d, want %d %d", size, limit, tc.size, tc.limit)
			}
		})
	}
}

// TestCreateVolumePlacement: parameters and topology reach the core, the
// volume reports its site, and a site without capacity is skipped for the
// next candidate.
func TestCreateVolumePlacement(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	caps := []*csi.VolumeCapability{blockCap(mnw)}

	r, err := h.ctl.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: "placed", VolumeCapabilities: caps,
		Parameters:                map[string]string{"thin": "false", "csi.storage.k8s.io/pvc/name": "data"},
		AccessibilityRequirements: &csi.TopologyRequirement{Requisite: topo("east", "west"), Preferred: topo("west")}})
	if err != nil {
		t.Fatal(err)
	}
	core, err := h.mob.Volume(r.GetVolume().GetVolumeId())
	if err != nil || core.Array != "west-arr1" || core.Thin || !core.MultiNode || core.SizeBytes != defaultVolumeBytes {
		t.Errorf("the core made %+v, %v", core, err)
	}
	v := r.GetVolume()
	if got := v.GetAccessibleTopology(); len(got) != 1 || got[0].GetSegments()[TopologyKeySite] != "west" {
		t.Errorf("accessible topology %v, want site west", got)
	}
	if v.GetVolumeContext()[ctxVolumeWWN] == "" || v.GetVolumeContext()[ctxArray] != "west-arr1" {
		t.Errorf("volume context %v", v.GetVolumeContext())
	}

	// Idempotent: the same request, and a looser one, return the volume.
	for _, rng := range []*csi.CapacityRange{nil, {RequiredBytes: defaultVolumeBytes / 2, LimitBytes: 2 * defaultVolumeBytes}} {
		again, err := h.ctl.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: "placed", VolumeCapabilities: caps, CapacityRange: rng})
		if err != nil || again.GetVolume().GetVolumeId() != v.GetVolumeId() {
			t.Errorf("CreateVolume again (range %v) = %v, %v; want %s", rng, again, err, v.GetVolumeId())
		}
	}

	// The first site cannot take the volume: the next requisite one does;
	// when no site can, RESOURCE_EXHAUSTED; a size no pool could ever hold
	// is INVALID_ARGUMENT. Sizes come from the lab's pools: just past the
	// smaller site's largest volume, just past the larger one's.
	room := map[string]int64{}
	for _, site := range []string{"east", "west"} {
		c, err := h.mob.Capacity(mobility.CapacitySpec{Site: site})
		if err != nil {
			t.Fatal(err)
		}
		room[site] = c.MaximumVolumeBytes
	}
	small, large := "west", "east"
	if room[small] > room[large] {
		small, large = large, small
	}
	req := &csi.CreateVolumeRequest{Name: "big", VolumeCapabilities: caps,
		CapacityRange:             &csi.CapacityRange{RequiredBytes: room[small] + 1},
		AccessibilityRequirements: &csi.TopologyRequirement{Requisite: topo(small, large)}}
	r, err = h.ctl.CreateVolume(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.GetVolume().GetAccessibleTopology()[0].GetSegments()[TopologyKeySite]; got != large {
		t.Errorf("placed in %s, want %s after %s had no room", got, large, small)
	}
	all, err := h.mob.Capacity(mobility.CapacitySpec{}) // the largest volume any site takes now
	if err != nil {
		t.Fatal(err)
	}
	req.Name, req.CapacityRange = "bigger", &csi.CapacityRange{RequiredBytes: all.MaximumVolumeBytes + 1}
	if _, err := h.ctl.CreateVolume(ctx, req); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("no site has room: %v, want RESOURCE_EXHAUSTED", err)
	}
	req.Name, req.CapacityRange = "impossible", &csi.CapacityRange{RequiredBytes: 1 << 50}
	if _, err := h.ctl.CreateVolume(ctx, req); status.Code(err) != codes.InvalidArgument {
		t.Errorf("more than any pool could hold: %v, want INVALID_ARGUMENT", err)
	}
}

// TestPublishLifecycle: publish context comes from the core, a second node
// on a single-node volume is FAILED_PRECONDITION naming the holder, the
// published nodes are listed, and unpublish without a node frees all.
func TestPublishLifecycle(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	single := h.mustCreate(t, "single", 1<<30).GetVolumeId()
	shared := h.mustCreate(t, "shared", 1<<30, mountCap(mnw)).GetVolumeId()
	pub := func(vol, node string, c *csi.VolumeCapability) (*csi.ControllerPublishVolumeResponse, error) {
		return h.ctl.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{VolumeId: vol, NodeId: node, VolumeCapability: c})
	}
	r, err := pub(single, "east-esx01", mountCap(snw))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"lun", "volumeWWN", "targetWWPNs", "fabrics"} {
		if r.GetPublishContext()[k] == "" {
			t.Errorf("publish context without %s: %v", k, r.GetPublishContext())
		}
	}
	if _, err := pub(single, "east-esx01", mountCap(snw)); err != nil {
		t.Errorf("publishing again: %v", err)
	}
	_, err = pub(single, "east-esx02", mountCap(snw))
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(status.Convert(err).Message(), "east-esx01") {
		t.Errorf("second node on a single-node volume: %v, want FAILED_PRECONDITION naming east-esx01", err)
	}
	for _, n := range []string{"east-esx01", "east-esx02", "east-vm001"} {
		if _, err := pub(shared, n, mountCap(mnw)); err != nil {
			t.Fatalf("multi-node publish to %s: %v", n, err)
		}
	}
	g, err := h.ctl.ControllerGetVolume(ctx, &csi.ControllerGetVolumeRequest{VolumeId: shared})
	if err != nil || len(g.GetStatus().GetPublishedNodeIds()) != 3 {
		t.Fatalf("ControllerGetVolume = %v, %v; want 3 published nodes", g, err)
	}
	if _, err := h.ctl.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: shared}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("deleting a published volume: %v, want FAILED_PRECONDITION", err)
	}
	if _, err := h.ctl.ControllerUnpublishVolume(ctx, &csi.ControllerUnpublishVolumeRequest{VolumeId: shared}); err != nil {
		t.Fatal(err)
	}
	if n := len(h.mob.Attachments(shared)); n != 0 {
		t.Errorf("%d attachments left after unpublishing from all nodes", n)
	}
	// Gone volumes and nodes are unpublished already.
	for _, req := range []*csi.ControllerUnpublishVolumeRequest{{VolumeId: "gone", NodeId: "east-esx01"}, {VolumeId: single, NodeId: "gone"}} {
		if _, err := h.ctl.ControllerUnpublishVolume(ctx, req); err != nil {
			t.Errorf("unpublish %v: %v, want OK", req, err)
		}
	}
	if _, err := h.ctl.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: "gone"}); err != nil {
		t.Errorf("deleting a gone volume: %v, want OK", err)
	}
}

// TestListPagination: pages of every size cover each volume once, and a
// token survives the deletion of the entry it names.
func TestListPagination(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	var ids []string
	for i := range 7 {
		ids = append(ids, h.mustCreate(t, "page-"+string(rune('a'+i)), 1<<30).GetVolumeId())
	}
	all, err := h.ctl.ListVolumes(ctx, &csi.ListVolumesRequest{})
	if err != nil || all.GetNextToken() != "" {
		t.Fatalf("ListVolumes: %v, %v", all, err)
	}
	var full []string // the lab's volumes and ours
	for _, e := range all.GetEntries() {
		full = append(full, e.GetVolume().GetVolumeId())
	}
	for _, id := range ids {
		if !slices.Contains(full, id) {
			t.Fatalf("%s not listed", id)
		}
	}
	for _, max := range []int32{1, 2, 3, 7, 8, int32(len(full)), int32(len(full) + 1)} {
		var seen []string
		tok := ""
		for range len(full) + 1 {
			r, err := h.ctl.ListVolumes(ctx, &csi.ListVolumesRequest{MaxEntries: max, StartingToken: tok})
			if err != nil {
				t.Fatalf("max %d: %v", max, err)
			}
			if len(r.GetEntries()) > int(max) {
				t.Fatalf("max %d: %d entries", max, len(r.GetEntries()))
			}
			for _, e := range r.GetEntries() {
				seen = append(seen, e.GetVolume().GetVolumeId())
				if e.GetStatus() == nil {
					t.Errorf("entry without status (LIST_VOLUMES_PUBLISHED_NODES)")
				}
			}
			if tok = r.GetNextToken(); tok == "" {
				break
			}
		}
		if !slices.Equal(seen, full) {
			t.Errorf("max %d: pages listed %d volumes, not the %d of one listing in its order", max, len(seen), len(full))
		}
	}
	// A page that ends on one of our volumes; that volume is deleted; the
	// token still leads to the next one.
	k := slices.IndexFunc(full, func(id string) bool { return slices.Contains(ids, id) }) + 1
	if k+1 >= len(full) || !slices.Contains(ids, full[k]) || !slices.Contains(ids, full[k+1]) {
		t.Fatalf("our volumes are not listed together: %v", full)
	}
	r, err := h.ctl.ListVolumes(ctx, &csi.ListVolumesRequest{MaxEntries: int32(k + 1)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.ctl.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: full[k]}); err != nil {
		t.Fatal(err)
	}
	r, err = h.ctl.ListVolumes(ctx, &csi.ListVolumesRequest{StartingToken: r.GetNextToken()})
	if err != nil || len(r.GetEntries()) != len(full)-k-1 || r.GetEntries()[0].GetVolume().GetVolumeId() != full[k+1] {
		t.Errorf("after deleting the token's volume: %d entries, %v; want %d from %s", len(r.GetEntries()), err, len(full)-k-1, full[k+1])
	}
}

func TestListSnapshotsFilters(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	before, err := h.ctl.ListSnapshots(ctx, &csi.ListSnapshotsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	base := len(before.GetEntries()) // the lab's own
	a := h.mustCreate(t, "a", 1<<30).GetVolumeId()
	b := h.mustCreate(t, "b", 2<<30).GetVolumeId()
	snap := func(name, vol string) string {
		r, err := h.ctl.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: name, SourceVolumeId: vol})
		if err != nil {
			t.Fatal(err)
		}
		s := r.GetSnapshot()
		if !s.GetReadyToUse() || s.GetCreationTime() == nil || s.GetSourceVolumeId() != vol || s.GetSizeBytes() == 0 {
			t.Errorf("snapshot %v", s)
		}
		return s.GetSnapshotId()
	}
	a1, _, b1 := snap("a1", a), snap("a2", a), snap("b1", b)
	if _, err := h.ctl.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "a1", SourceVolumeId: b}); status.Code(err) != codes.AlreadyExists {
		t.Errorf("a1 of another volume: %v, want ALREADY_EXISTS", err)
	}
	tests := []struct {
		name string
		req  *csi.ListSnapshotsRequest
		want int
	}{
		{"all", &csi.ListSnapshotsRequest{}, base + 3},
		{"by id", &csi.ListSnapshotsRequest{SnapshotId: a1}, 1},
		{"by unknown id", &csi.ListSnapshotsRequest{SnapshotId: "nope"}, 0},
		{"by volume", &csi.ListSnapshotsRequest{SourceVolumeId: a}, 2},
		{"by unknown volume", &csi.ListSnapshotsRequest{SourceVolumeId: "nope"}, 0},
		{"by id and its volume", &csi.ListSnapshotsRequest{SnapshotId: b1, SourceVolumeId: b}, 1},
		{"by id and another volume", &csi.ListSnapshotsRequest{SnapshotId: b1, SourceVolumeId: a}, 0},
		{"first page", &csi.ListSnapshotsRequest{MaxEntries: 2}, 2},
	}
	for _, tc := range tests {
		r, err := h.ctl.ListSnapshots(ctx, tc.req)
		if err != nil || len(r.GetEntries()) != tc.want {
			t.Errorf("%s: %v, %v; want %d entries", tc.name, r, err, tc.want)
		}
	}
}

func TestExpandAndValidate(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id := h.mustCreate(t, "grow", 1<<30).GetVolumeId()
	expand := func(r *csi.CapacityRange, c *csi.VolumeCapability) *csi.ControllerExpandVolumeResponse {
		t.Helper()
		resp, err := h.ctl.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: id, CapacityRange: r, VolumeCapability: c})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if r := expand(&csi.CapacityRange{RequiredBytes: 2 << 30}, blockCap(snw)); r.GetCapacityBytes() != 2<<30 || r.GetNodeExpansionRequired() {
		t.Errorf("block expand: %v, want 2 GiB without node expansion", r)
	}
	if r := expand(&csi.CapacityRange{RequiredBytes: 1 << 30}, mountCap(snw)); r.GetCapacityBytes() != 2<<30 || !r.GetNodeExpansionRequired() {
		t.Errorf("smaller request: %v, want the 2 GiB it has, with node expansion for a filesystem", r)
	}

	v, err := h.ctl.ValidateVolumeCapabilities(ctx, &csi.ValidateVolumeCapabilitiesRequest{VolumeId: id,
		VolumeCapabilities: []*csi.VolumeCapability{blockCap(snw)}, Parameters: map[string]string{"site": "east"}})
	if err != nil || v.GetConfirmed() == nil {
		t.Errorf("validate a served capability: %v, %v", v, err)
	}
	for name, req := range map[string]*csi.ValidateVolumeCapabilitiesRequest{
		"multi-node":     {VolumeId: id, VolumeCapabilities: []*csi.VolumeCapability{mountCap(mnw)}},
		"other site":     {VolumeId: id, VolumeCapabilities: []*csi.VolumeCapability{mountCap(snw)}, Parameters: map[string]string{"site": "west"}},
		"unknown param":  {VolumeId: id, VolumeCapabilities: []*csi.VolumeCapability{mountCap(snw)}, Parameters: map[string]string{"x": "y"}},
		"other context":  {VolumeId: id, VolumeCapabilities: []*csi.VolumeCapability{mountCap(snw)}, VolumeContext: map[string]string{ctxPool: "elsewhere"}},
		"mutable params": {VolumeId: id, VolumeCapabilities: []*csi.VolumeCapability{mountCap(snw)}, MutableParameters: map[string]string{"iops": "1"}},
	} {
		v, err := h.ctl.ValidateVolumeCapabilities(ctx, req)
		if err != nil || v.GetConfirmed() != nil || v.GetMessage() == "" {
			t.Errorf("%s: %v, %v; want unconfirmed with a message", name, v, err)
		}
	}
}

func TestIdentity(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	info, err := h.id.GetPluginInfo(ctx, &csi.GetPluginInfoRequest{})
	if err != nil || info.GetName() != "csi.sanmob.io" || info.GetVendorVersion() != "test" {
		t.Errorf("GetPluginInfo = %v, %v", info, err)
	}
	caps, err := h.id.GetPluginCapabilities(ctx, &csi.GetPluginCapabilitiesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var services []csi.PluginCapability_Service_Type
	for _, c := range caps.GetCapabilities() {
		if s := c.GetService(); s != nil {
			services = append(services, s.GetType())
		}
	}
	if !slices.Contains(services, csi.PluginCapability_Service_CONTROLLER_SERVICE) ||
		!slices.Contains(services, csi.PluginCapability_Service_VOLUME_ACCESSIBILITY_CONSTRAINTS) {
		t.Errorf("plugin capabilities %v", caps)
	}
	if p, err := h.id.Probe(ctx, &csi.ProbeRequest{}); err != nil || !p.GetReady().GetValue() {
		t.Errorf("Probe of a started core: %v, %v", p, err)
	}
	// A core that has not read its devices yet is not ready.
	cold, _ := newCore(t, false)
	srv, err := New(Config{Mobility: cold, Log: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if p, err := srv.Probe(ctx, &csi.ProbeRequest{}); err != nil || p.GetReady().GetValue() {
		t.Errorf("Probe of a core not started: %v, %v", p, err)
	}
}

// TestCreateVolumeFromSnapshot: a volume restored from a snapshot names its
// source, lives on the snapshot's array, and is idempotent by name.
func TestCreateVolumeFromSnapshot(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	src := h.mustCreate(t, "origin", 2<<30).GetVolumeId()
	sn, err := h.ctl.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "origin-s", SourceVolumeId: src})
	if err != nil {
		t.Fatal(err)
	}
	from := &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
		Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: sn.GetSnapshot().GetSnapshotId()}}}
	req := &csi.CreateVolumeRequest{Name: "restored", VolumeCapabilities: []*csi.VolumeCapability{mountCap(snw)}, VolumeContentSource: from}
	r, err := h.ctl.CreateVolume(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	v := r.GetVolume()
	if v.GetContentSource().GetSnapshot().GetSnapshotId() != sn.GetSnapshot().GetSnapshotId() || v.GetCapacityBytes() != 2<<30 {
		t.Fatalf("restored volume %v: want the snapshot as its source and the source's size", v)
	}
	if again, err := h.ctl.CreateVolume(ctx, req); err != nil || again.GetVolume().GetVolumeId() != v.GetVolumeId() {
		t.Fatalf("again: %v, %v", again, err)
	}
	req.VolumeContentSource = nil
	if _, err := h.ctl.CreateVolume(ctx, req); status.Code(err) != codes.AlreadyExists {
		t.Fatalf("same name without the source: %v, want ALREADY_EXISTS", err)
	}
}
