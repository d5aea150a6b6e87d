package store

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The corruption tests damage a store's files the ways an attacker or a bad
// disk would and require each to end in a refusal a person can act on
// (ErrDamaged) — never a silent open on less data, never a panic.

const corruptRecords = 600

// corruptOpts gives memtables small enough that a few hundred records reach
// table files.
func corruptOpts(dir string) Options {
	return Options{Dir: dir, memTableSize: 64 << 10}
}

// seedStore writes records until there are table files. With crash set the
// last writes stay only in the write-ahead log: a child process writes them
// and exits without closing the store, as kill -9 would leave it.
func seedStore(t *testing.T, dir string, crash bool) {
	t.Helper()
	writeVolumes(t, dir)
	if !crash {
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestCorruptSeedChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), seedDirEnv+"="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("seed child: %v\n%s", err, out)
	}
}

const seedDirEnv = "SANMOB_STORE_SEED_CHILD"

func writeVolumes(t testing.TB, dir string) {
	s, err := Open(corruptOpts(dir))
	if err != nil {
		t.Fatal(err)
	}
	b := s.Batch()
	for i := range corruptRecords {
		if err := b.Put("vol", fmt.Sprintf("v%05d", i), killValue(i)); err != nil {
			t.Fatal(err)
		}
		if i%50 == 49 {
			if err := b.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestCorruptSeedChild writes 40 attachments — less than one memtable, so no
// flush is in flight — and exits without Close; it does nothing in a normal
// run.
func TestCorruptSeedChild(t *testing.T) {
	dir := os.Getenv(seedDirEnv)
	if dir == "" {
		t.Skip("helper process for seedStore")
	}
	s, err := Open(corruptOpts(dir))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		if err := s.Put("att", fmt.Sprintf("a%03d", i), killValue(i)); err != nil {
			t.Fatal(err)
		}
	}
	os.Exit(0)
}

func filesWith(t *testing.T, dir, ext string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+ext))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(m)
	return m
}

// usedLen is the length of a log up to its last non-zero byte.
func usedLen(raw []byte) int {
	n := len(raw)
	for n > 0 && raw[n-1] == 0 {
		n--
	}
	return n
}

func mutate(t *testing.T, path string, fn func([]byte) []byte) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, fn(raw), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestCorruptionRefused(t *testing.T) {
	tests := []struct {
		name   string
		crash  bool // leave writes in the .mem log
		damage func(t *testing.T, dir string)
		want   string // in the error
	}{
		{"MANIFEST removed", false, func(t *testing.T, dir string) {
			must(t, os.Remove(filepath.Join(dir, "MANIFEST")))
		}, "MANIFEST is missing"},
		{"MANIFEST truncated", false, func(t *testing.T, dir string) {
			mutate(t, filepath.Join(dir, "MANIFEST"), func(b []byte) []byte { return b[:len(b)/2] })
		}, "does not list the tables"},
		{"all tables removed", false, func(t *testing.T, dir string) {
			for _, p := range filesWith(t, dir, ".sst") {
				must(t, os.Remove(p))
			}
		}, "listed in its MANIFEST, is missing"},
		{"4 KB of garbage in a table", false, func(t *testing.T, dir string) {
			mutate(t, filesWith(t, dir, ".sst")[0], func(b []byte) []byte {
				for i := range 4096 {
					b[len(b)/3+i%(len(b)/3)] = byte(i*7 + 3)
				}
				return b
			})
		}, "is damaged"},
		{"one byte flipped in a table", false, func(t *testing.T, dir string) {
			mutate(t, filesWith(t, dir, ".sst")[0], func(b []byte) []byte { b[len(b)/2] ^= 0x40; return b })
		}, "is damaged"},
		{"table truncated", false, func(t *testing.T, dir string) {
			mutate(t, filesWith(t, dir, ".sst")[0], func(b []byte) []byte { return b[:len(b)-100] })
		}, "is damaged"},
		{"table emptied", false, func(t *testing.T, dir string) {
			mutate(t, filesWith(t, dir, ".sst")[0], func([]byte) []byte { return nil })
		}, "is damaged"},
		{"one byte flipped in the write-ahead log", true, func(t *testing.T, dir string) {
			mutate(t, lastLog(t, dir), func(b []byte) []byte { b[usedLen(b)/3] ^= 0x01; return b })
		}, "is damaged at byte"},
		{"write-ahead log cut inside an entry", true, func(t *testing.T, dir string) {
			mutate(t, lastLog(t, dir), func(b []byte) []byte {
				i := usedLen(b) * 2 / 3
				for b[i-1] == 0 {
					i++
				}
				return b[:i]
			})
		}, "ends inside an entry"},
		{"a table not in the MANIFEST", false, func(t *testing.T, dir string) {
			raw, err := os.ReadFile(filesWith(t, dir, ".sst")[0])
			must(t, err)
			must(t, os.WriteFile(filepath.Join(dir, "099999.sst"), raw, 0o600))
		}, "does not list the tables [099999.sst]"},
		{"every file but the marker removed", false, func(t *testing.T, dir string) {
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if e.Name() != MarkerFile {
					must(t, os.Remove(filepath.Join(dir, e.Name())))
				}
			}
		}, "MANIFEST is missing"},
		{"marker, MANIFEST and tables removed, logs left", true, func(t *testing.T, dir string) {
			must(t, os.Remove(filepath.Join(dir, MarkerFile)))
			must(t, os.Remove(filepath.Join(dir, "MANIFEST")))
			for _, p := range filesWith(t, dir, ".sst") {
				must(t, os.Remove(p))
			}
		}, "no MANIFEST and no marker"},
		{"marker garbled", false, func(t *testing.T, dir string) {
			must(t, os.WriteFile(filepath.Join(dir, MarkerFile), []byte("{garbage"), 0o600))
		}, "marker"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "store")
			seedStore(t, dir, tt.crash)
			tt.damage(t, dir)
			s, err := Open(corruptOpts(dir))
			if err == nil {
				n, _ := s.Count("vol")
				_ = s.Close()
				t.Fatalf("Open succeeded on a damaged store (%d of %d volumes)", n, corruptRecords)
			}
			if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Open: %v\nwant ErrDamaged saying %q", err, tt.want)
			}
			if !strings.Contains(err.Error(), "restore a backup") && !strings.Contains(err.Error(), "sanmobd check") {
				t.Errorf("Open: %v\nwant advice on what to do", err)
			}
			t.Log(err)
		})
	}
}

// lastLog is the write-ahead log holding the newest writes.
func lastLog(t *testing.T, dir string) string {
	t.Helper()
	logs := filesWith(t, dir, ".mem")
	for i := len(logs) - 1; i >= 0; i-- {
		raw, err := os.ReadFile(logs[i])
		if err != nil {
			t.Fatal(err)
		}
		if usedLen(raw) > 4096 {
			return logs[i]
		}
	}
	t.Fatalf("no write-ahead log with records in %s", dir)
	return ""
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestCrashedStoreOpens: the torn tail a crash leaves is not damage.
func TestCrashedStoreOpens(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	seedStore(t, dir, true)
	// A torn last entry: a prefix of it written, the rest zeros.
	mutate(t, lastLog(t, dir), func(b []byte) []byte {
		n := usedLen(b)
		copy(b[n:], b[n-60:n-30])
		return b
	})
	s, err := Open(corruptOpts(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for kind, want := range map[string]int{"vol": corruptRecords, "att": 40} {
		if n, err := s.Count(kind); err != nil || n != want {
			t.Errorf("Count(%s) = %d, %v; want %d", kind, n, err, want)
		}
	}
}

func TestMarkerWrittenAtCreation(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	s := openTest(t, dir)
	m, err := readMarker(dir)
	if err != nil || m == nil {
		t.Fatalf("marker = %v, %v", m, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// A marker lost on its own is rewritten from the identity record.
	must(t, os.Remove(filepath.Join(dir, MarkerFile)))
	s2 := openTest(t, dir)
	m2, err := readMarker(dir)
	if err != nil || m2 == nil || m2.ID != m.ID || !m2.Created.Equal(m.Created) {
		t.Fatalf("marker after rewrite = %+v, %v; want %+v", m2, err, m)
	}
	_ = s2
}

func TestInUse(t *testing.T) {
	dir := t.TempDir()
	openTest(t, dir)
	_, err := Open(Options{Dir: dir})
	if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "is sanmobd running") {
		t.Fatalf("second Open: %v, want ErrInUse", err)
	}
	// A restore over the open store says it is in use, not only that the
	// directory is not empty.
	if err := Restore(dir, strings.NewReader("x"), Options{}); !errors.Is(err, ErrInUse) {
		t.Fatalf("restore over an open store: %v, want ErrInUse", err)
	}
}

// TestCrashedStoreChecksClean: check on a store a crash left (its
// write-ahead log not yet replayed) reports it clean, with a note, as the
// daemon's next start would find it — not damaged.
func TestCrashedStoreChecksClean(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	seedStore(t, dir, true)
	rep, err := Check(dir, corruptOpts(dir))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) != 0 || rep.Records["vol"] != corruptRecords || rep.Records["att"] != 40 {
		t.Fatalf("check of a crashed store: %+v", rep)
	}
}
