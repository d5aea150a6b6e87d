package fcdriver

import (
	"context"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
)

// Node is the stand-in for the driver's node plugin: it names its node
// (an id of Config.Nodes) and says yes to the clean-up calls csi-sanity
// makes; it mounts nothing.
type Node struct {
	csi.UnimplementedNodeServer
	ID string
}

// RegisterNode adds n's Node service to g (beside a Driver's Identity).
func RegisterNode(g *grpc.Server, n *Node) { csi.RegisterNodeServer(g, n) }

// NodeGetInfo names the node, without topology.
func (n *Node) NodeGetInfo(context.Context, *csi.NodeGetInfoRequest) (*csi.NodeGetInfoResponse, error) {
	return &csi.NodeGetInfoResponse{NodeId: n.ID}, nil
}

// NodeGetCapabilities: none (no staging).
func (n *Node) NodeGetCapabilities(context.Context, *csi.NodeGetCapabilitiesRequest) (*csi.NodeGetCapabilitiesResponse, error) {
	return &csi.NodeGetCapabilitiesResponse{}, nil
}

// NodeUnpublishVolume has nothing to unmount.
func (n *Node) NodeUnpublishVolume(context.Context, *csi.NodeUnpublishVolumeRequest) (*csi.NodeUnpublishVolumeResponse, error) {
	return &csi.NodeUnpublishVolumeResponse{}, nil
}
