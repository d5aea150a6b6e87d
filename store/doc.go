// Package store is sanmob's durable record store: badger/v4 behind a small
// typed API of JSON records addressed by kind and id, with read-write
// transactions, prefix scans in id order, bulk loading and a schema version.
// It owns the on-disk key layout and the durability promise — a write is on
// stable storage before the call that made it returns, so an acknowledged
// record survives kill -9 — and it keeps badger's caches small so that the
// daemon can cold-start a million records well inside its memory budget.
// It must not know the domain: it imports no sanmob package, treats kinds and
// ids as opaque strings and values as whatever the caller marshals, and never
// decides what a conflict or a missing record means to the caller.
package store
