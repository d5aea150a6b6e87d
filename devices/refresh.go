package devices

import (
	"context"
	"time"
)

// OnRefresh registers fn to run after every full re-read, in order of
// registration, under the refresh (never two at once).
func (d *Devices) OnRefresh(fn func(context.Context)) {
	d.hooksMu.Lock()
	defer d.hooksMu.Unlock()
	d.hooks = append(d.hooks, fn)
}

// Refresh re-reads every device now and runs the hooks.
func (d *Devices) Refresh(ctx context.Context) {
	d.hooksMu.Lock()
	defer d.hooksMu.Unlock()
	d.ReadAll(ctx)
	for _, h := range d.hooks {
		h(ctx)
	}
}

// Kick asks the refresh loop for a re-read soon; a burst of kicks costs one.
func (d *Devices) Kick() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// Run refreshes every RefreshInterval, and soon after a Kick, until ctx ends.
func (d *Devices) Run(ctx context.Context) error {
	t := d.cfg.Ticker.NewTicker(d.cfg.RefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
			d.Refresh(ctx)
		case <-d.kick:
			// A burst of changes (attaches in a batch) costs one re-read.
			select {
			case <-ctx.Done():
				return nil
			case <-d.cfg.Ticker.After(100 * time.Millisecond):
			}
			d.Refresh(ctx)
		}
	}
}
