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
// a torn last record — one cut short, or whose checksum fails with nothing
// after it — which is what a crash mid-append leaves, and World.Recovered
// says so. Only the last append can be torn: a bad record followed by any
// whole record with a valid checksum is damage, as is any other bad
// record with bytes after it, or a bad header; New refuses them. Nothing is
// cut from the file before all of it has been checked.
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

	// What openJournal found. good is the length of the valid prefix,
	// where appends go; torn, when set, says what follows it on disk
	// until dropTorn cuts it.
	path  string
	good  int64
	torn  string
	fresh bool // the journal did not exist, or was empty: started from hdr

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
// the length of the good prefix and, when bytes follow it, why they are a
// torn last record: what a crash mid-append leaves, which only the last
// append can be. A bad or incomplete record that a whole, valid record
// follows is damage, not a tear, and so is a bad header with nothing after
// it: readJournal refuses both, wrapping ErrJournal.
func readJournal(b []byte) (payloads [][]byte, good int, torn string, err error) {
	off := 0
	for off < len(b) {
		var why string
		end := len(b)
		if len(b)-off < frameHeader {
			why = fmt.Sprintf("its frame header is cut short, %d of %d bytes", len(b)-off, frameHeader)
		} else {
			n := int64(binary.LittleEndian.Uint32(b[off:]))
			sum := binary.LittleEndian.Uint32(b[off+4:])
			switch e := int64(off) + frameHeader + n; {
			case n == 0:
				// The journal writes no empty record: the frame header was
				// never written (a crash can leave zeros), so where the
				// record ends is unknown.
				why = "its length is zero"
			case e > int64(len(b)):
				why = fmt.Sprintf("its length, %d bytes, runs %d bytes past the end of the file", n, e-int64(len(b)))
			case crc32.Checksum(b[off+frameHeader:e], castagnoli) != sum:
				why = "checksum mismatch"
				end = int(e)
			default:
				payloads = append(payloads, b[off+frameHeader:e])
				off = int(e)
				continue
			}
		}
		rec := len(payloads)
		if at, ok := wholeRecordAfter(b, off); ok {
			return nil, 0, "", fmt.Errorf("%w: journal record %d at byte %d is damaged (%s) and a whole record follows it at byte %d: this is damage, not a torn last write",
				ErrJournal, rec, off, why, at)
		}
		if end < len(b) {
			return nil, 0, "", fmt.Errorf("%w: journal record %d at byte %d is damaged (%s) and %d bytes follow it",
				ErrJournal, rec, off, why, len(b)-end)
		}
		if rec == 0 {
			return nil, 0, "", fmt.Errorf("%w: journal record 0 at byte 0, the header, is damaged (%s): the world the journal was made for is unknown, so it is not started again from the seed (if the lab crashed on its very first start, nothing is lost)",
				ErrJournal, why)
		}
		return payloads, off, fmt.Sprintf("record %d at byte %d, %d bytes: %s", rec, off, len(b)-off, why), nil
	}
	return payloads, off, "", nil
}

// wholeRecordAfter finds a complete record with a valid checksum starting
// anywhere after byte off. It tries every offset, so it is for the rare
// path of a bad record only.
func wholeRecordAfter(b []byte, off int) (int, bool) {
	for k := off + 1; k+frameHeader < len(b); k++ {
		n := int(binary.LittleEndian.Uint32(b[k:]))
		if n == 0 || n > len(b)-k-frameHeader {
			continue
		}
		if crc32.Checksum(b[k+frameHeader:k+frameHeader+n], castagnoli) == binary.LittleEndian.Uint32(b[k+4:]) {
			return k, true
		}
	}
	return 0, false
}

// openJournal opens dir's journal, validating all of it. When it does not
// exist or is empty, it is started with hdr (fresh). Otherwise its records
// are returned, header first; a torn last record is left on disk, for
// dropTorn to cut once the caller has checked the rest.
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
	recs, good, torn, err := readJournal(b)
	if err != nil {
		return fail(fmt.Errorf("%w (%s)", err, path))
	}
	j := &journal{f: f, path: path, good: int64(good)}
	if torn != "" {
		j.torn = fmt.Sprintf("dropped the last record of %s (%s): most likely a crash cut its append short before the change it held was acknowledged, but a damaged last record looks the same — if it was acknowledged, that change is lost from the lab's devices (a reconcile shows what differs)", path, torn)
	}
	if _, err := f.Seek(int64(good), 0); err != nil {
		return fail(fmt.Errorf("lab: %w", err))
	}
	if len(recs) == 0 {
		// Nothing on disk, not even a header: a new journal.
		j.fresh = true
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
	}
	j.written = uint64(len(recs))
	j.synced.Store(j.written)
	return j, recs, nil
}

// dropTorn cuts the torn last record, if any, off the journal, so that
// appends follow the good prefix. It is called once the journal has been
// checked against the world and replayed: nothing is cut from a journal
// that is refused.
func (j *journal) dropTorn() error {
	if j.torn == "" {
		return nil
	}
	if err := j.f.Truncate(j.good); err != nil {
		return fmt.Errorf("lab: dropping the torn end of %s: %w", j.path, err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("lab: dropping the torn end of %s: %w", j.path, err)
	}
	return nil
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
