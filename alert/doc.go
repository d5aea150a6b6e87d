// Package alert keeps sanmob's alerts: which are firing, since when, and the
// ones that resolved lately. An alert is identified by its label set, as in
// Prometheus Alertmanager; its names (label alertname) are the API's.
//
// It knows nothing of fabrics or pools: the packages that watch them decide
// when an alert fires. Every change is a numbered Event; with Restore the
// Manager keeps the alerts and the last changes in the store, so that a
// restart neither forgets nor re-fires them. Subscribe feeds streams;
// Delivery sends the changes to webhooks (Alertmanager payload version 4)
// and Alertmanagers (POST /api/v2/alerts), each receiver resuming from what
// it last delivered. docs/alerts.md says what is sent where.
package alert
