package fcdriver

// The proof with a driver sanmob was not designed for: the real sanmobd on
// the small lab, the fake array's target ports cabled into site east's
// switches behind sanmob's back (as an administrator connecting another
// vendor's array would), the driver serving CSI on a unix socket with the
// hosts east-esx01 and east-esx02 as its nodes, and then csi-sanity
// against the driver, and publishes whose zones are read back from the lab
// switches themselves. The counts it logs:
// go test -race -run TestDriverOnSanmob -v ./test/fcdriver/

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/kubernetes-csi/csi-test/v5/pkg/sanity"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/sanmob/sanmob/client"
	"github.com/sanmob/sanmob/internal/daemontest"
	"github.com/sanmob/sanmob/server/csi/csitest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	daemontest.Cleanup()
	os.Exit(code)
}

// The fake array's ports: NetApp-style WWPNs (OUI 00:a0:98), two on each
// fabric of site east, and the node name they share.
const fakeWWNN = "50:0a:09:80:80:a0:98:00"

func fakeTarget(fabricIdx, port int) string {
	return fmt.Sprintf("50:0a:09:8%d:80:a0:98:%02x", fabricIdx+1, port+1)
}

// e2eNodes are the driver's nodes: lab hosts with an HBA on each of east's
// fabrics.
var e2eNodes = []string{"east-esx01", "east-esx02"}

// lab is sanmobd on the lab, with the fake array cabled in.
type lab struct {
	c        *client.Client
	token    string                         // the driver's: role csi
	fabrics  []string                       // east's fabrics, sorted
	targets  map[string][]string            // fabric → the fake targets on it
	hbas     map[string]map[string][]string // node → fabric → its initiators there
	nodes    map[string][]string            // node → every initiator (the driver's table)
	isTarget map[string]bool
}

func startLab(t *testing.T) *lab {
	t.Helper()
	ctx := context.Background()
	// The test reads and cables the lab as admin; the driver calls with a
	// token of role csi, as a vendor's driver is deployed.
	d := daemontest.StartWithTokens(t, map[string]string{"admin": "fcdriver-admin-token-0123456789", "csi": "fcdriver-csi-token-0123456789"},
		"--refresh-interval", "1s")
	c, err := client.New(d.Base, client.WithToken(d.Token))
	if err != nil {
		t.Fatal(err)
	}
	l := &lab{c: c, token: d.Tokens["csi"], targets: map[string][]string{}, hbas: map[string]map[string][]string{}, nodes: map[string][]string{}, isTarget: map[string]bool{}}
	for _, n := range e2eNodes {
		h, err := c.GetHost(ctx, n)
		if err != nil {
			t.Fatalf("host %s: %v", n, err)
		}
		l.hbas[n] = map[string][]string{}
		for _, hba := range h.HBAs {
			l.hbas[n][hba.Fabric] = append(l.hbas[n][hba.Fabric], hba.WWPN)
			l.nodes[n] = append(l.nodes[n], hba.WWPN)
			if !slices.Contains(l.fabrics, hba.Fabric) {
				l.fabrics = append(l.fabrics, hba.Fabric)
			}
		}
	}
	slices.Sort(l.fabrics)
	if len(l.fabrics) != 2 {
		t.Fatalf("the nodes' HBAs are on fabrics %v, want two (east's pair)", l.fabrics)
	}
	for i, f := range l.fabrics {
		for p := range 2 {
			w := fakeTarget(i, p)
			if _, err := c.LabPlugPort(ctx, f, client.LabPort{WWPN: w, WWNN: fakeWWNN, Target: true}); err != nil {
				t.Fatalf("plug %s into %s: %v", w, f, err)
			}
			l.targets[f] = append(l.targets[f], w)
			l.isTarget[w] = true
		}
	}
	// sanmob sees the ports once it reads the name servers again.
	for _, f := range l.fabrics {
		waitFor(t, 30*time.Second, "sanmob to see the fake targets on "+f, func() (bool, string) {
			logins, err := c.ListLogins(ctx, f)
			if err != nil {
				return false, err.Error()
			}
			var seen []string
			for _, lg := range logins {
				if l.isTarget[lg.WWPN] {
					seen = append(seen, lg.WWPN)
				}
			}
			return len(seen) == len(l.targets[f]), fmt.Sprintf("logged in: %v", seen)
		})
	}
	return l
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s: %s", within, what, why)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// serveDriver serves the driver and the node's stand-in on a unix socket
// until the test ends and returns its endpoint.
func serveDriver(t *testing.T, d *Driver, node string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "fcdriver") // sun_path holds 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "csi.sock")
	ln, err := Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, d, &Node{ID: node}) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		_ = os.RemoveAll(dir)
	})
	return "unix://" + sock
}

// pair is one initiator-target pair on a fabric.
type pair struct{ fabric, initiator, target string }

// fakeZones are the zones of the lab switches (their own zone DBs, not
// sanmob's view) that hold a fake target, by fabric.
func (l *lab) fakeZones(t *testing.T) map[string][]client.LabZone {
	t.Helper()
	out := map[string][]client.LabZone{}
	for _, f := range l.fabrics {
		db, err := l.c.LabZoneDB(context.Background(), f)
		if err != nil {
			t.Fatalf("zone DB of %s: %v", f, err)
		}
		for _, z := range db.Zones {
			if slices.ContainsFunc(slices.Concat(z.Members, z.Principals), func(w string) bool { return l.isTarget[w] }) {
				out[f] = append(out[f], z)
			}
		}
	}
	return out
}

// wantPairs are the pairs the published nodes need: each of a node's
// initiators on a fabric with each fake target there.
func (l *lab) wantPairs(nodes []string) map[pair]bool {
	out := map[pair]bool{}
	for _, n := range nodes {
		for f, inits := range l.hbas[n] {
			for _, i := range inits {
				for _, tg := range l.targets[f] {
					out[pair{f, i, tg}] = true
				}
			}
		}
	}
	return out
}

// checkZones asserts that the switches hold exactly the zones the
// published nodes need among the zones with a fake target: every such zone
// pairs one needed initiator with one fake target on its own fabric (SIST;
// a peer zone's principals with its members), no pair is zoned twice, and
// every needed pair is zoned. It returns the zones' names by fabric.
func (l *lab) checkZones(t *testing.T, nodes []string) map[string][]string {
	t.Helper()
	want := l.wantPairs(nodes)
	got := map[pair]bool{}
	names := map[string][]string{}
	for f, zones := range l.fakeZones(t) {
		for _, z := range zones {
			names[f] = append(names[f], z.Name)
			var inits, tgts []string
			for _, w := range slices.Concat(z.Members, z.Principals) {
				if l.isTarget[w] {
					tgts = append(tgts, w)
				} else {
					inits = append(inits, w)
				}
			}
			if len(z.Principals) == 0 && (len(inits) != 1 || len(tgts) != 1) {
				t.Errorf("zone %s on %s has members %v: want one initiator and one target", z.Name, f, z.Members)
			}
			for _, i := range inits {
				for _, tg := range tgts {
					p := pair{f, i, tg}
					if !want[p] {
						t.Errorf("zone %s on %s zones %s with %s, which no published volume needs", z.Name, f, i, tg)
					}
					if got[p] {
						t.Errorf("zone %s on %s zones %s with %s a second time", z.Name, f, i, tg)
					}
					got[p] = true
				}
			}
		}
	}
	for p := range want {
		if !got[p] {
			t.Errorf("no zone on %s pairs %s with %s", p.fabric, p.initiator, p.target)
		}
	}
	for _, n := range names {
		slices.Sort(n)
	}
	return names
}

func TestDriverOnSanmob(t *testing.T) {
	csitest.SkipUnlessRunnable(t)
	t.Parallel()
	ctx := context.Background()
	l := startLab(t)
	var targets []string
	for _, f := range l.fabrics {
		targets = append(targets, l.targets[f]...)
	}
	// The driver's own client, counting what it asks of sanmob.
	calls := &countingTransport{next: http.DefaultTransport, n: map[string]int{}}
	dc, err := client.New(l.c.BaseURL(), client.WithToken(l.token), client.WithHTTPClient(&http.Client{Transport: calls}))
	if err != nil {
		t.Fatal(err)
	}
	drv, err := New(Config{Sanmob: dc, Targets: targets, Nodes: l.nodes})
	if err != nil {
		t.Fatal(err)
	}
	endpoint := serveDriver(t, drv, e2eNodes[0])

	// csi-sanity against the driver; its publishes claim real zones.
	paths, err := os.MkdirTemp("", "fcsanity")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(paths) })
	cfg := sanity.NewTestConfig()
	cfg.Address = endpoint
	cfg.TestVolumeSize = 1 << 30
	cfg.TargetPath, cfg.StagingPath = filepath.Join(paths, "mount"), filepath.Join(paths, "staging")
	counts := csitest.Run(t, cfg, map[string]string{
		"Node Service": "the driver's node service is a stand-in that names its node and mounts nothing",
	})
	if counts.Passed == 0 {
		t.Fatalf("csi-sanity passed nothing: %s", counts)
	}
	// Its publishes went through sanmob: claims made and released.
	sanity := calls.take()
	t.Logf("csi-sanity's calls to sanmob: %v", sanity)
	if sanity["PUT 201"] == 0 || sanity["DELETE 204"] < sanity["PUT 201"] {
		t.Errorf("csi-sanity's calls to sanmob %v: want claims made (PUT 201) and each released (DELETE 204)", sanity)
	}
	// csi-sanity cleans up its volumes: no claim and no zone is left.
	l.checkReleased(t, drv.Name())
	if t.Failed() {
		return
	}

	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctl := csi.NewControllerClient(conn)
	create := func(name string) string {
		t.Helper()
		resp, err := ctl.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: name, VolumeCapabilities: []*csi.VolumeCapability{capOf(rwo)}})
		if err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
		return resp.GetVolume().GetVolumeId()
	}
	publish := func(vol, node string) map[string]string {
		t.Helper()
		resp, err := ctl.ControllerPublishVolume(ctx, pubReq(vol, node))
		if err != nil {
			t.Fatalf("publish %s to %s: %v", vol, node, err)
		}
		return resp.GetPublishContext()
	}

	// (a) Volumes published to two nodes: the switches hold exactly the
	// zones of those nodes' initiators with the fake targets, and sanmob
	// says which claims use each.
	n1, n2 := e2eNodes[0], e2eNodes[1]
	v1, v2, v3 := create("e2e-1"), create("e2e-2"), create("e2e-3")
	published := map[string][]string{} // claim key → the node's pairs' zones users must name
	for _, p := range []struct{ vol, node string }{{v1, n1}, {v2, n1}, {v3, n2}} {
		pc := publish(p.vol, p.node)
		if got, want := pc[PubTargets], strings.Join(targets, ","); got != want {
			t.Errorf("publish %s to %s: targets %q, want %q (every fake target shares a fabric with the node)", p.vol, p.node, got, want)
		}
		if got, want := pc[PubFabrics], strings.Join(l.fabrics, ","); got != want {
			t.Errorf("publish %s to %s: fabrics %q, want %q", p.vol, p.node, got, want)
		}
		published[ClaimKey(p.vol, p.node)] = []string{p.node}
	}
	zonesBefore := l.checkZones(t, []string{n1, n2})
	t.Logf("zones with the fake targets after publishing to %s and %s: %v", n1, n2, zonesBefore)
	l.checkClaims(t, drv.Name(), published, zonesBefore)
	l.checkUsers(t, drv.Name(), published)

	// (b) The same publish from several goroutines at once, then again:
	// one claim, one map, and the switches' zones unchanged.
	v4 := create("e2e-4")
	calls.take()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			if _, err := ctl.ControllerPublishVolume(ctx, pubReq(v4, n1)); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent publish of %s to %s: %v", v4, n1, err)
	}
	publish(v4, n1)
	published[ClaimKey(v4, n1)] = []string{n1}
	// One claim made, the other publishes found it (a no-op for sanmob).
	if got := calls.take(); got["PUT 201"] != 1 || got["PUT 200"] != 8 || len(got) != 2 {
		t.Errorf("calls to sanmob for nine publishes of one volume to one node: %v, want PUT 201 once and PUT 200 eight times", got)
	}
	if m := drv.Array().Maps(v4); len(m) != 1 {
		t.Errorf("maps of %s: %+v, want one", v4, m)
	}
	if zones := l.checkZones(t, []string{n1, n2}); !maps.EqualFunc(zones, zonesBefore, slices.Equal) {
		t.Errorf("zones after the repeated publishes %v, want %v", zones, zonesBefore)
	}
	l.checkClaims(t, drv.Name(), published, zonesBefore)

	// (c) Unpublishing n2's only volume takes n2's zones and leaves n1's;
	// unpublishing the rest leaves no claim and no zone with a fake target.
	unpub := func(vol, node string) {
		t.Helper()
		if _, err := ctl.ControllerUnpublishVolume(ctx, &csi.ControllerUnpublishVolumeRequest{VolumeId: vol, NodeId: node}); err != nil {
			t.Fatalf("unpublish %s from %s: %v", vol, node, err)
		}
		delete(published, ClaimKey(vol, node))
	}
	unpub(v3, n2)
	l.checkZones(t, []string{n1})
	l.checkClaims(t, drv.Name(), published, nil)
	for _, v := range []string{v1, v2, v4} {
		unpub(v, n1)
	}
	l.checkReleased(t, drv.Name())
	for _, v := range []string{v1, v2, v3, v4} {
		if _, err := ctl.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: v}); err != nil {
			t.Errorf("delete %s: %v", v, err)
		}
	}
}

// checkClaims asserts that sanmob holds exactly the driver's claims with
// these keys, each on both fabrics with nothing unreached and its zones
// among the switches' (zones: by fabric; nil skips that part).
func (l *lab) checkClaims(t *testing.T, owner string, keys map[string][]string, zones map[string][]string) {
	t.Helper()
	claims, err := l.c.ListClaims(context.Background(), owner)
	if err != nil {
		t.Fatalf("list claims: %v", err)
	}
	var got []string
	for _, cl := range claims {
		got = append(got, cl.Key)
		if !slices.Equal(cl.Fabrics, l.fabrics) || len(cl.Unreached) != 0 {
			t.Errorf("claim %s: fabrics %v, unreached %+v; want %v and none", cl.Key, cl.Fabrics, cl.Unreached, l.fabrics)
		}
		for _, z := range cl.Zones {
			if zones != nil && !slices.Contains(zones[z.Fabric], z.Name) {
				t.Errorf("claim %s names zone %s on %s, which the switch does not hold among %v", cl.Key, z.Name, z.Fabric, zones[z.Fabric])
			}
		}
	}
	slices.Sort(got)
	if want := slices.Sorted(maps.Keys(keys)); !slices.Equal(got, want) {
		t.Errorf("claims of %s: %v, want %v", owner, got, want)
	}
}

// checkUsers waits until sanmob's view of every fabric's zones (the last
// refresh) shows, on each zone of a claimed node's initiator with a fake
// target, the user claim:<owner>/<key> of every claim of that node.
func (l *lab) checkUsers(t *testing.T, owner string, claims map[string][]string) {
	t.Helper()
	waitFor(t, 20*time.Second, "the zones' users to name the claims", func() (bool, string) {
		for _, f := range l.fabrics {
			zones, err := l.c.ListZones(context.Background(), f)
			if err != nil {
				return false, err.Error()
			}
			for key, nodes := range claims {
				user := "claim:" + owner + "/" + key
				for _, n := range nodes {
					for _, i := range l.hbas[n][f] {
						for _, tg := range l.targets[f] {
							z := zoneOf(zones, i, tg)
							if z == nil {
								return false, fmt.Sprintf("sanmob shows no zone of %s with %s on %s", i, tg, f)
							}
							if !slices.Contains(z.Users, user) {
								return false, fmt.Sprintf("zone %s on %s has users %v, not %s", z.Name, f, z.Users, user)
							}
						}
					}
				}
			}
		}
		return true, ""
	})
}

func zoneOf(zones []client.Zone, a, b string) *client.Zone {
	for i, z := range zones {
		all := slices.Concat(z.Members, z.Peer)
		if slices.Contains(all, a) && slices.Contains(all, b) {
			return &zones[i]
		}
	}
	return nil
}

// checkReleased asserts that the driver holds no claim and no lab switch a
// zone with a fake target.
func (l *lab) checkReleased(t *testing.T, owner string) {
	t.Helper()
	claims, err := l.c.ListClaims(context.Background(), owner)
	if err != nil {
		t.Fatalf("list claims: %v", err)
	}
	for _, cl := range claims {
		t.Errorf("claim %s/%s left behind (zones %+v)", cl.Owner, cl.Key, cl.Zones)
	}
	for f, zones := range l.fakeZones(t) {
		for _, z := range zones {
			t.Errorf("zone %s on %s left behind: members %v, principals %v", z.Name, f, z.Members, z.Principals)
		}
	}
}

// countingTransport counts the claim calls through it by method and
// status ("PUT 201").
type countingTransport struct {
	next http.RoundTripper
	mu   sync.Mutex
	n    map[string]int
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(r)
	if strings.HasPrefix(r.URL.Path, "/v1/zoning/claims/") {
		k := r.Method + " error"
		if err == nil {
			k = fmt.Sprintf("%s %d", r.Method, resp.StatusCode)
		}
		c.mu.Lock()
		c.n[k]++
		c.mu.Unlock()
	}
	return resp, err
}

// take returns the counts so far and starts again.
func (c *countingTransport) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.n
	c.n = map[string]int{}
	return out
}
