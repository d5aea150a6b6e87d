package main

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestVersionFlag: --version prints the build's stamps and exits 0 before
// anything is opened or written.
func TestVersionFlag(t *testing.T) {
	t.Parallel()
	bin := daemonBin(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--version", "--data-dir", dataDir).Output()
	if err != nil {
		t.Fatalf("sanmobd --version: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if !strings.HasPrefix(lines[0], "sanmobd ") || len(lines[0]) == len("sanmobd ") {
		t.Errorf("first line %q, want \"sanmobd <version>\"", lines[0])
	}
	for _, want := range []string{"module: github.com/sanmob/sanmob", "go: " + runtime.Version()} {
		if !strings.Contains(string(out), want) {
			t.Errorf("--version does not print %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(dataDir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("--version created the data dir (%v)", err)
	}
}

// TestBuildInfoMetric: /metrics carries sanmob_build_info with the version
// --version prints.
func TestBuildInfoMetric(t *testing.T) {
	t.Parallel()
	out, err := exec.Command(daemonBin(t), "--version").Output()
	if err != nil {
		t.Fatalf("sanmobd --version: %v", err)
	}
	version := strings.TrimPrefix(strings.SplitN(string(out), "\n", 2)[0], "sanmobd ")
	d := startDaemon(t, t.TempDir())
	st, body, err := d.request(http.MethodGet, "/metrics", "", nil)
	if err != nil || st != http.StatusOK {
		t.Fatalf("/metrics: %d %v", st, err)
	}
	re := regexp.MustCompile(`(?m)^sanmob_build_info\{([^}]*)\} 1$`)
	m := re.FindSubmatch(body)
	if m == nil {
		t.Fatalf("no sanmob_build_info 1 in /metrics")
	}
	for _, want := range []string{`version="` + version + `"`, `goversion="` + runtime.Version() + `"`, `revision="`} {
		if !strings.Contains(string(m[1]), want) {
			t.Errorf("sanmob_build_info{%s}: no %s", m[1], want)
		}
	}
}
