package csi

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/sirupsen/logrus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/inventory"
	"github.com/sanmob/sanmob/mobility"
)

// Volume context keys: what a node needs to find the LUN without asking.
const (
	ctxArray     = "array"
	ctxPool      = "pool"
	ctxVolumeWWN = "volumeWWN"
	ctxThin      = "thin"
)

// ControllerGetCapabilities lists API.md's capabilities.
func (s *Server) ControllerGetCapabilities(context.Context, *csi.ControllerGetCapabilitiesRequest) (*csi.ControllerGetCapabilitiesResponse, error) {
	var out []*csi.ControllerServiceCapability
	for _, t := range []csi.ControllerServiceCapability_RPC_Type{
		csi.ControllerServiceCapability_RPC_CREATE_DELETE_VOLUME,
		csi.ControllerServiceCapability_RPC_PUBLISH_UNPUBLISH_VOLUME,
		csi.ControllerServiceCapability_RPC_LIST_VOLUMES,
		csi.ControllerServiceCapability_RPC_LIST_VOLUMES_PUBLISHED_NODES,
		csi.ControllerServiceCapability_RPC_GET_CAPACITY,
		csi.ControllerServiceCapability_RPC_CREATE_DELETE_SNAPSHOT,
		csi.ControllerServiceCapability_RPC_LIST_SNAPSHOTS,
		csi.ControllerServiceCapability_RPC_EXPAND_VOLUME,
		csi.ControllerServiceCapability_RPC_GET_VOLUME,
		csi.ControllerServiceCapability_RPC_SINGLE_NODE_MULTI_WRITER,
	} {
		out = append(out, &csi.ControllerServiceCapability{Type: &csi.ControllerServiceCapability_Rpc{
			Rpc: &csi.ControllerServiceCapability_RPC{Type: t}}})
	}
	return &csi.ControllerGetCapabilitiesResponse{Capabilities: out}, nil
}

// CreateVolume provisions a LUN. Idempotent by name: a volume of that name
// that satisfies the request is returned; one that does not is
// ALREADY_EXISTS. Accessibility requirements choose the site: the preferred
// sites first, then the other requisite ones, moving on when a site has no
// capacity.
func (s *Server) CreateVolume(ctx context.Context, req *csi.CreateVolumeRequest) (*csi.CreateVolumeResponse, error) {
	name := req.GetName()
	if err := required("name", name); err != nil {
		return nil, err
	}
	multiNode, err := checkCapabilities(req.GetVolumeCapabilities())
	if err != nil {
		return nil, err
	}
	size, _, err := sizeRange(req.GetCapacityRange(), defaultVolumeBytes)
	if err != nil {
		return nil, err
	}
	p, err := parsePlacement(req.GetParameters())
	if err != nil {
		return nil, err
	}
	if len(req.GetMutableParameters()) > 0 {
		return nil, invalid("mutable_parameters are not supported (no MODIFY_VOLUME capability)")
	}
	fromSnapshot := ""
	if src := req.GetVolumeContentSource(); src != nil {
		snap := src.GetSnapshot()
		if snap == nil {
			return nil, s.refuseSource(src)
		}
		sn, err := s.mob.Snapshot(snap.GetSnapshotId())
		if errors.Is(err, mobility.ErrNotFound) || snap.GetSnapshotId() == "" {
			return nil, status.Errorf(codes.NotFound, "volume_content_source: snapshot %q not found", snap.GetSnapshotId())
		}
		if err != nil {
			return nil, err
		}
		fromSnapshot = sn.ID
		if req.GetCapacityRange() == nil {
			size = 0 // the snapshot's source size
		}
	}
	sites := s.arraySites()
	paramSite := p.Site
	if as, ok := sites[p.Array]; ok && p.Array != "" {
		if p.Site != "" && p.Site != as {
			return nil, invalid("parameters: array %q is in site %q, not %q", p.Array, as, p.Site)
		}
		paramSite = as
	}
	candidates, err := candidateSites(req.GetAccessibilityRequirements(), paramSite, func(site string) bool {
		return hasSite(sites, site)
	})
	if err != nil {
		return nil, err
	}

	release, err := s.busy.acquire("volume name " + strconv.Quote(name))
	if err != nil {
		return nil, err
	}
	defer release()
	v, err := s.mob.VolumeByName(name)
	switch {
	case err == nil:
		if v.FromSnapshot != fromSnapshot {
			return nil, status.Errorf(codes.AlreadyExists, "volume %q exists as %s, made from snapshot %q, not %q", name, v.ID, v.FromSnapshot, fromSnapshot)
		}
		if why := incompatible(v, sites[v.Array], req.GetCapacityRange(), p, multiNode, candidates); why != "" {
			return nil, status.Errorf(codes.AlreadyExists, "volume %q exists as %s, which %s", name, v.ID, why)
		}
		return &csi.CreateVolumeResponse{Volume: csiVolume(v, sites[v.Array])}, nil
	case !errors.Is(err, mobility.ErrNotFound):
		return nil, err
	}

	spec := mobility.VolumeSpec{Name: name, SizeBytes: size, Site: p.Site, Array: p.Array, Pool: p.Pool, Thin: p.Thin, MultiNode: multiNode, FromSnapshot: fromSnapshot}
	if candidates == nil {
		candidates = []string{p.Site}
	}
	for i, site := range candidates {
		spec.Site = site
		v, err = s.mob.CreateVolume(ctx, spec)
		if err == nil {
			return &csi.CreateVolumeResponse{Volume: csiVolume(v, sites[v.Array])}, nil
		}
		if !errors.Is(err, array.ErrNoCapacity) || i == len(candidates)-1 {
			break
		}
		s.log.WithFields(logrus.Fields{"name": name, "site": site}).Info("csi: no capacity in this site; trying the next one")
	}
	return nil, err
}

// refuseSource answers a request to clone a volume: NOT_FOUND when the
// source does not exist, INVALID_ARGUMENT otherwise (no CLONE_VOLUME).
func (s *Server) refuseSource(src *csi.VolumeContentSource) error {
	if vol := src.GetVolume(); vol != nil {
		if _, err := s.mob.Volume(vol.GetVolumeId()); errors.Is(err, mobility.ErrNotFound) {
			return status.Errorf(codes.NotFound, "volume_content_source: volume %q not found", vol.GetVolumeId())
		}
		return invalid("volume_content_source: cloning a volume is not supported (no CLONE_VOLUME capability)")
	}
	return invalid("volume_content_source: a snapshot or a volume is required")
}

// incompatible says why an existing volume does not satisfy a create
// request, or "" when it does.
func incompatible(v inventory.Volume, site string, r *csi.CapacityRange, p placement, multiNode bool, candidates []string) string {
	switch {
	case !fits(v.SizeBytes, r):
		return fmt.Sprintf("has %d bytes, outside capacity_range [%d, %d]", v.SizeBytes, r.GetRequiredBytes(), r.GetLimitBytes())
	case multiNode && !v.MultiNode:
		return "was created for single-node access"
	case p.Pool != "" && p.Pool != v.Pool:
		return fmt.Sprintf("is in pool %q", v.Pool)
	case p.Array != "" && p.Array != v.Array:
		return fmt.Sprintf("is on array %q", v.Array)
	case p.Thin != nil && *p.Thin != v.Thin:
		return fmt.Sprintf("has thin=%t", v.Thin)
	case p.Site != "" && p.Site != site, candidates != nil && !slices.Contains(candidates, "") && !slices.Contains(candidates, site):
		return fmt.Sprintf("is in site %q, outside the accessibility requirements", site)
	}
	return ""
}

// csiVolume is a core volume as CSI shows it.
func csiVolume(v inventory.Volume, site string) *csi.Volume {
	return &csi.Volume{
		VolumeId:      v.ID,
		CapacityBytes: v.SizeBytes,
		VolumeContext: map[string]string{
			ctxArray: v.Array, ctxPool: v.Pool, ctxVolumeWWN: v.WWN, ctxThin: strconv.FormatBool(v.Thin),
		},
		AccessibleTopology: siteTopology(site),
		ContentSource:      contentSource(v),
	}
}

func contentSource(v inventory.Volume) *csi.VolumeContentSource {
	if v.FromSnapshot == "" {
		return nil
	}
	return &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
		Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: v.FromSnapshot}}}
}

// arraySites maps array ids to their sites: a volume is reachable from its
// array's site.
func (s *Server) arraySites() map[string]string {
	out := map[string]string{}
	for _, a := range s.mob.Arrays() {
		out[a.ID] = a.Site
	}
	return out
}

// hasSite reports whether any array lives in site.
func hasSite(arraySites map[string]string, site string) bool {
	for _, s := range arraySites {
		if s == site {
			return true
		}
	}
	return false
}

// DeleteVolume deletes a volume; one already gone is success.
func (s *Server) DeleteVolume(ctx context.Context, req *csi.DeleteVolumeRequest) (*csi.DeleteVolumeResponse, error) {
	id := req.GetVolumeId()
	if err := required("volume_id", id); err != nil {
		return nil, err
	}
	release, err := s.busy.acquire(volumeKey(id))
	if err != nil {
		return nil, err
	}
	defer release()
	if err := s.mob.DeleteVolume(ctx, id); err != nil && !errors.Is(err, mobility.ErrNotFound) {
		return nil, err
	}
	return &csi.DeleteVolumeResponse{}, nil
}

// ControllerPublishVolume masks the volume to the node (a host or a VM) and
// zones its initiators; the publish context tells the node which LUN to
// find.
func (s *Server) ControllerPublishVolume(ctx context.Context, req *csi.ControllerPublishVolumeRequest) (*csi.ControllerPublishVolumeResponse, error) {
	id, node := req.GetVolumeId(), req.GetNodeId()
	if err := required("volume_id", id); err != nil {
		return nil, err
	}
	if err := required("node_id", node); err != nil {
		return nil, err
	}
	multiNode, err := checkCapability(req.GetVolumeCapability())
	if err != nil {
		return nil, invalid("volume_capability: %s", status.Convert(err).Message())
	}
	if req.GetReadonly() {
		// Masking is read-write; a read-only mount is the node's to make.
		return nil, invalid("readonly is not supported (no PUBLISH_READONLY capability)")
	}
	_, release, err := s.lockedVolume(id, multiNode)
	if err != nil {
		return nil, err
	}
	defer release()
	att, err := s.mob.Attach(ctx, mobility.AttachmentSpec{Volume: id, Node: node})
	if err != nil {
		if errors.Is(err, mobility.ErrConflict) {
			// CSI asks to name the node that holds the volume.
			var others []string
			for _, a := range s.mob.Attachments(id) {
				if a.Node != node {
					others = append(others, a.Node)
				}
			}
			if len(others) > 0 {
				err = fmt.Errorf("%w (published to node %s)", err, strings.Join(others, ", "))
			}
		}
		return nil, err
	}
	return &csi.ControllerPublishVolumeResponse{PublishContext: att.PublishContext}, nil
}

// ControllerUnpublishVolume undoes publishing, to one node or (no node_id)
// to every node. A volume or node that no longer exists is unpublished.
func (s *Server) ControllerUnpublishVolume(ctx context.Context, req *csi.ControllerUnpublishVolumeRequest) (*csi.ControllerUnpublishVolumeResponse, error) {
	id := req.GetVolumeId()
	if err := required("volume_id", id); err != nil {
		return nil, err
	}
	release, err := s.busy.acquire(volumeKey(id))
	if err != nil {
		return nil, err
	}
	defer release()
	nodes := []string{req.GetNodeId()}
	if req.GetNodeId() == "" {
		nodes = nil
		for _, a := range s.mob.Attachments(id) {
			nodes = append(nodes, a.Node)
		}
	}
	for _, n := range nodes {
		if err := s.mob.Detach(ctx, id, n); err != nil && !errors.Is(err, mobility.ErrNotFound) {
			return nil, err
		}
	}
	return &csi.ControllerUnpublishVolumeResponse{}, nil
}

// ValidateVolumeCapabilities confirms capabilities (and parameters and
// context, when given) that the volume serves; otherwise it says why not.
func (s *Server) ValidateVolumeCapabilities(ctx context.Context, req *csi.ValidateVolumeCapabilitiesRequest) (*csi.ValidateVolumeCapabilitiesResponse, error) {
	id := req.GetVolumeId()
	if err := required("volume_id", id); err != nil {
		return nil, err
	}
	multiNode, err := checkCapabilities(req.GetVolumeCapabilities())
	if err != nil {
		return nil, err
	}
	v, err := s.mob.Volume(id)
	if err != nil {
		return nil, err
	}
	site := s.arraySites()[v.Array]
	why := ""
	if p, err := parsePlacement(req.GetParameters()); err != nil {
		why = status.Convert(err).Message()
	} else {
		why = incompatible(v, site, nil, p, multiNode, nil)
	}
	if why == "" && len(req.GetMutableParameters()) > 0 {
		why = "mutable_parameters are not supported"
	}
	if why == "" {
		want := csiVolume(v, site).GetVolumeContext()
		for k, got := range req.GetVolumeContext() {
			if w, ok := want[k]; ok && w != got {
				why = fmt.Sprintf("volume_context[%s] is %q, not %q", k, w, got)
				break
			}
		}
	}
	if why != "" {
		return &csi.ValidateVolumeCapabilitiesResponse{Message: fmt.Sprintf("volume %s %s", id, why)}, nil
	}
	return &csi.ValidateVolumeCapabilitiesResponse{Confirmed: &csi.ValidateVolumeCapabilitiesResponse_Confirmed{
		VolumeContext:      req.GetVolumeContext(),
		VolumeCapabilities: req.GetVolumeCapabilities(),
		Parameters:         req.GetParameters(),
		MutableParameters:  req.GetMutableParameters(),
	}}, nil
}

// ListVolumes pages through every volume in id order, with the nodes each
// is published to.
func (s *Server) ListVolumes(ctx context.Context, req *csi.ListVolumesRequest) (*csi.ListVolumesResponse, error) {
	vols := s.mob.Volumes(inventory.VolumeFilter{})
	page, next, err := paginate(tokenVolumes, vols, func(v inventory.Volume) string { return v.ID }, req.GetStartingToken(), req.GetMaxEntries())
	if err != nil {
		return nil, err
	}
	nodes := publishedNodes(s.mob.Attachments(""))
	sites := s.arraySites()
	out := &csi.ListVolumesResponse{NextToken: next, Entries: make([]*csi.ListVolumesResponse_Entry, 0, len(page))}
	for _, v := range page {
		out.Entries = append(out.Entries, &csi.ListVolumesResponse_Entry{
			Volume: csiVolume(v, sites[v.Array]),
			Status: &csi.ListVolumesResponse_VolumeStatus{PublishedNodeIds: nodes[v.ID]},
		})
	}
	return out, nil
}

func publishedNodes(atts []mobility.Attachment) map[string][]string {
	out := map[string][]string{}
	for _, a := range atts {
		out[a.Volume] = append(out[a.Volume], a.Node)
	}
	return out
}

// ControllerGetVolume returns one volume and the nodes it is published to.
// (CSI 1.13 removed the volume condition this call used to carry.)
func (s *Server) ControllerGetVolume(ctx context.Context, req *csi.ControllerGetVolumeRequest) (*csi.ControllerGetVolumeResponse, error) {
	id := req.GetVolumeId()
	if err := required("volume_id", id); err != nil {
		return nil, err
	}
	v, err := s.mob.Volume(id)
	if err != nil {
		return nil, err
	}
	return &csi.ControllerGetVolumeResponse{
		Volume: csiVolume(v, s.arraySites()[v.Array]),
		Status: &csi.ControllerGetVolumeResponse_VolumeStatus{PublishedNodeIds: publishedNodes(s.mob.Attachments(id))[id]},
	}, nil
}

// GetCapacity reports what the placement the parameters and topology
// narrow to can still take: thin-aware free space of the best pool.
func (s *Server) GetCapacity(ctx context.Context, req *csi.GetCapacityRequest) (*csi.GetCapacityResponse, error) {
	if len(req.GetVolumeCapabilities()) > 0 {
		if _, err := checkCapabilities(req.GetVolumeCapabilities()); err != nil {
			return nil, err
		}
	}
	p, err := parsePlacement(req.GetParameters())
	if err != nil {
		return nil, err
	}
	if t := req.GetAccessibleTopology(); t != nil {
		sites, err := topologySites("accessible_topology", []*csi.Topology{t})
		if err != nil {
			return nil, err
		}
		// A segment no array lives in can take nothing: zero, not an
		// error, as a CO asks about every segment its nodes report.
		if (p.Site != "" && p.Site != sites[0]) || !hasSite(s.arraySites(), sites[0]) {
			return &csi.GetCapacityResponse{MaximumVolumeSize: wrapperspb.Int64(0)}, nil
		}
		p.Site = sites[0]
	}
	c, err := s.mob.Capacity(mobility.CapacitySpec{Site: p.Site, Array: p.Array, Pool: p.Pool, Thin: p.Thin})
	if err != nil {
		return nil, err
	}
	return &csi.GetCapacityResponse{AvailableCapacity: c.AvailableBytes, MaximumVolumeSize: wrapperspb.Int64(c.MaximumVolumeBytes)}, nil
}

// ControllerExpandVolume grows a volume to the capacity range; a volume
// already big enough is left as it is, and shrinking is OUT_OF_RANGE.
func (s *Server) ControllerExpandVolume(ctx context.Context, req *csi.ControllerExpandVolumeRequest) (*csi.ControllerExpandVolumeResponse, error) {
	id := req.GetVolumeId()
	if err := required("volume_id", id); err != nil {
		return nil, err
	}
	if req.GetCapacityRange() == nil {
		return nil, invalid("capacity_range is required")
	}
	r := req.GetCapacityRange()
	if r.GetRequiredBytes() == 0 && r.GetLimitBytes() == 0 {
		return nil, invalid("capacity_range: required_bytes or limit_bytes is required")
	}
	size, limit, err := sizeRange(r, r.GetLimitBytes())
	if err != nil {
		return nil, err
	}
	multiNode := false
	if c := req.GetVolumeCapability(); c != nil {
		if multiNode, err = checkCapability(c); err != nil {
			return nil, invalid("volume_capability: %s", status.Convert(err).Message())
		}
	}
	v, release, err := s.lockedVolume(id, multiNode)
	if err != nil {
		return nil, err
	}
	defer release()
	if limit > 0 && v.SizeBytes > limit {
		return nil, status.Errorf(codes.OutOfRange, "volume %s has %d bytes, more than limit_bytes %d: volumes do not shrink", id, v.SizeBytes, limit)
	}
	if v.SizeBytes < size {
		if v, err = s.mob.ExpandVolume(ctx, id, size); err != nil {
			return nil, err
		}
	}
	// A block device is grown once the array grows it; a filesystem on it
	// needs the node to grow it too. Without a capability, ask the node:
	// a needless NodeExpandVolume is harmless, a missing one is not.
	nodeExpand := req.GetVolumeCapability().GetBlock() == nil
	return &csi.ControllerExpandVolumeResponse{CapacityBytes: v.SizeBytes, NodeExpansionRequired: nodeExpand}, nil
}

func volumeKey(id string) string { return "volume " + strconv.Quote(id) }

// lockedVolume takes the volume's call lock (ABORTED while another call on
// it runs) and returns the volume, refusing a multi-node capability on a
// volume created for single-node access. The caller releases.
func (s *Server) lockedVolume(id string, multiNode bool) (inventory.Volume, func(), error) {
	release, err := s.busy.acquire(volumeKey(id))
	if err != nil {
		return inventory.Volume{}, nil, err
	}
	v, err := s.mob.Volume(id)
	if err == nil && multiNode && !v.MultiNode {
		err = invalid("volume %s was created for single-node access; volume_capability asks for multi-node", id)
	}
	if err != nil {
		release()
		return inventory.Volume{}, nil, err
	}
	return v, release, nil
}
