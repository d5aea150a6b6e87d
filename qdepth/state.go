package qdepth

// Moved is s with queue from's state (window, dither, congestion) also
// under to, unless to has one already: a VM that migrated takes its queue's
// state to the new host, so that its depth there starts where it had
// converged instead of at the default. s itself is unchanged.
func (s State) Moved(from, to QueueKey) State {
	q, ok := s.queues[from]
	if _, has := s.queues[to]; !ok || has {
		return s
	}
	next := State{queues: make(map[QueueKey]queueState, len(s.queues)+1), pools: s.pools}
	for key, v := range s.queues {
		next.queues[key] = v
	}
	next.queues[to] = q
	return next
}
