package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sanmob/sanmob/inventory"
	"github.com/sanmob/sanmob/mobility"
)

// maxTelemetryBody is the body limit of a telemetry batch: 5,000 samples
// with full-precision numbers and nanosecond times, pretty-printed, fit.
const maxTelemetryBody = 4 << 20

// telemetryWire is a sample as it arrives: every field but qfull and busy
// is required, and a null counts as missing, so that a forgotten latency
// is a 400 and not a calm 0.
type telemetryWire struct {
	Host           *string  `json:"host"`
	Volume         *string  `json:"volume"`
	TargetPortWWPN *string  `json:"targetPortWWPN"`
	At             *string  `json:"at"`
	IOPS           *float64 `json:"iops"`
	LatencyMs      *float64 `json:"latencyMs"`
	Outstanding    *float64 `json:"outstanding"`
	QFull          *float64 `json:"qfull"` // counts; 3.0 is 3, 3.5 is refused
	Busy           *float64 `json:"busy"`
}

// decodeTelemetry decodes the batch element by element, so that every
// error names its sample: [i].field.
func decodeTelemetry(raws []json.RawMessage) ([]mobility.TelemetrySample, error) {
	out := make([]mobility.TelemetrySample, len(raws))
	for i, raw := range raws {
		field := func(name string) string { return fmt.Sprintf("[%d].%s", i, name) }
		var w telemetryWire
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&w); err != nil {
			var ute *json.UnmarshalTypeError
			switch {
			case errors.As(err, &ute) && ute.Field != "":
				return nil, &FieldErr{Field: field(ute.Field), Reason: fmt.Sprintf("want %s, got %s", jsonTypeName(ute.Type), jsonKind(ute.Value))}
			case errors.As(err, &ute):
				return nil, &FieldErr{Field: fmt.Sprintf("[%d]", i), Reason: "want an object with the sample's fields, got " + jsonKind(ute.Value)}
			case strings.HasPrefix(err.Error(), "json: unknown field "):
				name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
				return nil, &FieldErr{Field: field(inventory.Clip(name)), Reason: "unknown field"}
			default:
				return nil, &FieldErr{Field: fmt.Sprintf("[%d]", i), Reason: err.Error()}
			}
		}
		if string(bytes.TrimSpace(raw)) == "null" {
			return nil, &FieldErr{Field: fmt.Sprintf("[%d]", i), Reason: "want an object with the sample's fields, got null"}
		}
		x := &out[i]
		for _, req := range []struct {
			name string
			set  bool
		}{{"host", w.Host != nil}, {"volume", w.Volume != nil}, {"targetPortWWPN", w.TargetPortWWPN != nil}, {"at", w.At != nil},
			{"iops", w.IOPS != nil}, {"latencyMs", w.LatencyMs != nil}, {"outstanding", w.Outstanding != nil}} {
			if !req.set {
				return nil, &FieldErr{Field: field(req.name), Reason: "required"}
			}
		}
		// RFC 3339 allows a lowercase t and z; Go's parser wants them upper.
		at, err := time.Parse(time.RFC3339Nano, strings.ToUpper(*w.At))
		if err != nil {
			return nil, &FieldErr{Field: field("at"), Reason: "not an RFC 3339 time with a zone, such as 2026-11-30T01:02:03Z"}
		}
		x.Host, x.Volume, x.TargetPortWWPN, x.At = *w.Host, *w.Volume, *w.TargetPortWWPN, at
		x.IOPS, x.LatencyMs, x.Outstanding = *w.IOPS, *w.LatencyMs, *w.Outstanding
		for _, c := range []struct {
			name string
			v    *float64
			to   *int
		}{{"qfull", w.QFull, &x.QFull}, {"busy", w.Busy, &x.Busy}} {
			if c.v == nil {
				continue
			}
			if *c.v != math.Trunc(*c.v) || *c.v < 0 || *c.v > 1e9 {
				return nil, &FieldErr{Field: field(c.name), Reason: "want a count: a whole number from 0 to 1e9"}
			}
			*c.to = int(*c.v)
		}
	}
	return out, nil
}

// postTelemetry takes a batch of host I/O samples: the whole batch or, at
// the first bad sample, a 400 naming it ([i].field); 429 with Retry-After
// when a host in it sends more than its rate. The rate is kept per token
// and host.
func (s *Server) postTelemetry(w http.ResponseWriter, r *http.Request) {
	var raws []json.RawMessage
	if err := decodeMax(w, r, &raws, maxTelemetryBody); err != nil {
		s.writeError(w, r, err)
		return
	}
	batch, err := decodeTelemetry(raws)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.mob.IngestTelemetry(r.Context(), principal(w), batch)
	var rl *mobility.RateLimitedError
	if errors.As(err, &rl) {
		w.Header().Set("Retry-After", strconv.Itoa(rl.RetrySeconds()))
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
	samples                         *prometheus.Desc
}

func newQueueDepthCollector(mob *mobility.Service) *queueDepthCollector {
	l := []string{"host", "volume", "pool"}
	return &queueDepthCollector{
		mob:       mob,
		depth:     prometheus.NewDesc("sanmob_queue_depth_recommended", "The queue depth sanmob recommends for the host's LUN.", l, nil),
		latency:   prometheus.NewDesc("sanmob_lun_latency_seconds", "The host's mean device latency to the LUN over the last control period.", l, nil),
		threshold: prometheus.NewDesc("sanmob_lun_latency_threshold_seconds", "The latency threshold of the LUN's pool.", l, nil),
		cong:      prometheus.NewDesc("sanmob_queue_congested", "1 while the host's queue to the LUN is congested (QueueCongestion fires).", l, nil),
		samples: prometheus.NewDesc("sanmob_telemetry_samples_total", "I/O telemetry samples received (over the API or from the lab's agents), by what became of them: accepted, stale (older than the last control period), ignored (a volume whose VM runs on another host), rejected (in a batch refused as bad input) or limited (in a batch refused by a host's rate).",
			[]string{"result"}, nil),
	}
}

func (c *queueDepthCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.depth, c.latency, c.threshold, c.cong, c.samples} {
		ch <- d
	}
}

func (c *queueDepthCollector) Collect(ch chan<- prometheus.Metric) {
	for result, n := range c.mob.TelemetryCounts() {
		ch <- prometheus.MustNewConstMetric(c.samples, prometheus.CounterValue, float64(n), result)
	}
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
