package server

import "time"

// SetSSEHeartbeat sets the event streams' heartbeat for a test; the
// returned function restores it.
func SetSSEHeartbeat(d time.Duration) (restore func()) {
	old := sseHeartbeat.Swap(int64(d))
	return func() { sseHeartbeat.Store(old) }
}

// SetSSEWriteTimeout sets the bound on each write of an event stream for a
// test; the returned function restores it.
func SetSSEWriteTimeout(d time.Duration) (restore func()) {
	old := sseWriteTimeout.Swap(int64(d))
	return func() { sseWriteTimeout.Store(old) }
}
