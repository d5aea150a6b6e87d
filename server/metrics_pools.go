package server

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sanmob/sanmob/mobility"
	"github.com/sanmob/sanmob/thin"
)

// poolCollector reports, at scrape time, each pool's overcommit and the
// thin watcher's days to full (the physical, used and provisioned bytes are
// the model collector's).
type poolCollector struct {
	mob                                 *mobility.Service
	overcommit, overcommitMax, pctOfMax *prometheus.Desc
	daysToFull                          *prometheus.Desc
}

func newPoolCollector(mob *mobility.Service) *poolCollector {
	l := []string{"pool", "array"}
	return &poolCollector{
		mob:           mob,
		overcommit:    prometheus.NewDesc("sanmob_pool_overcommit_ratio", "Provisioned bytes over physical bytes.", l, nil),
		overcommitMax: prometheus.NewDesc("sanmob_pool_max_overcommit_ratio", "The most the array lets the pool provision over its physical bytes less the reserve.", l, nil),
		pctOfMax:      prometheus.NewDesc("sanmob_pool_overcommit_percent_of_max", "Provisioned bytes as a percentage of (physical − reserve) · max overcommit (Cinder's total_available).", l, nil),
		daysToFull:    prometheus.NewDesc("sanmob_pool_days_to_full", "Days until the pool's used bytes reach its physical bytes at the trusted forecast's trend; absent when not trusted or not growing.", []string{"pool", "array", "method"}, nil),
	}
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.overcommit, c.overcommitMax, c.pctOfMax, c.daysToFull} {
		ch <- d
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	for _, p := range c.mob.Pools("") {
		ch <- prometheus.MustNewConstMetric(c.overcommit, prometheus.GaugeValue, p.Overcommit, p.ID, p.Array)
		ch <- prometheus.MustNewConstMetric(c.overcommitMax, prometheus.GaugeValue, p.MaxOvercommit, p.ID, p.Array)
		if p.OvercommitPercentOfMax != nil {
			ch <- prometheus.MustNewConstMetric(c.pctOfMax, prometheus.GaugeValue, *p.OvercommitPercentOfMax, p.ID, p.Array)
		}
		if p.DaysToFull != nil {
			method := ""
			if fc, ok := p.Forecast.(*thin.Forecast); ok {
				method = fc.Method
			}
			ch <- prometheus.MustNewConstMetric(c.daysToFull, prometheus.GaugeValue, *p.DaysToFull, p.ID, p.Array, method)
		}
	}
}
