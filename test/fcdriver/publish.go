package fcdriver

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sanmob/sanmob/client"
)

// undoTimeout bounds the release of a claim a failed publish made, which
// runs even when the call's own context has ended.
const undoTimeout = 10 * time.Second

// ControllerPublishVolume maps the volume to the node's initiator group on
// the array, then claims zoning for the node's initiators and the array's
// targets through sanmob. When the claim fails, the map this call made is
// undone (and the claim released, in case sanmob applied it before the
// answer was lost), and the error says what sanmob said.
//
// Repeating a publish with the same arguments claims again (a no-op for
// sanmob, and a repair when the zones went) and returns the same context;
// with another readonly it is ALREADY_EXISTS. A single-node volume
// published to another node is FAILED_PRECONDITION.
func (d *Driver) ControllerPublishVolume(ctx context.Context, req *csi.ControllerPublishVolumeRequest) (*csi.ControllerPublishVolumeResponse, error) {
	vol, node := req.GetVolumeId(), req.GetNodeId()
	if vol == "" {
		return nil, invalid("volume_id is required")
	}
	if node == "" {
		return nil, invalid("node_id is required")
	}
	multiNode, err := checkCapability(req.GetVolumeCapability())
	if err != nil {
		return nil, invalid("volume_capability: %s", status.Convert(err).Message())
	}
	release, err := d.locks.lock(ctx, vol)
	if err != nil {
		return nil, status.FromContextError(err).Err()
	}
	defer release()

	v, ok := d.array.Volume(vol)
	if !ok {
		return nil, status.Errorf(codes.NotFound, "volume %s not found", vol)
	}
	initiators, ok := d.nodes[node]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "node %s not found", node)
	}
	if multiNode && !v.MultiNode {
		return nil, invalid("volume %s was created for single-node access; volume_capability asks for multi-node", vol)
	}
	var others []string
	for _, m := range d.array.Maps(vol) {
		switch {
		case m.Node == node && m.ReadOnly != req.GetReadonly():
			return nil, status.Errorf(codes.AlreadyExists, "volume %s is published to node %s with readonly=%t", vol, node, m.ReadOnly)
		case m.Node != node:
			others = append(others, m.Node)
		}
	}
	if len(others) > 0 && !multiNode {
		return nil, status.Errorf(codes.FailedPrecondition, "volume %s is published to node %s; its access mode lets one node use it", vol, strings.Join(others, ", "))
	}

	m, made, err := d.array.Map(vol, node, initiators, req.GetReadonly())
	switch {
	case errors.Is(err, ErrNoLUN):
		return nil, status.Errorf(codes.ResourceExhausted, "array: %v", err)
	case err != nil:
		return nil, status.Errorf(codes.Internal, "array: %v", err)
	}
	key := ClaimKey(vol, node)
	cl, err := d.sanmob.PutClaim(ctx, d.name, key, client.ClaimSpec{Initiators: initiators, Targets: d.array.Targets(), Policy: d.policy})
	if err != nil {
		serr := claimStatus("zoning claim "+d.name+"/"+key, err)
		if made {
			// Undo what this call did, in reverse. The claim may have been
			// applied before its answer was lost; releasing one that is not
			// there is a no-op.
			uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
			defer cancel()
			if derr := d.sanmob.DeleteClaim(uctx, d.name, key); derr != nil {
				s := status.Convert(serr)
				serr = status.Errorf(s.Code(), "%s (releasing the claim again also failed: %v)", s.Message(), derr)
			}
			d.array.Unmap(vol, node)
		}
		return nil, serr
	}
	return &csi.ControllerPublishVolumeResponse{PublishContext: map[string]string{
		PubLUN:     strconv.Itoa(m.LUN),
		PubTargets: strings.Join(reachedTargets(cl), ","),
		PubFabrics: strings.Join(cl.Fabrics, ","),
	}}, nil
}

// reachedTargets are the claim's targets that share a fabric with one of
// its initiators.
func reachedTargets(cl *client.Claim) []string {
	var out []string
	for _, t := range cl.Targets {
		if !slices.ContainsFunc(cl.Unreached, func(u client.Unreached) bool { return u.Role == "target" && u.WWPN == t }) {
			out = append(out, t)
		}
	}
	return out
}

// ControllerUnpublishVolume releases the claim, then unmaps: to one node,
// or (no node_id) to every node the volume is mapped to. When sanmob
// cannot release the claim the map stays, so that a retry finds it and
// finishes. A volume or node the driver does not know is unpublished.
func (d *Driver) ControllerUnpublishVolume(ctx context.Context, req *csi.ControllerUnpublishVolumeRequest) (*csi.ControllerUnpublishVolumeResponse, error) {
	vol := req.GetVolumeId()
	if vol == "" {
		return nil, invalid("volume_id is required")
	}
	release, err := d.locks.lock(ctx, vol)
	if err != nil {
		return nil, status.FromContextError(err).Err()
	}
	defer release()
	if _, ok := d.array.Volume(vol); !ok {
		return &csi.ControllerUnpublishVolumeResponse{}, nil
	}
	nodes := []string{req.GetNodeId()}
	if req.GetNodeId() == "" {
		nodes = nil
		for _, m := range d.array.Maps(vol) {
			nodes = append(nodes, m.Node)
		}
	}
	for _, node := range nodes {
		if _, ok := d.nodes[node]; !ok {
			continue // no claim was ever made for a node the driver does not know
		}
		// A known node is released even without a map: a publish whose
		// claim answer was lost may have left one behind.
		key := ClaimKey(vol, node)
		if err := d.sanmob.DeleteClaim(ctx, d.name, key); err != nil {
			return nil, claimStatus("releasing zoning claim "+d.name+"/"+key, err)
		}
		d.array.Unmap(vol, node)
	}
	return &csi.ControllerUnpublishVolumeResponse{}, nil
}

// claimStatus is the gRPC status of a failed claim call, keeping sanmob's
// words, by the error's class as docs/csi-integration.md tells a driver:
// temporary (503, 429, the network) is UNAVAILABLE, so the CO retries; a
// claim sanmob refuses for the fabric's state (409, 422: the initiators and
// targets share no fabric, a port is logged in nowhere or in the other
// role) is FAILED_PRECONDITION; 404 is NOT_FOUND; a request sanmob finds
// malformed (400) is INVALID_ARGUMENT; the caller's own context ending is
// its code; anything else INTERNAL.
func claimStatus(what string, err error) error {
	code := codes.Internal
	switch client.ClassOf(err) {
	case client.ClassCanceled:
		code = status.FromContextError(err).Code()
	case client.ClassTemporary:
		code = codes.Unavailable
	case client.ClassRefused:
		code = codes.FailedPrecondition
	case client.ClassNotFound:
		code = codes.NotFound
	case client.ClassInvalid:
		code = codes.InvalidArgument
	}
	return status.Error(code, fmt.Sprintf("sanmob: %s: %v", what, err))
}
