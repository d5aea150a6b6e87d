// Package thin owns sanmob's capacity math for thin and thick pools: how much
// room a pool has for a volume of either kind (Cinder's rule, DOMAIN.md
// "Thin provisioning"), whether a pool admits so many more bytes, the most a
// pool could ever hold, and which pools of the observed arrays a new volume
// may go to. It grows pool sampling, history, forecasts, rules with
// hysteresis and dark storage (issue 7).
//
// Everything here is a pure function of the pools the devices reported
// (devices.ArrayObs): no I/O, no clock, no lock. Its refusals wrap
// array.ErrNoCapacity (no room now) or inventory.ErrInvalid (no pool could
// ever hold the size), and say the numbers.
//
// It must not know HTTP or gRPC, nor mobility, which asks it before it
// creates or grows a volume.
package thin
