package csi

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/sirupsen/logrus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
)

// PluginName is the CSI driver name a CO's StorageClass names.
const PluginName = "csi.sanmob.io"

// Config is what New needs.
type Config struct {
	Mobility Mobility
	Log      logrus.FieldLogger
	// Version is reported by GetPluginInfo.
	Version string
	// Ready adds the daemon's own readiness conditions (store open, ...)
	// to the core's for Probe; optional.
	Ready func() (bool, []string)
	// StopGrace bounds the graceful stop: calls still running then are
	// cut off. Default 10s.
	StopGrace time.Duration
	// Creds are the transport credentials Serve uses (TLS on a TCP
	// endpoint, built by the caller); nil serves without: right for a
	// unix socket, whose file mode is the access control.
	Creds credentials.TransportCredentials
}

// Server implements the CSI Identity and Controller services.
type Server struct {
	csi.UnimplementedIdentityServer
	csi.UnimplementedControllerServer

	cfg  Config
	mob  Mobility
	log  logrus.FieldLogger
	busy inflight
}

// New checks cfg; it opens nothing.
func New(cfg Config) (*Server, error) {
	if cfg.Mobility == nil {
		return nil, errors.New("csi: Config.Mobility is required")
	}
	if cfg.Log == nil {
		l := logrus.New()
		l.SetOutput(os.Stderr)
		cfg.Log = l
	}
	if cfg.StopGrace <= 0 {
		cfg.StopGrace = 10 * time.Second
	}
	return &Server{cfg: cfg, mob: cfg.Mobility, log: cfg.Log, busy: inflight{keys: map[string]struct{}{}}}, nil
}

// ParseEndpoint splits unix://PATH (also unix:PATH) or tcp://ADDR into a
// network and an address.
func ParseEndpoint(endpoint string) (network, addr string, err error) {
	for _, p := range []struct{ prefix, network string }{
		{"unix://", "unix"}, {"unix:", "unix"}, {"tcp://", "tcp"},
	} {
		if rest, ok := strings.CutPrefix(endpoint, p.prefix); ok {
			if rest == "" {
				break
			}
			return p.network, rest, nil
		}
	}
	return "", "", fmt.Errorf("csi endpoint %q: want unix://PATH or tcp://ADDR", endpoint)
}

// Listen opens an endpoint. A unix socket is made mode 0600 (only the
// daemon's user may drive the SAN through it); a stale socket left by a
// killed daemon is removed first, but a path that is not a socket, or a
// socket someone still answers on, is refused.
func Listen(endpoint string) (net.Listener, error) {
	network, addr, err := ParseEndpoint(endpoint)
	if err != nil {
		return nil, err
	}
	if network == "tcp" {
		return net.Listen("tcp", addr)
	}
	return listenUnix(addr)
}

func listenUnix(path string) (net.Listener, error) {
	switch fi, err := os.Lstat(path); {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("csi endpoint: %w", err)
	case fi.Mode().Type() != fs.ModeSocket:
		return nil, fmt.Errorf("csi endpoint %s exists and is not a socket; refusing to replace it", path)
	default:
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			_ = c.Close()
			return nil, fmt.Errorf("csi endpoint %s: another process is serving on it", path)
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("csi endpoint: removing the stale socket: %w", err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("csi endpoint: %w", err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("csi endpoint: %w", err)
	}
	// bind(2) applies the umask, and the umask is process-wide, so it is
	// not changed here (other goroutines create files); the socket is
	// narrowed right after. Until then connect(2) needs write permission,
	// which a usual umask (022) already withholds from others.
	if err := os.Chmod(path, 0o600); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("csi endpoint: %w", err)
	}
	return ln, nil
}

// Serve serves the Identity and Controller services on ln until ctx ends,
// then stops gracefully: running calls may finish within StopGrace, and a
// unix socket is removed. It returns nil after a stop that ctx asked for.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	opts := []grpc.ServerOption{grpc.UnaryInterceptor(s.intercept)}
	if s.cfg.Creds != nil {
		opts = append(opts, grpc.Creds(s.cfg.Creds))
	}
	g := grpc.NewServer(opts...)
	csi.RegisterIdentityServer(g, s)
	csi.RegisterControllerServer(g, s)
	defer removeSocket(ln)

	served := make(chan error, 1)
	go func() { served <- g.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("csi: %w", err)
	case <-ctx.Done():
	}
	stopped := make(chan struct{})
	go func() { g.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(s.cfg.StopGrace):
		s.log.WithField("grace", s.cfg.StopGrace.String()).Warn("csi: calls still running after the grace period; cutting them off")
		g.Stop()
		<-stopped
	}
	<-served
	return nil
}

// ListenAndServe is Listen then Serve.
func (s *Server) ListenAndServe(ctx context.Context, endpoint string) error {
	ln, err := Listen(endpoint)
	if err != nil {
		return err
	}
	return s.Serve(ctx, ln)
}

func removeSocket(ln net.Listener) {
	if a, ok := ln.Addr().(*net.UnixAddr); ok && !strings.HasPrefix(a.Name, "@") {
		_ = os.Remove(a.Name) // already gone when the listener unlinked it
	}
}

// inflight refuses a second call on the same object while one runs: CSI
// lets a plugin answer ABORTED ("operation pending"), and the CO retries.
// It keeps look-up-then-create sequences (CreateVolume by name) atomic.
type inflight struct {
	mu   sync.Mutex
	keys map[string]struct{}
}

func (f *inflight) acquire(key string) (release func(), err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.keys[key]; ok {
		return nil, status.Errorf(codes.Aborted, "an operation on %s is already in progress", key)
	}
	f.keys[key] = struct{}{}
	return func() {
		f.mu.Lock()
		delete(f.keys, key)
		f.mu.Unlock()
	}, nil
}
