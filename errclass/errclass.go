// Package errclass names the three classes every device error falls into,
// so that the core decides retry, undo or "already gone" in one way for every
// contract (fabric, array, compute) and each edge maps a class to a status in
// one function:
//
//   - Transient: the operation may still be in progress or may succeed if
//     tried again (busy, timeout, lost reply, unreachable). Retry or poll,
//     then re-read the device's truth before deciding anything.
//   - Final: the device definitely refused or failed the operation; nothing
//     more will happen by waiting. Undo what was done before it.
//   - NotFound: the thing named does not exist on the device. Deleting what
//     is gone succeeds; reading it is a 404.
//
// A contract package declares its sentinels with New, so that Of finds the
// class anywhere in a chain wrapped with %w, and the device's own words stay
// in the message. It must not know any contract: it is a leaf.
package errclass

import (
	"context"
	"errors"
)

// Class is one of the three error classes.
type Class uint8

// The classes. Final is the zero value: an error nobody classified is treated
// as a definite failure, which leads to an undo that re-reads the truth.
const (
	Final Class = iota
	Transient
	NotFound
)

func (c Class) String() string {
	switch c {
	case Transient:
		return "transient"
	case NotFound:
		return "not-found"
	default:
		return "final"
	}
}

// classed is implemented by errors that know their class.
type classed interface{ ErrorClass() Class }

// sentinel is a classed error value for errors.Is comparisons.
type sentinel struct {
	msg   string
	class Class
}

func (s *sentinel) Error() string     { return s.msg }
func (s *sentinel) ErrorClass() Class { return s.class }

// New returns a sentinel error of class c. Compare with errors.Is; wrap with
// fmt.Errorf("...: %w", ...) so that the device's words travel with it.
func New(c Class, msg string) error { return &sentinel{msg: msg, class: c} }

// Wrap marks err as being of class c while keeping it (and its chain) intact.
func Wrap(c Class, err error) error {
	if err == nil {
		return nil
	}
	return &wrapped{err: err, class: c}
}

type wrapped struct {
	err   error
	class Class
}

func (w *wrapped) Error() string     { return w.err.Error() }
func (w *wrapped) Unwrap() error     { return w.err }
func (w *wrapped) ErrorClass() Class { return w.class }

// Of returns the class of err: that of the outermost classed error in its
// chain; a deadline or a cancellation is transient (the device may still be
// working on it); anything else, including nil, is Final.
func Of(err error) Class {
	if err == nil {
		return Final
	}
	var c classed
	if errors.As(err, &c) {
		return c.ErrorClass()
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return Transient
	}
	return Final
}

// IsTransient reports whether err is of the transient class.
func IsTransient(err error) bool { return err != nil && Of(err) == Transient }

// IsNotFound reports whether err is of the not-found class.
func IsNotFound(err error) bool { return err != nil && Of(err) == NotFound }

// IsFinal reports whether err is a non-nil error of the final class.
func IsFinal(err error) bool { return err != nil && Of(err) == Final }
