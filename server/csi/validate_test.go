package csi

import (
	"context"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestRequestValidation: every malformed or unsatisfiable request gets the
// code the CSI spec's error tables give it, with a message.
func TestRequestValidation(t *testing.T) {
	h := newHarness(t)
	vol := h.mustCreate(t, "existing", 1<<30).GetVolumeId()
	c := h.ctl
	caps := []*csi.VolumeCapability{mountCap(snw)}
	noAccessType := &csi.VolumeCapability{AccessMode: &csi.VolumeCapability_AccessMode{Mode: snw}}
	noMode := &csi.VolumeCapability{AccessType: &csi.VolumeCapability_Block{Block: &csi.VolumeCapability_BlockVolume{}}}
	site := func(s string) *csi.Topology { return &csi.Topology{Segments: map[string]string{TopologyKeySite: s}} }
	create := func(mod func(*csi.CreateVolumeRequest)) func(context.Context) (any, error) {
		return func(ctx context.Context) (any, error) {
			r := &csi.CreateVolumeRequest{Name: "new", VolumeCapabilities: caps}
			mod(r)
			return c.CreateVolume(ctx, r)
		}
	}
	tests := []struct {
		name string
		call func(context.Context) (any, error)
		want codes.Code
	}{
		{"create: no name", create(func(r *csi.CreateVolumeRequest) { r.Name = "" }), codes.InvalidArgument},
		{"create: no capabilities", create(func(r *csi.CreateVolumeRequest) { r.VolumeCapabilities = nil }), codes.InvalidArgument},
		{"create: nil capability", create(func(r *csi.CreateVolumeRequest) { r.VolumeCapabilities = []*csi.VolumeCapability{nil} }), codes.InvalidArgument},
		{"create: no access type", create(func(r *csi.CreateVolumeRequest) { r.VolumeCapabilities = []*csi.VolumeCapability{noAccessType} }), codes.InvalidArgument},
		{"create: no access mode", create(func(r *csi.CreateVolumeRequest) { r.VolumeCapabilities = []*csi.VolumeCapability{noMode} }), codes.InvalidArgument},
		{"create: unknown access mode", create(func(r *csi.CreateVolumeRequest) {
			r.VolumeCapabilities = []*csi.VolumeCapability{mountCap(99)}
		}), codes.InvalidArgument},
		{"create: negative required", create(func(r *csi.CreateVolumeRequest) { r.CapacityRange = &csi.CapacityRange{RequiredBytes: -1} }), codes.InvalidArgument},
		{"create: negative limit", create(func(r *csi.CreateVolumeRequest) { r.CapacityRange = &csi.CapacityRange{LimitBytes: -1} }), codes.InvalidArgument},
		{"create: required above limit", create(func(r *csi.CreateVolumeRequest) {
			r.CapacityRange = &csi.CapacityRange{RequiredBytes: 2 << 30, LimitBytes: 1 << 30}
		}), codes.OutOfRange},
		{"create: unknown parameter", create(func(r *csi.CreateVolumeRequest) { r.Parameters = map[string]string{"colour": "red"} }), codes.InvalidArgument},
		{"create: thin not a bool", create(func(r *csi.CreateVolumeRequest) { r.Parameters = map[string]string{"thin": "maybe"} }), codes.InvalidArgument},
		{"create: unknown site parameter", create(func(r *csi.CreateVolumeRequest) { r.Parameters = map[string]string{"site": "mars"} }), codes.InvalidArgument},
		{"create: array in another site", create(func(r *csi.CreateVolumeRequest) {
			r.Parameters = map[string]string{"site": "west", "array": "east-arr1"}
		}), codes.InvalidArgument},
		{"create: mutable parameters", create(func(r *csi.CreateVolumeRequest) { r.MutableParameters = map[string]string{"iops": "9"} }), codes.InvalidArgument},
		{"create: unknown topology key", create(func(r *csi.CreateVolumeRequest) {
			r.AccessibilityRequirements = &csi.TopologyRequirement{Requisite: []*csi.Topology{{Segments: map[string]string{"zone": "a"}}}}
		}), codes.InvalidArgument},
		{"create: topology without site", create(func(r *csi.CreateVolumeRequest) {
			r.AccessibilityRequirements = &csi.TopologyRequirement{Requisite: []*csi.Topology{{}}}
		}), codes.InvalidArgument},
		{"create: requisite site without arrays", create(func(r *csi.CreateVolumeRequest) {
			r.AccessibilityRequirements = &csi.TopologyRequirement{Requisite: []*csi.Topology{site("mars")}}
		}), codes.ResourceExhausted},
		{"create: parameter site outside requisite", create(func(r *csi.CreateVolumeRequest) {
			r.Parameters = map[string]string{"site": "west"}
			r.AccessibilityRequirements = &csi.TopologyRequirement{Requisite: []*csi.Topology{site("east")}}
		}), codes.ResourceExhausted},
		{"create: more than any pool could hold", create(func(r *csi.CreateVolumeRequest) { r.CapacityRange = &csi.CapacityRange{RequiredBytes: 1 << 50} }), codes.InvalidArgument},
		{"create: snapshot source missing", create(func(r *csi.CreateVolumeRequest) {
			r.VolumeContentSource = &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: "nope"}}}
		}), codes.NotFound},
		{"create: volume source missing", create(func(r *csi.CreateVolumeRequest) {
			r.VolumeContentSource = &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Volume{Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: "nope"}}}
		}), codes.NotFound},
		{"create: clone unsupported", create(func(r *csi.CreateVolumeRequest) {
			r.VolumeContentSource = &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Volume{Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: vol}}}
		}), codes.InvalidArgument},
		{"create: same name, bigger", create(func(r *csi.CreateVolumeRequest) {
			r.Name, r.CapacityRange = "existing", &csi.CapacityRange{RequiredBytes: 2 << 30}
		}), codes.AlreadyExists},
		{"create: same name, now multi-node", create(func(r *csi.CreateVolumeRequest) {
			r.Name, r.VolumeCapabilities = "existing", []*csi.VolumeCapability{mountCap(mnw)}
		}), codes.AlreadyExists},
		{"create: same name, other site", create(func(r *csi.CreateVolumeRequest) {
			r.Name, r.AccessibilityRequirements = "existing", &csi.TopologyRequirement{Requisite: []*csi.Topology{site("west")}}
		}), codes.AlreadyExists},

		{"delete: no id", func(ctx context.Context) (any, error) { return c.DeleteVolume(ctx, &csi.DeleteVolumeRequest{}) }, codes.InvalidArgument},

		{"publish: no volume", func(ctx context.Context) (any, error) {
			return c.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{NodeId: "east-esx01", VolumeCapability: caps[0]})
		}, codes.InvalidArgument},
		{"publish: no node", func(ctx context.Context) (any, error) {
			return c.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{VolumeId: vol, VolumeCapability: caps[0]})
		}, codes.InvalidArgument},
		{"publish: no capability", func(ctx context.Context) (any, error) {
			return c.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{VolumeId: vol, NodeId: "east-esx01"})
		}, codes.InvalidArgument},
		{"publish: readonly", func(ctx context.Context) (any, error) {
			return c.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{VolumeId: vol, NodeId: "east-esx01", VolumeCapability: caps[0], Readonly: true})
		}, codes.InvalidArgument},
		{"publish: multi-node on a single-node volume", func(ctx context.Context) (any, error) {
			return c.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{VolumeId: vol, NodeId: "east-esx01", VolumeCapability: mountCap(mnw)})
		}, codes.InvalidArgument},
		{"publish: unknown volume", func(ctx context.Context) (any, error) {
			return c.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{VolumeId: "nope", NodeId: "east-esx01", VolumeCapability: caps[0]})
		}, codes.NotFound},
		{"publish: unknown node", func(ctx context.Context) (any, error) {
			return c.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{VolumeId: vol, NodeId: "nowhere", VolumeCapability: caps[0]})
		}, codes.NotFound},
		{"unpublish: no volume", func(ctx context.Context) (any, error) {
			return c.ControllerUnpublishVolume(ctx, &csi.ControllerUnpublishVolumeRequest{NodeId: "east-esx01"})
		}, codes.InvalidArgument},

		{"validate: no volume", func(ctx context.Context) (any, error) {
			return c.ValidateVolumeCapabilities(ctx, &csi.ValidateVolumeCapabilitiesRequest{VolumeCapabilities: caps})
		}, codes.InvalidArgument},
		{"validate: no capabilities", func(ctx context.Context) (any, error) {
			return c.ValidateVolumeCapabilities(ctx, &csi.ValidateVolumeCapabilitiesRequest{VolumeId: vol})
		}, codes.InvalidArgument},
		{"validate: bad capability", func(ctx context.Context) (any, error) {
			return c.ValidateVolumeCapabilities(ctx, &csi.ValidateVolumeCapabilitiesRequest{VolumeId: vol, VolumeCapabilities: []*csi.VolumeCapability{noMode}})
		}, codes.InvalidArgument},
		{"validate: unknown volume", func(ctx context.Context) (any, error) {
			return c.ValidateVolumeCapabilities(ctx, &csi.ValidateVolumeCapabilitiesRequest{VolumeId: "nope", VolumeCapabilities: caps})
		}, codes.NotFound},

		{"list volumes: bad token", func(ctx context.Context) (any, error) {
			return c.ListVolumes(ctx, &csi.ListVolumesRequest{StartingToken: "invalid-token"})
		}, codes.Aborted},
		{"list volumes: snapshot token", func(ctx context.Context) (any, error) {
			return c.ListVolumes(ctx, &csi.ListVolumesRequest{StartingToken: encodeToken(tokenSnapshots, "x")})
		}, codes.Aborted},
		{"list volumes: negative max", func(ctx context.Context) (any, error) {
			return c.ListVolumes(ctx, &csi.ListVolumesRequest{MaxEntries: -1})
		}, codes.InvalidArgument},
		{"get volume: no id", func(ctx context.Context) (any, error) {
			return c.ControllerGetVolume(ctx, &csi.ControllerGetVolumeRequest{})
		}, codes.InvalidArgument},
		{"get volume: unknown", func(ctx context.Context) (any, error) {
			return c.ControllerGetVolume(ctx, &csi.ControllerGetVolumeRequest{VolumeId: "nope"})
		}, codes.NotFound},

		{"capacity: bad capability", func(ctx context.Context) (any, error) {
			return c.GetCapacity(ctx, &csi.GetCapacityRequest{VolumeCapabilities: []*csi.VolumeCapability{noAccessType}})
		}, codes.InvalidArgument},
		{"capacity: unknown parameter", func(ctx context.Context) (any, error) {
			return c.GetCapacity(ctx, &csi.GetCapacityRequest{Parameters: map[string]string{"colour": "red"}})
		}, codes.InvalidArgument},
		{"capacity: unknown site parameter", func(ctx context.Context) (any, error) {
			return c.GetCapacity(ctx, &csi.GetCapacityRequest{Parameters: map[string]string{"site": "mars"}})
		}, codes.InvalidArgument},
		{"capacity: bad topology", func(ctx context.Context) (any, error) {
			return c.GetCapacity(ctx, &csi.GetCapacityRequest{AccessibleTopology: &csi.Topology{Segments: map[string]string{"zone": "a"}}})
		}, codes.InvalidArgument},

		{"snapshot: no name", func(ctx context.Context) (any, error) {
			return c.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{SourceVolumeId: vol})
		}, codes.InvalidArgument},
		{"snapshot: no source", func(ctx context.Context) (any, error) {
			return c.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "s"})
		}, codes.InvalidArgument},
		{"snapshot: unknown parameter", func(ctx context.Context) (any, error) {
			return c.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "s", SourceVolumeId: vol, Parameters: map[string]string{"x": "y"}})
		}, codes.InvalidArgument},
		{"snapshot: unknown source", func(ctx context.Context) (any, error) {
			return c.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "s", SourceVolumeId: "nope"})
		}, codes.NotFound},
		{"delete snapshot: no id", func(ctx context.Context) (any, error) {
			return c.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{})
		}, codes.InvalidArgument},
		{"list snapshots: bad token", func(ctx context.Context) (any, error) {
			return c.ListSnapshots(ctx, &csi.ListSnapshotsRequest{StartingToken: "invalid-token"})
		}, codes.Aborted},
		{"list snapshots: volume token", func(ctx context.Context) (any, error) {
			return c.ListSnapshots(ctx, &csi.ListSnapshotsRequest{StartingToken: encodeToken(tokenVolumes, "x")})
		}, codes.Aborted},
		{"list snapshots: negative max", func(ctx context.Context) (any, error) {
			return c.ListSnapshots(ctx, &csi.ListSnapshotsRequest{MaxEntries: -3})
		}, codes.InvalidArgument},

		{"expand: no id", func(ctx context.Context) (any, error) {
			return c.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{CapacityRange: &csi.CapacityRange{RequiredBytes: 1}})
		}, codes.InvalidArgument},
		{"expand: no range", func(ctx context.Context) (any, error) {
			return c.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: vol})
		}, codes.InvalidArgument},
		{"expand: empty range", func(ctx context.Context) (any, error) {
			return c.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: vol, CapacityRange: &csi.CapacityRange{}})
		}, codes.InvalidArgument},
		{"expand: required above limit", func(ctx context.Context) (any, error) {
			return c.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: vol, CapacityRange: &csi.CapacityRange{RequiredBytes: 3 << 30, LimitBytes: 2 << 30}})
		}, codes.OutOfRange},
		{"expand: shrink", func(ctx context.Context) (any, error) {
			return c.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: vol, CapacityRange: &csi.CapacityRange{LimitBytes: 1 << 20}})
		}, codes.OutOfRange},
		{"expand: bad capability", func(ctx context.Context) (any, error) {
			return c.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: vol, CapacityRange: &csi.CapacityRange{RequiredBytes: 2 << 30}, VolumeCapability: noMode})
		}, codes.InvalidArgument},
		{"expand: multi-node on a single-node volume", func(ctx context.Context) (any, error) {
			return c.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: vol, CapacityRange: &csi.CapacityRange{RequiredBytes: 2 << 30}, VolumeCapability: blockCap(mnw)})
		}, codes.InvalidArgument},
		{"expand: unknown volume", func(ctx context.Context) (any, error) {
			return c.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: "nope", CapacityRange: &csi.CapacityRange{RequiredBytes: 2 << 30}})
		}, codes.NotFound},
		{"expand: more than its pool could hold", func(ctx context.Context) (any, error) {
			return c.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: vol, CapacityRange: &csi.CapacityRange{RequiredBytes: 1 << 50}})
		}, codes.InvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.call(context.Background())
			if got := status.Code(err); got != tc.want {
				t.Fatalf("code %v (%v), want %v", got, err, tc.want)
			}
			if status.Convert(err).Message() == "" {
				t.Errorf("%v without a message", tc.want)
			}
		})
	}
}
