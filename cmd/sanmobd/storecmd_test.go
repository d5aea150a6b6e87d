package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sanmob/sanmob/store"
)

func runStoreCmd(t *testing.T, stdin []byte, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	ok, code := storeCommand(args, bytes.NewReader(stdin), &out, &errOut)
	if !ok {
		t.Fatalf("storeCommand(%v) did not take the subcommand", args)
	}
	return code, out.String(), errOut.String()
}

func seedDataDir(t *testing.T, n int) string {
	t.Helper()
	d := t.TempDir()
	s, err := store.Open(store.Options{Dir: filepath.Join(d, "store")})
	if err != nil {
		t.Fatal(err)
	}
	b := s.Batch()
	for i := range n {
		if err := b.Put("volume", fmt.Sprintf("vol-%04d", i), map[string]int{"size": i}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return d
}

func records(t *testing.T, dataDir string) map[string]string {
	t.Helper()
	s, err := store.Open(store.Options{Dir: filepath.Join(dataDir, "store")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out := map[string]string{}
	if err := s.List("volume", func(id string, raw []byte) error { out[id] = string(raw); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestStoreCommands(t *testing.T) {
	src := seedDataDir(t, 300)
	if code, out, errOut := runStoreCmd(t, nil, "check", "--data-dir", src); code != 0 || !strings.Contains(out, "is clean: 300 records of 1 kinds") {
		t.Fatalf("check = %d\n%s%s", code, out, errOut)
	}
	file := filepath.Join(t.TempDir(), "backup")
	if code, out, errOut := runStoreCmd(t, nil, "backup", "--data-dir", src, "--out", file); code != 0 {
		t.Fatalf("backup = %d\n%s%s", code, out, errOut)
	}
	// To stdout too, and the same bytes' worth of records restore from stdin.
	code, stdout, errOut := runStoreCmd(t, nil, "backup", "--data-dir", src, "--out", "-")
	if code != 0 {
		t.Fatalf("backup to stdout = %d\n%s", code, errOut)
	}
	dst := t.TempDir()
	if code, out, errOut := runStoreCmd(t, nil, "restore", "--data-dir", dst, "--in", file); code != 0 {
		t.Fatalf("restore = %d\n%s%s", code, out, errOut)
	}
	dst2 := t.TempDir()
	if code, out, errOut := runStoreCmd(t, []byte(stdout), "restore", "--data-dir", dst2, "--in", "-"); code != 0 {
		t.Fatalf("restore from stdin = %d\n%s%s", code, out, errOut)
	}
	want := records(t, src)
	for _, d := range []string{dst, dst2} {
		if got := records(t, d); len(want) != 300 || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("restored %d records, want the %d backed up", len(got), len(want))
		}
		if code, out, errOut := runStoreCmd(t, nil, "check", "--data-dir", d); code != 0 {
			t.Fatalf("check restored = %d\n%s%s", code, out, errOut)
		}
	}
	if code, _, errOut := runStoreCmd(t, nil, "restore", "--data-dir", src, "--in", file); code != 1 || !strings.Contains(errOut, "not empty") {
		t.Fatalf("restore over a store = %d, %s", code, errOut)
	}
	if code, _, errOut := runStoreCmd(t, nil, "backup", "--data-dir", src, "--out", file); code != 1 || !strings.Contains(errOut, "exists") {
		t.Fatalf("backup over a file = %d, %s", code, errOut)
	}

	// A store in use: the daemon would hold it like this.
	s, err := store.Open(store.Options{Dir: filepath.Join(src, "store")})
	if err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runStoreCmd(t, nil, "backup", "--data-dir", src, "--out", "-"); code != 1 || !strings.Contains(errOut, "is sanmobd running") {
		t.Fatalf("backup of a store in use = %d, %s", code, errOut)
	}
	if code, _, errOut := runStoreCmd(t, nil, "check", "--data-dir", src); code != 2 || !strings.Contains(errOut, "is sanmobd running") {
		t.Fatalf("check of a store in use = %d, %s", code, errOut)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	if err := os.Remove(filepath.Join(src, "store", "MANIFEST")); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := runStoreCmd(t, nil, "check", "--data-dir", src); code != 1 || !strings.Contains(out, "problem: store damaged") || !strings.Contains(out, "MANIFEST is missing") {
		t.Fatalf("check of a damaged store = %d\n%s", code, out)
	}
}

func TestStoreCommandUsage(t *testing.T) {
	for _, args := range [][]string{
		{"check"},
		{"check", "--data-dir", "x", "extra"},
		{"backup", "--data-dir", "x"},
		{"restore", "--data-dir", "x"},
		{"check", "--bogus"},
	} {
		if code, _, errOut := runStoreCmd(t, nil, args...); code != 2 || !strings.Contains(errOut, "usage:") {
			t.Errorf("%v = %d, %q; want 2 and the usage", args, code, errOut)
		}
	}
	if code, _, errOut := runStoreCmd(t, nil, "check", "--data-dir", t.TempDir()); code != 2 || !strings.Contains(errOut, "no store") {
		t.Errorf("check of an empty dir = %d, %q", code, errOut)
	}
	if ok, _ := storeCommand([]string{"--lab"}, nil, nil, nil); ok {
		t.Error("daemon flags taken as a subcommand")
	}
}
