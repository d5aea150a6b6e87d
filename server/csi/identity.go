package csi

import (
	"context"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// GetPluginInfo names the plugin.
func (s *Server) GetPluginInfo(context.Context, *csi.GetPluginInfoRequest) (*csi.GetPluginInfoResponse, error) {
	return &csi.GetPluginInfoResponse{Name: PluginName, VendorVersion: s.cfg.Version}, nil
}

// GetPluginCapabilities: a controller whose volumes are reachable from one
// site each, and that grows LUNs while they are presented (arrays extend a
// LUN online; the host rescans).
func (s *Server) GetPluginCapabilities(context.Context, *csi.GetPluginCapabilitiesRequest) (*csi.GetPluginCapabilitiesResponse, error) {
	service := func(t csi.PluginCapability_Service_Type) *csi.PluginCapability {
		return &csi.PluginCapability{Type: &csi.PluginCapability_Service_{Service: &csi.PluginCapability_Service{Type: t}}}
	}
	return &csi.GetPluginCapabilitiesResponse{Capabilities: []*csi.PluginCapability{
		service(csi.PluginCapability_Service_CONTROLLER_SERVICE),
		service(csi.PluginCapability_Service_VOLUME_ACCESSIBILITY_CONSTRAINTS),
		{Type: &csi.PluginCapability_VolumeExpansion_{VolumeExpansion: &csi.PluginCapability_VolumeExpansion{
			Type: csi.PluginCapability_VolumeExpansion_ONLINE}}},
	}}, nil
}

// Probe reports readiness as a value, not an error: a plugin still loading
// its inventory is healthy, just not ready.
func (s *Server) Probe(context.Context, *csi.ProbeRequest) (*csi.ProbeResponse, error) {
	ready, why := s.mob.Readiness()
	if s.cfg.Ready != nil {
		ok, more := s.cfg.Ready()
		ready, why = ready && ok, append(why, more...)
	}
	if !ready {
		s.log.WithField("waiting", why).Debug("csi: probe: not ready")
	}
	return &csi.ProbeResponse{Ready: wrapperspb.Bool(ready)}, nil
}
