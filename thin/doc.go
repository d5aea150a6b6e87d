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
// least squares over several windows and keeps the first local maximum of
// R² that passes a gate of 0.9 (EMC/Chamness: a longer window is only worth
// it when it explains more), and Holt's double exponential smoothing,
// which follows a change of trend; each is backtested on the last week
// and Holt is chosen only when clearly better, because a forecast that
// switches model on noise makes alerts flap. Days to full is null, with an
// explanation, when neither model is trusted or the pool is not growing.
// The rules (rules.go) are AIQUM's thresholds with hysteresis as LVM's
// dmeventd does it: an alert clears only once its value is back a margin
// below the threshold.
//
// It must not know HTTP or gRPC, nor mobility, which asks it before it
// creates or grows a volume and serves what the Watcher knows.
package thin
