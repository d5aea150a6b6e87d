package fcdriver

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// defaultVolumeBytes is the size of a volume asked for without a capacity
// range.
const defaultVolumeBytes int64 = 1 << 30

// Volume context keys.
const (
	ctxWWN = "wwn"
)

// Publish context keys: what the node plugin needs to find the LUN.
const (
	PubLUN     = "lun"
	PubTargets = "targetWWPNs" // comma-separated: the targets the claim reached
	PubFabrics = "fabrics"     // comma-separated: the fabrics it zoned
)

// k8sParamPrefix marks the parameters Kubernetes' sidecars add.
const k8sParamPrefix = "csi.storage.k8s.io/"

// listToken prefixes ListVolumes' tokens: the id the next page starts at.
const listToken = "after:"

func invalid(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

// ControllerGetCapabilities lists what this controller does.
func (d *Driver) ControllerGetCapabilities(context.Context, *csi.ControllerGetCapabilitiesRequest) (*csi.ControllerGetCapabilitiesResponse, error) {
	var out []*csi.ControllerServiceCapability
	for _, t := range []csi.ControllerServiceCapability_RPC_Type{
		csi.ControllerServiceCapability_RPC_CREATE_DELETE_VOLUME,
		csi.ControllerServiceCapability_RPC_PUBLISH_UNPUBLISH_VOLUME,
		csi.ControllerServiceCapability_RPC_PUBLISH_READONLY,
		csi.ControllerServiceCapability_RPC_LIST_VOLUMES,
		csi.ControllerServiceCapability_RPC_LIST_VOLUMES_PUBLISHED_NODES,
		csi.ControllerServiceCapability_RPC_GET_CAPACITY,
	} {
		out = append(out, &csi.ControllerServiceCapability{Type: &csi.ControllerServiceCapability_Rpc{
			Rpc: &csi.ControllerServiceCapability_RPC{Type: t}}})
	}
	return &csi.ControllerGetCapabilitiesResponse{Capabilities: out}, nil
}

// checkCapability validates one capability (block or mount, a known access
// mode) and says whether it lets several nodes use the volume.
func checkCapability(c *csi.VolumeCapability) (multiNode bool, err error) {
	if c == nil {
		return false, invalid("volume_capability is required")
	}
	if c.GetBlock() == nil && c.GetMount() == nil {
		return false, invalid("access_type must be block or mount")
	}
	switch m := c.GetAccessMode().GetMode(); m {
	case csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER,
		csi.VolumeCapability_AccessMode_SINGLE_NODE_READER_ONLY,
		csi.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER,
		csi.VolumeCapability_AccessMode_SINGLE_NODE_MULTI_WRITER:
		return false, nil
	case csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY,
		csi.VolumeCapability_AccessMode_MULTI_NODE_SINGLE_WRITER,
		csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER:
		return true, nil
	case csi.VolumeCapability_AccessMode_UNKNOWN:
		return false, invalid("access_mode is required")
	default:
		return false, invalid("access_mode %v is not supported", m)
	}
}

func checkCapabilities(caps []*csi.VolumeCapability) (multiNode bool, err error) {
	if len(caps) == 0 {
		return false, invalid("volume_capabilities are required")
	}
	for i, c := range caps {
		m, err := checkCapability(c)
		if err != nil {
			return false, invalid("volume_capabilities[%d]: %s", i, status.Convert(err).Message())
		}
		multiNode = multiNode || m
	}
	return multiNode, nil
}

// checkParams refuses parameters the driver does not know: it has none of
// its own.
func checkParams(params map[string]string) error {
	for _, k := range slices.Sorted(maps.Keys(params)) {
		if !strings.HasPrefix(k, k8sParamPrefix) {
			return invalid("parameters: unknown key %q (this driver takes none)", k)
		}
	}
	return nil
}

// sizeOf validates a capacity range and returns the size to make.
func sizeOf(r *csi.CapacityRange) (int64, error) {
	req, lim := r.GetRequiredBytes(), r.GetLimitBytes()
	switch {
	case req < 0 || lim < 0:
		return 0, invalid("capacity_range: required_bytes %d and limit_bytes %d must not be negative", req, lim)
	case lim > 0 && req > lim:
		return 0, status.Errorf(codes.OutOfRange, "capacity_range: required_bytes %d exceeds limit_bytes %d", req, lim)
	case req > 0:
		return req, nil
	case lim > 0:
		return min(defaultVolumeBytes, lim), nil
	}
	return defaultVolumeBytes, nil
}

func fits(size int64, r *csi.CapacityRange) bool {
	return size >= r.GetRequiredBytes() && (r.GetLimitBytes() == 0 || size <= r.GetLimitBytes())
}

func csiVolume(v Volume) *csi.Volume {
	return &csi.Volume{VolumeId: v.ID, CapacityBytes: v.SizeBytes, VolumeContext: map[string]string{ctxWWN: v.WWN}}
}

// CreateVolume makes a LUN on the array, idempotent by name: a volume of
// that name that fits the request is returned, one that does not is
// ALREADY_EXISTS.
func (d *Driver) CreateVolume(ctx context.Context, req *csi.CreateVolumeRequest) (*csi.CreateVolumeResponse, error) {
	name := req.GetName()
	if name == "" {
		return nil, invalid("name is required")
	}
	multiNode, err := checkCapabilities(req.GetVolumeCapabilities())
	if err != nil {
		return nil, err
	}
	size, err := sizeOf(req.GetCapacityRange())
	if err != nil {
		return nil, err
	}
	if err := checkParams(req.GetParameters()); err != nil {
		return nil, err
	}
	if len(req.GetMutableParameters()) > 0 {
		return nil, invalid("mutable_parameters are not supported")
	}
	if req.GetVolumeContentSource() != nil {
		return nil, invalid("volume_content_source: snapshots and clones are not supported")
	}
	v, existed, err := d.array.Create(name, size, multiNode)
	switch {
	case errors.Is(err, ErrNoCapacity):
		return nil, status.Errorf(codes.ResourceExhausted, "array: %v", err)
	case err != nil:
		return nil, status.Errorf(codes.Internal, "array: %v", err)
	case existed && !fits(v.SizeBytes, req.GetCapacityRange()):
		return nil, status.Errorf(codes.AlreadyExists, "volume %q exists as %s with %d bytes, outside capacity_range [%d, %d]",
			name, v.ID, v.SizeBytes, req.GetCapacityRange().GetRequiredBytes(), req.GetCapacityRange().GetLimitBytes())
	case existed && multiNode && !v.MultiNode:
		return nil, status.Errorf(codes.AlreadyExists, "volume %q exists as %s, created for single-node access", name, v.ID)
	}
	return &csi.CreateVolumeResponse{Volume: csiVolume(v)}, nil
}

// DeleteVolume deletes a LUN; one already gone is success, one still
// published is FAILED_PRECONDITION.
func (d *Driver) DeleteVolume(ctx context.Context, req *csi.DeleteVolumeRequest) (*csi.DeleteVolumeResponse, error) {
	id := req.GetVolumeId()
	if id == "" {
		return nil, invalid("volume_id is required")
	}
	release, err := d.locks.lock(ctx, id)
	if err != nil {
		return nil, status.FromContextError(err).Err()
	}
	defer release()
	switch err := d.array.Delete(id); {
	case errors.Is(err, ErrNoVolume):
	case errors.Is(err, ErrMapped):
		return nil, status.Errorf(codes.FailedPrecondition, "array: %v", err)
	case err != nil:
		return nil, status.Errorf(codes.Internal, "array: %v", err)
	}
	return &csi.DeleteVolumeResponse{}, nil
}

// ValidateVolumeCapabilities confirms the capabilities a volume serves.
func (d *Driver) ValidateVolumeCapabilities(ctx context.Context, req *csi.ValidateVolumeCapabilitiesRequest) (*csi.ValidateVolumeCapabilitiesResponse, error) {
	id := req.GetVolumeId()
	if id == "" {
		return nil, invalid("volume_id is required")
	}
	multiNode, err := checkCapabilities(req.GetVolumeCapabilities())
	if err != nil {
		return nil, err
	}
	v, ok := d.array.Volume(id)
	if !ok {
		return nil, status.Errorf(codes.NotFound, "volume %s not found", id)
	}
	why := ""
	switch {
	case multiNode && !v.MultiNode:
		why = "was created for single-node access"
	case checkParams(req.GetParameters()) != nil:
		why = status.Convert(checkParams(req.GetParameters())).Message()
	case len(req.GetMutableParameters()) > 0:
		why = "takes no mutable_parameters"
	}
	for k, got := range req.GetVolumeContext() {
		if want, ok := csiVolume(v).GetVolumeContext()[k]; why == "" && ok && want != got {
			why = fmt.Sprintf("has volume_context[%s] %q, not %q", k, want, got)
		}
	}
	if why != "" {
		return &csi.ValidateVolumeCapabilitiesResponse{Message: "volume " + id + " " + why}, nil
	}
	return &csi.ValidateVolumeCapabilitiesResponse{Confirmed: &csi.ValidateVolumeCapabilitiesResponse_Confirmed{
		VolumeContext: req.GetVolumeContext(), VolumeCapabilities: req.GetVolumeCapabilities(), Parameters: req.GetParameters(),
	}}, nil
}

// ListVolumes pages through the volumes by id, with the nodes each is
// published to. A token is "after:<id>": the page starts at the first id
// past it, so deletions between pages skip nothing.
func (d *Driver) ListVolumes(ctx context.Context, req *csi.ListVolumesRequest) (*csi.ListVolumesResponse, error) {
	if req.GetMaxEntries() < 0 {
		return nil, invalid("max_entries %d must not be negative", req.GetMaxEntries())
	}
	after, ok := "", true
	if t := req.GetStartingToken(); t != "" {
		if after, ok = strings.CutPrefix(t, listToken); !ok || after == "" {
			return nil, status.Errorf(codes.Aborted, "starting_token %q is not one this driver gave", t)
		}
	}
	published := map[string][]string{}
	for _, m := range d.array.Maps("") {
		published[m.Volume] = append(published[m.Volume], m.Node)
	}
	out := &csi.ListVolumesResponse{}
	for _, v := range d.array.Volumes() {
		if after != "" && v.ID <= after {
			continue
		}
		if n := req.GetMaxEntries(); n > 0 && len(out.Entries) == int(n) {
			out.NextToken = listToken + out.Entries[n-1].Volume.VolumeId
			break
		}
		out.Entries = append(out.Entries, &csi.ListVolumesResponse_Entry{
			Volume: csiVolume(v),
			Status: &csi.ListVolumesResponse_VolumeStatus{PublishedNodeIds: published[v.ID]},
		})
	}
	return out, nil
}

// GetCapacity is the array's free space.
func (d *Driver) GetCapacity(ctx context.Context, req *csi.GetCapacityRequest) (*csi.GetCapacityResponse, error) {
	if len(req.GetVolumeCapabilities()) > 0 {
		if _, err := checkCapabilities(req.GetVolumeCapabilities()); err != nil {
			return nil, err
		}
	}
	if err := checkParams(req.GetParameters()); err != nil {
		return nil, err
	}
	total, used := d.array.Capacity()
	return &csi.GetCapacityResponse{AvailableCapacity: total - used, MaximumVolumeSize: wrapperspb.Int64(total - used)}, nil
}
