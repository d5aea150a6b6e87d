package store

import (
	"encoding/json"
	"fmt"
	"sync"

	"github.com/dgraph-io/badger/v4"
)

// Batch loads many records faster than one Put each: badger packs them into
// as few synced commits as fit and pipelines those commits. A batch is not a
// transaction: records become visible as badger commits them, and a crash
// before Flush returns may keep any subset of the unflushed records. Only
// records whose Flush returned nil are acknowledged. Safe for concurrent use;
// usable again after Flush.
type Batch struct {
	s  *Store
	mu sync.Mutex
	wb *badger.WriteBatch // nil until the first Put after a Flush
}

// Batch starts a bulk load, meant for first-start discovery of many records.
// Call Flush, or Cancel if the load is abandoned.
func (s *Store) Batch() *Batch { return &Batch{s: s} }

// Put queues the record; it is durable only once Flush returns.
func (b *Batch) Put(kind, id string, v any) error {
	key, err := recordKey(kind, id)
	if err != nil {
		return err
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("store: batch put %s/%s: %w", kind, id, err)
	}
	if err := b.s.enter(); err != nil {
		return err
	}
	defer b.s.leave()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.wb == nil {
		b.wb = b.s.db.NewWriteBatch()
	}
	if err := b.wb.Set(key, raw); err != nil {
		return fmt.Errorf("store: batch put %s/%s: %w", kind, id, err)
	}
	return nil
}

// Flush commits everything queued and waits until it is synced to disk.
func (b *Batch) Flush() error {
	if err := b.s.enter(); err != nil {
		return err
	}
	defer b.s.leave()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.wb == nil {
		return nil
	}
	// A badger WriteBatch is finished after Flush whatever the outcome.
	wb := b.wb
	b.wb = nil
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("store: batch flush: %w", err)
	}
	return nil
}

// Cancel drops whatever has not been committed yet. Without Flush or Cancel
// badger keeps the open transaction's bookkeeping for the life of the store.
func (b *Batch) Cancel() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.wb != nil {
		b.wb.Cancel()
		b.wb = nil
	}
}
