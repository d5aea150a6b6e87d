package brocade

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/sanmob/sanmob/fabric"
)

// restError is one entry of a RESTCONF error envelope (RFC 8040 7.1).
type restError struct {
	Type    string `json:"error-type"`
	Tag     string `json:"error-tag"`
	Message string `json:"error-message"`
	Path    string `json:"error-path"`
}

type errorList struct {
	Error list[restError] `json:"error"`
}

// decodeErrors reads an error envelope, with or without the module prefix
// RFC 8040 puts on "errors"; anything else yields none.
func decodeErrors(body []byte) []restError {
	var env struct {
		Errors    *errorList `json:"errors"`
		Qualified *errorList `json:"ietf-restconf:errors"`
	}
	if json.Unmarshal(body, &env) != nil {
		return nil
	}
	switch {
	case env.Errors != nil:
		return env.Errors.Error
	case env.Qualified != nil:
		return env.Qualified.Error
	}
	return nil
}

// errAuth: the switch refused the credentials. Final: retrying a bad
// password only locks the account.
var errAuth = errors.New("brocade: authentication refused")

// fullError is a zone DB over its limit: fabric.ErrFull, and ErrInvalid too,
// as fabric's contract asks of a device that reports it as a refusal.
type fullError struct{}

func (fullError) Error() string   { return fabric.ErrFull.Error() }
func (fullError) Unwrap() []error { return []error{fabric.ErrFull, fabric.ErrInvalid} }

// classify turns a refusal into fabric's error classes, keeping the switch's
// words. It is the one place that reads HTTP statuses and error tags.
func classify(status int, errs []restError) error {
	var first restError
	if len(errs) > 0 {
		first = errs[0]
	}
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP %d", status)
	if len(errs) == 0 {
		b.WriteString(" " + http.StatusText(status))
	}
	for i, e := range errs {
		if i > 0 {
			b.WriteString(";")
		}
		if e.Tag != "" {
			b.WriteString(" " + e.Tag)
		}
		b.WriteString(": " + e.Message)
		if e.Path != "" {
			b.WriteString(" (at " + e.Path + ")")
		}
	}
	class := classOf(status, first)
	if class == nil {
		return errors.New(b.String())
	}
	return fmt.Errorf("%w: %s", class, b.String())
}

func classOf(status int, e restError) error {
	switch tag := e.Tag; {
	case status == http.StatusServiceUnavailable, status == http.StatusBadGateway, status == http.StatusGatewayTimeout:
		// 503: busy, not processed. 502/504: a proxy lost the switch's
		// answer, and the request may have been applied.
		return fabric.ErrUnavailable
	case tag == "lock-denied", tag == "in-use":
		// Another client's zoning transaction holds the fabric lock; it
		// ends with that transaction or the lock's timeout.
		return fabric.ErrUnavailable
	case staleChecksum(e), tag == "data-exists":
		// Someone changed the zone DB since it was read.
		return fabric.ErrConflict
	case tag == "resource-denied", tag == "too-big", status == http.StatusRequestEntityTooLarge:
		return fullError{}
	case status == http.StatusUnauthorized, status == http.StatusForbidden, tag == "access-denied":
		return errAuth
	case tag == "data-missing", status == http.StatusNotFound:
		return fabric.ErrNotFound
	case status >= 400 && status < 500:
		return fabric.ErrInvalid
	}
	return nil // a failure of the switch itself (500): final, not a class
}

// staleChecksum recognizes the refusal of a save or enable whose checksum is
// no longer the zone DB's. RESTCONF has no tag for it: it is a bad value of
// the checksum leaf. The message alone is not enough — a zone may be named
// "checksum_x" — unless it says mismatch.
func staleChecksum(e restError) bool {
	switch e.Tag {
	case "invalid-value", "operation-failed", "":
		return strings.HasSuffix(e.Path, "/checksum") || strings.Contains(strings.ToLower(e.Message), "checksum mismatch")
	}
	return false
}

// transportError classes a request that got no answer. An untrusted
// certificate is a configuration error, final; everything else (timeout,
// refused or lost connection) is transient, and a request that was sent
// may have been applied.
func transportError(err error) error {
	var cert *tls.CertificateVerificationError
	if errors.As(err, &cert) {
		return fmt.Errorf("the switch's TLS certificate is not trusted (set CA or CAFile): %w", err)
	}
	return fmt.Errorf("%w: %w", fabric.ErrUnavailable, err)
}
