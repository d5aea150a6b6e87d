package fcdriver

import (
	"context"
	"errors"
	"net"
	"os"

	"google.golang.org/grpc"
)

// Listen opens the unix socket at path (a stale socket file there is
// removed first) with mode 0600.
func Listen(path string) (net.Listener, error) {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

// Serve serves d's Identity and Controller, and n's Node when n is not nil,
// on ln until ctx ends; then it stops gracefully.
func Serve(ctx context.Context, ln net.Listener, d *Driver, n *Node) error {
	g := grpc.NewServer()
	d.Register(g)
	if n != nil {
		RegisterNode(g, n)
	}
	errc := make(chan error, 1)
	go func() { errc <- g.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		g.GracefulStop()
		<-errc
		return nil
	}
}
