// Package keylock serializes work per key — a WWPN, a volume, a name —
// without keeping a mutex for every key that was ever used: a key's lock
// lives while someone holds or waits for it.
package keylock

import "sync"

// Locks is a set of mutexes by key. The zero value is ready to use.
type Locks[K comparable] struct {
	mu sync.Mutex
	m  map[K]*entry
}

type entry struct {
	sync.Mutex
	n int // holders and waiters
}

// Lock waits for key's lock and returns its unlock.
func (l *Locks[K]) Lock(key K) (unlock func()) {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[K]*entry{}
	}
	e := l.m[key]
	if e == nil {
		e = &entry{}
		l.m[key] = e
	}
	e.n++
	l.mu.Unlock()
	e.Lock()
	return func() {
		e.Unlock()
		l.mu.Lock()
		if e.n--; e.n == 0 {
			delete(l.m, key)
		}
		l.mu.Unlock()
	}
}

// Len is how many keys are held or waited for.
func (l *Locks[K]) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}
