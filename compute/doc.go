// Package compute is the contract with the hypervisor manager: which hosts
// exist with which HBA ports, which VMs run where with which NPIV virtual
// ports. Drivers (the lab, later vCenter or libvirt) implement Driver.
//
// It knows nothing of fabrics beyond WWNs, nor of arrays.
package compute
