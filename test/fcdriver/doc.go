// Package fcdriver is a test CSI driver of the kind sanmob was not designed
// for: a third party's Fibre Channel driver, shaped like the controller of
// csi-driver-host-path, with its own array. It proves that such a driver
// gets its fabrics zoned through sanmob's zoning claims alone.
//
// It owns a minimal CSI Identity and Controller (create, delete, publish,
// unpublish, list, capacity) and a stand-in Node service that only names its
// node; and Array, an in-memory fake array with its own vendor-style target
// ports, volumes, and LUN masking by initiator group (LUN ids unique per
// node). ControllerPublishVolume masks the volume on the array and then
// claims zoning for the node's initiators and the array's targets
// (client.PutClaim, owner = the driver name, key = "volume/node");
// ControllerUnpublishVolume releases the claim, then unmasks.
//
// It must not know sanmob's internals: among sanmob's packages it imports
// only client, as an outside driver would. Only tests use it.
package fcdriver
