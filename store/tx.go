package store

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// Tx is one transaction, valid only inside the Update or View callback that
// received it. Its methods have the semantics of the Store methods of the
// same name; writes become visible to the transaction's own reads at once
// and to everyone else at commit. Writes in a View fail.
type Tx struct {
	txn *badger.Txn
	// err remembers a write badger refused for size, so that Update fails
	// even when fn drops the error.
	err error
}

func (tx *Tx) Get(kind, id string, v any) error {
	key, err := recordKey(kind, id)
	if err != nil {
		return err
	}
	item, err := tx.txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return fmt.Errorf("%w: %s/%s", ErrNotFound, kind, id)
	}
	if err != nil {
		return fmt.Errorf("store: get %s/%s: %w", kind, id, err)
	}
	err = item.Value(func(raw []byte) error { return json.Unmarshal(raw, v) })
	if err != nil {
		return fmt.Errorf("store: get %s/%s: %w", kind, id, err)
	}
	return nil
}

func (tx *Tx) Put(kind, id string, v any) error {
	key, err := recordKey(kind, id)
	if err != nil {
		return err
	}
	return tx.set(kind, id, key, v)
}

func (tx *Tx) Create(kind, id string, v any) error {
	key, err := recordKey(kind, id)
	if err != nil {
		return err
	}
	// The read enters the transaction's read set, so a concurrent Create of
	// the same id makes one of the two commits conflict and, on retry, see
	// the other's record: exactly one Create wins.
	_, err = tx.txn.Get(key)
	switch {
	case err == nil:
		return fmt.Errorf("%w: %s/%s already exists", ErrConflict, kind, id)
	case !errors.Is(err, badger.ErrKeyNotFound):
		return fmt.Errorf("store: create %s/%s: %w", kind, id, err)
	}
	return tx.set(kind, id, key, v)
}

func (tx *Tx) set(kind, id string, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("store: put %s/%s: %w", kind, id, err)
	}
	return tx.write(kind, id, "put", tx.txn.Set(key, raw))
}

func (tx *Tx) Delete(kind, id string) error {
	key, err := recordKey(kind, id)
	if err != nil {
		return err
	}
	return tx.write(kind, id, "delete", tx.txn.Delete(key))
}

func (tx *Tx) write(kind, id, op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, badger.ErrTxnTooBig):
		tx.err = fmt.Errorf("%w: %s %s/%s: %w", ErrTooBig, op, kind, id, err)
		return tx.err
	default:
		return fmt.Errorf("store: %s %s/%s: %w", op, kind, id, err)
	}
}

func (tx *Tx) List(kind string, fn func(id string, raw []byte) error) error {
	prefix, err := kindPrefix(kind)
	if err != nil {
		return err
	}
	// No value prefetching: records sit inline in the LSM tree (see
	// valueThreshold), so item.Value is a slice of an already loaded block,
	// while prefetching spawns goroutines that copy every value. Measured on
	// 500k records: 1.6M records/s without, 0.7M with.
	it := tx.txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
	defer it.Close()
	for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
		item := it.Item()
		id := string(item.Key()[len(prefix):])
		var fnErr error
		err := item.Value(func(raw []byte) error {
			fnErr = fn(id, raw)
			return fnErr
		})
		if fnErr != nil {
			return fnErr
		}
		if err != nil {
			return fmt.Errorf("store: list %s at %q: %w", kind, id, err)
		}
	}
	return nil
}

func (tx *Tx) Count(kind string) (int, error) {
	prefix, err := kindPrefix(kind)
	if err != nil {
		return 0, err
	}
	// Keys only: counting never needs to touch values.
	it := tx.txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
	defer it.Close()
	n := 0
	for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
		n++
	}
	return n, nil
}
