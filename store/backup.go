package store

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// A backup is badger's backup stream (DB.Backup: length-prefixed protobuf
// lists of every key's latest version) between a header line and a trailer
// that carries the stream's length and CRC-32C. badger's stream alone has no
// end, so a backup cut short at a list boundary would restore as a smaller
// store without a word; the trailer makes that an error.
const backupHeader = "sanmob-backup 1\n"

const trailerMark = ^uint64(0) // where a list length would be: the end

// ErrBackup: a backup file that is not one, is cut short or is damaged.
var ErrBackup = errors.New("store: bad backup")

// Backup writes a full backup of the store in dir to w. The store must not
// be in use (ErrInUse otherwise: badger admits one process per store) and
// must pass Open's integrity checks.
func Backup(dir string, w io.Writer, opts Options) (bytes int64, err error) {
	if err := existingStore(dir); err != nil {
		return 0, err
	}
	opts.Dir = dir
	s, err := Open(opts)
	if err != nil {
		return 0, err
	}
	defer func() { err = errors.Join(err, s.Close()) }()
	if _, err := io.WriteString(w, backupHeader); err != nil {
		return 0, fmt.Errorf("store: backup: %w", err)
	}
	cw := &crcWriter{w: w, h: crc32.New(castagnoli)}
	if _, err := s.db.Backup(cw, 0); err != nil {
		return 0, fmt.Errorf("store: backup: %w", err)
	}
	var tr [20]byte
	binary.LittleEndian.PutUint64(tr[0:], trailerMark)
	binary.LittleEndian.PutUint64(tr[8:], uint64(cw.n))
	binary.LittleEndian.PutUint32(tr[16:], cw.h.Sum32())
	if _, err := w.Write(tr[:]); err != nil {
		return 0, fmt.Errorf("store: backup: %w", err)
	}
	return cw.n, nil
}

// existingStore refuses a directory that holds no store, so that Backup
// and Check never create one.
func existingStore(dir string) error {
	for _, name := range []string{MarkerFile, badger.ManifestFilename} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return nil
		}
	}
	return fmt.Errorf("%w: no store in %s (neither %s nor MANIFEST)", ErrInvalid, dir, MarkerFile)
}

// Restore loads a backup made by Backup into dir, which must not exist or
// be empty: restore never overwrites a store. The restored store keeps the
// identity of the one backed up, gets a marker saying when it was restored,
// and is opened once to verify it. On failure what Restore wrote is removed.
func Restore(dir string, r io.Reader, opts Options) (err error) {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("store: restore: %w", err)
		}
	case err != nil:
		return fmt.Errorf("store: restore: %w", err)
	case len(entries) > 0:
		// A store the daemon has open says so first: that is what to fix.
		unlock, lerr := lockDir(dir)
		if lerr != nil {
			return lerr
		}
		unlock()
		return fmt.Errorf("%w: %s is not empty (%d files): restore only into a new or empty directory, so that no store is overwritten",
			ErrInvalid, dir, len(entries))
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, emptyDir(dir))
		}
	}()
	br := bufio.NewReaderSize(r, 1<<16)
	head := make([]byte, len(backupHeader))
	if _, err := io.ReadFull(br, head); err != nil || string(head) != backupHeader {
		return fmt.Errorf("%w: not a sanmob backup (it does not start with %q)", ErrBackup, backupHeader[:len(backupHeader)-1])
	}
	opts.Dir = dir
	db, err := openBadger(badgerOptions(opts))
	if err != nil {
		return fmt.Errorf("store: restore: %w", err)
	}
	fr := &frameReader{r: br, h: crc32.New(castagnoli)}
	err = db.Load(fr, 256)
	if fr.err != nil {
		err = fr.err
	}
	if err != nil && !errors.Is(err, ErrBackup) {
		err = fmt.Errorf("%w: %w", ErrBackup, err)
	}
	var id *identity
	if err == nil {
		err = db.View(func(txn *badger.Txn) error {
			var err error
			id, err = readIdentity(txn)
			return err
		})
	}
	if err == nil {
		err = checkSchema(db)
	}
	if err == nil {
		// A backup of a store made before markers existed has no
		// identity record: stampIdentity makes one.
		err = stampIdentity(db, dir, dirState{}, id)
	}
	if err := errors.Join(err, db.Close()); err != nil {
		return fmt.Errorf("store: restore into %s: %w", dir, err)
	}
	m, err := readMarker(dir)
	if err != nil {
		return err
	}
	if id != nil {
		m.Restored = time.Now().UTC()
		if err := writeMarker(dir, *m); err != nil {
			return err
		}
	}
	s, err := Open(opts)
	if err != nil {
		return fmt.Errorf("store: restored store does not open: %w", err)
	}
	return s.Close()
}

func emptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		errs = append(errs, os.RemoveAll(filepath.Join(dir, e.Name())))
	}
	return errors.Join(errs...)
}

type crcWriter struct {
	w io.Writer
	h hash.Hash32
	n int64
}

func (c *crcWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.h.Write(p[:n])
	c.n += int64(n)
	return n, err
}

// frameReader passes badger's stream through to DB.Load and ends it at the
// trailer, which it checks; a stream that ends without one, or whose length
// or CRC disagree, sets err and ends with io.ErrUnexpectedEOF so that Load
// fails too.
type frameReader struct {
	r    *bufio.Reader
	h    hash.Hash32
	n    int64
	left uint64 // bytes of the current list still to pass
	pend []byte // a list's length prefix still to pass
	err  error
	done bool
}

func (f *frameReader) Read(p []byte) (int, error) {
	if f.done {
		return 0, io.EOF
	}
	if f.err != nil {
		return 0, f.err
	}
	if len(f.pend) == 0 && f.left == 0 {
		var lb [8]byte
		if _, err := io.ReadFull(f.r, lb[:]); err != nil {
			return 0, f.fail("it ends without its trailer (cut short?)")
		}
		size := binary.LittleEndian.Uint64(lb[:])
		if size == trailerMark {
			return 0, f.trailer()
		}
		f.pend = append(f.pend[:0], lb[:]...)
		f.left = size
	}
	if len(f.pend) > 0 {
		n := copy(p, f.pend)
		f.pend = f.pend[n:]
		f.h.Write(p[:n])
		f.n += int64(n)
		return n, nil
	}
	if uint64(len(p)) > f.left {
		p = p[:f.left]
	}
	n, err := f.r.Read(p)
	f.h.Write(p[:n])
	f.n += int64(n)
	f.left -= uint64(n)
	if err == io.EOF && f.left > 0 {
		return n, f.fail("it ends in the middle of a record (cut short?)")
	}
	if err == io.EOF {
		err = nil
	}
	return n, err
}

func (f *frameReader) trailer() error {
	var tr [12]byte
	if _, err := io.ReadFull(f.r, tr[:]); err != nil {
		return f.fail("its trailer is cut short")
	}
	n, sum := binary.LittleEndian.Uint64(tr[:8]), binary.LittleEndian.Uint32(tr[8:])
	if int64(n) != f.n || sum != f.h.Sum32() {
		return f.fail(fmt.Sprintf("its content does not match its trailer (%d bytes with CRC %08x, trailer says %d bytes with CRC %08x)",
			f.n, f.h.Sum32(), n, sum))
	}
	if _, err := f.r.ReadByte(); err != io.EOF {
		return f.fail("it has data after its trailer")
	}
	f.done = true
	return io.EOF
}

func (f *frameReader) fail(what string) error {
	f.err = fmt.Errorf("%w: %s", ErrBackup, what)
	return io.ErrUnexpectedEOF
}
