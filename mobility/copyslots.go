package mobility

import (
	"context"
	"sync"
)

// DefaultCopiesPerLink is how many cross-site moves may run their initial
// copy over one inter-site link at once. One copy can keep a link busy;
// a few keep it full while others finish their tails. More only stretch
// every copy, and a longer copy re-sends more of what the VMs write
// meanwhile (issue 10's site evacuation: 48 copies at once took 1.15× the
// link's lower bound where 12 took 1.04×).
const DefaultCopiesPerLink = 16

// copySlots bounds the initial copies running at once per link, across
// every migration and evacuation of this process. A slot belongs to a
// replication group; taking or giving it twice is a no-op, so a step run
// again (retried, resumed) takes it again without counting twice. Slots
// live in memory: after a restart the resumed steps take them anew.
type copySlots struct {
	mu    sync.Mutex
	held  map[string]string // group → link
	count map[string]int    // link → copies holding a slot
	wake  chan struct{}     // closed at every release
}

func newCopySlots() *copySlots {
	return &copySlots{held: map[string]string{}, count: map[string]int{}, wake: make(chan struct{})}
}

// acquire waits for a slot of link for group (or ctx).
func (c *copySlots) acquire(ctx context.Context, link, group string, limit int) error {
	for {
		c.mu.Lock()
		if _, ok := c.held[group]; ok || c.count[link] < limit {
			if !ok {
				c.held[group] = link
				c.count[link]++
			}
			c.mu.Unlock()
			return nil
		}
		w := c.wake
		c.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-w:
		}
	}
}

// release gives group's slot back, if it holds one.
func (c *copySlots) release(group string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	link, ok := c.held[group]
	if !ok {
		return
	}
	delete(c.held, group)
	c.count[link]--
	close(c.wake)
	c.wake = make(chan struct{})
}
