package store

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Integrity. badger on its own opens whatever it finds: without a MANIFEST
// it creates an empty one and deletes every table it no longer knows, a
// write-ahead log with one bad entry is cut off there with everything after
// it, and some damaged tables panic. So the store remembers that it exists
// twice — a marker file beside badger's files and an identity record inside
// badger, written together at creation — and Open refuses a store whose
// marker survived but whose data did not.

var (
	// ErrDamaged: the store on disk lost data or cannot be read; it is
	// refused rather than opened on less than was acknowledged. The wrapped
	// text says what is wrong and what to do.
	ErrDamaged = errors.New("store damaged")
	// ErrInUse: another process (a running sanmobd) holds the store's lock.
	ErrInUse = errors.New("store in use")
)

// MarkerFile is the name of the marker written beside badger's files.
const MarkerFile = "sanmob-store.json"

// markerFormat is the marker's own format version.
const markerFormat = 1

var identityKey = append([]byte{metaPrefix}, "store_identity"...)

// identity is both the marker's content and the identity record's value;
// they must agree.
type identity struct {
	Format   int       `json:"format"`
	ID       string    `json:"id"`
	Created  time.Time `json:"created"`
	Restored time.Time `json:"restored,omitzero"`
}

// dirState is what preflight saw in the directory before badger touched it.
type dirState struct {
	marker   *identity // nil: no marker
	manifest bool
	tables   int // *.sst
}

func (st dirState) existed() bool { return st.marker != nil || st.manifest }

// damaged builds the refusal every integrity failure ends in.
func damaged(dir string, m *identity, what string) error {
	created := ":"
	if m != nil {
		created = " was created " + m.Created.UTC().Format(time.RFC3339) + " but"
	}
	return fmt.Errorf("%w: store %s%s %s: refusing to start on a store that lost data; restore a backup (sanmobd restore) or move the directory away to start empty",
		ErrDamaged, dir, created, what)
}

// preflight reads the marker and checks, before badger can change anything,
// that the files badger needs are there and that no write-ahead log is
// damaged in the middle.
func preflight(dir string) (dirState, error) {
	var st dirState
	unlock, err := lockDir(dir)
	if err != nil {
		return st, err
	}
	defer unlock()
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("store: open %s: %w", dir, err)
	}
	var logs []string
	for _, e := range entries {
		name := e.Name()
		switch {
		case name == badger.ManifestFilename:
			st.manifest = true
		case strings.HasSuffix(name, ".sst"):
			st.tables++
		case strings.HasSuffix(name, ".mem"), strings.HasSuffix(name, ".vlog"):
			logs = append(logs, name)
		}
	}
	m, err := readMarker(dir)
	if err != nil {
		// The marker alone is damaged: the data may well be intact.
		return st, fmt.Errorf("%w: store %s: %s; the records may be intact: run 'sanmobd check', and if it finds the store clean, remove %s and start again (sanmobd writes a new one from the store's identity record)",
			ErrDamaged, dir, err.Error(), MarkerFile)
	}
	st.marker = m
	switch {
	case m != nil && m.Format > markerFormat:
		return st, fmt.Errorf("%w: store %s has marker format %d, this build understands up to %d; run a newer sanmob",
			ErrSchema, dir, m.Format, markerFormat)
	case m != nil && !st.manifest:
		return st, damaged(dir, m, "its MANIFEST is missing")
	case !st.manifest && st.tables > 0:
		// badger would start a new MANIFEST and delete these tables.
		return st, damaged(dir, m, fmt.Sprintf("it holds %d table files (*.sst) and no MANIFEST", st.tables))
	case m == nil && !st.manifest && len(logs) > 0:
		// Logs without the MANIFEST and the marker: the rest of a store
		// that was wiped, not a new one (a new one has no files at all).
		slices.Sort(logs)
		return st, damaged(dir, nil, fmt.Sprintf("it holds badger's logs %v but no MANIFEST and no marker: the rest of the store is gone", logs))
	}
	if st.manifest {
		if _, err := verifyTables(dir); err != nil {
			return st, damaged(dir, m, err.Error())
		}
	}
	for _, name := range logs {
		if err := scanLog(filepath.Join(dir, name)); err != nil {
			return st, damaged(dir, m, err.Error())
		}
	}
	return st, nil
}

func readMarker(dir string) (*identity, error) {
	raw, err := os.ReadFile(filepath.Join(dir, MarkerFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("its marker %s cannot be read: %w", MarkerFile, err)
	}
	var m identity
	if err := json.Unmarshal(raw, &m); err != nil || m.ID == "" || m.Created.IsZero() {
		return nil, fmt.Errorf("its marker %s is unreadable (%q)", MarkerFile, truncate(raw, 80))
	}
	return &m, nil
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// writeMarker writes the marker atomically and durably: a temporary file,
// synced, renamed over, and the directory synced.
func writeMarker(dir string, m identity) error {
	raw, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	raw = append(raw, '\n')
	tmp := filepath.Join(dir, MarkerFile+".tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("store: write marker: %w", err)
	}
	_, err = f.Write(raw)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, MarkerFile))
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		return fmt.Errorf("store: write marker: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// openBadger turns a panic inside badger.Open (some damaged tables do that)
// into an error.
func openBadger(bo badger.Options) (db *badger.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("badger panicked while opening: %s", panicText(r))
		}
	}()
	return badger.Open(bo)
}

// openError classifies badger.Open's error: a held lock is ErrInUse, a
// failure on a store that existed is ErrDamaged, anything else is plain.
func openError(dir string, st dirState, err error) error {
	switch {
	case strings.Contains(err.Error(), "Cannot acquire directory lock"):
		return inUse(dir, err)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("store: open %s: %w", dir, err)
	case st.existed():
		return damaged(dir, st.marker, "it cannot be read: "+err.Error())
	}
	return fmt.Errorf("store: open %s: %w", dir, err)
}

// readIdentity returns the identity record, nil when absent.
func readIdentity(txn *badger.Txn) (*identity, error) {
	item, err := txn.Get(identityKey)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	raw, err := item.ValueCopy(nil)
	if err != nil {
		return nil, err
	}
	var id identity
	if err := json.Unmarshal(raw, &id); err != nil || id.ID == "" {
		return nil, fmt.Errorf("unreadable identity record %q", truncate(raw, 80))
	}
	return &id, nil
}

// checkIdentity runs before anything is written: a store whose marker
// survived must still hold the identity record written with it, or the data
// behind the marker is gone.
func checkIdentity(db *badger.DB, dir string, st dirState) (*identity, error) {
	var id *identity
	err := db.View(func(txn *badger.Txn) error {
		var err error
		id, err = readIdentity(txn)
		return err
	})
	switch {
	case err != nil:
		return nil, damaged(dir, st.marker, "its identity record cannot be read: "+err.Error())
	case st.marker == nil:
		return id, nil
	case id == nil:
		return nil, damaged(dir, st.marker, "it opens without the records written at its creation (its tables or logs are gone)")
	case id.ID != st.marker.ID:
		return nil, damaged(dir, st.marker, fmt.Sprintf("it holds the data of another store (id %s, marker says %s)", id.ID, st.marker.ID))
	}
	return id, nil
}

// stampIdentity writes the identity record (when missing) and the marker
// (when missing): at creation, after a crash between the two, and on a
// store made before markers existed.
func stampIdentity(db *badger.DB, dir string, st dirState, id *identity) error {
	if st.marker != nil {
		return nil
	}
	if id == nil {
		id = &identity{Format: markerFormat, ID: rand.Text(), Created: time.Now().UTC()}
		raw, err := json.Marshal(id)
		if err != nil {
			return err
		}
		// Update commits synced (SyncWrites), so the record is durable
		// before the marker that promises it exists.
		if err := db.Update(func(txn *badger.Txn) error { return txn.Set(identityKey, raw) }); err != nil {
			return fmt.Errorf("store: write identity: %w", err)
		}
	}
	return writeMarker(dir, *id)
}
