package csi

import (
	"context"
	"errors"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/compute"
	"github.com/sanmob/sanmob/errclass"
	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/fabric/wwn"
	"github.com/sanmob/sanmob/mobility"
)

// toStatus is the one place where an error becomes a gRPC status. Handlers
// return the core's errors as they are, or a status they built themselves
// for a request they refused; the interceptor passes every error through
// here. method is the full gRPC method name: the same sentinel means
// different things to different calls (CSI's error tables). The message is
// always the error's own words — for a device's error, the device's reason.
func toStatus(method string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err // already decided by the handler
	}
	return status.Error(codeOf(method, err), err.Error())
}

// codeOf maps an error's sentinel, or else its class, to a code:
//
//   - invalid → INVALID_ARGUMENT; no capacity, a full zone DB or NPIV slots →
//     RESOURCE_EXHAUSTED; not found → NOT_FOUND (INVALID_ARGUMENT for
//     CreateVolume and GetCapacity, whose parameters named what is missing);
//     conflict → FAILED_PRECONDITION (in use, published to another node:
//     the spec's code for ControllerPublishVolume and DeleteSnapshot), or
//     ALREADY_EXISTS for CreateVolume and CreateSnapshot (the name is taken).
//   - the CO cancelled the call → CANCELLED.
//   - transient (busy, unreachable, a device call that timed out, the core
//     not ready) → UNAVAILABLE: the operation may still be in progress, and
//     a CO (external-attacher, external-provisioner) keeps retrying and does
//     not take the volume for unpublished or undeleted.
//   - a device's definite refusal (final, marked as a device's by the core)
//     → FAILED_PRECONDITION, the device's reason in the message. It is
//     final for a CO, as it must be; and the spec's reading of the code — the
//     system is not in the state the call needs, fix it before retrying —
//     is what a refusing array or switch means. INTERNAL would say sanmob
//     broke an invariant, which it did not.
//   - anything else, a bug of sanmob's → INTERNAL.
func codeOf(method string, err error) codes.Code {
	switch {
	case errors.Is(err, mobility.ErrInvalid), errors.Is(err, array.ErrInvalid), errors.Is(err, fabric.ErrInvalid),
		errors.Is(err, wwn.ErrInvalid):
		return codes.InvalidArgument
	case errors.Is(err, array.ErrNoCapacity), errors.Is(err, fabric.ErrFull):
		return codes.ResourceExhausted
	case errors.Is(err, mobility.ErrNotFound), errors.Is(err, array.ErrNotFound), errors.Is(err, fabric.ErrNotFound),
		errors.Is(err, compute.ErrNotFound):
		switch method {
		case csi.Controller_CreateVolume_FullMethodName, csi.Controller_GetCapacity_FullMethodName:
			// The volume being created cannot be missing: what is missing
			// is a site, array or pool its parameters name.
			return codes.InvalidArgument
		}
		return codes.NotFound
	case errors.Is(err, mobility.ErrConflict), errors.Is(err, array.ErrConflict), errors.Is(err, fabric.ErrConflict):
		switch method {
		case csi.Controller_CreateVolume_FullMethodName, csi.Controller_CreateSnapshot_FullMethodName:
			return codes.AlreadyExists // the name is taken by something else
		}
		return codes.FailedPrecondition // in use: attached, or mapped elsewhere
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	case errclass.IsTransient(err):
		return codes.Unavailable
	case mobility.FromDevice(err):
		return codes.FailedPrecondition
	default:
		return codes.Internal
	}
}
