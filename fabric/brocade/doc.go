// Package brocade is the fabric.Driver of Brocade switches, over the FOS
// REST API (RESTCONF, application/yang-data+json; FOS 8.2 and later, written
// against the FOS 9.1 YANG modules). It owns the session with the switch
// (login, token, logout), the mapping of FOS's zone database and name server
// to fabric's types, and the zoning transaction: the checksum check, the
// edits, one enable that saves and activates them, and the abort that
// releases the fabric lock when anything fails.
//
// It knows FOS and fabric's contract, nothing of sanmob's core: which zones
// to make, when, and what to do after an error are the Zoner's.
package brocade
