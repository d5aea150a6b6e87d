package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/dgraph-io/badger/v4"
)

// CheckReport is what Check found. Problems is empty for a clean store.
type CheckReport struct {
	Problems []string
	// Notes say what was done that is not a problem.
	Notes []string
	// Records counts records by kind.
	Records map[string]int
}

// Check verifies the store in dir without changing it: Open's preflight
// (marker, MANIFEST, every table's checksums, write-ahead logs), then,
// opened read-only, badger's table checksums, the identity record, the
// schema version, and every key: reserved keys known, record keys a valid
// kind and id, every value readable (block checksums) and valid JSON. The
// store keeps no secondary indexes, so there is none to compare. The error
// is for a check that could not run: no store in dir, or in use (ErrInUse).
func Check(dir string, opts Options) (CheckReport, error) {
	rep := CheckReport{Records: map[string]int{}}
	if err := existingStore(dir); err != nil {
		return rep, err
	}
	st, err := preflight(dir)
	switch {
	case errors.Is(err, ErrInUse):
		return rep, err
	case err != nil:
		rep.Problems = append(rep.Problems, err.Error())
		return rep, nil
	}
	opts.Dir = dir
	bo := badgerOptions(opts).WithReadOnly(true)
	db, err := openBadger(bo)
	// badger wraps this one in a way errors.Is cannot always see through
	// ("Log truncate required to run DB"): match its words too.
	if err != nil && (errors.Is(err, badger.ErrTruncateNeeded) || strings.Contains(err.Error(), "truncate required")) {
		// Not closed cleanly: badger replays the write-ahead log (checked
		// above) only read-write, as the daemon's next start would.
		rep.Notes = append(rep.Notes, "the store was not closed cleanly; its write-ahead log was checked and replayed")
		db, err = openBadger(badgerOptions(opts))
	}
	if err != nil {
		rep.Problems = append(rep.Problems, openError(dir, st, err).Error())
		return rep, nil
	}
	defer db.Close()
	if err := verifyChecksum(db); err != nil {
		rep.Problems = append(rep.Problems, "table checksums: "+err.Error())
	}
	if _, err := checkIdentity(db, dir, st); err != nil {
		rep.Problems = append(rep.Problems, err.Error())
	}
	if st.marker == nil {
		rep.Problems = append(rep.Problems, "no marker "+MarkerFile+": the store cannot tell later whether it lost data (opening it once with sanmobd writes one)")
	}
	err = db.View(func(txn *badger.Txn) error {
		return checkKeys(txn, &rep)
	})
	if err != nil {
		rep.Problems = append(rep.Problems, err.Error())
	}
	return rep, nil
}

func verifyChecksum(db *badger.DB) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("badger panicked verifying: %s", panicText(r))
		}
	}()
	return db.VerifyChecksum()
}

func checkKeys(txn *badger.Txn, rep *CheckReport) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("badger panicked reading the records: %s", panicText(r))
		}
	}()
	problem := func(f string, v ...any) { rep.Problems = append(rep.Problems, fmt.Sprintf(f, v...)) }
	sawSchema := false
	it := txn.NewIterator(badger.IteratorOptions{})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		key := item.KeyCopy(nil)
		raw, err := item.ValueCopy(nil)
		if err != nil {
			problem("key %q: value unreadable: %v", key, err)
			continue
		}
		switch {
		case len(key) > 0 && key[0] == metaPrefix:
			switch string(key) {
			case string(schemaKey):
				sawSchema = true
				if v, err := strconv.Atoi(string(raw)); err != nil || v != SchemaVersion {
					problem("schema version %q, this build reads %d", raw, SchemaVersion)
				}
			case string(identityKey):
			default:
				problem("unknown reserved key %q", key)
			}
		case len(key) > 0 && key[0] == recordPrefix:
			kind, id, ok := strings.Cut(string(key[1:]), "/")
			if !ok || checkKind(kind) != nil || id == "" || strings.IndexByte(id, 0) >= 0 {
				problem("record key %q is not kind/id", key)
				continue
			}
			rep.Records[kind]++
			if !json.Valid(raw) {
				problem("record %s/%s does not decode: not JSON (%q)", kind, id, truncate(raw, 60))
			}
		default:
			problem("key %q is outside the store's key space", key)
		}
	}
	if !sawSchema {
		problem("no schema version record")
	}
	return nil
}
