package server

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sanmob/sanmob/alert"
)

// deliveryCollector reports, at scrape time, each alert receiver's
// delivery counters.
type deliveryCollector struct {
	d          *alert.Delivery
	deliveries *prometheus.Desc
	lost       *prometheus.Desc
}

func newDeliveryCollector(d *alert.Delivery) *deliveryCollector {
	return &deliveryCollector{
		d: d,
		deliveries: prometheus.NewDesc("sanmob_alert_deliveries_total",
			"Alert notification requests by receiver and result: sent (accepted), failed (error, timeout or non-2xx), retried (a retry scheduled after a failure), dropped (refused with a 4xx, not retried).",
			[]string{"kind", "receiver", "result"}, nil),
		lost: prometheus.NewDesc("sanmob_alert_changes_lost_total",
			"Alert changes that fell out of the bounded change log before the receiver took them.",
			[]string{"kind", "receiver"}, nil),
	}
}

func (c *deliveryCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.deliveries
	ch <- c.lost
}

func (c *deliveryCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.d.Stats() {
		for result, n := range map[string]uint64{"sent": s.Sent, "failed": s.Failed, "retried": s.Retried, "dropped": s.Dropped} {
			ch <- prometheus.MustNewConstMetric(c.deliveries, prometheus.CounterValue, float64(n), s.Kind, s.Receiver, result)
		}
		ch <- prometheus.MustNewConstMetric(c.lost, prometheus.CounterValue, float64(s.Lost), s.Kind, s.Receiver)
	}
}
