package client

import (
	"crypto/tls"
	"fmt"
	"os"
	"strings"
	"sync"
)

// fileValue is what was made of some files, made again when one of them
// changes (its modification time or size), as a rotated Kubernetes
// secret or a certificate cert-manager renews does: a long-running driver
// then needs no restart. While the files cannot be used (half written,
// gone), the last good value stays.
type fileValue[T any] struct {
	paths []string
	load  func() (T, error)

	mu    sync.Mutex
	stamp string
	val   T
}

// newFileValue loads the files once; an error here is the caller's to
// report.
func newFileValue[T any](load func() (T, error), paths ...string) (*fileValue[T], error) {
	f := &fileValue[T]{paths: paths, load: load}
	f.stamp = f.stampNow()
	v, err := load()
	if err != nil {
		return nil, err
	}
	f.val = v
	return f, nil
}

func (f *fileValue[T]) stampNow() string {
	var b strings.Builder
	for _, p := range f.paths {
		st, err := os.Stat(p) // follows the symlink a secret volume swaps
		if err != nil {
			b.WriteString("?;")
			continue
		}
		fmt.Fprintf(&b, "%d/%d;", st.ModTime().UnixNano(), st.Size())
	}
	return b.String()
}

// get returns the value, made again first when a file changed.
func (f *fileValue[T]) get() T {
	f.mu.Lock()
	defer f.mu.Unlock()
	stamp := f.stampNow()
	if stamp == f.stamp {
		return f.val
	}
	v, err := f.load()
	if err != nil {
		return f.val // tried again on the next call
	}
	f.val, f.stamp = v, stamp
	return v
}

// readToken reads a bearer token file.
func readToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("token file %s is empty", path)
	}
	return tok, nil
}

// loadKeyPair reads a client certificate and its key.
func loadKeyPair(certFile, keyFile string) (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("client certificate: %w", err)
	}
	return &cert, nil
}
