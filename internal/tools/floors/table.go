package main

// The floor table of docs/architecture.md ("Rooms, floor by floor"), in one
// place. A pattern is a package path relative to the module, or a path
// ending in "/..." for the packages under it; the longest pattern that
// matches a package gives its floor. A package the table does not name
// fails the check: add it here (and to the house plan) when you create it.
// Entries for packages that do not exist yet are fine.
var table = []entry{
	// Floor 1: leaves — the store, value types, helpers that know nothing.
	{pattern: "store", floor: 1},
	{pattern: "fabric/wwn", floor: 1},
	{pattern: "errclass", floor: 1},
	{pattern: "internal/keylock", floor: 1},
	{pattern: "internal/loadgen", floor: 1},
	{pattern: "internal/clockwait", floor: 1},
	{pattern: "internal/daemontest", floor: 1}, // tests only: starts the real sanmobd (go build), imports no sanmob package
	{pattern: "client", floor: 1},              // the REST API's Go client: no sanmob imports at all

	// Floor 2: contracts and durable mechanisms.
	{pattern: "saga", floor: 2},
	{pattern: "fabric", floor: 2},
	{pattern: "array", floor: 2},
	{pattern: "compute", floor: 2},
	{pattern: "compute/external", floor: 2, peers: []string{"compute"}}, // the driver for a manager that moves VMs itself and reports
	{pattern: "alert", floor: 2},

	// Floor 3: the device registry and observations.
	{pattern: "devices", floor: 3},

	// Floor 4: models over the devices. replication, thin and qdepth read
	// inventory, on their own floor; nothing on floor 4 imports mobility.
	{pattern: "inventory", floor: 4},
	{pattern: "replication", floor: 4, peers: []string{"inventory"}},
	{pattern: "thin", floor: 4, peers: []string{"inventory"}},
	{pattern: "qdepth", floor: 4, peers: []string{"inventory"}},

	// Floor 5: the orchestration.
	{pattern: "mobility", floor: 5},

	// Floor 6: the edges.
	{pattern: "server", floor: 6, peers: []string{"server/ui"}},
	{pattern: "server/ui", floor: 6}, // the web console's embedded files; imports nothing of sanmob
	{pattern: "server/csi", floor: 6},
	{pattern: "server/csi/csitest", floor: 6}, // csi-sanity support for tests

	// Floor 7: wiring and tools.
	{pattern: "cmd/...", floor: 7, peers: []string{"internal/labwire"}},
	{pattern: "cmd/sanmobctl", floor: 7}, // the command line: client alone
	{pattern: "internal/labwire", floor: 7},
	{pattern: "internal/tools/...", floor: 7},
	{pattern: "deploy", floor: 7},        // tests only: the operator's manifests and unit checked against the code
	{pattern: "test/fcdriver", floor: 7}, // tests only: a third-party-style CSI driver zoned through sanmob's claims; imports client alone

	// Drivers, outside the floors: they implement the floor-2 contracts and
	// no core package imports them.
	{pattern: "lab", floor: driver},
	{pattern: "fabric/brocade/...", floor: driver},
	{pattern: "fabric/brocade", floor: driver},
}

// labImporters are the only packages whose non-test code may import lab.
var labImporters = []string{"cmd/...", "internal/labwire"}

// The highest floor a driver may import: the contracts it implements and
// the leaves under them.
const driverMaxImport = 2

// wiringFloor is the floor that may import drivers.
const wiringFloor = 7
