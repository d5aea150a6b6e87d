package csi

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

func TestParseEndpoint(t *testing.T) {
	tests := []struct{ in, network, addr string }{
		{"unix:///run/sanmob/csi.sock", "unix", "/run/sanmob/csi.sock"},
		{"unix://./data/csi.sock", "unix", "./data/csi.sock"},
		{"unix:/tmp/csi.sock", "unix", "/tmp/csi.sock"},
		{"tcp://127.0.0.1:10000", "tcp", "127.0.0.1:10000"},
		{"http://x", "", ""},
		{"unix://", "", ""},
		{"/tmp/csi.sock", "", ""},
	}
	for _, tc := range tests {
		n, a, err := ParseEndpoint(tc.in)
		if n != tc.network || a != tc.addr || (err != nil) != (tc.network == "") {
			t.Errorf("ParseEndpoint(%q) = %q, %q, %v; want %q, %q", tc.in, n, a, err, tc.network, tc.addr)
		}
	}
}

// TestUnixSocket: the socket is 0600 whatever the umask, a stale socket is
// replaced, what is not a socket or is still served on is refused, and the
// socket is gone after Serve stops.
func TestUnixSocket(t *testing.T) {
	dir := shortDir(t)
	path := filepath.Join(dir, "sub", "csi.sock") // the directory is made too

	// A socket left by a killed daemon: bound, never unlinked.
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	stale, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	_ = stale.Close()

	srv, err := New(Config{Mobility: coreOf(t), Log: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := Listen("unix://" + path)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want a 0600 socket", fi.Mode())
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()

	conn, err := grpc.NewClient("unix://"+path, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	info, err := csi.NewIdentityClient(conn).GetPluginInfo(context.Background(), &csi.GetPluginInfoRequest{})
	if err != nil || info.GetName() != PluginName {
		t.Fatalf("GetPluginInfo = %v, %v", info, err)
	}

	if _, err := Listen("unix://" + path); err == nil || !strings.Contains(err.Error(), "another process") {
		t.Errorf("Listen on a served socket: %v, want a refusal", err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after ctx end: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Serve did not stop")
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the socket is still there after Serve stopped (%v)", err)
	}

	file := filepath.Join(dir, "not-a-socket")
	if err := os.WriteFile(file, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen("unix://" + file); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("Listen on a regular file: %v, want a refusal", err)
	}
	if b, _ := os.ReadFile(file); string(b) != "keep me" {
		t.Errorf("the regular file was touched")
	}
}

func TestTCPEndpoint(t *testing.T) {
	srv, err := New(Config{Mobility: coreOf(t), Log: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := Listen("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := csi.NewIdentityClient(conn).Probe(context.Background(), &csi.ProbeRequest{}); err != nil {
		t.Fatalf("Probe over tcp: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
}
