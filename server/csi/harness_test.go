package csi

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/sanmob/sanmob/internal/labwire"
	"github.com/sanmob/sanmob/lab"
	"github.com/sanmob/sanmob/mobility"
	"github.com/sanmob/sanmob/store"
	"github.com/sirupsen/logrus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// syncBuffer is a log sink the server's goroutines and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type harness struct {
	mob  *mobility.Service
	lab  *lab.World
	srv  *Server
	ctl  csi.ControllerClient
	id   csi.IdentityClient
	log  *syncBuffer
	path string // the unix socket
}

// shortDir is a temporary directory whose path fits a unix socket's
// 108-byte sun_path, which t.TempDir (it carries the test's name) may not.
func shortDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "csi")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// newCore starts sanmob's core over the small lab, wired as the daemon
// wires it, with a store in a temp dir; started is false to leave it as a
// daemon is before its first read of the devices.
func newCore(t testing.TB, started bool) (*mobility.Service, *lab.World) {
	t.Helper()
	return newCoreLab(t, lab.Small(), started)
}

// newCoreLab is newCore on a lab built from cfg.
func newCoreLab(t testing.TB, cfg lab.Config, started bool) (*mobility.Service, *lab.World) {
	t.Helper()
	world, err := lab.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(store.Options{Dir: t.TempDir(), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	mob, err := mobility.New(labwire.Mobility(world, mobility.Config{Store: st, Log: quietLogger()}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mob.Close(); _ = st.Close() })
	if started {
		if err := mob.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = mob.RunSagas(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
	}
	return mob, world
}

// newHarness serves a Server over the real core on the small lab on a unix
// socket, logging everything (debug, JSON) into h.log, and dials it.
func newHarness(t testing.TB) *harness {
	t.Helper()
	return newHarnessLab(t, lab.Small())
}

// newHarnessLab is newHarness on a lab built from cfg.
func newHarnessLab(t testing.TB, cfg lab.Config) *harness {
	t.Helper()
	mob, world := newCoreLab(t, cfg, true)
	h := &harness{mob: mob, lab: world, log: &syncBuffer{}}
	l := logrus.New()
	l.SetOutput(h.log)
	l.SetLevel(logrus.DebugLevel)
	l.SetFormatter(&logrus.JSONFormatter{})
	srv, err := New(Config{Mobility: h.mob, Log: l, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	h.srv = srv
	h.path = filepath.Join(shortDir(t), "csi.sock")
	ln, err := Listen("unix://" + h.path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	conn, err := grpc.NewClient("unix://"+h.path, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	h.ctl, h.id = csi.NewControllerClient(conn), csi.NewIdentityClient(conn)
	return h
}

func mountCap(mode csi.VolumeCapability_AccessMode_Mode) *csi.VolumeCapability {
	return &csi.VolumeCapability{
		AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: mode},
	}
}

func blockCap(mode csi.VolumeCapability_AccessMode_Mode) *csi.VolumeCapability {
	return &csi.VolumeCapability{
		AccessType: &csi.VolumeCapability_Block{Block: &csi.VolumeCapability_BlockVolume{}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: mode},
	}
}

var (
	snw = csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER
	mnw = csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER
)

func (h *harness) mustCreate(t testing.TB, name string, size int64, caps ...*csi.VolumeCapability) *csi.Volume {
	t.Helper()
	if len(caps) == 0 {
		caps = []*csi.VolumeCapability{mountCap(snw)}
	}
	r, err := h.ctl.CreateVolume(context.Background(), &csi.CreateVolumeRequest{
		Name: name, VolumeCapabilities: caps, CapacityRange: &csi.CapacityRange{RequiredBytes: size}})
	if err != nil {
		t.Fatalf("CreateVolume %s: %v", name, err)
	}
	return r.GetVolume()
}

// coreOf is a started core for tests that need one but not a harness.
func coreOf(t testing.TB) *mobility.Service {
	t.Helper()
	mob, _ := newCore(t, true)
	return mob
}
