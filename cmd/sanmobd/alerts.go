package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"time"

	"github.com/sirupsen/logrus"
	"k8s.io/utils/clock"

	"github.com/sanmob/sanmob/alert"
	"github.com/sanmob/sanmob/internal/clockwait"
	"github.com/sanmob/sanmob/thin"
)

// alertFile is the config file's alerts section; its receivers add to the
// flags'.
type alertFile struct {
	Webhooks       []string `yaml:"webhooks"`
	Alertmanagers  []string `yaml:"alertmanagers"`
	GroupWait      *string  `yaml:"groupWait"`
	GroupBy        []string `yaml:"groupBy"`
	ResendInterval *string  `yaml:"resendInterval"`
}

// alertFlags defines the alert delivery flags but --alert-webhook, which
// main defines with the others.
func alertFlags(fs *flag.FlagSet, c *Config) {
	fs.Var((*multiFlag)(&c.Alertmanagers), "alertmanager-url", "Alertmanager base URL to push alerts to (POST {url}/api/v2/alerts; repeatable)")
	fs.DurationVar(&c.AlertGroupWait, "alert-group-wait", alert.DefaultGroupWait, "how long an alert change waits for others before it goes to the receivers, so that a burst is one notification (0: at once)")
	fs.DurationVar(&c.AlertResendInterval, "alert-resend-interval", alert.DefaultResendInterval, "how often every firing alert is pushed to the Alertmanagers again (Alertmanager asks for 30s to 3m; 0: the default)")
	fs.StringVar(&c.AlertExternalURL, "alert-external-url", "", "sanmob's API URL as receivers should link to it (externalURL, generatorURL; default http://<listen address>)")
}

// checkAlerts validates the alert delivery settings of the flags and the
// config file, and merges the file's into the Config.
func (c *Config) checkAlerts() []error {
	var errs []error
	checkURLs := func(what string, urls []string) {
		for i, u := range urls {
			if err := alert.CheckURL(u); err != nil {
				errs = append(errs, fmt.Errorf("%s %q: want an http(s) URL: %v", fmt.Sprintf(what, i), u, err))
			}
		}
	}
	checkURLs("--alert-webhook", c.AlertWebhooks)
	checkURLs("--alertmanager-url", c.Alertmanagers)
	if f := c.file.Alerts; f != nil {
		checkURLs("--config: alerts.webhooks[%d]", f.Webhooks)
		checkURLs("--config: alerts.alertmanagers[%d]", f.Alertmanagers)
		c.AlertWebhooks = append(c.AlertWebhooks, f.Webhooks...)
		c.Alertmanagers = append(c.Alertmanagers, f.Alertmanagers...)
		c.AlertGroupBy = f.GroupBy
		for name, p := range map[string]struct {
			raw *string
			dst *time.Duration
		}{"groupWait": {f.GroupWait, &c.AlertGroupWait}, "resendInterval": {f.ResendInterval, &c.AlertResendInterval}} {
			if p.raw == nil {
				continue
			}
			d, err := time.ParseDuration(*p.raw)
			if err != nil {
				errs = append(errs, fmt.Errorf("--config: alerts.%s: %w", name, err))
				continue
			}
			*p.dst = d
		}
	}
	if c.AlertGroupWait < 0 {
		errs = append(errs, fmt.Errorf("--alert-group-wait %v: must not be negative", c.AlertGroupWait))
	}
	if c.AlertResendInterval < 0 { // 0: the default
		errs = append(errs, fmt.Errorf("--alert-resend-interval %v: must not be negative", c.AlertResendInterval))
	}
	if c.AlertExternalURL != "" {
		if err := alert.CheckURL(c.AlertExternalURL); err != nil {
			errs = append(errs, fmt.Errorf("--alert-external-url %q: want an http(s) URL: %v", c.AlertExternalURL, err))
		}
	}
	for i, l := range c.AlertGroupBy {
		if l == "" {
			errs = append(errs, fmt.Errorf("--config: alerts.groupBy[%d] is empty", i))
		}
	}
	return errs
}

// alertDelivery builds the delivery to the configured receivers; nil when
// there is none. Its timing runs on clk, the daemon's clock.
func (d *Daemon) alertDelivery(m *alert.Manager, clk clock.WithTicker, api net.Addr, labSpeed float64) (*alert.Delivery, error) {
	c := d.cfg
	if len(c.AlertWebhooks) == 0 && len(c.Alertmanagers) == 0 {
		return nil, nil
	}
	ext := c.AlertExternalURL
	if ext == "" {
		ext = "http://" + api.String()
	}
	del, err := alert.NewDelivery(m, alert.DeliveryConfig{Webhooks: c.AlertWebhooks, Alertmanagers: c.Alertmanagers,
		GroupWait: c.AlertGroupWait, GroupBy: c.AlertGroupBy, ResendInterval: c.AlertResendInterval, ExternalURL: ext,
		Clock: clk, Log: d.log.WithField("component", "alert")})
	if err != nil {
		return nil, errors.Join(errors.New("alert delivery"), err)
	}
	e := d.log.WithFields(logrus.Fields{"webhooks": len(c.AlertWebhooks), "alertmanagers": len(c.Alertmanagers), "groupWait": c.AlertGroupWait.String()})
	e.Info("alert delivery on")
	if len(c.Alertmanagers) > 0 && labSpeed != 1 {
		e.WithField("labSpeed", labSpeed).Warn("alerts carry the lab's virtual time, which runs ahead of the Alertmanager's clock: it will see them start, and resolved ones end, in its future; run the lab at --lab-speed 1 when pushing to a real Alertmanager")
	}
	return del, nil
}

// reRaised are the alerts whose raisers look at everything again after a
// start (the drift check, the replication and thin watchers) and set what
// still fires. OperationFailed is not among them: a restart does not end a
// failed run, and its raiser resolves it when the run ends.
var reRaised = []string{alert.FabricDrift, alert.ReplicationLagHigh, alert.PoolUsageHigh, alert.PoolOvercommitHigh, alert.PoolFullSoon, alert.QueueCongestion}

// confirmGrace is how long after the inventory has loaded the raisers get
// to set again what still fires: three rounds of the slower of the device
// refresh and the thin sampler.
func (d *Daemon) confirmGrace() time.Duration {
	refresh := d.cfg.RefreshInterval
	if refresh <= 0 {
		refresh = 30 * time.Second // devices' default
	}
	sample := d.cfg.PoolSamplePeriod
	if sample <= 0 {
		sample = thin.DefaultPeriod
	}
	return 3 * max(refresh, sample)
}

// confirmAlerts resolves, once the grace is over, the alerts restored from
// the store that their raisers did not set again: their condition went away
// while sanmob was down.
func confirmAlerts(m *alert.Manager, clk clock.Clock, grace time.Duration, log logrus.FieldLogger) func(context.Context) error {
	return func(ctx context.Context) error {
		if clockwait.Sleep(ctx, clk, grace) != nil {
			return nil
		}
		for _, a := range m.ResolveUnconfirmed(reRaised...) {
			log.WithFields(logrus.Fields{"alertname": a.Labels["alertname"], "fingerprint": a.Fingerprint, "labels": a.Labels}).
				Info("alert resolved: it fired before the restart and its raiser did not raise it again")
		}
		return nil
	}
}
