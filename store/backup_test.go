package store

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

func TestBackupRestore(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	writeVolumes(t, src)
	var buf bytes.Buffer
	if _, err := Backup(src, &buf, corruptOpts("")); err != nil {
		t.Fatal(err)
	}
	backup := buf.Bytes()

	dst := filepath.Join(t.TempDir(), "dst")
	if err := Restore(dst, bytes.NewReader(backup), corruptOpts("")); err != nil {
		t.Fatal(err)
	}
	want, got := dump(t, src), dump(t, dst)
	if len(want) != corruptRecords || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("restored %d records, want the %d backed up", len(got), len(want))
	}
	m, err := readMarker(dst)
	if err != nil || m == nil || m.Restored.IsZero() {
		t.Fatalf("restored marker %+v, %v", m, err)
	}
	if rep, err := Check(dst, Options{}); err != nil || len(rep.Problems) > 0 || rep.Records["vol"] != corruptRecords {
		t.Fatalf("Check(restored) = %+v, %v", rep, err)
	}

	t.Run("refuses a directory with data", func(t *testing.T) {
		err := Restore(src, bytes.NewReader(backup), Options{})
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "not empty") {
			t.Fatalf("Restore over a store: %v", err)
		}
		if n := len(dump(t, src)); n != corruptRecords {
			t.Fatalf("store has %d records after a refused restore", n)
		}
	})
	for name, bad := range map[string][]byte{
		"cut short":  backup[:len(backup)*2/3],
		"no trailer": backup[:len(backup)-20],
		"bit flip":   flip(backup, len(backup)/2),
		"not backup": []byte("hello"),
	} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "x")
			err := Restore(dir, bytes.NewReader(bad), Options{})
			if !errors.Is(err, ErrBackup) {
				t.Fatalf("Restore: %v, want ErrBackup", err)
			}
			if entries, _ := os.ReadDir(dir); len(entries) > 0 {
				t.Fatalf("a failed restore left %d files", len(entries))
			}
		})
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x10
	return c
}

func dump(t *testing.T, dir string) map[string]string {
	t.Helper()
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out := map[string]string{}
	err = s.List("vol", func(id string, raw []byte) error { out[id] = string(raw); return nil })
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCheck(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "s")
	writeVolumes(t, dir)
	rep, err := Check(dir, Options{})
	if err != nil || len(rep.Problems) > 0 || rep.Records["vol"] != corruptRecords {
		t.Fatalf("Check(clean) = %+v, %v", rep, err)
	}
	// A record that is not JSON, written under the store's API.
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := recordKey("vol", "bad")
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(key, []byte("{no")) }); err != nil {
		t.Fatal(err)
	}
	if _, err := Check(dir, Options{}); !errors.Is(err, ErrInUse) {
		t.Fatalf("Check of a store in use: %v, want ErrInUse", err)
	}
	must(t, s.Close())
	rep, err = Check(dir, Options{})
	if err != nil || len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0], "vol/bad does not decode") {
		t.Fatalf("Check = %+v, %v; want one problem about vol/bad", rep, err)
	}
	mutate(t, filesWith(t, dir, ".sst")[0], func(b []byte) []byte { b[len(b)/2] ^= 1; return b })
	rep, err = Check(dir, Options{})
	if err != nil || len(rep.Problems) == 0 || !strings.Contains(rep.Problems[0], "is damaged") {
		t.Fatalf("Check(damaged table) = %+v, %v", rep, err)
	}
	if _, err := Check(t.TempDir(), Options{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Check(empty dir): %v", err)
	}
}
