package main

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPortInUseWritesNothing: the API's port is taken before anything is
// written, so a daemon started on a port in use exits non-zero with a
// message naming the address, and its (empty) data dir stays empty: no
// admin.token, no store, no lab state, no CSI socket.
func TestPortInUseWritesNothing(t *testing.T) {
	t.Parallel()
	bin := daemonBin(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	addr := busy.Addr().String()
	dataDir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--data-dir", dataDir, "--listen", addr).CombinedOutput()
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("sanmobd on a port in use still ran after 20s:\n%s", out)
	case err == nil:
		t.Fatalf("sanmobd on a port in use exited 0:\n%s", out)
	case !errors.As(err, &ee):
		t.Fatal(err)
	}
	for _, want := range []string{"--listen " + addr, "address already in use"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the message does not say %q:\n%s", want, out)
		}
	}
	entries, err := os.ReadDir(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("the data dir holds %s after a start that could not listen", filepath.Join(dataDir, e.Name()))
	}
}

// TestWipedStoreRefused: a data dir whose store was removed while the
// admin.token and the lab an earlier start wrote are still there is a lost
// store, not a new installation: the daemon refuses, says what to do, and
// leaves the admin token as it was.
func TestWipedStoreRefused(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	d := startDaemon(t, dataDir)
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-d.done
	token, err := os.ReadFile(filepath.Join(dataDir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dataDir, "store")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, daemonBin(t), "--data-dir", dataDir, "--listen", "127.0.0.1:0",
		"--csi-endpoint", "unix://"+filepath.Join(dataDir, "csi2.sock")).CombinedOutput()
	if err == nil || ctx.Err() != nil {
		t.Fatalf("sanmobd started on a data dir whose store was removed (%v):\n%s", err, out)
	}
	for _, want := range []string{"no store", "admin.token", "sanmobd restore"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the refusal does not say %q:\n%s", want, out)
		}
	}
	if again, _ := os.ReadFile(filepath.Join(dataDir, "admin.token")); string(again) != string(token) {
		t.Error("the refused start replaced admin.token")
	}
}
