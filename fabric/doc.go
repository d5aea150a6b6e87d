// Package fabric owns sanmob's view of Fibre Channel fabrics: name-server
// logins, zones and zone databases, and the Driver contract every switch
// driver (the lab's switches, Brocade FOS REST) implements.
//
// It knows nothing of arrays or VMs; WWNs come from fabric/wwn.
package fabric
