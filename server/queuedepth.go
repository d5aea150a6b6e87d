package server

import (
	"errors"
	"math"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sanmob/sanmob/mobility"
)

// postTelemetry takes a batch of host I/O samples: the whole batch or, at
// the first bad sample, a 400 naming it ([i].field); 429 with Retry-After
// when a host in it sends more than its rate.
func (s *Server) postTelemetry(w http.ResponseWriter, r *http.Request) {
	var batch []mobility.TelemetrySample
	if err := decode(w, r, &batch); err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.mob.IngestTelemetry(batch)
	var rl *mobility.RateLimitedError
	if errors.As(err, &rl) {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(rl.RetryAfter.Seconds()))))
	}
	switch {
	case err == nil:
		s.telemetrySamples.WithLabelValues("accepted").Add(float64(res.Accepted))
		s.telemetrySamples.WithLabelValues("stale").Add(float64(res.Stale))
		s.telemetrySamples.WithLabelValues("ignored").Add(float64(res.Ignored))
	case rl != nil:
		s.telemetrySamples.WithLabelValues("limited").Add(float64(len(batch)))
	default:
		s.telemetrySamples.WithLabelValues("rejected").Add(float64(len(batch)))
	}
	s.reply(w, r, http.StatusOK, res, err)
}

// getQueueDepths answers a host's recommended queue depths; with
// ?watch=true it streams them (SSE): a snapshot event, then one
// queue-depths event each time a control period changes them.
func (s *Server) getQueueDepths(w http.ResponseWriter, r *http.Request) {
	host := vars(r)["id"]
	watch, err := boolParam(r, "watch")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !watch {
		v, err := s.mob.HostQueueDepths(r.Context(), host)
		s.reply(w, r, http.StatusOK, v, err)
		return
	}
	ch, cancel := s.mob.WatchQueueDepths(host)
	defer cancel()
	v, err := s.mob.HostQueueDepths(r.Context(), host)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := startSSE(w, r)
	if out == nil {
		return
	}
	var seq uint64
	if !out.send("snapshot", seq, v) {
		return
	}
	follow(r.Context(), out, ch, func(v mobility.HostQueueDepths) bool {
		seq++
		return out.send("queue-depths", seq, v)
	})
}

// queueDepthCollector reports, at scrape time, every recommendation of
// the last control period and what it rests on.
type queueDepthCollector struct {
	mob                             *mobility.Service
	depth, latency, threshold, cong *prometheus.Desc
}

func newQueueDepthCollector(mob *mobility.Service) *queueDepthCollector {
	l := []string{"host", "volume", "pool"}
	return &queueDepthCollector{
		mob:       mob,
		depth:     prometheus.NewDesc("sanmob_queue_depth_recommended", "The queue depth sanmob recommends for the host's LUN.", l, nil),
		latency:   prometheus.NewDesc("sanmob_lun_latency_seconds", "The host's mean device latency to the LUN over the last control period.", l, nil),
		threshold: prometheus.NewDesc("sanmob_lun_latency_threshold_seconds", "The latency threshold of the LUN's pool.", l, nil),
		cong:      prometheus.NewDesc("sanmob_queue_congested", "1 while the host's queue to the LUN is congested (QueueCongestion fires).", l, nil),
	}
}

func (c *queueDepthCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.depth, c.latency, c.threshold, c.cong} {
		ch <- d
	}
}

func (c *queueDepthCollector) Collect(ch chan<- prometheus.Metric) {
	for host, items := range c.mob.QueueDepthsAll() {
		for _, d := range items {
			l := []string{host, d.Volume, d.Pool}
			ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(d.QueueDepth), l...)
			ch <- prometheus.MustNewConstMetric(c.threshold, prometheus.GaugeValue, d.ThresholdMs/1e3, l...)
			if d.LatencyMs != nil {
				ch <- prometheus.MustNewConstMetric(c.latency, prometheus.GaugeValue, *d.LatencyMs/1e3, l...)
			}
			cong := 0.0
			if d.Congested {
				cong = 1
			}
			ch <- prometheus.MustNewConstMetric(c.cong, prometheus.GaugeValue, cong, l...)
		}
	}
}
