package main

// The CSI conformance run: csi-sanity (kubernetes-csi csi-test v5.6.0)
// against the real sanmobd binary on the small lab, through the CSI
// endpoint's default unix socket, with a stand-in Node service beside it.
// The counts it logs are the ones BENCHMARKS.md records
// (go test -race -run TestCSISanity -v ./cmd/sanmobd/).

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubernetes-csi/csi-test/v5/pkg/sanity"

	csiserver "github.com/sanmob/sanmob/server/csi"
	"github.com/sanmob/sanmob/server/csi/csitest"
)

func TestCSISanity(t *testing.T) {
	csitest.SkipUnlessRunnable(t)
	t.Parallel()
	dataDir := t.TempDir()
	// Every secret field the suite can send carries this value; none may
	// reach the daemon's log, which runs at debug level to log everything.
	const secret = "csi-sanity-secret-7f3a9c"
	var yaml strings.Builder
	for _, f := range []string{"CreateVolumeSecret", "DeleteVolumeSecret", "ControllerPublishVolumeSecret",
		"ControllerUnpublishVolumeSecret", "ControllerValidateVolumeCapabilitiesSecret", "CreateSnapshotSecret",
		"DeleteSnapshotSecret", "ControllerExpandVolumeSecret", "ListSnapshotsSecret"} {
		yaml.WriteString(f + ":\n  password: " + secret + "\n")
	}
	secrets := filepath.Join(t.TempDir(), "secrets.yaml")
	if err := os.WriteFile(secrets, []byte(yaml.String()), 0o600); err != nil {
		t.Fatal(err)
	}

	d := startDaemon(t, dataDir, "--log-level", "debug")
	sock := filepath.Join(dataDir, "csi.sock") // the default endpoint
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatalf("the CSI socket: %v", err)
	}
	if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Errorf("the CSI socket has mode %v, want a 0600 socket", fi.Mode())
	}

	node := csitest.ServeNode(t, &csitest.Node{ID: "east-esx01", Site: "east", TopologyKey: csiserver.TopologyKeySite})
	paths, err := os.MkdirTemp("", "csisanity")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(paths) })
	cfg := sanity.NewTestConfig()
	cfg.Address = node
	cfg.ControllerAddress = "unix://" + sock
	cfg.SecretsFile = secrets
	cfg.TestVolumeSize = 1 << 30 // the lab's thin pools take thousands of these
	cfg.TestVolumeParameters = map[string]string{"site": "east"}
	cfg.TargetPath, cfg.StagingPath = filepath.Join(paths, "mount"), filepath.Join(paths, "staging")
	csitest.Run(t, cfg, csitest.Skips)

	if strings.Contains(d.log.String(), secret) {
		t.Errorf("a CSI secret is in the daemon's log")
	}
	if len(d.log.records("csi call")) == 0 {
		t.Errorf("no CSI call in the daemon's log")
	}

	// SIGTERM: a clean exit that takes the socket with it.
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("sanmobd still runs 30s after SIGTERM")
	}
	if code := d.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0", code)
	}
	if _, err := os.Lstat(sock); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the CSI socket is still there after SIGTERM (%v)", err)
	}
}
