package alert

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
	"k8s.io/utils/clock"
)

// Delivery defaults.
const (
	// DefaultGroupWait is how long a change waits for others to join it in
	// one notification: a burst becomes one POST per group.
	DefaultGroupWait = time.Second
	// DefaultResendInterval is how often every active alert is pushed to an
	// Alertmanager again (its guidance: 30 s to 3 min).
	DefaultResendInterval = time.Minute
	// DefaultTimeout bounds one HTTP request, in real time.
	DefaultTimeout = 10 * time.Second
	// DefaultMinBackoff and DefaultMaxBackoff bound the waits between
	// retries, which double from the first to the last.
	DefaultMinBackoff = 500 * time.Millisecond
	DefaultMaxBackoff = time.Minute
	// bodyLogLimit truncates a receiver's answer in the log.
	bodyLogLimit = 512
)

// DeliveryConfig names the receivers and the delivery's timing.
type DeliveryConfig struct {
	// Webhooks get the Alertmanager webhook payload, version "4".
	Webhooks []string
	// Alertmanagers are Alertmanager base URLs; alerts are pushed to
	// {url}/api/v2/alerts.
	Alertmanagers []string
	// GroupWait is used as is (0: send each change at once); the daemon
	// passes DefaultGroupWait unless told otherwise.
	GroupWait time.Duration
	// GroupBy are the labels a webhook notification groups by; default
	// alertname.
	GroupBy []string
	// ResendInterval: default DefaultResendInterval.
	ResendInterval time.Duration
	// Timeout of one request, real time: default DefaultTimeout.
	Timeout time.Duration
	// MinBackoff, MaxBackoff: defaults DefaultMinBackoff, DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// ExternalURL is sanmob's API base URL; the payload's externalURL and,
	// with /v1/alerts, every alert's generatorURL.
	ExternalURL string
	// Receiver is the payload's receiver name; default "sanmob".
	Receiver string
	// Clock times the group wait, backoffs and resends (the daemon's
	// clock); default the real one. Request timeouts are real time.
	Clock clock.WithTicker
	Log   logrus.FieldLogger
	// Client sends the requests; default a fresh http.Client.
	Client *http.Client
}

// ReceiverStats counts one receiver's deliveries.
type ReceiverStats struct {
	Kind     string // webhook | alertmanager
	Receiver string // its URL, password redacted
	Sent     uint64 // requests the receiver accepted (2xx)
	Failed   uint64 // requests that failed: error, timeout or non-2xx
	Retried  uint64 // retries scheduled after a failure
	Dropped  uint64 // requests given up on: the receiver answered 4xx
	Lost     uint64 // changes that fell out of the bounded log before delivery
}

// Delivery sends the Manager's changes to the configured receivers: one
// goroutine per receiver (one request in flight each), each resuming from
// the last change it delivered, as recorded in the store.
type Delivery struct {
	m     *Manager
	cfg   DeliveryConfig
	clock clock.WithTicker
	log   logrus.FieldLogger
	hc    *http.Client
	sinks []*sink
}

type sink struct {
	kind, url, name string // name: the cursor's id
	redacted        string
	send            func(ctx context.Context, s *sink, batch []Event) bool
	sent, failed    atomic.Uint64
	retried         atomic.Uint64
	dropped, lost   atomic.Uint64
}

// CheckURL accepts an absolute http or https URL with a host.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return err
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("scheme %q: want http or https", u.Scheme)
	case u.Host == "":
		return errors.New("no host")
	}
	return nil
}

// NewDelivery checks the configuration; it sends nothing until Run.
func NewDelivery(m *Manager, cfg DeliveryConfig) (*Delivery, error) {
	var errs []error
	for _, u := range cfg.Webhooks {
		if err := CheckURL(u); err != nil {
			errs = append(errs, fmt.Errorf("alert webhook %q: %w", u, err))
		}
	}
	for _, u := range cfg.Alertmanagers {
		if err := CheckURL(u); err != nil {
			errs = append(errs, fmt.Errorf("alertmanager %q: %w", u, err))
		}
	}
	if cfg.GroupWait < 0 {
		errs = append(errs, fmt.Errorf("alert group wait %v: must not be negative", cfg.GroupWait))
	}
	if cfg.ResendInterval < 0 || cfg.Timeout < 0 || cfg.MinBackoff < 0 || cfg.MaxBackoff < 0 {
		errs = append(errs, errors.New("alert delivery: intervals must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if len(cfg.GroupBy) == 0 {
		cfg.GroupBy = []string{"alertname"}
	}
	cfg.ResendInterval = orDefault(cfg.ResendInterval, DefaultResendInterval)
	cfg.Timeout = orDefault(cfg.Timeout, DefaultTimeout)
	cfg.MinBackoff = orDefault(cfg.MinBackoff, DefaultMinBackoff)
	cfg.MaxBackoff = max(orDefault(cfg.MaxBackoff, DefaultMaxBackoff), cfg.MinBackoff)
	if cfg.Receiver == "" {
		cfg.Receiver = "sanmob"
	}
	d := &Delivery{m: m, cfg: cfg, clock: cfg.Clock, log: cfg.Log, hc: cfg.Client}
	if d.clock == nil {
		d.clock = clock.RealClock{}
	}
	if d.log == nil {
		d.log = logrus.StandardLogger()
	}
	if d.hc == nil {
		d.hc = &http.Client{}
	}
	for _, u := range cfg.Webhooks {
		d.sinks = append(d.sinks, newSink("webhook", u, d.sendWebhook))
	}
	for _, u := range cfg.Alertmanagers {
		d.sinks = append(d.sinks, newSink("alertmanager", strings.TrimSuffix(u, "/"), d.sendPush))
	}
	return d, nil
}

func orDefault(v, def time.Duration) time.Duration {
	if v == 0 {
		return def
	}
	return v
}

func newSink(kind, raw string, send func(context.Context, *sink, []Event) bool) *sink {
	red := raw
	if u, err := url.Parse(raw); err == nil {
		red = u.Redacted()
	}
	return &sink{kind: kind, url: raw, name: kind + " " + raw, redacted: red, send: send}
}

// Stats counts each receiver's deliveries since the Delivery was made.
func (d *Delivery) Stats() []ReceiverStats {
	out := make([]ReceiverStats, 0, len(d.sinks))
	for _, s := range d.sinks {
		out = append(out, ReceiverStats{Kind: s.kind, Receiver: s.redacted, Sent: s.sent.Load(), Failed: s.failed.Load(),
			Retried: s.retried.Load(), Dropped: s.dropped.Load(), Lost: s.lost.Load()})
	}
	return out
}

// Run delivers until ctx ends; it always returns nil then. What is not
// delivered yet stays in the store and goes out after the next start.
func (d *Delivery) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, s := range d.sinks {
		wg.Go(func() { d.follow(ctx, s) })
		if s.kind == "alertmanager" {
			wg.Go(func() { d.resend(ctx, s) })
		}
	}
	wg.Wait()
	return nil
}

// follow delivers the Manager's changes to one receiver in order: after a
// change it waits GroupWait for others, sends them all, and only then
// records them as delivered. A receiver seen for the first time is sent the
// alerts firing at that moment.
func (d *Delivery) follow(ctx context.Context, s *sink) {
	log := d.log.WithFields(logrus.Fields{"kind": s.kind, "receiver": s.redacted})
	wake := d.m.notify() // before reading the cursor: no change is missed
	cur, ok, err := d.m.loadCursor(s.name)
	if err != nil {
		log.WithError(err).Error("alert delivery: reading what was delivered failed; starting from the alerts firing now")
	}
	var pending []Event
	if !ok {
		var firing []Alert
		cur, firing = d.m.head()
		for _, a := range firing {
			pending = append(pending, Event{Seq: cur, Type: EventFired, Alert: a})
		}
	}
	for {
		evs, lost := d.m.eventsAfter(cur)
		if len(pending) == 0 && len(evs) == 0 {
			select {
			case <-wake:
				continue
			case <-ctx.Done():
				return
			}
		}
		if d.cfg.GroupWait > 0 && len(evs) > 0 {
			select {
			case <-d.clock.After(d.cfg.GroupWait):
			case <-ctx.Done():
				return
			}
			evs, lost = d.m.eventsAfter(cur)
		}
		if lost > 0 {
			s.lost.Add(lost)
			log.WithField("lost", lost).Error("alert delivery: changes fell out of the bounded log before this receiver took them; they are not delivered")
		}
		last := cur
		if n := len(evs); n > 0 {
			last = evs[n-1].Seq
		}
		if !s.send(ctx, s, append(pending, evs...)) {
			return // ctx ended; the store still holds what is not delivered
		}
		cur, pending = last, nil
		if err := d.m.saveCursor(s.name, cur); err != nil {
			log.WithError(err).Error("alert delivery: recording what was delivered failed; a restart may send it again")
		}
	}
}

// latest keeps each alert's last change in the batch, in the order of those
// last changes: an alert that fired and resolved within one batch is sent
// once, resolved.
func latest(batch []Event) []Event {
	idx := map[string]int{}
	var out []Event
	for _, e := range batch {
		if i, ok := idx[e.Alert.Fingerprint]; ok {
			out[i].Type = "" // superseded
		}
		idx[e.Alert.Fingerprint] = len(out)
		out = append(out, e)
	}
	kept := out[:0]
	for _, e := range out {
		if e.Type != "" {
			kept = append(kept, e)
		}
	}
	return kept
}

// permanent is a refusal not worth retrying: the receiver answered 4xx.
type permanent struct{ error }

// post sends body to u until the receiver accepts it (true), refuses it
// with a 4xx (logged, dropped: true), or ctx ends (false). Errors, timeouts
// and other statuses are retried with doubling backoff.
func (d *Delivery) post(ctx context.Context, s *sink, u string, body []byte, what logrus.Fields) bool {
	log := d.log.WithFields(logrus.Fields{"kind": s.kind, "receiver": s.redacted}).WithFields(what)
	backoff := d.cfg.MinBackoff
	for attempt := 1; ; attempt++ {
		err := d.postOnce(ctx, u, body)
		if err == nil {
			s.sent.Add(1)
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		s.failed.Add(1)
		var p permanent
		if errors.As(err, &p) {
			s.dropped.Add(1)
			log.WithError(err).WithField("attempt", attempt).Error("alert delivery: the receiver refused the notification (4xx); dropped, not retried")
			return true
		}
		s.retried.Add(1)
		log.WithError(err).WithFields(logrus.Fields{"attempt": attempt, "retryIn": backoff.String()}).Warn("alert delivery failed; retrying")
		select {
		case <-d.clock.After(backoff):
		case <-ctx.Done():
			return false
		}
		backoff = min(2*backoff, d.cfg.MaxBackoff)
	}
}

// postOnce makes one request; its error carries the receiver's status and
// (truncated) answer.
func (d *Delivery) postOnce(ctx context.Context, u string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return permanent{err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "sanmob")
	resp, err := d.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, bodyLogLimit+1))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // let the connection be reused
	if resp.StatusCode/100 == 2 {
		return nil
	}
	text := strings.TrimSpace(string(raw))
	if len(text) > bodyLogLimit {
		text = text[:bodyLogLimit] + "…"
	}
	err = fmt.Errorf("%s answered %s: %q", redactURL(u), resp.Status, text)
	if resp.StatusCode/100 == 4 && resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests {
		return permanent{err}
	}
	return err
}

func redactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	return raw
}
