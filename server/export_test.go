package server

import "time"

// SetSSEHeartbeat sets the event streams' heartbeat for a test; the
// returned function restores it.
func SetSSEHeartbeat(d time.Duration) (restore func()) {
	old := sseHeartbeat.Swap(int64(d))
	return func() { sseHeartbeat.Store(old) }
}
