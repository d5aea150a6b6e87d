package mobility

import (
	"fmt"
	"math"
	"time"

	"github.com/sanmob/sanmob/devices"
	"github.com/sanmob/sanmob/inventory"
	"github.com/sanmob/sanmob/thin"
)

// newThinWatcher makes the pools' watcher over the service's devices,
// store, clock and alerts.
func (s *Service) newThinWatcher(dev *devices.Devices) *thin.Watcher {
	cfg := s.cfg.Thin
	cfg.Devices, cfg.Store, cfg.Clock, cfg.Alerts, cfg.Log = dev, s.st, s.cfg.Clock, s.alerts, s.log
	cfg.Sites = map[string]string{}
	for id, a := range dev.Arrays() {
		cfg.Sites[id] = a.Site
	}
	return thin.New(cfg)
}

// Thin is the pools' watcher.
func (s *Service) Thin() *thin.Watcher { return s.thin }

// Pools lists every observed pool (of one array, when named) with its
// overcommit against the maximum and, once the watcher has sampled it, its
// days to full and forecast.
func (s *Service) Pools(arrayID string) []inventory.Pool {
	ps := s.Inventory.Pools(arrayID)
	for i := range ps {
		s.fillPool(&ps[i])
	}
	return ps
}

// Pool returns one pool as Pools shows it; ErrNotFound.
func (s *Service) Pool(id string) (inventory.Pool, error) {
	p, err := s.Inventory.Pool(id)
	if err != nil {
		return p, err
	}
	s.fillPool(&p)
	return p, nil
}

func (s *Service) fillPool(v *inventory.Pool) {
	st, sampled := s.thin.Status(v.ID)
	if sampled && st.At.After(v.ObservedAt) && st.Sampled.PhysicalBytes > 0 {
		// The sampler read the array after the last refresh: show what
		// the forecast and the alerts are made of, not an older reading.
		v.SetReading(st.Sampled, st.At)
	}
	if oc := thin.OvercommitPercentOfMax(v.Limits()); !math.IsInf(oc, 0) {
		oc = math.Round(oc*100) / 100
		v.OvercommitPercentOfMax = &oc
	}
	if sampled {
		fc := st.Forecast
		v.DaysToFull, v.Forecast = fc.DaysToFull, &fc
	}
}

// PoolHistory is a pool's history since since, downsampled by age (raw
// samples for the last two days, hourly means before); ErrNotFound for a
// pool that is not observed. A pool observed but not yet sampled has none.
func (s *Service) PoolHistory(id string, since time.Time) ([]thin.Point, error) {
	if _, err := s.Inventory.Pool(id); err != nil {
		return nil, err
	}
	pts, ok := s.thin.History(id, since)
	if !ok {
		return []thin.Point{}, nil
	}
	return pts, nil
}

// notPastFull keeps the candidates a volume of size bytes of the kind does
// not push past the full threshold (thin.AdmitFull: a thick volume that
// would, a thin one into a pool past it already); none left is the first
// pool's *thin.PastFull. A pool's used bytes are the larger of the devices'
// last refresh and the sampler's last reading: a pool filling fast is not
// admitted on a reading from before it filled.
func (s *Service) notPastFull(cands []thin.Candidate, size int64, isThin bool) ([]thin.Candidate, error) {
	full := s.thin.Thresholds().FullPercent
	var first error
	out := cands[:0:0]
	for _, c := range cands {
		p := c.Pool
		if st, ok := s.thin.Status(p.ID); ok && st.Sampled.ID == p.ID && st.Sampled.UsedBytes > p.UsedBytes {
			p.UsedBytes = st.Sampled.UsedBytes
		}
		if err := thin.AdmitFull(p, size, isThin, full); err != nil {
			if first == nil {
				first = fmt.Errorf("array %s: %w", c.Array, err)
			}
			continue
		}
		out = append(out, c)
	}
	if len(out) == 0 && first != nil {
		return nil, first
	}
	return out, nil
}
