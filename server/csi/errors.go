package csi

import (
	"context"
	"errors"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/mobility"
)

// toStatus is the one place where an error becomes a gRPC status. Handlers
// return the core's errors as they are, or a status they built themselves
// for a request they refused; the interceptor passes every error through
// here. method is the full gRPC method name: the same sentinel means
// different things to different calls (CSI's error tables).
func toStatus(method string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err // already decided by the handler
	}
	code := codes.Internal
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	case errors.Is(err, mobility.ErrInvalid), errors.Is(err, array.ErrInvalid):
		code = codes.InvalidArgument
	case errors.Is(err, array.ErrNoCapacity):
		code = codes.ResourceExhausted
	case errors.Is(err, mobility.ErrNotFound), errors.Is(err, array.ErrNotFound):
		code = codes.NotFound
		switch method {
		case csi.Controller_CreateVolume_FullMethodName, csi.Controller_GetCapacity_FullMethodName:
			// The volume being created cannot be missing: what is missing
			// is a site, array or pool its parameters name.
			code = codes.InvalidArgument
		}
	case errors.Is(err, mobility.ErrConflict), errors.Is(err, array.ErrConflict):
		code = codes.FailedPrecondition // in use: attached, or mapped elsewhere
		switch method {
		case csi.Controller_CreateVolume_FullMethodName, csi.Controller_CreateSnapshot_FullMethodName:
			code = codes.AlreadyExists // the name is taken by something else
		}
	case errors.Is(err, mobility.ErrUnavailable), errors.Is(err, mobility.ErrNotReady),
		errors.Is(err, array.ErrUnavailable):
		code = codes.Unavailable
	}
	return status.Error(code, err.Error())
}
