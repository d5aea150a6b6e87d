// Package alert keeps sanmob's alerts: which are firing, since when, and the
// ones that resolved lately. An alert is identified by its label set, as in
// Prometheus Alertmanager; its names (label alertname) are the API's.
//
// It knows nothing of fabrics or pools: the packages that watch them decide
// when an alert fires. Delivery (webhooks, streams) builds on it.
package alert
