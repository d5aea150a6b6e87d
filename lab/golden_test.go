package lab

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sanmob/sanmob/compute"
)

var updateGolden = flag.Bool("update-golden", false, "rewrite testdata/golden_worlds.txt from the code as it is")

const goldenFile = "testdata/golden_worlds.txt"

// goldenWorlds are the worlds whose every driver answer is pinned in
// goldenFile, so that a change to the generator that is meant to leave
// them alone (a new Config field at its zero value) provably does.
var goldenWorlds = []struct {
	name string
	cfg  Config
	ops  func(t *testing.T, w *World) // changes made before the dump; nil: the seeded world
}{
	{name: "small", cfg: Config{Seed: 42}},
	{name: "three sites", cfg: Config{Seed: 42, Sites: []string{"ams", "fra", "lon"}, ArraysPerSite: 2, VMsPerSite: 30}},
	{name: "one site one port", cfg: Config{Seed: 2, Sites: []string{"solo"}, TargetPortsPerFabric: 1}},
	{name: "many arrays odd counts", cfg: Config{Seed: 3, ArraysPerSite: 3, HostsPerSite: 7, VMsPerSite: 50, TargetPortsPerFabric: 6, TargetsPerVport: 4}},
	{name: "moves and logins", cfg: Config{Seed: 7, Speed: fastSpeed}, ops: goldenOps},
}

// goldenOps moves two VMs the way a migration does: the idle set logs in
// at the destination, the VM moves, the old set logs out.
func goldenOps(t *testing.T, w *World) {
	ctx := context.Background()
	hv := w.Compute()
	hosts, err := hv.Hosts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	move := func(vmID, dst string, mode compute.MoveMode) {
		t.Helper()
		v := vmOf(t, w, vmID)
		h := hostByID(hosts, dst)
		for _, p := range v.Vports {
			if p.Active {
				continue
			}
			s, _ := w.Switch(strings.Replace(p.Fabric, strings.Split(p.Fabric, "-")[0], h.Site, 1))
			side := int(p.Fabric[len(p.Fabric)-1] - 'a')
			if err := s.LoginVport(ctx, h.HBAs[side].WWPN, p.WWPN, p.WWNN); err != nil {
				t.Fatalf("login %s: %v", vmID, err)
			}
		}
		if err := hv.Move(ctx, vmID, dst, mode); err != nil {
			t.Fatalf("move %s: %v", vmID, err)
		}
		for _, p := range v.Vports {
			if !p.Active {
				continue
			}
			s, _ := w.Switch(p.Fabric)
			if err := s.LogoutVport(ctx, p.WWPN); err != nil {
				t.Fatalf("logout %s: %v", vmID, err)
			}
		}
	}
	move("east-vm001", "east-esx02", compute.MoveLive)
	if err := hv.PowerOff(ctx, "west-vm004"); err != nil {
		t.Fatal(err)
	}
	move("west-vm004", "east-esx03", compute.MoveCold)
}

// goldenDump is dump with every time after the epoch — a change's, which
// real time decides — written as "after".
func goldenDump(t *testing.T, w *World) []byte {
	t.Helper()
	var v any
	if err := json.Unmarshal(dump(t, w), &v); err != nil {
		t.Fatal(err)
	}
	var walk func(any) any
	walk = func(x any) any {
		switch x := x.(type) {
		case map[string]any:
			for k, e := range x {
				x[k] = walk(e)
			}
		case []any:
			for i, e := range x {
				x[i] = walk(e)
			}
		case string:
			if at, err := time.Parse(time.RFC3339Nano, x); err == nil && at.After(testEpoch) {
				return "after"
			}
		}
		return x
	}
	b, err := json.Marshal(walk(v))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// goldenLines is one line per pinned answer: each world's dump's SHA-256,
// the journal header of Small, and what Validate computes of Large.
func goldenLines(t *testing.T) []string {
	var lines []string
	for _, g := range goldenWorlds {
		w := newWorld(t, g.cfg)
		if g.ops != nil {
			g.ops(t, w)
		}
		sum := sha256.Sum256(goldenDump(t, w))
		lines = append(lines, fmt.Sprintf("world %q %s", g.name, hex.EncodeToString(sum[:])))
	}
	small := Small()
	small.Epoch = testEpoch
	hb, err := json.Marshal(headerOf(small))
	if err != nil {
		t.Fatal(err)
	}
	lines = append(lines, "header "+string(hb))
	large := Large()
	lines = append(lines, fmt.Sprintf("large zoneDBBytes east %d, physical ports a fabric %d, Validate %v",
		zoneDBBytes(large, "east"), physicalPortsPerFabric(large), large.Validate()))
	return lines
}

// TestGoldenWorlds: the worlds of goldenWorlds answer byte for byte as
// they did when goldenFile was written (go test -run TestGoldenWorlds
// -update-golden rewrites it, for a change meant to alter them).
func TestGoldenWorlds(t *testing.T) {
	got := strings.Join(goldenLines(t), "\n") + "\n"
	if *updateGolden {
		if err := os.MkdirAll(filepath.Dir(goldenFile), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(goldenFile, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(goldenFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal([]byte(got), want) {
		t.Fatalf("the pinned worlds changed:\ngot\n%s\nwant\n%s", got, want)
	}
}
