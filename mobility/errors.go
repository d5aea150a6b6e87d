package mobility

import (
	"errors"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/compute"
	"github.com/sanmob/sanmob/devices"
	"github.com/sanmob/sanmob/errclass"
	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/inventory"
)

// The sentinels of the core, shared with the inventory: callers test them
// with errors.Is; the server maps them to statuses in one place. Each carries
// its class (see inventory).
var (
	ErrNotFound    = inventory.ErrNotFound
	ErrConflict    = inventory.ErrConflict
	ErrInvalid     = inventory.ErrInvalid
	ErrUnavailable = inventory.ErrUnavailable
	ErrNotReady    = inventory.ErrNotReady
)

// FieldError names the request field that is wrong.
type FieldError = inventory.FieldError

func invalid(field, format string, args ...any) error {
	return inventory.Invalid(field, format, args...)
}

func notFound(kind, id string) error { return inventory.NotFound(kind, id) }

// deviceFault is an error a device returned, as its driver returned it: the
// device's own words, and the class its contract's classifier gives it. It
// marks the error as the device's, so that an edge tells a device's definite
// refusal (HTTP 502, gRPC FAILED_PRECONDITION, with the device's reason) from
// a bug of sanmob's (500, INTERNAL), which an unclassified error otherwise
// looks like.
type deviceFault struct {
	kind string // "fabric", "array" or "host": whose contract classifies it
	err  error
}

func (e *deviceFault) Error() string { return e.err.Error() }

// Unwrap keeps the driver's chain: its sentinels still match errors.Is.
func (e *deviceFault) Unwrap() error { return e.err }

// ErrorClass is the class the device's contract gives the error.
func (e *deviceFault) ErrorClass() errclass.Class { return classify(e.kind, e.err) }

// MarkDevice marks err, returned by a driver of a device of kind ("fabric",
// "array", "host") or by the Zoner or Vports on a fabric's behalf, as the
// device's: the edges then show its words (FromDevice). The message and the
// chain (errors.Is, errors.As) are err's own; its class is the one the
// contract of kind gives it. A nil err stays nil.
func MarkDevice(kind string, err error) error {
	if err == nil || FromDevice(err) {
		return err
	}
	return &deviceFault{kind: kind, err: err}
}

// classify is the class of a device's error, decided by its contract's
// classifier: fabric.Classify, array.Classify or compute.Classify.
func classify(kind string, err error) errclass.Class {
	switch kind {
	case "fabric":
		return fabric.Classify(err)
	case "array":
		return array.Classify(err)
	default:
		return compute.Classify(err)
	}
}

// FromDevice reports whether err is, or wraps, an error a device (a fabric,
// an array, the hypervisor manager) returned — one whose words are the
// device's and whose class its contract decided — rather than one of
// sanmob's own making. An edge shows such an error's words to the client.
func FromDevice(err error) bool {
	var f *deviceFault
	var d *devices.DeviceError
	return errors.As(err, &f) || errors.As(err, &d)
}
