package mobility

import "github.com/sanmob/sanmob/inventory"

// The sentinels of the core, shared with the inventory: callers test them
// with errors.Is; the server maps them to statuses in one place.
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
