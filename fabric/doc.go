// Package fabric owns sanmob's view of Fibre Channel fabrics and the zoning
// engine: name-server logins, zones and zone databases, the Driver contract
// every switch driver implements (the lab's switches, fabric/brocade), the
// zone-name rules, the Zoner (desired zoning as intents with users, group
// commit per fabric, rollback across fabrics, drift and repair) and Vports
// (NPIV logins that never duplicate a WWPN).
//
// It knows nothing of arrays, VMs or the store: intents arrive with their
// users and labels, and the inventory is consulted only through the InUse
// callback. WWNs come from fabric/wwn.
package fabric
