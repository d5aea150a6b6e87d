package qdepth

import "time"

// The default latency thresholds 𝓛 by pool media.
const (
	// DiskThreshold is SIOC's default congestion threshold, 30 ms.
	DiskThreshold = 30 * time.Millisecond
	// FlashThreshold is for all-flash pools: a few times the flash
	// profile's ≈0.3 ms service time, far under any disk's.
	FlashThreshold = 2 * time.Millisecond
)

// DefaultThreshold is the threshold for a pool of the media: "flash" gets
// FlashThreshold, anything else DiskThreshold.
func DefaultThreshold(media string) time.Duration {
	if media == "flash" {
		return FlashThreshold
	}
	return DiskThreshold
}

// WithWindow is s with queue k's window set to w (a queue that moved
// carries its window to its new key); s itself is unchanged.
func (s State) WithWindow(k QueueKey, w float64) State {
	next := State{queues: make(map[QueueKey]queueState, len(s.queues)+1)}
	for key, q := range s.queues {
		next.queues[key] = q
	}
	q := next.queues[k]
	q.window = w
	next.queues[k] = q
	return next
}
