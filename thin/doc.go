// Package thin owns sanmob's capacity of thin and thick pools: the
// admission arithmetic, and the watcher that keeps each pool's history,
// forecasts when it fills and raises the pool alerts.
//
// Admission (room.go, place.go, full.go) is pure arithmetic over the pools
// the devices reported (devices.ArrayObs): how much room a pool has for a
// volume of either kind (Cinder's rule with the reserved percentage,
// DOMAIN.md "Thin provisioning"), whether it admits so many more bytes, the
// most it could ever hold, whether a thick volume would take it past the
// full threshold, and which pools a new volume may go to. Refusals wrap
// array.ErrNoCapacity (no room now: 507) or inventory.ErrInvalid (no pool
// could ever hold the size: 400), and say the numbers.
//
// The Watcher (watch.go) samples every pool on a period of the service
// clock and keeps a History (history.go) in the store: raw samples for two
// days, hourly means for 90 days, one transaction per sample for all pools.
// Predict (forecast.go) is a pure function of the hourly series. It fits
// least squares over several windows (1 d to 14 d; not 6 h: six hourly
// means of a flat pool pass the R² gate by chance often enough to raise
// alerts) and keeps the first local maximum of R² that passes a gate of
// 0.9 (EMC/Chamness: a longer window is only worth it when it explains
// more); Holt's double exponential smoothing, which follows a change of
// trend; and, once a week of history is there, least squares over the last
// two weeks of a trend plus a weekly and a daily sinusoid, so that a
// weekly swing does not count against the fit. Each is backtested on the
// last week, and least squares is kept unless another is clearly better,
// because a forecast that switches model on noise makes alerts flap.
// A pool is full when its peaks reach capacity, not its hourly means: days
// to full is when the model (cycle included) plus the typical daily peak
// above it (the median, over the last week's days, of each day's highest
// hourly maximum above the model) reaches capacity. The pessimistic days to
// full, which PoolFullSoon fires on, is when the upper end of a prediction
// interval does: the model plus the week's highest peak plus twice the
// square root of the parameters' variance at that horizon and of the
// backtest error extrapolated as a wrong trend (growing linearly with the
// horizon). Days to full is null, with an explanation, when no model is
// trusted or the pool is not growing.
// The rules (rules.go) are AIQUM's thresholds with hysteresis as LVM's
// dmeventd does it: an alert clears only once its value is back a margin
// below the threshold. PoolFullSoon warns when "the pool may be full within
// 15 days" (the pessimistic bound) and pages critical when the forecast
// itself says full within 3 days: a bursty pool's bound can dip to a day
// while its forecast says weeks. It clears only when the pessimistic days
// have been half as much again (22.5) for 24 h, so that a model switch, the
// end of a burst or a day without a trusted forecast does not clear it
// (FullSoonRule).
//
// It must not know HTTP or gRPC, nor mobility, which asks it before it
// creates or grows a volume and serves what the Watcher knows.
package thin
