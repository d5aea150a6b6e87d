// Package csitest runs the csi-sanity conformance suite (kubernetes-csi
// csi-test v5, pkg/sanity) against a CSI controller endpoint, and serves the
// stand-in Node service the suite needs beside it: sanmob has no node
// plugin, but the suite asks a node for its id and topology before it
// publishes. Only tests import this package.
package csitest

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/kubernetes-csi/csi-test/v5/pkg/sanity"
	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
	"github.com/onsi/gomega"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Node is a Node service that has nothing to mount: it names a node (a
// host or VM id the controller knows) and its site, and says yes to the
// clean-up calls the suite makes after every spec.
type Node struct {
	csi.UnimplementedIdentityServer
	csi.UnimplementedNodeServer
	ID, Site, TopologyKey string
}

func (n *Node) GetPluginInfo(context.Context, *csi.GetPluginInfoRequest) (*csi.GetPluginInfoResponse, error) {
	return &csi.GetPluginInfoResponse{Name: "csi.sanmob.io", VendorVersion: "test-node"}, nil
}

func (n *Node) GetPluginCapabilities(context.Context, *csi.GetPluginCapabilitiesRequest) (*csi.GetPluginCapabilitiesResponse, error) {
	return &csi.GetPluginCapabilitiesResponse{}, nil
}

func (n *Node) Probe(context.Context, *csi.ProbeRequest) (*csi.ProbeResponse, error) {
	return &csi.ProbeResponse{Ready: wrapperspb.Bool(true)}, nil
}

func (n *Node) NodeGetInfo(context.Context, *csi.NodeGetInfoRequest) (*csi.NodeGetInfoResponse, error) {
	return &csi.NodeGetInfoResponse{NodeId: n.ID, AccessibleTopology: &csi.Topology{Segments: map[string]string{n.TopologyKey: n.Site}}}, nil
}

func (n *Node) NodeGetCapabilities(context.Context, *csi.NodeGetCapabilitiesRequest) (*csi.NodeGetCapabilitiesResponse, error) {
	return &csi.NodeGetCapabilitiesResponse{}, nil
}

func (n *Node) NodeUnpublishVolume(context.Context, *csi.NodeUnpublishVolumeRequest) (*csi.NodeUnpublishVolumeResponse, error) {
	return &csi.NodeUnpublishVolumeResponse{}, nil
}

// ServeNode serves n on a unix socket until the test ends and returns its
// endpoint. The socket lives in a short temporary directory: sun_path holds
// 108 bytes, and test temp dirs carry the test's name.
func ServeNode(t testing.TB, n *Node) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "csinode")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "node.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	csi.RegisterIdentityServer(g, n)
	csi.RegisterNodeServer(g, n)
	var wg sync.WaitGroup
	wg.Go(func() { _ = g.Serve(ln) })
	t.Cleanup(func() {
		g.Stop()
		wg.Wait()
		_ = os.RemoveAll(dir)
	})
	return "unix://" + path
}

// Skips are the csi-sanity specs sanmob does not run, and why.
var Skips = map[string]string{
	"Node Service": "sanmob has no node plugin; the suite's stand-in node only names a host",
}

var ran atomic.Bool

// SkipUnlessRunnable skips a test that could not run the suite: Ginkgo
// exits the whole test binary under go test -count > 1 (and on a second
// run in one process, which Run refuses). Call it before costly set-up.
func SkipUnlessRunnable(t testing.TB) {
	t.Helper()
	if f := flag.Lookup("test.count"); f != nil && f.Value.String() != "1" {
		t.Skip("csi-sanity does not run under go test -count > 1 (Ginkgo runs one suite per process)")
	}
}

// Counts are the suite's results, one per spec.
type Counts struct {
	Passed, Failed, Skipped, Pending int
	Failures                         []string
}

func (c Counts) String() string {
	return fmt.Sprintf("passed=%d failed=%d skipped=%d pending=%d", c.Passed, c.Failed, c.Skipped, c.Pending)
}

// Run runs the suite once against cfg. skip maps the specs not to run
// (regular expressions over their full text) to the reason why, which is
// logged. The counts are logged and returned; the test fails when a spec
// does. Ginkgo runs one suite per process: call Run once per test binary.
func Run(t *testing.T, cfg sanity.TestConfig, skip map[string]string) Counts {
	t.Helper()
	SkipUnlessRunnable(t)
	if !ran.CompareAndSwap(false, true) {
		t.Skip("csi-sanity already ran in this process (Ginkgo runs one suite per process)")
	}
	suite, reporter := ginkgo.GinkgoConfiguration()
	for _, re := range slices.Sorted(maps.Keys(skip)) {
		suite.SkipStrings = append(suite.SkipStrings, re)
		t.Logf("csi-sanity: skipping %q: %s", re, skip[re])
	}
	suite.Timeout = 10 * time.Minute
	if d, ok := t.Deadline(); ok {
		suite.Timeout = min(suite.Timeout, time.Until(d)-30*time.Second)
	}
	reporter.NoColor = true

	var counts Counts
	ginkgo.ReportAfterSuite("csi-sanity counts", func(r ginkgo.Report) {
		for _, sr := range r.SpecReports {
			if sr.LeafNodeType != types.NodeTypeIt {
				continue
			}
			switch {
			case sr.State.Is(types.SpecStatePassed):
				counts.Passed++
			case sr.State.Is(types.SpecStateSkipped):
				counts.Skipped++
			case sr.State.Is(types.SpecStatePending):
				counts.Pending++
			case sr.State.Is(types.SpecStateFailureStates):
				counts.Failed++
				counts.Failures = append(counts.Failures, sr.FullText()+": "+firstLine(sr.Failure.Message))
			}
		}
	})
	sc := sanity.GinkgoTest(&cfg)
	gomega.RegisterFailHandler(ginkgo.Fail)
	ginkgo.RunSpecs(t, "csi-sanity", suite, reporter)
	sc.Finalize()

	t.Logf("csi-sanity (csi-test v5.6.0) results: %s", counts)
	for _, f := range counts.Failures {
		t.Logf("csi-sanity failed: %s", f)
	}
	return counts
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " ..."
	}
	return s
}
