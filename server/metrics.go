package server

import (
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/sanmob/sanmob/devices"
	"github.com/sanmob/sanmob/mobility"
)

type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sanmob_http_requests_total",
			Help: "HTTP requests by route template, method and status code.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sanmob_http_request_duration_seconds",
			Help:    "HTTP request latency by route template and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method"}),
	}
	reg.MustRegister(m.requests, m.latency,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// newBuildInfo is sanmob_build_info: the constant 1, labelled with the
// daemon's version (Config.Version), the VCS revision the binary was built
// from (empty when the build was not stamped) and the Go version — the
// Prometheus convention for joining a build to other series.
func newBuildInfo(version string) prometheus.Collector {
	revision, goVersion := "", runtime.Version()
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				revision = s.Value
			}
		}
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "sanmob_build_info",
		Help:        "1, labelled with the version, VCS revision and Go version sanmobd was built with.",
		ConstLabels: prometheus.Labels{"version": version, "revision": revision, "goversion": goVersion},
	})
	g.Set(1)
	return g
}

// modelCollector reports, at scrape time, what the core knows of the
// devices and the inventory: which devices answer, how full zone DBs and
// pools are, how many objects the inventory holds.
type modelCollector struct {
	mob                                  *mobility.Service
	up, observed                         *prometheus.Desc
	zones, zoneBytes, zoneMax            *prometheus.Desc
	poolPhysical, poolUsed, poolProvided *prometheus.Desc
	objects                              *prometheus.Desc
	commits, attachments, claims, alerts *prometheus.Desc
}

func newModelCollector(mob *mobility.Service) *modelCollector {
	dev := []string{"kind", "device", "site"}
	return &modelCollector{
		mob:          mob,
		up:           prometheus.NewDesc("sanmob_device_up", "1 when the device's last read succeeded.", dev, nil),
		observed:     prometheus.NewDesc("sanmob_device_observed_timestamp_seconds", "When the device was last read successfully (the lab's virtual clock in lab mode).", dev, nil),
		zones:        prometheus.NewDesc("sanmob_fabric_zones", "Zones defined on the fabric.", []string{"fabric"}, nil),
		zoneBytes:    prometheus.NewDesc("sanmob_fabric_zonedb_bytes", "Size of the fabric's zone database.", []string{"fabric"}, nil),
		zoneMax:      prometheus.NewDesc("sanmob_fabric_zonedb_max_bytes", "Zone database size limit of the fabric.", []string{"fabric"}, nil),
		poolPhysical: prometheus.NewDesc("sanmob_pool_physical_bytes", "Physical capacity of the pool.", []string{"pool", "array"}, nil),
		poolUsed:     prometheus.NewDesc("sanmob_pool_used_bytes", "Capacity the pool has allocated.", []string{"pool", "array"}, nil),
		poolProvided: prometheus.NewDesc("sanmob_pool_provisioned_bytes", "Capacity provisioned to volumes in the pool.", []string{"pool", "array"}, nil),
		objects:      prometheus.NewDesc("sanmob_inventory_objects", "Objects in the inventory.", []string{"kind"}, nil),
		commits:      prometheus.NewDesc("sanmob_zoning_commits_total", "Zoning transactions sanmob committed to the fabric since it started.", []string{"fabric", "policy"}, nil),
		attachments:  prometheus.NewDesc("sanmob_attachments", "Volumes attached to nodes (masked and zoned).", nil, nil),
		claims:       prometheus.NewDesc("sanmob_zoning_claims", "Zoning claims held for other CSI drivers and orchestrators.", nil, nil),
		alerts:       prometheus.NewDesc("sanmob_alerts_firing", "Alerts firing, by name and severity.", []string{"alertname", "severity"}, nil),
	}
}

func (c *modelCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.observed, c.zones, c.zoneBytes, c.zoneMax, c.poolPhysical, c.poolUsed, c.poolProvided, c.objects, c.commits, c.attachments, c.claims, c.alerts} {
		ch <- d
	}
}

func (c *modelCollector) Collect(ch chan<- prometheus.Metric) {
	device := func(kind, id, site string, st devices.DeviceStatus) {
		up := 0.0
		if st.Reachable {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up, kind, id, site)
		if st.ObservedAt != nil {
			ch <- prometheus.MustNewConstMetric(c.observed, prometheus.GaugeValue, float64(st.ObservedAt.UnixMilli())/1000, kind, id, site)
		}
	}
	for _, f := range c.mob.Fabrics() {
		device("fabric", f.ID, f.Site, f.Status)
		if f.Status.ObservedAt != nil {
			ch <- prometheus.MustNewConstMetric(c.zones, prometheus.GaugeValue, float64(f.ZoneCount), f.ID)
			ch <- prometheus.MustNewConstMetric(c.zoneBytes, prometheus.GaugeValue, float64(f.ZoneDBBytes), f.ID)
			ch <- prometheus.MustNewConstMetric(c.zoneMax, prometheus.GaugeValue, float64(f.ZoneDBMaxBytes), f.ID)
		}
	}
	for _, a := range c.mob.Arrays() {
		device("array", a.ID, a.Site, a.Status)
	}
	for _, p := range c.mob.Pools("") {
		ch <- prometheus.MustNewConstMetric(c.poolPhysical, prometheus.GaugeValue, float64(p.PhysicalBytes), p.ID, p.Array)
		ch <- prometheus.MustNewConstMetric(c.poolUsed, prometheus.GaugeValue, float64(p.UsedBytes), p.ID, p.Array)
		ch <- prometheus.MustNewConstMetric(c.poolProvided, prometheus.GaugeValue, float64(p.ProvisionedBytes), p.ID, p.Array)
	}
	for kind, n := range c.mob.Counts() {
		ch <- prometheus.MustNewConstMetric(c.objects, prometheus.GaugeValue, float64(n), kind)
	}
	for _, f := range c.mob.Fabrics() {
		ch <- prometheus.MustNewConstMetric(c.commits, prometheus.CounterValue, float64(f.ZoneCommits), f.ID, f.ZonePolicy)
	}
	ch <- prometheus.MustNewConstMetric(c.attachments, prometheus.GaugeValue, float64(len(c.mob.Attachments(""))))
	ch <- prometheus.MustNewConstMetric(c.claims, prometheus.GaugeValue, float64(c.mob.ClaimCount()))
	type nameSeverity struct{ name, severity string }
	firing := map[nameSeverity]int{}
	for _, a := range c.mob.Alerts() {
		if a.Status == "firing" {
			firing[nameSeverity{a.Labels["alertname"], a.Labels["severity"]}]++
		}
	}
	for k, n := range firing {
		ch <- prometheus.MustNewConstMetric(c.alerts, prometheus.GaugeValue, float64(n), k.name, k.severity)
	}
}
