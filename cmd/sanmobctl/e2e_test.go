package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sanmob/sanmob/internal/daemontest"
)

// startDaemon starts sanmobd on the lab (built once for the package, at
// 1000× lab speed so moves finish in well under a second) and returns its
// address and the admin token file.
func startDaemon(t *testing.T) (server, tokenFile string) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts sanmobd")
	}
	d := daemontest.Start(t, "--lab-speed", "1000")
	return d.Base, d.TokenFile
}

func TestMain(m *testing.M) {
	code := m.Run()
	daemontest.Cleanup()
	os.Exit(code)
}

// ctl runs sanmobctl in-process against server and returns its exit code,
// stdout and stderr.
func ctl(t *testing.T, server, tokenFile string, args ...string) (int, string, string) {
	t.Helper()
	return ctlContext(context.Background(), t, server, tokenFile, args...)
}

// ctlContext is ctl until ctx ends (as a Ctrl-C would end it).
func ctlContext(ctx context.Context, t *testing.T, server, tokenFile string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	env := func(k string) string {
		switch k {
		case "SANMOB_SERVER":
			return server
		case "SANMOB_TOKEN_FILE":
			return tokenFile
		case "SANMOB_CONFIG":
			return filepath.Join(t.TempDir(), "none")
		}
		return ""
	}
	code := runWith(ctx, args, &out, &errOut, env)
	return code, out.String(), errOut.String()
}

func TestAgainstTheLab(t *testing.T) {
	server, tok := startDaemon(t)
	run := func(wantCode int, args ...string) (string, string) {
		t.Helper()
		code, out, errOut := ctl(t, server, tok, args...)
		if code != wantCode {
			t.Fatalf("sanmobctl %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, wantCode, out, errOut)
		}
		return out, errOut
	}

	out, _ := run(0, "get", "vms", "-o", "json")
	var vms []struct{ ID, Host string }
	if err := json.Unmarshal([]byte(out), &vms); err != nil || len(vms) < 10 {
		t.Fatalf("get vms -o json: %d vms, %v\n%s", len(vms), err, out)
	}
	out, _ = run(0, "get", "vms", "--site", "west")
	if !strings.HasPrefix(out, "ID ") || !strings.Contains(out, "west-vm001") || strings.Contains(out, "east-vm001") {
		t.Fatalf("get vms --site west:\n%s", out)
	}
	out, _ = run(0, "get", "fabrics", "-o", "wide")
	for _, f := range []string{"east-a", "east-b", "west-a", "west-b", "DRIVER"} {
		if !strings.Contains(out, f) {
			t.Errorf("get fabrics -o wide lacks %s:\n%s", f, out)
		}
	}
	out, _ = run(0, "get", "pools", "-o", "yaml")
	if !strings.Contains(out, "usedPercent:") {
		t.Errorf("get pools -o yaml:\n%s", out)
	}

	// describe: the tree names the VM's vports and LUNs.
	vmJSON, _ := run(0, "get", "vms", "--host", "east-esx01", "-o", "json")
	var vm1 []struct {
		ID     string
		Vports []struct{ WWPN string }
	}
	_ = json.Unmarshal([]byte(vmJSON), &vm1)
	out, _ = run(0, "describe", "vm", "east-vm001")
	for _, want := range []string{"VM east-vm001 on host east-esx01", "LUN 0  east-vm001-d0", "LUN 1  east-vm001-d1", "zone sm_east-vm001_", "snapshot ", "Issues: none"} {
		if !strings.Contains(out, want) {
			t.Errorf("describe vm lacks %q:\n%s", want, out)
		}
	}
	for _, v := range vm1 {
		if v.ID != "east-vm001" {
			continue
		}
		for _, p := range v.Vports {
			if !strings.Contains(out, "vport "+p.WWPN) {
				t.Errorf("describe vm lacks vport %s", p.WWPN)
			}
		}
	}

	// A bad VM: exit 3 and the problem's detail.
	_, errOut := run(3, "describe", "vm", "no-such-vm")
	if !strings.Contains(errOut, `vm "no-such-vm": not found`) || strings.Contains(errOut, "goroutine") {
		t.Errorf("stderr:\n%s", errOut)
	}
	_, errOut = run(3, "migrate", "no-such-vm", "--to", "east-esx01")
	if !strings.Contains(errOut, "no such vm") {
		t.Errorf("migrate bad vm: invalid params missing:\n%s", errOut)
	}
	// Refused plan: exit 4 with the reasons.
	_, errOut = run(4, "migrate", "east-vm003", "--to", "east-esx03")
	if !strings.Contains(errOut, "current host") {
		t.Errorf("refused plan:\n%s", errOut)
	}
	// Usage errors: exit 2.
	run(2, "get")
	run(2, "migrate", "east-vm003")
	run(2, "frobnicate")

	out, _ = run(0, "migrate", "east-vm003", "--to", "east-esx01", "--dry-run")
	if !strings.Contains(out, "Plan: east-vm003 east-esx03 → east-esx01, same-fabric") || !strings.Contains(out, "estimate:") || strings.Contains(out, "started") {
		t.Errorf("dry run:\n%s", out)
	}

	start := time.Now()
	out, _ = run(0, "migrate", "east-vm003", "--to", "east-esx01")
	for _, want := range []string{"Migration ", "started", "Following ", "logout-old", "Phase succeeded", "succeeded ("} {
		if !strings.Contains(out, want) {
			t.Errorf("migrate lacks %q:\n%s", want, out)
		}
	}
	t.Logf("migration followed in %v:\n%s", time.Since(start), out)
	out, _ = run(0, "get", "migrations")
	if !strings.Contains(out, "succeeded") {
		t.Errorf("get migrations:\n%s", out)
	}
	out, _ = run(0, "get", "vms", "--host", "east-esx01")
	if !strings.Contains(out, "east-vm003") {
		t.Errorf("east-vm003 not on east-esx01 after the move:\n%s", out)
	}

	out, _ = run(0, "alerts")
	if !strings.HasPrefix(out, "ALERT ") {
		t.Errorf("alerts:\n%s", out)
	}
	run(0, "get", "alerts", "-l", "severity=warning", "-o", "json")
	out, _ = run(0, "reconcile", "east-a")
	if !strings.Contains(out, "Fabric east-a: 0 missing") {
		t.Errorf("reconcile:\n%s", out)
	}
	out, _ = run(0, "queue-depths", "east-esx04")
	if !strings.Contains(out, "east-vm004-d0") {
		t.Errorf("queue-depths:\n%s", out)
	}
	run(0, "get", "replication")
	run(0, "get", "attachments")
	run(0, "completion", "bash")
	run(2, "completion", "pwsh") // an unknown shell is a usage error

	// A watch with -o json is a stream of JSON documents, nothing else;
	// ending it (Ctrl-C, here the context) exits 0.
	for _, args := range [][]string{{"queue-depths", "east-esx04", "--watch", "-o", "json"}, {"alerts", "--watch", "-o", "json"}} {
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		code, out, errOut := ctlContext(ctx, t, server, tok, args...)
		cancel()
		dec := json.NewDecoder(strings.NewReader(out))
		n := 0
		for dec.More() {
			var doc map[string]any
			if err := dec.Decode(&doc); err != nil {
				t.Fatalf("%v: document %d is not JSON: %v", args, n, err)
			}
			n++
		}
		if code != 0 || n == 0 {
			t.Errorf("%v: exit %d, %d documents; stderr %s", args, code, n, errOut)
		}
	}
}

func TestConfigContexts(t *testing.T) {
	dir := t.TempDir()
	tok := filepath.Join(dir, "tok")
	if err := os.WriteFile(tok, []byte("t0k\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "config")
	if err := os.WriteFile(cfg, []byte("current-context: lab\ncontexts:\n  lab:\n    server: http://127.0.0.1:9\n    token-file: "+tok+"\n  other:\n    server: http://127.0.0.1:10\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"SANMOB_CONFIG": cfg}
	a := &app{getenv: func(k string) string { return env[k] }}
	c, err := a.resolve()
	if err != nil || c.server != "http://127.0.0.1:9" || c.tokenFile != tok {
		t.Fatalf("%+v %v", c, err)
	}
	a.contextName = "other"
	if c, _ = a.resolve(); c.server != "http://127.0.0.1:10" {
		t.Fatalf("--context other: %+v", c)
	}
	env["SANMOB_SERVER"], env["SANMOB_TOKEN"] = "http://env:1", "abc"
	if c, _ = a.resolve(); c.server != "http://env:1" || c.token != "abc" {
		t.Fatalf("env: %+v", c)
	}
	a.server = "http://flag:2"
	if c, _ = a.resolve(); c.server != "http://flag:2" {
		t.Fatalf("flag: %+v", c)
	}
	a.contextName = "missing"
	if _, err := a.resolve(); exitCode(err) != exitUsage {
		t.Fatalf("missing context: %v", err)
	}
	// A daemon that is not there: exit 5.
	var out, errOut bytes.Buffer
	code := runWith(context.Background(), []string{"get", "sites", "--server", "http://127.0.0.1:1", "--token-file", tok, "--timeout", "3s"}, &out, &errOut,
		func(k string) string { return map[string]string{"SANMOB_CONFIG": filepath.Join(dir, "none")}[k] })
	if code != exitUnavailable || strings.Contains(errOut.String(), "goroutine") {
		t.Fatalf("exit %d\n%s", code, errOut.String())
	}
}

// TestTourCommands runs the README's tour with sanmobctl alone: the lists,
// volumes, inventory, NPIV and the lab's faults and drift.
func TestTourCommands(t *testing.T) {
	server, tok := startDaemon(t)
	run := func(wantCode int, args ...string) string {
		t.Helper()
		code, out, errOut := ctl(t, server, tok, args...)
		if code != wantCode {
			t.Fatalf("sanmobctl %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, wantCode, out, errOut)
		}
		return out + errOut
	}
	has := func(out string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("output lacks %q:\n%s", w, out)
			}
		}
	}

	// Lists.
	has(run(0, "get", "arrays", "-o", "wide"), "ID ", "east-arr1", "west-arr1", "east-arr1-pool1")
	has(run(0, "get", "links"), "FROM ", "east", "west")
	has(run(0, "get", "logins", "east-a"), "WWPN ", "yes") // NPIV logins
	zones := run(0, "get", "zones", "east-a")
	has(zones, "NAME ", "OWNER", "sanmob", "east-vm001")
	run(2, "get", "zones")
	run(2, "get", "vms", "east-a")
	run(3, "get", "zones", "no-such-fabric")
	has(run(0, "get", "snapshots"), "ID ", "east-vm001-d0")
	has(run(0, "get", "evacuations"), "ID ")

	// Volumes: create (idempotent by name), snapshot, grow, attach, the
	// array's own maps, dark storage, detach, delete.
	out := run(0, "create", "volume", "db-data", "--id", "db-data", "--size", "100Gi", "--site", "east", "-o", "json")
	var vol struct{ ID, Array string }
	if err := json.Unmarshal([]byte(out), &vol); err != nil || vol.ID != "db-data" || !strings.HasPrefix(vol.Array, "east-") {
		t.Fatalf("create volume: %+v %v\n%s", vol, err, out)
	}
	has(run(0, "create", "volume", "db-data", "--id", "db-data", "--size", "100Gi", "--site", "east"), "db-data", "100.0Gi", "yes")
	run(2, "create", "volume", "x", "--size", "lots")
	run(2, "create", "volume", "x")
	has(run(0, "reports", "dark-storage"), "db-data", "not-presented", "Total: ")
	has(run(0, "snapshot", "volume", "db-data", "before-upgrade"), "ID ", "db-data")
	has(run(0, "get", "snapshots", "--volume", "db-data"), "before-upgrade")
	has(run(0, "grow", "volume", "db-data", "--size", "200Gi"), "Volume db-data is 200.0Gi")
	has(run(0, "attach", "db-data", "east-esx02"), "Attached db-data to east-esx02")
	has(run(0, "lab", "mappings", vol.Array, "--volume", "db-data"), "db-data", "yes")
	run(0, "detach", "db-data", "east-esx02")
	if out := run(0, "lab", "mappings", vol.Array, "--volume", "db-data"); strings.Contains(out, "db-data") {
		t.Errorf("still masked after detach:\n%s", out)
	}

	// A zoning step that fails for good undoes the attach: exit 1, the
	// switch's words, and no mask left.
	has(run(0, "lab", "fault", "--target", "east-a", "--op", "zone", "--count", "1", "--kind", "final"), "east-a", "zone", "final")
	has(run(0, "lab", "faults"), "east-a")
	run(1, "attach", "db-data", "east-esx02")
	if out := run(0, "lab", "mappings", vol.Array, "--volume", "db-data"); strings.Contains(out, "db-data") {
		t.Errorf("mask left after a failed attach:\n%s", out)
	}
	run(0, "lab", "faults", "clear")
	if out := run(0, "lab", "faults"); strings.Contains(out, "east-a") {
		t.Errorf("faults after clear:\n%s", out)
	}
	run(2, "lab", "faults", "frob")
	run(0, "delete", "volume", "db-data")
	run(3, "grow", "volume", "db-data", "--size", "300Gi")

	// Pool history.
	has(run(0, "pool", "history", "east-arr1-pool1", "--since", "2000-01-01T00:00:00Z"), "AT ", "USED")
	run(0, "pool", "history", "east-arr1-pool1", "--since", "1h", "-o", "json")
	run(2, "pool", "history", "east-arr1-pool1", "--since", "yesterday")

	// Inventory.
	has(run(0, "create", "host", "esx-new", "--site", "east",
		"--hba", "10:00:00:00:c9:aa:00:01,20:00:00:00:c9:aa:00:01,east-a",
		"--hba", "0x10000000c9aa0002,20-00-00-00-c9-aa-00-02,east-b"), "Created host esx-new at east", "east-a", "east-b")
	run(2, "create", "host", "esx-bad", "--site", "east", "--hba", "10:00:00:00:c9:aa:00:03")
	has(run(0, "create", "vm", "app-1", "--host", "esx-new"), "Created VM app-1 on esx-new", "set a", "set b")
	has(run(0, "set", "shares", "app-1", "2000"), "VM app-1: shares 2000")
	run(2, "set", "shares", "app-1", "many")

	// NPIV: the idle vport (set b) logs in and out; a WWPN that is not one
	// is a 400 naming it (exit 1).
	out = run(0, "get", "vms", "--host", "east-esx02", "-o", "json")
	var vms []struct {
		ID     string
		Vports []struct{ WWPN, Set string }
	}
	if err := json.Unmarshal([]byte(out), &vms); err != nil {
		t.Fatal(err)
	}
	b := ""
	for _, v := range vms {
		for _, p := range v.Vports {
			if v.ID == "east-vm002" && p.Set == "b" && b == "" {
				b = p.WWPN
			}
		}
	}
	if b == "" {
		t.Fatalf("east-vm002 has no set-b vport:\n%s", out)
	}
	has(run(0, "login", "east-vm002", b), "Logged in "+b)
	has(run(1, "login", "east-vm002", "not-a-wwpn"), "wwpn")
	has(run(0, "logout", "east-vm002", b), "Logged out "+b)

	// Drift: a zone deleted behind sanmob's back, found and repaired.
	out = run(0, "get", "zones", "east-a", "-o", "json")
	var zs []struct {
		Name  string
		Users []string
	}
	if err := json.Unmarshal([]byte(out), &zs); err != nil {
		t.Fatal(err)
	}
	zone := ""
	for _, z := range zs {
		if strings.HasPrefix(z.Name, "sm_east-vm001_") {
			zone = z.Name
			break
		}
	}
	if zone == "" {
		t.Fatalf("no zone of east-vm001 on east-a:\n%s", out)
	}
	has(run(0, "lab", "zone", "delete", "east-a", zone), "Deleted zone "+zone)
	has(run(0, "describe", "vm", "east-vm001", "--verify"), "!")
	run(0, "lab", "fault", "--target", "east-b", "--op", "read", "--count", "1")
	has(run(0, "describe", "vm", "east-vm001", "--verify"), "east-b could not be read")
	has(run(0, "reconcile", "east-a"), "Fabric east-a: 1 missing", zone)
	run(0, "reconcile", "east-a", "--apply")
	has(run(0, "reconcile", "east-a"), "Fabric east-a: 0 missing")
	has(run(0, "lab", "clock"), "Lab time ", "1000× real time")
}

// TestClaimCommandsAgainstTheLab: claim, get claims, describe claim and
// unclaim against the daemon, with the lab switches' own zone DBs as the
// judge.
func TestClaimCommandsAgainstTheLab(t *testing.T) {
	server, tok := startDaemon(t)
	run := func(wantCode int, args ...string) string {
		t.Helper()
		code, out, errOut := ctl(t, server, tok, args...)
		if code != wantCode {
			t.Fatalf("sanmobctl %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, wantCode, out, errOut)
		}
		return out + errOut
	}
	var hosts []struct {
		ID   string
		HBAs []struct{ WWPN, Fabric string }
	}
	if err := json.Unmarshal([]byte(run(0, "get", "hosts", "--site", "east", "-o", "json")), &hosts); err != nil || len(hosts) == 0 {
		t.Fatalf("hosts: %v", err)
	}
	h := hosts[len(hosts)-1]
	var inits []string
	for _, b := range h.HBAs {
		if b.Fabric == "east-a" {
			inits = append(inits, b.WWPN)
		}
	}
	// A vendor's array sanmob does not manage, cabled into east-a.
	tgt := "50:0a:09:81:00:00:0c:01"
	if out := run(0, "lab", "plug", "east-a", tgt, "--wwnn", "50:0a:09:80:00:00:0c:00", "--target"); !strings.Contains(out, "target") {
		t.Fatalf("lab plug:\n%s", out)
	}
	run(4, "lab", "plug", "east-b", tgt, "--wwnn", "50:0a:09:80:00:00:0c:00", "--target") // logged in already: 409, exit 4
	if len(inits) == 0 {
		t.Fatalf("host %s has no initiator on east-a", h.ID)
	}
	key := "pvc-ctl/" + h.ID
	args := []string{"claim", "ctl.test.example", key, "--target", tgt}
	for _, w := range inits {
		args = append(args, "--initiator", w)
	}
	out := run(0, args...)
	if !strings.Contains(out, "east-a") || !strings.Contains(out, "sm_") {
		t.Fatalf("claim:\n%s", out)
	}
	zonesWith := func() int {
		var db struct{ Zones []struct{ Members []string } }
		if err := json.Unmarshal([]byte(run(0, "lab", "zonedb", "east-a", "-o", "json")), &db); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, z := range db.Zones {
			if slices.Contains(z.Members, tgt) && slices.ContainsFunc(z.Members, func(m string) bool { return slices.Contains(inits, m) }) {
				n++
			}
		}
		return n
	}
	if n := zonesWith(); n != len(inits) {
		t.Fatalf("%d zones of the claim on east-a's switch, want %d", n, len(inits))
	}
	if out := run(0, "get", "claims", "--owner", "ctl.test.example"); !strings.Contains(out, key) || !strings.Contains(out, "ready") {
		t.Errorf("get claims:\n%s", out)
	}
	if out := run(0, "describe", "claim", "ctl.test.example", key); !strings.Contains(out, "east-a") {
		t.Errorf("describe claim:\n%s", out)
	}
	// A WWPN logged in nowhere: exit 4 (refused) with the daemon's words.
	if out := run(4, "claim", "ctl.test.example", "pvc-x/n", "--initiator", "10:00:00:00:c9:de:ad:01", "--target", tgt); !strings.Contains(out, "10:00:00:00:c9:de:ad:01") {
		t.Errorf("refused claim:\n%s", out)
	}
	run(0, "unclaim", "ctl.test.example", key)
	run(0, "unclaim", "ctl.test.example", key) // again: nothing to do
	if n := zonesWith(); n != 0 {
		t.Fatalf("%d zones of the claim left after unclaim", n)
	}
	run(0, "lab", "unplug", "east-a", tgt)
	run(4, "lab", "unplug", "east-a", inits[0]) // the lab's own port: 409, exit 4
}
