package alert

import (
	"context"
	"encoding/json"
	"time"

	"github.com/sirupsen/logrus"
)

// PostableAlert is one alert of Alertmanager's POST /api/v2/alerts.
type PostableAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// postable converts alerts for an Alertmanager. A firing alert ends, unless
// sent again, four resend intervals from now (as Prometheus does), so that
// Alertmanager resolves it by itself if sanmob goes away; a resolved one
// ends when it resolved.
func (d *Delivery) postable(alerts []Alert) []PostableAlert {
	now := d.clock.Now()
	out := make([]PostableAlert, 0, len(alerts))
	for _, a := range alerts {
		p := PostableAlert{Labels: nonNil(a.Labels), Annotations: nonNil(a.Annotations), StartsAt: a.StartsAt,
			EndsAt: now.Add(4 * d.cfg.ResendInterval), GeneratorURL: d.generatorURL()}
		if a.EndsAt != nil {
			p.EndsAt = *a.EndsAt
		}
		out = append(out, p)
	}
	return out
}

// sendPush posts the batch's alerts, each in its last state, in one
// request, retried until accepted.
func (d *Delivery) sendPush(ctx context.Context, s *sink, batch []Event) bool {
	var alerts []Alert
	for _, e := range latest(batch) {
		alerts = append(alerts, e.Alert)
	}
	return d.push(ctx, s, alerts, true)
}

// push posts alerts to the Alertmanager; with retry it retries until the
// answer is final, without it tries once (true unless ctx ended).
func (d *Delivery) push(ctx context.Context, s *sink, alerts []Alert, retry bool) bool {
	if len(alerts) == 0 {
		return true
	}
	body, err := json.Marshal(d.postable(alerts))
	if err != nil {
		d.log.WithError(err).Error("alert delivery: encoding alerts for Alertmanager")
		return true
	}
	u := s.url + "/api/v2/alerts"
	if retry {
		return d.post(ctx, s, u, body, logrus.Fields{"alerts": len(alerts)})
	}
	if err := d.postOnce(ctx, u, body); err != nil {
		if ctx.Err() != nil {
			return false
		}
		s.failed.Add(1)
		d.log.WithError(err).WithFields(logrus.Fields{"kind": s.kind, "receiver": s.redacted, "alerts": len(alerts)}).
			Warn("alert delivery: re-sending the active alerts failed; next try in one resend interval")
		return true
	}
	s.sent.Add(1)
	return true
}

// resend pushes every firing alert again each ResendInterval, as
// Alertmanager expects of its clients.
func (d *Delivery) resend(ctx context.Context, s *sink) {
	t := d.clock.NewTicker(d.cfg.ResendInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C():
		case <-ctx.Done():
			return
		}
		_, firing := d.m.head()
		if !d.push(ctx, s, firing, false) {
			return
		}
	}
}
