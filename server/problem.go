package server

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/sirupsen/logrus"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/compute"
	"github.com/sanmob/sanmob/errclass"
	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/fabric/wwn"
	"github.com/sanmob/sanmob/inventory"
	"github.com/sanmob/sanmob/mobility"
)

// Errors that adapters behind the Lab interface (and handlers) wrap.
var (
	ErrNotFound = errors.New("not found")
	ErrInvalid  = errors.New("invalid input")
)

// Problem is an RFC 9457 problem details body.
type Problem struct {
	Type          string         `json:"type"`
	Title         string         `json:"title"`
	Status        int            `json:"status"`
	Detail        string         `json:"detail,omitempty"`
	Instance      string         `json:"instance,omitempty"`
	InvalidParams []InvalidParam `json:"invalid-params,omitempty"`
	Reasons       []string       `json:"reasons,omitempty"`
}

// InvalidParam names one bad request field (RFC 9457 §3's example extension).
type InvalidParam struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

const problemBase = "https://sanmob.io/problems/"

var problemTitles = map[int]string{
	http.StatusBadRequest:            "invalid-input",
	http.StatusUnauthorized:          "unauthorized",
	http.StatusForbidden:             "forbidden",
	http.StatusNotFound:              "not-found",
	http.StatusMethodNotAllowed:      "method-not-allowed",
	http.StatusConflict:              "conflict",
	http.StatusRequestEntityTooLarge: "too-large",
	http.StatusUnsupportedMediaType:  "unsupported-media-type",
	http.StatusUnprocessableEntity:   "not-feasible",
	http.StatusNotImplemented:        "not-implemented",
	http.StatusInsufficientStorage:   "no-capacity",
	http.StatusRequestTimeout:        "request-timeout",
	http.StatusBadGateway:            "device-refused",
	http.StatusServiceUnavailable:    "unavailable",
	http.StatusTooManyRequests:       "rate-limited",
	http.StatusInternalServerError:   "internal",
}

func newProblem(status int, detail string) Problem {
	slug := problemTitles[status]
	if slug == "" {
		slug = "error"
	}
	return Problem{Type: problemBase + slug, Title: http.StatusText(status), Status: status, Detail: detail}
}

func writeProblem(w http.ResponseWriter, r *http.Request, p Problem) {
	if r != nil {
		p.Instance = clip(r.URL.Path) // a client's path, echoed: bounded like a log line
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// statusOf is the one place that turns an error into an HTTP status
// (API.md): a client's mistake is a 4xx; a device that is busy, unreachable
// or did not answer in time (the transient class of any contract, the
// core's ErrUnavailable and ErrNotReady, a context deadline) is 503; a
// device that definitely refused (the final class, on an error the core
// marked as a device's) is 502, its reason in the detail; only what is
// left — sanmob's own failures, bugs — is 500.
func statusOf(err error) int {
	var mbe *http.MaxBytesError
	var he *httpError
	switch {
	case errors.As(err, &he):
		return he.status
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrInvalid), errors.Is(err, mobility.ErrInvalid), errors.Is(err, wwn.ErrInvalid),
		errors.Is(err, fabric.ErrInvalid), errors.Is(err, array.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, ErrNotFound), errors.Is(err, mobility.ErrNotFound), errors.Is(err, fabric.ErrNotFound),
		errors.Is(err, array.ErrNotFound), errors.Is(err, compute.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, mobility.ErrConflict), errors.Is(err, fabric.ErrConflict), errors.Is(err, array.ErrConflict):
		return http.StatusConflict
	case errors.Is(err, array.ErrNoCapacity), errors.Is(err, fabric.ErrFull):
		return http.StatusInsufficientStorage
	case errors.Is(err, mobility.ErrRateLimited):
		return http.StatusTooManyRequests
	case errors.Is(err, mobility.ErrNotFeasible):
		return http.StatusUnprocessableEntity
	case errors.Is(err, mobility.ErrNotImplemented):
		return http.StatusNotImplemented
	case errclass.IsTransient(err):
		return http.StatusServiceUnavailable
	case mobility.FromDevice(err):
		return http.StatusBadGateway
	default:
		return http.StatusInternalServerError
	}
}

// retryAfter is what a 503 tells a client to wait, in seconds: a busy
// fabric or array is usually free again within that.
const retryAfter = "2"

// writeError answers with the problem that err stands for. The detail is
// the error's own words — for a 502 the device's reason, which the client
// needs to act on; only a 500, a bug, is logged with its detail and answered
// without it.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status := statusOf(err)
	p := newProblem(status, err.Error())
	switch status {
	case http.StatusInternalServerError:
		entry(w).WithField(logrus.ErrorKey, clipErr(err)).Error("request failed")
		p.Detail = "internal error; see the daemon's log"
	case http.StatusBadGateway:
		entry(w).WithField(logrus.ErrorKey, clipErr(err)).Warn("a device refused")
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", retryAfter)
	}
	var fe *inventory.FieldError
	var re *inventory.RefError
	var be *FieldErr
	var nf *mobility.NotFeasibleError
	if errors.As(err, &nf) {
		p.Reasons = nf.Reasons()
	}
	switch {
	case errors.As(err, &fe):
		p.InvalidParams = []InvalidParam{{Name: fe.Field, Reason: fe.Reason}}
	case errors.As(err, &re):
		p.InvalidParams = []InvalidParam{{Name: re.Field, Reason: "no such " + re.Kind}}
	case errors.As(err, &be) && be.Field != "":
		p.InvalidParams = []InvalidParam{{Name: be.Field, Reason: be.Reason}}
	}
	writeProblem(w, r, p)
}

// jsonAppender is implemented by hot response types that write their own
// JSON (inventory.Topology).
type jsonAppender interface {
	AppendJSON([]byte) ([]byte, error)
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// writeJSON encodes v in full before writing, so that the answer carries a
// Content-Length and goes out in one write instead of chunks, and so that an
// encoding failure can still become a 500.
func writeJSON(w http.ResponseWriter, status int, v any) {
	bp := bufPool.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= 1<<20 {
			bufPool.Put(bp)
		}
	}()
	var b []byte
	var err error
	if a, ok := v.(jsonAppender); ok {
		b, err = a.AppendJSON((*bp)[:0])
	} else {
		buf := bytes.NewBuffer((*bp)[:0])
		err = json.NewEncoder(buf).Encode(v)
		b = buf.Bytes()
	}
	if err != nil {
		writeProblem(w, nil, newProblem(http.StatusInternalServerError, "encoding the answer failed"))
		return
	}
	if n := len(b); n == 0 || b[n-1] != '\n' {
		b = append(b, '\n')
	}
	*bp = b
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	writeBody(w, b)
}

// decode reads a JSON request body strictly: at most maxBody bytes, no
// unknown fields, nothing after the value. A bad WWN is reported with the
// field it sits in, which encoding/json does not say by itself.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	return decodeMax(w, r, v, maxBody)
}

// decodeMax is decode with a body limit of its own.
func decodeMax(w http.ResponseWriter, r *http.Request, v any, limit int64) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && mt != "application/merge-patch+json") {
			return &httpError{status: http.StatusUnsupportedMediaType, msg: "Content-Type must be application/json, got " + ct}
		}
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return bodyReadError(err)
	}
	if err := dupKeys(raw); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return bodyError(raw, err)
	}
	if rest := bytes.TrimSpace(raw[dec.InputOffset():]); len(rest) > 0 {
		return &FieldErr{Reason: "unexpected data after the JSON value"}
	}
	return nil
}

// bodyReadError says what went wrong while the request body arrived: too
// large (413); too slow, so that the connection's read deadline passed (408);
// or broken off before its end — a half-closed connection, a malformed
// chunk (400). None of these is the server's fault.
func bodyReadError(err error) error {
	var mbe *http.MaxBytesError
	var ne net.Error
	switch {
	case errors.As(err, &mbe):
		return &httpError{status: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("the request body is larger than %d bytes", mbe.Limit)}
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return &httpError{status: http.StatusRequestTimeout, msg: "the request body did not arrive in time: " + err.Error()}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &httpError{status: http.StatusBadRequest, msg: "the request body broke off before its end (" + err.Error() + ")"}
	default:
		return &httpError{status: http.StatusBadRequest, msg: "the request body could not be read: " + err.Error()}
	}
}

// FieldErr is a request-body error that names the field.
type FieldErr struct{ Field, Reason string }

func (e *FieldErr) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	return e.Field + ": " + e.Reason
}

// Unwrap makes it a 400.
func (e *FieldErr) Unwrap() error { return ErrInvalid }

type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func bodyError(raw []byte, err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return err
	}
	var ute *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &ute):
		field := ute.Field
		var tree any
		if json.Unmarshal(raw, &tree) == nil {
			if p := indexedPath(tree, strings.Split(ute.Field, "."), "", jsonKind(ute.Value)); p != "" {
				field = p
			}
		}
		return &FieldErr{Field: field, Reason: "must be " + jsonTypeName(ute.Type) + ", not a JSON " + ute.Value}
	case errors.As(err, &se):
		return &FieldErr{Reason: "malformed JSON: " + se.Error()}
	case errors.Is(err, wwn.ErrInvalid):
		var tree any
		field := ""
		if json.Unmarshal(raw, &tree) == nil {
			field = findBadWWN(tree, "")
		}
		return &FieldErr{Field: field, Reason: err.Error()}
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return &FieldErr{Field: strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`), Reason: "unknown field"}
	case err.Error() == "EOF":
		return &FieldErr{Reason: "a JSON body is required"}
	default:
		return &FieldErr{Reason: err.Error()}
	}
}

// jsonKind reduces UnmarshalTypeError.Value ("number 1.5", "string", ...)
// to the kind of JSON value it names.
func jsonKind(v string) string {
	kind, _, _ := strings.Cut(v, " ")
	return kind
}

func kindOf(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "bool"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "null"
}

// indexedPath turns encoding/json's dotted field (hbas.wwpn) into the path of
// the first value of the offending kind (hbas[1].wwpn), so that a client sees
// which element to fix.
func indexedPath(v any, parts []string, path, kind string) string {
	if arr, ok := v.([]any); ok {
		for i, el := range arr {
			if p := indexedPath(el, parts, path+"["+itoa(i)+"]", kind); p != "" {
				return p
			}
		}
		return ""
	}
	if len(parts) == 0 {
		if kindOf(v) == kind {
			return path
		}
		return ""
	}
	m, ok := v.(map[string]any)
	if !ok {
		return ""
	}
	for k, val := range m {
		if strings.EqualFold(k, parts[0]) {
			p := k
			if path != "" {
				p = path + "." + k
			}
			return indexedPath(val, parts[1:], p, kind)
		}
	}
	return ""
}

// findBadWWN walks a decoded JSON tree for the first string under a WWN-ish
// key that does not parse, and returns its path (hbas[0].wwpn).
func findBadWWN(v any, path string) string {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys) // the same answer every time when several are bad
		for _, k := range keys {
			val := x[k]
			p := k
			if path != "" {
				p = path + "." + k
			}
			lk := strings.ToLower(k)
			if s, ok := val.(string); ok && (strings.Contains(lk, "wwn") || strings.Contains(lk, "wwpn")) {
				if _, err := wwn.Parse(s); err != nil {
					return p
				}
			}
			if f := findBadWWN(val, p); f != "" {
				return f
			}
		}
	case []any:
		for i, val := range x {
			if f := findBadWWN(val, path+"["+itoa(i)+"]"); f != "" {
				return f
			}
		}
	}
	return ""
}

// jsonTypeName names a Go type as a client sees it in JSON: an object, an
// array, a string, a number, true or false — never a Go package's name.
func jsonTypeName(t reflect.Type) string {
	if reflect.PointerTo(t).Implements(reflect.TypeFor[encoding.TextUnmarshaler]()) {
		return "a string" // WWNs, times
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "a JSON object"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return "a string"
		}
		return "a JSON array"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Pointer:
		return jsonTypeName(t.Elem())
	}
	return t.Kind().String()
}
