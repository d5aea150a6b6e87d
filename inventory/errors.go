package inventory

import (
	"errors"
	"fmt"

	"github.com/sanmob/sanmob/errclass"
)

// Sentinels callers test with errors.Is; the server maps them to HTTP status
// codes in one place. Each carries its class (errclass): ErrUnavailable and
// ErrNotReady are transient (try again later), ErrNotFound is not-found, the
// others are final.
var (
	ErrNotFound    = errclass.New(errclass.NotFound, "not found")
	ErrConflict    = errclass.New(errclass.Final, "conflict")
	ErrInvalid     = errclass.New(errclass.Final, "invalid")
	ErrUnavailable = errclass.New(errclass.Transient, "unavailable")
	ErrNotReady    = errclass.New(errclass.Transient, "not ready")
)

// FieldError names the request field that is wrong, so that a client sees
// which of its inputs to fix. It wraps ErrInvalid.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return fmt.Sprintf("%s: %s", e.Field, e.Reason) }

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *FieldError) Unwrap() error { return ErrInvalid }

func invalid(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

func notFound(kind, id string) error { return fmt.Errorf("%s %q: %w", kind, id, ErrNotFound) }

// RefError is ErrNotFound for an object a request field names (a move's
// destinationHost), so that a client sees which input names nothing.
type RefError struct {
	Field, Kind, ID string
}

func (e *RefError) Error() string {
	return fmt.Sprintf("%s: %s %q: %v", e.Field, e.Kind, Clip(e.ID), ErrNotFound)
}

// Clip cuts a client-supplied string to 128 bytes for a message or a log
// line, marking the cut.
func Clip(s string) string {
	if len(s) > 128 {
		return s[:128] + "…"
	}
	return s
}

// Unwrap makes errors.Is(err, ErrNotFound) true.
func (e *RefError) Unwrap() error { return ErrNotFound }

// Ref turns err, when it is ErrNotFound, into a RefError for field naming
// an object of kind id; other errors are returned as they are.
func Ref(err error, field, kind, id string) error {
	if errors.Is(err, ErrNotFound) {
		return &RefError{Field: field, Kind: kind, ID: id}
	}
	return err
}

// Invalid is a FieldError for field with a formatted reason.
func Invalid(field, format string, args ...any) error { return invalid(field, format, args...) }

// NotFound is ErrNotFound for the kind and id named.
func NotFound(kind, id string) error { return notFound(kind, id) }
