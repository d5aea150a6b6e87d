package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
)

// scanLog finds damage badger would silently cut away in a write-ahead log
// (*.mem) or value log (*.vlog). badger replays such a log up to its first
// entry that fails its checksum and truncates the file there, which is right
// for the torn tail a crash leaves — a prefix of one entry followed by zeros —
// and wrong for a damaged entry in the middle, after which intact entries of
// acknowledged writes follow. So: walk the entries as badger does; where the
// walk stops, look a little further for another intact entry. Finding one
// means the log was damaged, not torn.
//
// The entry format is badger v4's (value.go, memtable.go): a 20-byte file
// header, then entries of meta, userMeta, uvarint key length, uvarint value
// length, uvarint expiry, key, value, and a big-endian CRC-32C of all of it.
func scanLog(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("its log %s cannot be read: %w", filepath.Base(path), err)
	}
	defer f.Close()
	stop, size, err := walkLog(f)
	if err != nil {
		return fmt.Errorf("its log %s cannot be read: %w", filepath.Base(path), err)
	}
	if off, ok := findEntry(f, stop, size); ok {
		return fmt.Errorf("its log %s is damaged at byte %d and holds intact entries after it (at byte %d) that badger would drop",
			filepath.Base(path), stop, off)
	}
	// badger preallocates its logs and zeros their unused part, and when it
	// replays one it truncates it to its last whole entry. A crash therefore
	// leaves a torn entry followed by zeros, never an unfinished entry that
	// runs to the file's end: that is a file cut short, and the entries cut
	// off with it were acknowledged writes.
	if stop < size {
		var last [1]byte
		if _, err := f.ReadAt(last[:], size-1); err == nil && last[0] != 0 {
			return fmt.Errorf("its log %s ends inside an entry at byte %d of %d: the file was cut short, not torn by a crash (which leaves the preallocated rest of the file)",
				filepath.Base(path), stop, size)
		}
	}
	return nil
}

const (
	logHeaderSize = 20      // badger's vlogHeaderSize
	maxKeyLen     = 1 << 16 // badger refuses longer keys
	bitTxn        = 1 << 6
	bitFinTxn     = 1 << 7
	// resyncWindow bounds how far past the stop point findEntry looks: more
	// than one whole entry (values up to valueThreshold sit in the log).
	resyncWindow = valueThreshold + maxKeyLen + 64
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// walkLog returns the offset where badger's replay would stop and the file
// size. Entries are read in chunks so that a preallocated 64 MiB log costs
// one pass over its used part.
func walkLog(f *os.File) (stop, size int64, err error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, 0, err
	}
	size = fi.Size()
	off := int64(logHeaderSize)
	buf := make([]byte, 0, 1<<20)
	for off < size {
		n, ok, err := entryAt(f, off, size, &buf)
		if err != nil {
			return 0, 0, err
		}
		if !ok {
			return off, size, nil
		}
		off += n
	}
	return off, size, nil
}

// entryAt reports whether an intact, non-zero entry starts at off and its
// length.
func entryAt(f *os.File, off, size int64, buf *[]byte) (int64, bool, error) {
	var hdr [2 + 3*binary.MaxVarintLen64]byte
	n, err := f.ReadAt(hdr[:], off)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, false, err
	}
	h := hdr[:n]
	if len(h) < 5 {
		return 0, false, nil
	}
	if h[0] == 0 {
		return 0, false, nil // zeros: the end of what was written
	}
	i := 2
	klen, c := binary.Uvarint(h[i:])
	if c <= 0 {
		return 0, false, nil
	}
	i += c
	vlen, c := binary.Uvarint(h[i:])
	if c <= 0 {
		return 0, false, nil
	}
	i += c
	_, c = binary.Uvarint(h[i:])
	if c <= 0 {
		return 0, false, nil
	}
	i += c
	if klen == 0 || klen > maxKeyLen || vlen > uint64(size) {
		return 0, false, nil
	}
	total := int64(i) + int64(klen) + int64(vlen) + crc32.Size
	if off+total > size {
		return 0, false, nil
	}
	if int64(cap(*buf)) < total {
		*buf = make([]byte, total)
	}
	b := (*buf)[:total]
	if _, err := f.ReadAt(b, off); err != nil {
		return 0, false, err
	}
	body := b[:total-crc32.Size]
	if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(b[total-crc32.Size:]) {
		return 0, false, nil
	}
	return total, true, nil
}

// findEntry looks for an intact entry that starts after stop, within the
// resync window.
func findEntry(f *os.File, stop, size int64) (int64, bool) {
	end := min(size, stop+resyncWindow)
	if stop >= end {
		return 0, false
	}
	window := make([]byte, end-stop)
	n, _ := f.ReadAt(window, stop)
	window = window[:n]
	buf := make([]byte, 0, 4096)
	for i := 1; i < len(window); i++ {
		// Only entries the store writes: transactional ones with a key.
		if window[i]&(bitTxn|bitFinTxn) == 0 {
			continue
		}
		if _, ok, err := entryAt(f, stop+int64(i), size, &buf); err == nil && ok {
			return stop + int64(i), true
		}
	}
	return 0, false
}
