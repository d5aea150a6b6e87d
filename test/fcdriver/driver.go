package fcdriver

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/sanmob/sanmob/client"
)

// DefaultName is the driver's CSI name, and the owner of its claims.
const DefaultName = "fc.test.sanmob.io"

// DefaultCapacity is the fake array's size when Config names none.
const DefaultCapacity int64 = 100 << 40

// Config is what New needs.
type Config struct {
	// Name is the driver's CSI name and the owner of its zoning claims
	// (DefaultName when empty).
	Name string
	// Sanmob is the client the claims go through.
	Sanmob *client.Client
	// Targets are the fake array's target port WWPNs.
	Targets []string
	// Nodes maps each node id to its initiator WWPNs: the stand-in for
	// what a vendor's node plugin reports about the host's HBAs.
	Nodes map[string][]string
	// CapacityBytes is the fake array's size (DefaultCapacity when 0).
	CapacityBytes int64
	// Policy is the zoning policy the claims ask for ("sist", "peer"); empty
	// leaves it to each fabric.
	Policy string
}

// Driver is the CSI Identity and Controller services over its Array.
type Driver struct {
	csi.UnimplementedIdentityServer
	csi.UnimplementedControllerServer

	name   string
	sanmob *client.Client
	nodes  map[string][]string
	policy string
	array  *Array
	locks  keyLocks
}

// owner is what sanmob allows as a claim owner (claims-contract.md).
var owner = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$`)

// New checks cfg and builds the driver with an empty array.
func New(cfg Config) (*Driver, error) {
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	if !owner.MatchString(cfg.Name) {
		return nil, fmt.Errorf("fcdriver: name %q is not a valid claim owner", cfg.Name)
	}
	if cfg.Sanmob == nil {
		return nil, errors.New("fcdriver: Config.Sanmob is required")
	}
	if cfg.CapacityBytes == 0 {
		cfg.CapacityBytes = DefaultCapacity
	}
	targets, err := canonicalAll(cfg.Targets)
	if err != nil || len(targets) == 0 {
		return nil, fmt.Errorf("fcdriver: Config.Targets: want at least one WWPN (%v)", err)
	}
	nodes := map[string][]string{}
	for _, id := range slices.Sorted(maps.Keys(cfg.Nodes)) {
		if !validSegment(id) {
			return nil, fmt.Errorf("fcdriver: node id %q cannot be a claim key segment", id)
		}
		inits, err := canonicalAll(cfg.Nodes[id])
		if err != nil || len(inits) == 0 {
			return nil, fmt.Errorf("fcdriver: node %s: want at least one initiator WWPN (%v)", id, err)
		}
		nodes[id] = inits
	}
	return &Driver{
		name: cfg.Name, sanmob: cfg.Sanmob, nodes: nodes, policy: cfg.Policy,
		array: NewArray(targets, cfg.CapacityBytes),
		locks: keyLocks{m: map[string]*keyLock{}},
	}, nil
}

// Name is the driver's CSI name.
func (d *Driver) Name() string { return d.name }

// Array is the driver's fake array.
func (d *Driver) Array() *Array { return d.array }

// ClaimKey is the key of the claim that publishing vol to node makes.
func ClaimKey(vol, node string) string { return vol + "/" + node }

// Register adds the Identity and Controller services to g.
func (d *Driver) Register(g *grpc.Server) {
	csi.RegisterIdentityServer(g, d)
	csi.RegisterControllerServer(g, d)
}

// GetPluginInfo names the driver.
func (d *Driver) GetPluginInfo(context.Context, *csi.GetPluginInfoRequest) (*csi.GetPluginInfoResponse, error) {
	return &csi.GetPluginInfoResponse{Name: d.name, VendorVersion: "0.1.0-test"}, nil
}

// GetPluginCapabilities: a controller, with no topology (every node of the
// table reaches the array's fabrics, as far as the driver knows).
func (d *Driver) GetPluginCapabilities(context.Context, *csi.GetPluginCapabilitiesRequest) (*csi.GetPluginCapabilitiesResponse, error) {
	return &csi.GetPluginCapabilitiesResponse{Capabilities: []*csi.PluginCapability{{
		Type: &csi.PluginCapability_Service_{Service: &csi.PluginCapability_Service{Type: csi.PluginCapability_Service_CONTROLLER_SERVICE}},
	}}}, nil
}

// Probe: the fake array is always there.
func (d *Driver) Probe(context.Context, *csi.ProbeRequest) (*csi.ProbeResponse, error) {
	return &csi.ProbeResponse{Ready: wrapperspb.Bool(true)}, nil
}

// keyLocks serialises the calls on one volume (publish, unpublish, delete)
// so that concurrent and repeated calls see each other's maps and claims.
// A waiter gives up when its context ends.
type keyLocks struct {
	mu sync.Mutex
	m  map[string]*keyLock
}

type keyLock struct {
	ch   chan struct{}
	refs int
}

func (l *keyLocks) lock(ctx context.Context, key string) (func(), error) {
	l.mu.Lock()
	k := l.m[key]
	if k == nil {
		k = &keyLock{ch: make(chan struct{}, 1)}
		l.m[key] = k
	}
	k.refs++
	l.mu.Unlock()
	drop := func() {
		l.mu.Lock()
		if k.refs--; k.refs == 0 {
			delete(l.m, key)
		}
		l.mu.Unlock()
	}
	select {
	case k.ch <- struct{}{}:
		return func() { <-k.ch; drop() }, nil
	case <-ctx.Done():
		drop()
		return nil, ctx.Err()
	}
}

// canonical turns a WWPN in colon, dash or bare hex form into sanmob's
// canonical one: eight lower-case bytes joined by colons.
func canonical(s string) (string, error) {
	h := strings.ToLower(strings.NewReplacer(":", "", "-", "").Replace(strings.TrimSpace(s)))
	if len(h) != 16 {
		return "", fmt.Errorf("WWPN %q: want 8 bytes", s)
	}
	if _, err := strconv.ParseUint(h, 16, 64); err != nil {
		return "", fmt.Errorf("WWPN %q: not hex", s)
	}
	var b strings.Builder
	for i := 0; i < 16; i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String(), nil
}

func canonicalAll(in []string) ([]string, error) {
	out := make([]string, 0, len(in))
	for _, s := range in {
		c, err := canonical(s)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// validSegment reports whether s can be one segment of a claim key: no
// slash, whitespace or control character, not "." or "..".
func validSegment(s string) bool {
	if s == "" || s == "." || s == ".." || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if r == '/' || unicode.IsSpace(r) || unicode.IsControl(r) {
			return false
		}
	}
	return true
}
