// Package clockwait holds the one context-aware wait of sanmob on a
// k8s.io/utils/clock Clock — the wall clock, the lab's virtual clock or a
// test's FakeClock alike. It is a leaf: it knows no sanmob package.
package clockwait

import (
	"context"
	"time"

	"k8s.io/utils/clock"
)

// Sleep waits until d has passed on c, or until ctx ends, whose error it
// then returns. A context already done returns its error at once, even for
// d <= 0; otherwise d <= 0 returns nil without waiting.
func Sleep(ctx context.Context, c clock.Clock, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d <= 0 {
		return nil
	}
	t := c.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C():
		return nil
	}
}
