package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/dgraph-io/badger/v4/table"
)

// verifyTables checks, before badger opens the store, every table its
// MANIFEST lists: present, and every block's checksum right. badger itself
// opens tables in goroutines where damage either panics the process or —
// on a checksum mismatch — drops the table and carries on without its
// records; here both become an error naming the file.
func verifyTables(dir string) (tables int, err error) {
	fp, err := os.Open(filepath.Join(dir, badger.ManifestFilename))
	if err != nil {
		return 0, fmt.Errorf("its MANIFEST cannot be read: %w", err)
	}
	defer fp.Close()
	mf, err := replayManifest(fp)
	if err != nil {
		return 0, fmt.Errorf("its MANIFEST cannot be read: %w", err)
	}
	for id, tm := range mf.Tables {
		if err := verifyTable(dir, id, tm); err != nil {
			return 0, err
		}
	}
	// badger deletes every table its MANIFEST does not list. After a crash
	// in the middle of a compaction that is a leftover whose records other
	// tables hold; after a MANIFEST lost its newest entries it is data.
	// Telling them apart needs a person, so refuse.
	paths, err := filepath.Glob(filepath.Join(dir, "*.sst"))
	if err != nil {
		return 0, err
	}
	var orphans []string
	for _, p := range paths {
		id, ok := table.ParseFileID(p)
		if _, listed := mf.Tables[id]; ok && !listed {
			orphans = append(orphans, filepath.Base(p))
		}
	}
	if len(orphans) > 0 {
		return 0, fmt.Errorf("its MANIFEST does not list the tables %v, which badger would delete (if sanmobd crashed during a compaction they may be leftovers: 'sanmobd check' on a copy without them tells)", orphans)
	}
	return len(mf.Tables), nil
}

// panicText keeps the first line of a panic's value: badger's table panics
// carry a multi-line dump.
func panicText(r any) string {
	s := strings.TrimSpace(fmt.Sprint(r))
	if strings.Contains(s, "initIndex crash") {
		return "its index is unreadable"
	}
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

func replayManifest(fp *os.File) (mf badger.Manifest, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("badger panicked reading it: %s", panicText(r))
		}
	}()
	mf, _, err = badger.ReplayManifestFile(fp, 0, badger.DefaultOptions(""))
	return mf, err
}

func verifyTable(dir string, id uint64, tm badger.TableManifest) (err error) {
	name := filepath.Base(table.NewFilename(id, dir))
	data, err := os.ReadFile(filepath.Join(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("its table %s, listed in its MANIFEST, is missing", name)
	}
	if err != nil {
		return fmt.Errorf("its table %s cannot be read: %w", name, err)
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("its table %s is damaged (badger panicked reading it: %s)", name, panicText(r))
		}
	}()
	t, err := table.OpenInMemoryTable(data, id, &table.Options{
		ChkMode:     options.OnTableAndBlockRead,
		Compression: tm.Compression,
	})
	if err == nil {
		err = t.VerifyChecksum()
	}
	if err != nil {
		return fmt.Errorf("its table %s is damaged: %w", name, err)
	}
	return nil
}

// lockDir takes badger's directory lock for the preflight, so that no
// running daemon changes the files while they are checked; unlock before
// badger.Open, which takes it again.
func lockDir(dir string) (unlock func(), err error) {
	f, err := os.Open(dir) // badger flocks the directory itself
	if errors.Is(err, fs.ErrNotExist) {
		return func() {}, nil // no directory yet: nothing to check
	}
	if err != nil {
		return nil, fmt.Errorf("store: lock %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, inUse(dir, err)
		}
		return nil, fmt.Errorf("store: lock %s: %w", dir, err)
	}
	return func() { f.Close() }, nil
}

func inUse(dir string, err error) error {
	return fmt.Errorf("%w: store %s is used by another process (is sanmobd running? stop it first): %w", ErrInUse, dir, err)
}
