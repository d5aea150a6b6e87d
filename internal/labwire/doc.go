// Package labwire wires the embedded lab into sanmob: the mobility
// configuration of a lab world's sites, links and devices, the server's
// /v1/lab API over the lab's own truth and controls, and the driver
// factories the daemon builds its devices with (devices.Factories: "lab"
// for a device of the world, "brocade" for a FOS REST switch). It is the one
// place outside cmd and tests that knows the lab, and only cmd/sanmobd and
// tests import it.
package labwire
