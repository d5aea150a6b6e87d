package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// InvalidParam names one bad input field of a 400 (or 404) answer.
type InvalidParam struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// Error is an error answer of the daemon: an RFC 9457 problem, or an answer
// of another kind made into one.
type Error struct {
	Status        int            `json:"status"`
	Type          string         `json:"type,omitempty"`
	Title         string         `json:"title,omitempty"`
	Detail        string         `json:"detail,omitempty"`
	Instance      string         `json:"instance,omitempty"`
	InvalidParams []InvalidParam `json:"invalid-params,omitempty"`
	Reasons       []string       `json:"reasons,omitempty"`
	// RetryAfter is the answer's Retry-After, zero when it had none.
	RetryAfter time.Duration `json:"-"`
	// Method and URL are the request's.
	Method string `json:"-"`
	URL    string `json:"-"`
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s", e.Status, e.Title)
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	// The detail often says the same as a param or a reason already
	// (sanmob's detail names the first bad field): say each thing once.
	for _, p := range e.InvalidParams {
		if item := p.Name + ": " + p.Reason; !strings.Contains(e.Detail, item) {
			b.WriteString("; ")
			b.WriteString(item)
		}
	}
	for _, r := range e.Reasons {
		if !strings.Contains(e.Detail, r) {
			b.WriteString("; ")
			b.WriteString(r)
		}
	}
	return b.String()
}

// Temporary reports whether the same request may succeed later: 503 (a
// device is unreachable or busy), 429 (too many requests) and 504 (a proxy
// in front of the daemon gave up waiting; sanmobd itself never answers
// it). A 502 is a device's definite refusal and is not temporary.
func (e *Error) Temporary() bool {
	switch e.Status {
	case http.StatusServiceUnavailable, http.StatusTooManyRequests, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// ErrInvalid is wrapped by the errors of calls the client refuses to send
// because an argument cannot be put in a request as it is (an empty claim
// key, a "." or ".." segment). ClassOf says ClassInvalid.
var ErrInvalid = errors.New("invalid argument")

// Class is what a caller should do about an error. sanmob sorts its own
// errors into three classes (transient, final, not found); for a caller
// the final ones differ by who must act, so they are split here.
type Class int

const (
	// ClassNone is the class of a nil error.
	ClassNone Class = iota
	// ClassTemporary: the same call may succeed later (503, 429, 504, a
	// network error, the HTTP client's own timeout). Retry later with
	// backoff; a CSI driver answers codes.Unavailable so that its sidecar
	// retries.
	ClassTemporary
	// ClassNotFound: the object is not there (404); codes.NotFound.
	ClassNotFound
	// ClassRefused: the request is well formed but the SAN as it is
	// cannot satisfy it (409, 422): a WWPN logged in nowhere, initiators
	// and targets on no common fabric, a fabric's zoning policy, a VM
	// already moving. The same request fails until a person changes the
	// cabling, zoning or configuration; codes.FailedPrecondition.
	ClassRefused
	// ClassInvalid: the request itself is wrong (400, 413, 415, or
	// ErrInvalid before anything was sent); codes.InvalidArgument.
	ClassInvalid
	// ClassCanceled: the caller's own context ended first; nothing is
	// known of the outcome. A CSI driver answers
	// status.FromContextError(err).
	ClassCanceled
	// ClassFinal: anything else: a device's definite refusal (502, the
	// device's words in Detail), no capacity (507), a missing or weak
	// token (401, 403), sanmob's own failure (500), an answer that could
	// not be decoded; codes.Internal (StatusOf gives the status for a
	// finer code, e.g. 507 as codes.ResourceExhausted).
	ClassFinal
)

var classNames = [...]string{"none", "temporary", "not-found", "refused", "invalid", "canceled", "final"}

func (c Class) String() string {
	if c < 0 || int(c) >= len(classNames) {
		return fmt.Sprintf("Class(%d)", int(c))
	}
	return classNames[c]
}

// ClassOf sorts any error the client returns into its Class.
func ClassOf(err error) Class {
	if err == nil {
		return ClassNone
	}
	var e *Error
	if errors.As(err, &e) {
		switch {
		case e.Temporary():
			return ClassTemporary
		case e.Status == http.StatusNotFound:
			return ClassNotFound
		case e.Status == http.StatusConflict || e.Status == http.StatusUnprocessableEntity:
			return ClassRefused
		case e.Status == http.StatusBadRequest || e.Status == http.StatusRequestEntityTooLarge || e.Status == http.StatusUnsupportedMediaType:
			return ClassInvalid
		}
		return ClassFinal
	}
	switch {
	case errors.Is(err, ErrInvalid):
		return ClassInvalid
	case isNetworkError(err):
		return ClassTemporary
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return ClassCanceled
	}
	return ClassFinal
}

// StatusOf returns the HTTP status of err's *Error, or 0.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// IsNotFound reports whether err is a 404 answer.
func IsNotFound(err error) bool { return StatusOf(err) == http.StatusNotFound }

// IsConflict reports whether err is a 409 answer (e.g. the VM is already
// migrating).
func IsConflict(err error) bool { return StatusOf(err) == http.StatusConflict }

// IsUnprocessable reports whether err is a 422 answer (a plan refused, with
// Reasons).
func IsUnprocessable(err error) bool { return StatusOf(err) == http.StatusUnprocessableEntity }

// IsTemporary reports whether err is worth retrying later: a temporary
// answer (503, 429, 504) or a network error, including the HTTP client's
// own timeout (not the caller's own context ending). It is
// ClassOf(err) == ClassTemporary.
func IsTemporary(err error) bool {
	if err == nil {
		return false
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Temporary()
	}
	return isNetworkError(err)
}

func isNetworkError(err error) bool {
	// *url.Error is a net.Error itself: look at what it wraps, so that a
	// bad URL or a certificate the client refuses is not retried.
	var ue *url.Error
	if errors.As(err, &ue) {
		// The request's context ended. send returns the caller's context
		// error bare, so this is another context's (a caller's own
		// http.Client use): not the network's doing.
		if errors.Is(ue.Err, context.Canceled) || ue.Err == context.DeadlineExceeded {
			return false
		}
		// The http.Client's Timeout, a dial or TLS handshake timeout: the
		// daemon did not answer in time (the error also matches
		// context.DeadlineExceeded, so this comes first).
		if ue.Timeout() {
			return true
		}
		err = ue.Err
	} else if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne)
}
