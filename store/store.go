package store

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/sirupsen/logrus"
)

// Errors returned by the store, always wrapped with %w and the record's address.
var (
	// ErrNotFound: the record does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: Create found the id taken, or a transaction kept losing
	// races with concurrent writers after its retries.
	ErrConflict = errors.New("store: conflict")
	// ErrInvalid: a kind, id or option the store refuses.
	ErrInvalid = errors.New("store: invalid argument")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store: closed")
	// ErrTooBig: a transaction outgrew what badger commits at once; bulk
	// writes belong in a Batch, which splits them.
	ErrTooBig = errors.New("store: transaction too big (use Batch for bulk writes)")
	// ErrSchema: the data on disk has a schema version this build cannot use.
	ErrSchema = errors.New("store: unsupported schema version")
)

// SchemaVersion is the layout this build reads and writes. Bump it with a
// migration whenever the key layout or a stored encoding changes.
const SchemaVersion = 1

// Key space. The first byte separates the store's own bookkeeping from
// records, so no kind can ever collide with a reserved key.
const (
	metaPrefix   byte = 0x00
	recordPrefix byte = 0x01
)

var schemaKey = append([]byte{metaPrefix}, "schema_version"...)

const (
	// updateAttempts bounds retries of a transaction that loses a race; more
	// than a few means real contention the caller should hear about.
	updateAttempts = 5
	// valueThreshold keeps every plausible record inline in the LSM tree
	// rather than in the value log, which makes scans sequential block reads;
	// List's iterator options depend on it.
	valueThreshold = 1 << 20
)

// Options configure Open.
type Options struct {
	// Dir holds the database files; required unless InMemory.
	Dir string
	// InMemory keeps everything in RAM and ignores Dir; for tests and
	// benchmarks only, since nothing survives the process.
	InMemory bool
	// Logger receives badger's warnings and errors; badger's info chatter is
	// dropped. Nil means logrus' standard logger.
	Logger logrus.FieldLogger

	// memTableSize overrides the memtable size in tests, so that a few
	// hundred records reach table files (records up to 1 KiB stay inline);
	// zero is the production size.
	memTableSize int64
}

// Store is safe for concurrent use.
type Store struct {
	db *badger.DB

	// mu guards closed; ops counts calls in flight so that Close never pulls
	// the database out from under an iterator (badger panics then). A call
	// only holds mu while entering, so a Store call made from inside an
	// Update callback cannot deadlock against Close: it gets ErrClosed.
	mu     sync.RWMutex
	closed bool
	ops    sync.WaitGroup
}

// Open opens or creates the store and checks its integrity and schema
// version. A store that existed — its marker file says so — but lost its
// MANIFEST, tables or logged writes is refused with ErrDamaged instead of
// being opened on less than was acknowledged; a store held by another
// process is refused with ErrInUse; a store written by a newer build is
// refused with ErrSchema rather than misread.
func Open(opts Options) (*Store, error) {
	if opts.Dir == "" && !opts.InMemory {
		return nil, fmt.Errorf("%w: Options.Dir is required", ErrInvalid)
	}
	bo := badgerOptions(opts)
	if opts.InMemory {
		db, err := openBadger(bo)
		if err != nil {
			return nil, fmt.Errorf("store: open in memory: %w", err)
		}
		if err := checkSchema(db); err != nil {
			return nil, errors.Join(err, db.Close())
		}
		return &Store{db: db}, nil
	}
	st, err := preflight(opts.Dir)
	if err != nil {
		return nil, err
	}
	db, err := openBadger(bo)
	if err != nil {
		return nil, openError(opts.Dir, st, err)
	}
	id, err := checkIdentity(db, opts.Dir, st)
	if err == nil {
		err = checkSchema(db)
	}
	if err == nil {
		err = stampIdentity(db, opts.Dir, st, id)
	}
	if err != nil {
		return nil, errors.Join(err, db.Close())
	}
	return &Store{db: db}, nil
}

// badgerOptions are the store's badger options. Checksums are verified on
// every read — a block's whenever it is read, a value's in the value log —
// so damage is an error, not wrong data.
func badgerOptions(opts Options) badger.Options {
	log := opts.Logger
	if log == nil {
		log = logrus.StandardLogger()
	}
	memTable := int64(32 << 20)
	if opts.memTableSize > 0 {
		memTable = opts.memTableSize
	}
	bo := badger.DefaultOptions(opts.Dir).
		WithSyncWrites(true).
		// Caches sized for a daemon that must cold-start ~1M records well
		// under 1.5 GiB RSS; badger's defaults assume a dedicated database host.
		WithBlockCacheSize(32 << 20).
		WithIndexCacheSize(16 << 20).
		WithMemTableSize(memTable).
		WithNumMemtables(2).
		WithNumCompactors(2).
		WithValueThreshold(valueThreshold).
		// Whole tables are verified by Open's preflight (verifyTables),
		// where damage cannot panic the process.
		WithChecksumVerificationMode(options.OnBlockRead).
		WithVerifyValueChecksum(true).
		WithLogger(badgerLogger{log.WithField("component", "badger")})
	if opts.memTableSize > 0 {
		// badger caps the value threshold by the memtable's batch size.
		bo = bo.WithValueThreshold(1 << 10)
	}
	if opts.InMemory {
		bo = bo.WithInMemory(true).WithDir("").WithValueDir("")
	}
	return bo
}

// checkSchema stamps a fresh store and refuses one it cannot read. There is
// no migration yet, so any version but ours is refused.
func checkSchema(db *badger.DB) error {
	return db.Update(func(txn *badger.Txn) error {
		v, err := readSchema(txn)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return txn.Set(schemaKey, []byte(strconv.Itoa(SchemaVersion)))
		}
		switch {
		case err != nil:
			return err
		case v > SchemaVersion:
			return fmt.Errorf("%w: data has schema version %d, this build understands up to %d; run a newer sanmob",
				ErrSchema, v, SchemaVersion)
		case v < SchemaVersion:
			return fmt.Errorf("%w: data has schema version %d, this build needs %d and has no migration from it",
				ErrSchema, v, SchemaVersion)
		}
		return nil
	})
}

func readSchema(txn *badger.Txn) (int, error) {
	item, err := txn.Get(schemaKey)
	if err != nil {
		return 0, err
	}
	raw, err := item.ValueCopy(nil)
	if err != nil {
		return 0, err
	}
	v, err := strconv.Atoi(string(raw))
	if err != nil {
		return 0, fmt.Errorf("%w: unreadable schema version %q", ErrSchema, raw)
	}
	return v, nil
}

// Close waits for calls in flight, then closes the database. Closing twice
// succeeds.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.ops.Wait()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

func (s *Store) enter() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	s.ops.Add(1)
	return nil
}

func (s *Store) leave() { s.ops.Done() }

// SchemaVersion reports the version stamped in the store.
func (s *Store) SchemaVersion() (int, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.leave()
	var v int
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		v, err = readSchema(txn)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: schema version: %w", err)
	}
	return v, nil
}

// Get decodes the record into v; ErrNotFound when absent.
func (s *Store) Get(kind, id string, v any) error {
	return s.View(func(tx *Tx) error { return tx.Get(kind, id, v) })
}

// Put writes the record, replacing any previous value; it is synced to disk
// before Put returns.
func (s *Store) Put(kind, id string, v any) error {
	return s.Update(func(tx *Tx) error { return tx.Put(kind, id, v) })
}

// Create writes the record only if the id is free, ErrConflict otherwise.
func (s *Store) Create(kind, id string, v any) error {
	return s.Update(func(tx *Tx) error { return tx.Create(kind, id, v) })
}

// Delete removes the record; deleting an absent record succeeds, so that a
// retried delete is harmless.
func (s *Store) Delete(kind, id string) error {
	return s.Update(func(tx *Tx) error { return tx.Delete(kind, id) })
}

// List calls fn for every record of kind in byte order of id, from one
// consistent snapshot. raw is the JSON value and is only valid during the
// call: copy it to keep it. An error from fn stops the scan and is returned
// as is.
func (s *Store) List(kind string, fn func(id string, raw []byte) error) error {
	return s.View(func(tx *Tx) error { return tx.List(kind, fn) })
}

// Count returns the number of records of kind.
func (s *Store) Count(kind string) (int, error) {
	var n int
	err := s.View(func(tx *Tx) error {
		var err error
		n, err = tx.Count(kind)
		return err
	})
	return n, err
}

// Update runs fn in one read-write transaction and commits it synced; if fn
// returns an error nothing is written. A commit that loses a race with a
// concurrent writer is retried with a fresh transaction, so fn may run more
// than once and must have no effects outside tx. ErrConflict after the
// retries.
func (s *Store) Update(fn func(tx *Tx) error) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	err := s.update(fn)
	for attempt := 1; attempt < updateAttempts && errors.Is(err, badger.ErrConflict); attempt++ {
		// Back off a little so that racing writers spread out instead of
		// colliding again on the same keys.
		time.Sleep(time.Duration(attempt) * time.Millisecond)
		err = s.update(fn)
	}
	if !errors.Is(err, badger.ErrConflict) {
		return err
	}
	return fmt.Errorf("%w: transaction still conflicting after %d attempts: %w", ErrConflict, updateAttempts, err)
}

// update returns badger.ErrConflict only from the commit; fn's own errors
// never carry it, so Update retries exactly the lost races.
func (s *Store) update(fn func(tx *Tx) error) error {
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	tx := &Tx{txn: txn}
	if err := fn(tx); err != nil {
		return err
	}
	if tx.err != nil {
		// fn ignored a failed write; committing the rest would store a
		// transaction the caller never asked for.
		return tx.err
	}
	if err := txn.Commit(); err != nil {
		if errors.Is(err, badger.ErrConflict) {
			return err
		}
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// View runs fn in a read-only transaction over one consistent snapshot.
func (s *Store) View(fn func(tx *Tx) error) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	txn := s.db.NewTransaction(false)
	defer txn.Discard()
	return fn(&Tx{txn: txn})
}

// recordKey validates the address and builds its key. Kinds cannot contain
// "/" so that the prefix of "vm" never matches records of "vmx".
func recordKey(kind, id string) ([]byte, error) {
	if err := checkKind(kind); err != nil {
		return nil, err
	}
	if id == "" {
		return nil, fmt.Errorf("%w: empty id for kind %q", ErrInvalid, kind)
	}
	if strings.IndexByte(id, 0) >= 0 {
		return nil, fmt.Errorf("%w: id %q of kind %q contains NUL", ErrInvalid, id, kind)
	}
	k := make([]byte, 0, 2+len(kind)+len(id))
	k = append(k, recordPrefix)
	k = append(k, kind...)
	k = append(k, '/')
	return append(k, id...), nil
}

func kindPrefix(kind string) ([]byte, error) {
	if err := checkKind(kind); err != nil {
		return nil, err
	}
	p := make([]byte, 0, 2+len(kind))
	p = append(p, recordPrefix)
	p = append(p, kind...)
	return append(p, '/'), nil
}

func checkKind(kind string) error {
	if kind == "" {
		return fmt.Errorf("%w: empty kind", ErrInvalid)
	}
	if strings.IndexByte(kind, '/') >= 0 {
		return fmt.Errorf("%w: kind %q contains '/'", ErrInvalid, kind)
	}
	return nil
}
