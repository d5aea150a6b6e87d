package saga

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/sanmob/sanmob/store"
)

// memDisk is the "disk" of memStore: it outlives the handles, as a store
// directory outlives the process.
type memDisk struct {
	mu   sync.Mutex
	recs map[string][]byte
}

// memStore is an in-memory Store with the store package's errors, whose
// handle can be closed (writes then fail with store.ErrClosed) and reopened
// on the same memDisk. It lets the property test restart hundreds of times
// a second; the badger variant of the test proves the same on disk.
type memStore struct {
	disk   *memDisk
	mu     sync.Mutex
	closed bool
}

var _ Store = (*memStore)(nil)

func (d *memDisk) open() *memStore { return &memStore{disk: d} }

func (s *memStore) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}

// do runs fn under the disk's lock unless the handle is closed.
func (s *memStore) do(fn func(recs map[string][]byte) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return store.ErrClosed
	}
	s.disk.mu.Lock()
	defer s.disk.mu.Unlock()
	return fn(s.disk.recs)
}

func (s *memStore) Get(kind, id string, v any) error {
	return s.do(func(recs map[string][]byte) error {
		raw, ok := recs[kind+"/"+id]
		if !ok {
			return fmt.Errorf("%w: %s/%s", store.ErrNotFound, kind, id)
		}
		return json.Unmarshal(raw, v)
	})
}

func (s *memStore) Put(kind, id string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.do(func(recs map[string][]byte) error {
		recs[kind+"/"+id] = raw
		return nil
	})
}

func (s *memStore) Create(kind, id string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.do(func(recs map[string][]byte) error {
		if _, ok := recs[kind+"/"+id]; ok {
			return fmt.Errorf("%w: %s/%s", store.ErrConflict, kind, id)
		}
		recs[kind+"/"+id] = raw
		return nil
	})
}

func (s *memStore) Delete(kind, id string) error {
	return s.do(func(recs map[string][]byte) error {
		delete(recs, kind+"/"+id)
		return nil
	})
}

func (s *memStore) List(kind string, fn func(id string, raw []byte) error) error {
	var keys []string
	var vals [][]byte
	err := s.do(func(recs map[string][]byte) error {
		for k, v := range recs {
			if id, ok := strings.CutPrefix(k, kind+"/"); ok {
				keys = append(keys, id)
				vals = append(vals, slices.Clone(v))
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	idx := make([]int, len(keys))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return strings.Compare(keys[a], keys[b]) })
	for _, i := range idx {
		if err := fn(keys[i], vals[i]); err != nil {
			return err
		}
	}
	return nil
}
