package fcdriver

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sanmob/sanmob/client"
)

// The driver's world in these tests: a NetApp-style array with a port on
// each of two fabrics, and two nodes with two HBAs each (written in the
// forms node plugins report: bare hex, upper case).
var (
	testTargets = []string{"50:0a:09:81:80:00:00:01", "50:0A:09:82:80:00:00:01"}
	testNodes   = map[string][]string{
		"node-a": {"10000090FA000001", "10:00:00:90:fa:00:00:02"},
		"node-b": {"10:00:00:90:fa:00:00:03", "10:00:00:90:fa:00:00:04"},
	}
)

func newTestDriver(t *testing.T) (*Driver, *fakeSanmob) {
	t.Helper()
	f, c := newFakeSanmob(t)
	d, err := New(Config{Sanmob: c, Targets: testTargets, Nodes: testNodes})
	if err != nil {
		t.Fatal(err)
	}
	return d, f
}

func mustCreate(t *testing.T, d *Driver, name string, mode csi.VolumeCapability_AccessMode_Mode) string {
	t.Helper()
	resp, err := d.CreateVolume(context.Background(), &csi.CreateVolumeRequest{Name: name, VolumeCapabilities: []*csi.VolumeCapability{capOf(mode)}})
	if err != nil {
		t.Fatalf("CreateVolume %s: %v", name, err)
	}
	return resp.GetVolume().GetVolumeId()
}

func capOf(mode csi.VolumeCapability_AccessMode_Mode) *csi.VolumeCapability {
	return &csi.VolumeCapability{
		AccessType: &csi.VolumeCapability_Block{Block: &csi.VolumeCapability_BlockVolume{}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: mode},
	}
}

const rwo = csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER

func pubReq(vol, node string) *csi.ControllerPublishVolumeRequest {
	return &csi.ControllerPublishVolumeRequest{VolumeId: vol, NodeId: node, VolumeCapability: capOf(rwo)}
}

func wantCode(t *testing.T, err error, code codes.Code, what string) {
	t.Helper()
	if got := status.Code(err); got != code {
		t.Fatalf("%s: code %v (%v), want %v", what, got, err, code)
	}
}

func TestPublishClaimsZoning(t *testing.T) {
	d, f := newTestDriver(t)
	ctx := context.Background()
	v1 := mustCreate(t, d, "pvc-1", rwo)
	v2 := mustCreate(t, d, "pvc-2", rwo)

	resp, err := d.ControllerPublishVolume(ctx, pubReq(v1, "node-a"))
	if err != nil {
		t.Fatal(err)
	}
	calls := f.takeCalls()
	want := call{Method: http.MethodPut, Owner: DefaultName, Key: v1 + "/node-a", Spec: client.ClaimSpec{
		Initiators: []string{"10:00:00:90:fa:00:00:01", "10:00:00:90:fa:00:00:02"},
		Targets:    []string{"50:0a:09:81:80:00:00:01", "50:0a:09:82:80:00:00:01"},
	}}
	if len(calls) != 1 || !sameCall(calls[0], want) {
		t.Fatalf("calls %+v, want one %+v", calls, want)
	}
	pc := resp.GetPublishContext()
	// The fake leaves the last target unreached: the context names only
	// the reached one, and the fabrics the claim zoned.
	if pc[PubLUN] != "0" || pc[PubTargets] != "50:0a:09:81:80:00:00:01" || pc[PubFabrics] != "fab-a,fab-b" {
		t.Errorf("publish context %v", pc)
	}
	if m := d.Array().Maps(v1); len(m) != 1 || m[0].Node != "node-a" || m[0].LUN != 0 {
		t.Errorf("maps of %s: %+v", v1, m)
	}

	// A second volume on the same node takes the next LUN id; on another
	// node LUN 0 again.
	resp, err = d.ControllerPublishVolume(ctx, pubReq(v2, "node-a"))
	if err != nil || resp.GetPublishContext()[PubLUN] != "1" {
		t.Fatalf("second volume on node-a: %v, %v", resp.GetPublishContext(), err)
	}
	if err := unpublish(d, v1, "node-a"); err != nil {
		t.Fatal(err)
	}
	resp, err = d.ControllerPublishVolume(ctx, pubReq(v1, "node-b"))
	if err != nil || resp.GetPublishContext()[PubLUN] != "0" {
		t.Fatalf("v1 on node-b: %v, %v", resp.GetPublishContext(), err)
	}
	if got, want := f.claimKeys(), []string{DefaultName + "/" + v1 + "/node-b", DefaultName + "/" + v2 + "/node-a"}; !slices.Equal(got, want) {
		t.Errorf("claims %v, want %v", got, want)
	}
}

func sameCall(a, b call) bool {
	return a.Method == b.Method && a.Owner == b.Owner && a.Key == b.Key && a.Spec.Policy == b.Spec.Policy &&
		slices.Equal(a.Spec.Initiators, b.Spec.Initiators) && slices.Equal(a.Spec.Targets, b.Spec.Targets)
}

func unpublish(d *Driver, vol, node string) error {
	_, err := d.ControllerUnpublishVolume(context.Background(), &csi.ControllerUnpublishVolumeRequest{VolumeId: vol, NodeId: node})
	return err
}

func TestPublishIdempotent(t *testing.T) {
	d, f := newTestDriver(t)
	ctx := context.Background()
	v := mustCreate(t, d, "pvc-1", rwo)
	first, err := d.ControllerPublishVolume(ctx, pubReq(v, "node-a"))
	if err != nil {
		t.Fatal(err)
	}

	// Repeated, and concurrently: every call succeeds with the same
	// context, the array holds one map, sanmob one claim under one key.
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	ctxs := make([]map[string]string, n)
	for i := range n {
		wg.Go(func() {
			resp, err := d.ControllerPublishVolume(ctx, pubReq(v, "node-a"))
			errs[i], ctxs[i] = err, resp.GetPublishContext()
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("publish %d: %v", i, errs[i])
		}
		if !equalMaps(ctxs[i], first.GetPublishContext()) {
			t.Errorf("publish %d: context %v, want %v", i, ctxs[i], first.GetPublishContext())
		}
	}
	if m := d.Array().Maps(""); len(m) != 1 {
		t.Errorf("maps %+v, want one", m)
	}
	for _, c := range f.takeCalls() {
		if c.Method != http.MethodPut || c.Key != v+"/node-a" {
			t.Errorf("unexpected call %+v", c)
		}
	}
	if got := f.claimKeys(); len(got) != 1 {
		t.Errorf("claims %v, want one", got)
	}

	// Other readonly: ALREADY_EXISTS, and nothing asked of sanmob.
	ro := pubReq(v, "node-a")
	ro.Readonly = true
	_, err = d.ControllerPublishVolume(ctx, ro)
	wantCode(t, err, codes.AlreadyExists, "publish again with readonly")
	if c := f.takeCalls(); len(c) != 0 {
		t.Errorf("calls %+v after a refused publish", c)
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// A claim sanmob refuses or cannot make leaves no map behind, releases the
// claim in case it was made, and says what sanmob said with the code the
// CO acts on.
func TestPublishClaimErrors(t *testing.T) {
	for _, tc := range []struct {
		status   int
		code     codes.Code
		attempts int
	}{
		{http.StatusServiceUnavailable, codes.Unavailable, 2}, // retried once (WithMaxAttempts(2)), then given up
		{http.StatusTooManyRequests, codes.Unavailable, 2},
		{http.StatusConflict, codes.FailedPrecondition, 1},
		{http.StatusUnprocessableEntity, codes.FailedPrecondition, 1},
		{http.StatusNotFound, codes.NotFound, 1},
		{http.StatusBadRequest, codes.InvalidArgument, 1},
		{http.StatusBadGateway, codes.Internal, 1},
	} {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			d, f := newTestDriver(t)
			v := mustCreate(t, d, "pvc-1", rwo)
			f.setFail(http.MethodPut, tc.status)
			_, err := d.ControllerPublishVolume(context.Background(), pubReq(v, "node-a"))
			wantCode(t, err, tc.code, "publish")
			if msg := status.Convert(err).Message(); !strings.Contains(msg, "fake sanmob says") || !strings.Contains(msg, v+"/node-a") {
				t.Errorf("message %q does not keep sanmob's words", msg)
			}
			if m := d.Array().Maps(""); len(m) != 0 {
				t.Errorf("maps %+v left after a failed claim", m)
			}
			var puts, deletes int
			for _, c := range f.takeCalls() {
				switch {
				case c.Method == http.MethodPut && c.Key == v+"/node-a":
					puts++
				case c.Method == http.MethodDelete && c.Key == v+"/node-a":
					deletes++
				default:
					t.Errorf("unexpected call %+v", c)
				}
			}
			if puts != tc.attempts || deletes != 1 {
				t.Errorf("%d PUTs and %d DELETEs, want %d and 1", puts, deletes, tc.attempts)
			}

			// Once sanmob can, the same publish succeeds, at LUN 0 again.
			f.setFail(http.MethodPut, 0)
			resp, err := d.ControllerPublishVolume(context.Background(), pubReq(v, "node-a"))
			if err != nil || resp.GetPublishContext()[PubLUN] != "0" {
				t.Fatalf("publish after recovery: %v, %v", resp.GetPublishContext(), err)
			}
		})
	}
}

// A repeated publish whose claim fails keeps the map the first one made.
func TestRepublishFailureKeepsMap(t *testing.T) {
	d, f := newTestDriver(t)
	v := mustCreate(t, d, "pvc-1", rwo)
	if _, err := d.ControllerPublishVolume(context.Background(), pubReq(v, "node-a")); err != nil {
		t.Fatal(err)
	}
	f.takeCalls()
	f.setFail(http.MethodPut, http.StatusServiceUnavailable)
	_, err := d.ControllerPublishVolume(context.Background(), pubReq(v, "node-a"))
	wantCode(t, err, codes.Unavailable, "publish again while sanmob is busy")
	if m := d.Array().Maps(v); len(m) != 1 {
		t.Errorf("maps %+v, want the first publish's", m)
	}
	for _, c := range f.takeCalls() {
		if c.Method != http.MethodPut {
			t.Errorf("unexpected call %+v", c)
		}
	}
}

func TestUnpublishReleasesClaim(t *testing.T) {
	d, f := newTestDriver(t)
	ctx := context.Background()
	v := mustCreate(t, d, "pvc-1", rwo)
	if _, err := d.ControllerPublishVolume(ctx, pubReq(v, "node-a")); err != nil {
		t.Fatal(err)
	}
	f.takeCalls()

	// sanmob cannot release: UNAVAILABLE, and the map stays for the retry.
	f.setFail(http.MethodDelete, http.StatusServiceUnavailable)
	wantCode(t, unpublish(d, v, "node-a"), codes.Unavailable, "unpublish while sanmob is busy")
	if m := d.Array().Maps(v); len(m) != 1 {
		t.Fatalf("maps %+v, want the map kept", m)
	}
	f.setFail(http.MethodDelete, http.StatusInternalServerError)
	wantCode(t, unpublish(d, v, "node-a"), codes.Internal, "unpublish on a 500")
	f.setFail(http.MethodDelete, 0)
	f.takeCalls()

	if err := unpublish(d, v, "node-a"); err != nil {
		t.Fatal(err)
	}
	if c := f.takeCalls(); len(c) != 1 || c[0].Method != http.MethodDelete || c[0].Owner != DefaultName || c[0].Key != v+"/node-a" {
		t.Errorf("calls %+v, want one DELETE of %s/node-a", c, v)
	}
	if m := d.Array().Maps(""); len(m) != 0 || len(f.claimKeys()) != 0 {
		t.Errorf("maps %+v, claims %v after unpublish", m, f.claimKeys())
	}
	// Again: still fine (sanmob's DELETE is idempotent too).
	if err := unpublish(d, v, "node-a"); err != nil {
		t.Fatal(err)
	}
	f.takeCalls()

	// A volume or a node the driver does not know is unpublished, and
	// sanmob is not asked.
	if err := unpublish(d, "fcv-nope", "node-a"); err != nil {
		t.Error(err)
	}
	if err := unpublish(d, v, "node-nope"); err != nil {
		t.Error(err)
	}
	if c := f.takeCalls(); len(c) != 0 {
		t.Errorf("calls %+v for unknown volume or node", c)
	}
	wantCode(t, unpublish(d, "", "node-a"), codes.InvalidArgument, "unpublish without volume id")
}

// Without node_id every node's claim goes.
func TestUnpublishEveryNode(t *testing.T) {
	d, f := newTestDriver(t)
	ctx := context.Background()
	v := mustCreate(t, d, "shared", csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER)
	for _, n := range []string{"node-a", "node-b"} {
		req := pubReq(v, n)
		req.VolumeCapability = capOf(csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER)
		if _, err := d.ControllerPublishVolume(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	if len(f.claimKeys()) != 2 {
		t.Fatalf("claims %v, want two", f.claimKeys())
	}
	if err := unpublish(d, v, ""); err != nil {
		t.Fatal(err)
	}
	if m := d.Array().Maps(""); len(m) != 0 || len(f.claimKeys()) != 0 {
		t.Errorf("maps %+v, claims %v after unpublishing from every node", m, f.claimKeys())
	}
}

// The checks a real driver makes before it touches the array or sanmob.
func TestPublishValidation(t *testing.T) {
	d, f := newTestDriver(t)
	ctx := context.Background()
	v := mustCreate(t, d, "pvc-1", rwo)
	noCap := pubReq(v, "node-a")
	noCap.VolumeCapability = nil
	multi := pubReq(v, "node-a")
	multi.VolumeCapability = capOf(csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER)
	for _, tc := range []struct {
		name string
		req  *csi.ControllerPublishVolumeRequest
		code codes.Code
	}{
		{"no volume", pubReq("", "node-a"), codes.InvalidArgument},
		{"no node", pubReq(v, ""), codes.InvalidArgument},
		{"no capability", noCap, codes.InvalidArgument},
		{"multi-node on a single-node volume", multi, codes.InvalidArgument},
		{"unknown volume", pubReq("fcv-nope", "node-a"), codes.NotFound},
		{"unknown node", pubReq(v, "node-nope"), codes.NotFound},
	} {
		_, err := d.ControllerPublishVolume(ctx, tc.req)
		wantCode(t, err, tc.code, tc.name)
	}
	if c := f.takeCalls(); len(c) != 0 {
		t.Errorf("calls %+v for refused publishes", c)
	}

	// Published to node-a, a single-node volume is refused to node-b.
	if _, err := d.ControllerPublishVolume(ctx, pubReq(v, "node-a")); err != nil {
		t.Fatal(err)
	}
	f.takeCalls()
	_, err := d.ControllerPublishVolume(ctx, pubReq(v, "node-b"))
	wantCode(t, err, codes.FailedPrecondition, "single-node volume to a second node")
	if c := f.takeCalls(); len(c) != 0 {
		t.Errorf("calls %+v for a refused publish", c)
	}
	// And it cannot be deleted while published.
	_, err = d.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: v})
	wantCode(t, err, codes.FailedPrecondition, "delete a published volume")
}

func TestNewChecksConfig(t *testing.T) {
	_, c := newFakeSanmob(t)
	for name, cfg := range map[string]Config{
		"no client":      {Targets: testTargets, Nodes: testNodes},
		"no targets":     {Sanmob: c, Nodes: testNodes},
		"bad target":     {Sanmob: c, Targets: []string{"50:0a:09"}, Nodes: testNodes},
		"bad initiator":  {Sanmob: c, Targets: testTargets, Nodes: map[string][]string{"n": {"xyz"}}},
		"node slash":     {Sanmob: c, Targets: testTargets, Nodes: map[string][]string{"a/b": {"10:00:00:90:fa:00:00:01"}}},
		"node dotdot":    {Sanmob: c, Targets: testTargets, Nodes: map[string][]string{"..": {"10:00:00:90:fa:00:00:01"}}},
		"no initiators":  {Sanmob: c, Targets: testTargets, Nodes: map[string][]string{"n": nil}},
		"bad owner name": {Name: "-fc", Sanmob: c, Targets: testTargets, Nodes: testNodes},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
}
