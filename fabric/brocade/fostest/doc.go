// Package fostest is an in-process emulator of the Brocade FOS REST API, as
// much of it as a zoning driver uses: login sessions, brocade-zone (defined
// and effective configuration, the zoning transaction with its fabric lock
// and checksum), brocade-name-server and the switch's identity. It serves
// TLS through httptest and answers refusals in RESTCONF error envelopes.
//
// Tests steer it with knobs: a busy switch (503), a fabric lock held by
// another client, an enable that is applied but never answered, another
// administrator committing meanwhile, injected failures, expired sessions.
//
// It is written from the FOS 9.1 YANG modules independently of
// fabric/brocade and shares no types with it, so that a misreading on either
// side fails a test instead of agreeing with itself. It knows nothing of
// sanmob's core; of sanmob it uses only the zone name rules and WWNs.
package fostest
