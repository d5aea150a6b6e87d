package lab

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// The lab's device state on disk, in its Dir: two files.
//
// journal is a sequence of records, each
//
//	length  uint32, little endian: bytes of payload
//	crc     uint32, little endian: CRC-32C (Castagnoli) of payload
//	payload JSON
//
// The first record is the header (see header): the identity of the world
// the records apply to. Every other is one change a device made (see op),
// appended and fsynced before the call that made it returns. Replay drops
// a torn last record — one that runs past the end of the file, or whose
// checksum fails with nothing after it — which is what a crash mid-append
// leaves; any other damage is an error.
//
// clock holds the virtual time (nanoseconds since the epoch, int64 little
// endian, then its CRC-32C), rewritten in place every few seconds, so that a
// restart resumes the virtual clock where it was even when no device
// changed for a while. A torn clock file is ignored: the journal's last
// record still bounds the time from below.
const (
	journalFile   = "journal"
	clockFile     = "clock"
	frameHeader   = 8
	maxRecord     = 1 << 30
	journalFormat = 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrJournal is wrapped by every error New returns for a lab directory it
// cannot resume from: a journal of another world, or a damaged one.
var ErrJournal = errors.New("lab: device state")

// journal appends records to the journal file. Appends are ordered by the
// caller's device lock; syncs are shared: one fsync covers every record
// written before it (group commit), so callers wait for the disk together.
type journal struct {
	mu      sync.Mutex // guards f's writes, written and err
	f       *os.File
	written uint64 // records appended
	err     error  // the first write error: the journal takes no more

	syncMu sync.Mutex
	synced atomic.Uint64 // records known durable
}

// append writes one record and returns its sequence number for sync.
func (j *journal) append(payload []byte) (uint64, error) {
	if len(payload) > maxRecord {
		return 0, fmt.Errorf("lab: a %d-byte journal record, more than %d", len(payload), maxRecord)
	}
	frame := make([]byte, frameHeader+len(payload))
	binary.LittleEndian.PutUint32(frame, uint32(len(payload)))
	binary.LittleEndian.PutUint32(frame[4:], crc32.Checksum(payload, castagnoli))
	copy(frame[frameHeader:], payload)
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return 0, j.err
	}
	if _, err := j.f.Write(frame); err != nil {
		// A partial frame may be on disk: nothing may follow it.
		j.err = fmt.Errorf("lab: writing the journal: %w", err)
		return 0, j.err
	}
	j.written++
	return j.written, nil
}

// sync returns once record seq is on disk.
func (j *journal) sync(seq uint64) error {
	if seq == 0 || j.synced.Load() >= seq {
		return nil
	}
	j.syncMu.Lock()
	defer j.syncMu.Unlock()
	if j.synced.Load() >= seq {
		return nil
	}
	j.mu.Lock()
	upto, err := j.written, j.err
	j.mu.Unlock()
	if err != nil {
		return err
	}
	if err := j.f.Sync(); err != nil {
		j.mu.Lock()
		if j.err == nil {
			j.err = fmt.Errorf("lab: syncing the journal: %w", err)
		}
		err = j.err
		j.mu.Unlock()
		return err
	}
	j.synced.Store(upto)
	return nil
}

func (j *journal) close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err == nil {
		j.err = errors.New("lab: the world is closed")
	}
	return j.f.Close()
}

// readJournal splits the journal's bytes into record payloads. It returns
// the length of the good prefix: the records before a torn last one.
func readJournal(b []byte) (payloads [][]byte, good int, err error) {
	off := 0
	for off < len(b) {
		if len(b)-off < frameHeader {
			return payloads, off, nil // torn frame header
		}
		n := int64(binary.LittleEndian.Uint32(b[off:]))
		sum := binary.LittleEndian.Uint32(b[off+4:])
		end := int64(off) + frameHeader + n
		if end > int64(len(b)) {
			return payloads, off, nil // torn: runs past the end
		}
		p := b[off+frameHeader : end]
		if crc32.Checksum(p, castagnoli) != sum {
			if end == int64(len(b)) {
				return payloads, off, nil // torn: the last record
			}
			return nil, 0, fmt.Errorf("%w: journal record %d at byte %d is damaged (checksum mismatch) and %d bytes follow it",
				ErrJournal, len(payloads), off, int64(len(b))-end)
		}
		payloads = append(payloads, p)
		off = int(end)
	}
	return payloads, off, nil
}

// openJournal opens dir's journal for appending after its good prefix,
// first cutting a torn last record off. When it holds no header, it is
// started with hdr; otherwise its records are returned, header first.
func openJournal(dir string, hdr []byte) (*journal, [][]byte, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("lab: %w", err)
	}
	path := filepath.Join(dir, journalFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("lab: %w", err)
	}
	fail := func(err error) (*journal, [][]byte, error) {
		_ = f.Close()
		return nil, nil, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fail(fmt.Errorf("lab: %w", err))
	}
	recs, good, err := readJournal(b)
	if err != nil {
		return fail(fmt.Errorf("%w (%s)", err, path))
	}
	if good < len(b) || len(recs) == 0 {
		if len(recs) == 0 {
			good = 0 // not even a whole header: start afresh
		}
		if err := f.Truncate(int64(good)); err != nil {
			return fail(fmt.Errorf("lab: dropping the torn end of %s: %w", path, err))
		}
	}
	if _, err := f.Seek(int64(good), 0); err != nil {
		return fail(fmt.Errorf("lab: %w", err))
	}
	j := &journal{f: f}
	if len(recs) == 0 {
		seq, err := j.append(hdr)
		if err == nil {
			err = j.sync(seq)
		}
		if err == nil {
			err = syncDir(dir)
		}
		if err != nil {
			return fail(err)
		}
		recs = [][]byte{hdr}
	} else if good < len(b) {
		if err := f.Sync(); err != nil {
			return fail(fmt.Errorf("lab: %w", err))
		}
	}
	j.written = uint64(len(recs))
	j.synced.Store(j.written)
	return j, recs, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("lab: syncing %s: %w", dir, err)
	}
	return nil
}

// removeState discards dir's device state (Config.Reset).
func removeState(dir string) error {
	for _, name := range []string{journalFile, clockFile} {
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("lab: resetting %s: %w", dir, err)
		}
	}
	return nil
}

// clockSaver rewrites the clock file in place.
type clockSaver struct {
	mu sync.Mutex
	f  *os.File
}

func openClock(dir string) (*clockSaver, time.Duration, bool, error) {
	f, err := os.OpenFile(filepath.Join(dir, clockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, 0, false, fmt.Errorf("lab: %w", err)
	}
	var b [16]byte
	n, _ := f.ReadAt(b[:], 0)
	at, ok := time.Duration(0), false
	if n >= 12 && crc32.Checksum(b[:8], castagnoli) == binary.LittleEndian.Uint32(b[8:]) {
		at, ok = time.Duration(binary.LittleEndian.Uint64(b[:8])), true
	}
	return &clockSaver{f: f}, at, ok, nil
}

func (c *clockSaver) save(at time.Duration) error {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:], uint64(at))
	binary.LittleEndian.PutUint32(b[8:], crc32.Checksum(b[:8], castagnoli))
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f == nil {
		return nil
	}
	if _, err := c.f.WriteAt(b[:], 0); err != nil {
		return fmt.Errorf("lab: saving the clock: %w", err)
	}
	if err := c.f.Sync(); err != nil {
		return fmt.Errorf("lab: saving the clock: %w", err)
	}
	return nil
}

func (c *clockSaver) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f == nil {
		return nil
	}
	err := c.f.Close()
	c.f = nil
	return err
}
