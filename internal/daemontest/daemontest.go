// Package daemontest starts the real sanmobd on the embedded lab for the
// end-to-end tests of other packages (the console's browser tests,
// sanmobctl's): it builds the binary once per test process, starts it on a
// free port in a temporary data dir, waits until /readyz answers, and
// reads the generated admin token. Stdlib only; tests import it, the
// daemon does not.
package daemontest

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// Daemon is a sanmobd process serving the lab.
type Daemon struct {
	Base      string // http://127.0.0.1:PORT
	DataDir   string
	Token     string // the admin token: generated, or Tokens["admin"]
	TokenFile string
	// Tokens are the tokens StartWithTokens configured, by role.
	Tokens map[string]string
	Log    *Buffer // its stdout and stderr
}

// Buffer is a bytes.Buffer safe for the process's writes and a test's
// reads at once.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var build = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "sanmob-daemontest-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "sanmobd")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/sanmob/sanmob/cmd/sanmobd")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build sanmobd: %v\n%s", err, out)
	}
	return bin, nil
})

// Cleanup removes the binary Start built; call it from TestMain after
// m.Run.
func Cleanup() {
	if bin, err := build(); err == nil {
		_ = os.RemoveAll(filepath.Dir(bin))
	}
}

// Start runs sanmobd --lab with the extra flags, on a free loopback port
// and a fresh data dir, until the test ends (killed then; its log is shown
// when the test failed), and returns it once it is ready.
func Start(t testing.TB, extra ...string) *Daemon {
	t.Helper()
	return start(t, nil, extra...)
}

// StartWithTokens is Start with a config file that holds one token per
// role of tokens (role → the token itself; "admin" is required), so that a
// test can call as a role other than admin. The daemon then generates no
// admin token.
func StartWithTokens(t testing.TB, tokens map[string]string, extra ...string) *Daemon {
	t.Helper()
	if tokens["admin"] == "" {
		t.Fatal("daemontest: StartWithTokens needs an admin token")
	}
	return start(t, tokens, extra...)
}

func start(t testing.TB, tokens map[string]string, extra ...string) *Daemon {
	t.Helper()
	bin, err := build()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	d := &Daemon{Base: "http://" + addr, DataDir: dir, TokenFile: filepath.Join(dir, "admin.token"), Log: &Buffer{}, Tokens: tokens}
	args := []string{"--lab", "--data-dir", dir, "--listen", addr}
	if tokens != nil {
		var cfg strings.Builder
		cfg.WriteString("tokens:\n")
		roles := make([]string, 0, len(tokens))
		for role := range tokens {
			roles = append(roles, role)
		}
		sort.Strings(roles)
		for _, role := range roles {
			fmt.Fprintf(&cfg, "  - name: test-%s\n    role: %s\n    sha256: %q\n", role, role, fmt.Sprintf("%x", sha256.Sum256([]byte(tokens[role]))))
		}
		path := filepath.Join(t.TempDir(), "sanmob.yaml")
		if err := os.WriteFile(path, []byte(cfg.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--config", path)
	}
	cmd := exec.Command(bin, append(args, extra...)...)
	cmd.Stdout, cmd.Stderr = d.Log, d.Log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sanmobd: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("sanmobd log:\n%s", Tail(d.Log.String(), 4000))
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(d.Base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-done:
			t.Fatalf("sanmobd exited before it was ready:\n%s", d.Log.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("sanmobd not ready within 30 s:\n%s", Tail(d.Log.String(), 4000))
		}
	}
	if tokens != nil {
		d.Token, d.TokenFile = tokens["admin"], ""
		return d
	}
	raw, err := os.ReadFile(d.TokenFile)
	if err != nil {
		t.Fatalf("the lab daemon wrote no admin token: %v", err)
	}
	d.Token = strings.TrimSpace(string(raw))
	return d
}

// Tail is the last n bytes of s, marked when cut.
func Tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
