package csi

import (
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const (
	// TopologyKeySite is the one accessible-topology segment sanmob
	// reports: the site (data center) whose fabrics reach a volume's array.
	TopologyKeySite = "topology.sanmob.io/site"

	// defaultVolumeBytes is the size of a volume asked for without a
	// capacity range.
	defaultVolumeBytes int64 = 1 << 30

	// CreateVolume parameters (API.md).
	paramPool  = "pool"
	paramArray = "array"
	paramSite  = "site"
	paramThin  = "thin"
	// k8sParamPrefix marks the parameters Kubernetes' sidecars add
	// (--extra-create-metadata: PVC name and namespace); they carry no
	// meaning for placement and are accepted as they are.
	k8sParamPrefix = "csi.storage.k8s.io/"
)

func invalid(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

func required(field, value string) error {
	if value == "" {
		return invalid("%s is required", field)
	}
	return nil
}

// checkCapabilities validates volume capabilities and says whether any asks
// for access from several nodes at once.
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

// checkCapability validates one capability: block or mount, with a known
// access mode. A LUN serves every mode; whether several nodes may write is
// the node side's filesystem's business (VMFS is clustered).
func checkCapability(c *csi.VolumeCapability) (multiNode bool, err error) {
	if c == nil {
		return false, invalid("volume_capability is required")
	}
	if c.GetBlock() == nil && c.GetMount() == nil {
		return false, invalid("access_type must be block or mount")
	}
	switch c.GetAccessMode().GetMode() {
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
	}
	return false, invalid("access_mode %v is not supported", c.GetAccessMode().GetMode())
}

// sizeRange validates a capacity range and returns the size to ask for and
// the limit (0: none). An unsatisfiable range is OUT_OF_RANGE.
func sizeRange(r *csi.CapacityRange, dflt int64) (size, limit int64, err error) {
	req, lim := r.GetRequiredBytes(), r.GetLimitBytes()
	switch {
	case req < 0 || lim < 0:
		return 0, 0, invalid("capacity_range: required_bytes %d and limit_bytes %d must not be negative", req, lim)
	case lim > 0 && req > lim:
		return 0, 0, status.Errorf(codes.OutOfRange, "capacity_range: required_bytes %d exceeds limit_bytes %d", req, lim)
	case req > 0:
		return req, lim, nil
	case lim > 0:
		return min(dflt, lim), lim, nil
	}
	return dflt, 0, nil
}

// fits reports whether a size satisfies a capacity range.
func fits(size int64, r *csi.CapacityRange) bool {
	return size >= r.GetRequiredBytes() && (r.GetLimitBytes() == 0 || size <= r.GetLimitBytes())
}

// placement is what CreateVolume and GetCapacity parameters ask for.
type placement struct {
	Site, Array, Pool string
	Thin              *bool
}

func parsePlacement(params map[string]string) (placement, error) {
	var p placement
	for _, k := range slices.Sorted(maps.Keys(params)) {
		v := params[k]
		switch {
		case k == paramPool:
			p.Pool = v
		case k == paramArray:
			p.Array = v
		case k == paramSite:
			p.Site = v
		case k == paramThin:
			b, err := strconv.ParseBool(v)
			if err != nil {
				return p, invalid("parameters.thin %q: want true or false", v)
			}
			p.Thin = &b
		case strings.HasPrefix(k, k8sParamPrefix):
		default:
			return p, invalid("parameters: unknown key %q (known: pool, array, site, thin)", k)
		}
	}
	return p, nil
}

// checkSnapshotParams refuses parameters: a snapshot has no options.
func checkSnapshotParams(params map[string]string) error {
	for _, k := range slices.Sorted(maps.Keys(params)) {
		if !strings.HasPrefix(k, k8sParamPrefix) {
			return invalid("parameters: unknown key %q (snapshots take none)", k)
		}
	}
	return nil
}

// topologySites returns the sites a topology list names, in order.
func topologySites(field string, ts []*csi.Topology) ([]string, error) {
	var out []string
	for i, t := range ts {
		site, ok := "", false
		for k, v := range t.GetSegments() {
			if k != TopologyKeySite {
				return nil, invalid("%s[%d]: unknown topology key %q (want %s)", field, i, k, TopologyKeySite)
			}
			site, ok = v, true
		}
		if !ok || site == "" {
			return nil, invalid("%s[%d]: segment %s is required", field, i, TopologyKeySite)
		}
		if !slices.Contains(out, site) {
			out = append(out, site)
		}
	}
	return out, nil
}

// candidateSites orders the sites a volume may be placed in: the preferred
// ones first, then the rest of the requisite ones (CSI's
// TopologyRequirement). nil means anywhere; known filters out sites no array
// lives in, and an empty result means nowhere (RESOURCE_EXHAUSTED).
func candidateSites(req *csi.TopologyRequirement, paramSite string, known func(string) bool) ([]string, error) {
	requisite, err := topologySites("accessibility_requirements.requisite", req.GetRequisite())
	if err != nil {
		return nil, err
	}
	preferred, err := topologySites("accessibility_requirements.preferred", req.GetPreferred())
	if err != nil {
		return nil, err
	}
	var order []string
	switch {
	case len(requisite) > 0:
		for _, s := range preferred {
			if slices.Contains(requisite, s) {
				order = append(order, s)
			}
		}
		for _, s := range requisite {
			if !slices.Contains(order, s) {
				order = append(order, s)
			}
		}
	case len(preferred) > 0:
		order = preferred
	}
	if paramSite != "" {
		if len(requisite) > 0 && !slices.Contains(requisite, paramSite) {
			return nil, status.Errorf(codes.ResourceExhausted, "parameters.site %q is not among the requisite sites %v", paramSite, requisite)
		}
		return []string{paramSite}, nil // an unknown site is the core's INVALID_ARGUMENT
	}
	if order == nil {
		return nil, nil
	}
	var out []string
	for _, s := range order {
		if known(s) {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil, status.Errorf(codes.ResourceExhausted, "no array lives in the sites %v", order)
	}
	if len(requisite) == 0 {
		out = append(out, "") // preferred only: anywhere else after them
	}
	return out, nil
}

func siteTopology(site string) []*csi.Topology {
	if site == "" {
		return nil
	}
	return []*csi.Topology{{Segments: map[string]string{TopologyKeySite: site}}}
}
