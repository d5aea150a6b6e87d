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
	for _, p := range e.InvalidParams {
		fmt.Fprintf(&b, "; %s: %s", p.Name, p.Reason)
	}
	return b.String()
}

// Temporary reports whether the same request may succeed later: 503 (a
// device is unreachable or busy) and 429 (too many requests). A 502 is a
// device's definite refusal and is not temporary.
func (e *Error) Temporary() bool {
	return e.Status == http.StatusServiceUnavailable || e.Status == http.StatusTooManyRequests
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
// answer (503, 429) or a network error (not the caller's own context
// ending).
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
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	// *url.Error is a net.Error itself: look at what it wraps, so that a
	// bad URL or a certificate the client refuses is not retried.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne)
}
