package alert

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
)

// WebhookMessage is Alertmanager's webhook payload, version "4".
type WebhookMessage struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   int               `json:"truncatedAlerts"`
	Status            string            `json:"status"` // firing when any of its alerts fires
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []WebhookAlert    `json:"alerts"`
}

// WebhookAlert is one alert of a WebhookMessage. EndsAt is the zero time
// (0001-01-01T00:00:00Z) while it fires, as Alertmanager sends it.
type WebhookAlert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// sendWebhook posts the batch's changes, one message per group (by
// GroupBy), each alert in its last state of the batch. Only the changes
// are sent: an alert that fires on is not repeated.
func (d *Delivery) sendWebhook(ctx context.Context, s *sink, batch []Event) bool {
	for _, g := range d.groupWebhook(latest(batch)) {
		body, err := json.Marshal(g)
		if err != nil { // maps of strings and times: cannot happen
			d.log.WithError(err).Error("alert delivery: encoding a webhook message")
			continue
		}
		if !d.post(ctx, s, s.url, body, logrus.Fields{"groupKey": g.GroupKey, "alerts": len(g.Alerts)}) {
			return false
		}
	}
	return true
}

// groupWebhook builds one message per group, groups in the order of their
// first alert.
func (d *Delivery) groupWebhook(evs []Event) []WebhookMessage {
	var out []WebhookMessage
	idx := map[string]int{}
	for _, e := range evs {
		gl := map[string]string{}
		for _, l := range d.cfg.GroupBy {
			if v, ok := e.Alert.Labels[l]; ok {
				gl[l] = v
			}
		}
		key := "{}:" + labelString(gl)
		i, ok := idx[key]
		if !ok {
			i = len(out)
			idx[key] = i
			out = append(out, WebhookMessage{Version: "4", GroupKey: key, Status: "resolved", Receiver: d.cfg.Receiver,
				GroupLabels: gl, ExternalURL: d.cfg.ExternalURL})
		}
		m := &out[i]
		wa := WebhookAlert{Status: e.Alert.Status, Labels: nonNil(e.Alert.Labels), Annotations: nonNil(e.Alert.Annotations),
			StartsAt: e.Alert.StartsAt, GeneratorURL: d.generatorURL(), Fingerprint: e.Alert.Fingerprint}
		if e.Alert.EndsAt != nil {
			wa.EndsAt = *e.Alert.EndsAt
		}
		if wa.Status == "firing" {
			m.Status = "firing"
		}
		m.Alerts = append(m.Alerts, wa)
	}
	for i := range out {
		m := &out[i]
		m.CommonLabels = common(m.Alerts, func(a WebhookAlert) map[string]string { return a.Labels })
		m.CommonAnnotations = common(m.Alerts, func(a WebhookAlert) map[string]string { return a.Annotations })
	}
	return out
}

func (d *Delivery) generatorURL() string {
	if d.cfg.ExternalURL == "" {
		return ""
	}
	return strings.TrimSuffix(d.cfg.ExternalURL, "/") + "/v1/alerts"
}

// common returns the pairs every alert has.
func common(alerts []WebhookAlert, of func(WebhookAlert) map[string]string) map[string]string {
	out := maps.Clone(of(alerts[0]))
	for _, a := range alerts[1:] {
		m := of(a)
		maps.DeleteFunc(out, func(k, v string) bool { w, ok := m[k]; return !ok || w != v })
	}
	return out
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// labelString renders labels as Alertmanager does in a group key:
// {a="1", b="2"}.
func labelString(l map[string]string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range slices.Sorted(maps.Keys(l)) {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(k + "=" + strconv.Quote(l[k]))
	}
	b.WriteByte('}')
	return b.String()
}
