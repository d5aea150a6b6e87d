package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/compute"
	"github.com/sanmob/sanmob/devices"
	"github.com/sanmob/sanmob/errclass"
	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/fabric/wwn"
	"github.com/sanmob/sanmob/mobility"
	"github.com/sanmob/sanmob/saga"
)

// deviceWords is what a device said; every answer that stems from a device
// must show it.
const deviceWords = "controller A: LUN masking refused: host group hg7 is locked by session 42"

// runErr is what Wait returns for a run that ended without doing its work.
func runErr(state saga.State, err error) error {
	return &saga.RunError{ID: "r1", Kind: "attachment", Key: "v1/n1", State: state, Step: "zone", Class: errclass.Of(err), Err: err}
}

// TestStatusOf maps every sentinel of every contract, the core's, a context
// deadline and a device's own error through the REST edge (statusOf and
// writeError), and checks that the answer keeps the device's words.
func TestStatusOf(t *testing.T) {
	// What the core returns for a device's error: the device's words around
	// the sentinel, marked as the device's (mobility's deviceErr).
	dev := func(kind string, sentinel error) error {
		err := errors.New(deviceWords)
		if sentinel != nil {
			err = fmt.Errorf("%s: %w", deviceWords, sentinel)
		}
		return fmt.Errorf("%s dev1: %w", kind, mobility.MarkDevice(kind, err))
	}
	tests := []struct {
		name  string
		err   error
		want  int
		words bool // the detail carries deviceWords
	}{
		{"fabric not found", dev("fabric", fabric.ErrNotFound), http.StatusNotFound, true},
		{"fabric invalid", dev("fabric", fabric.ErrInvalid), http.StatusBadRequest, true},
		{"fabric conflict", dev("fabric", fabric.ErrConflict), http.StatusConflict, true},
		{"fabric unavailable", dev("fabric", fabric.ErrUnavailable), http.StatusServiceUnavailable, true},
		{"fabric full", dev("fabric", fabric.ErrFull), http.StatusInsufficientStorage, true},
		{"fabric final", dev("fabric", nil), http.StatusBadGateway, true},
		{"array not found", dev("array", array.ErrNotFound), http.StatusNotFound, true},
		{"array invalid", dev("array", array.ErrInvalid), http.StatusBadRequest, true},
		{"array conflict", dev("array", array.ErrConflict), http.StatusConflict, true},
		{"array no capacity", dev("array", array.ErrNoCapacity), http.StatusInsufficientStorage, true},
		{"array unavailable", dev("array", array.ErrUnavailable), http.StatusServiceUnavailable, true},
		{"array final", dev("array", nil), http.StatusBadGateway, true},
		{"array call timed out", dev("array", context.DeadlineExceeded), http.StatusServiceUnavailable, true},
		{"compute not found", dev("host", compute.ErrNotFound), http.StatusNotFound, true},
		{"compute unavailable", dev("host", compute.ErrUnavailable), http.StatusServiceUnavailable, true},
		{"compute final", dev("host", nil), http.StatusBadGateway, true},
		{"unmarked contract sentinel: unavailable", fmt.Errorf("%s: %w", deviceWords, fabric.ErrUnavailable), http.StatusServiceUnavailable, true},
		{"device not read", &devices.DeviceError{Kind: "array", ID: "a1", Err: errors.New(deviceWords)}, http.StatusServiceUnavailable, true},
		{"mobility not found", fmt.Errorf("volume %q: %w", "v1", mobility.ErrNotFound), http.StatusNotFound, false},
		{"mobility invalid", &mobility.FieldError{Field: "name", Reason: "too long"}, http.StatusBadRequest, false},
		{"mobility conflict", fmt.Errorf("volume v1 is attached: %w", mobility.ErrConflict), http.StatusConflict, false},
		{"mobility unavailable", fmt.Errorf("array a1 has not been read: %w", mobility.ErrUnavailable), http.StatusServiceUnavailable, false},
		{"mobility not ready", mobility.ErrNotReady, http.StatusServiceUnavailable, false},
		{"context deadline", fmt.Errorf("waiting for the zoning commit: %w", context.DeadlineExceeded), http.StatusServiceUnavailable, false},
		{"server not found", fmt.Errorf("fault 3: %w", ErrNotFound), http.StatusNotFound, false},
		{"server invalid", &FieldErr{Field: "count", Reason: "must be positive"}, http.StatusBadRequest, false},
		{"wwn invalid", fmt.Errorf("wwpn: %w", wwn.ErrInvalid), http.StatusBadRequest, false},
		{"too large", &http.MaxBytesError{Limit: 1}, http.StatusRequestEntityTooLarge, false},
		{"a bug", errors.New("mobility: index out of step"), http.StatusInternalServerError, false},
		// What a saga run answers: its own errors are transient; a run undone
		// or failed keeps the failed step's error, its class and its words.
		{"saga busy", fmt.Errorf("attach v1/n1: %w", saga.ErrBusy), http.StatusServiceUnavailable, false},
		{"saga stopped", fmt.Errorf("attach v1/n1: %w", saga.ErrStopped), http.StatusServiceUnavailable, false},
		{"run undone: device refused", runErr(saga.StateUndone, dev("fabric", nil)), http.StatusBadGateway, true},
		{"run undone: device busy", runErr(saga.StateUndone, dev("array", array.ErrUnavailable)), http.StatusServiceUnavailable, true},
		{"run undone: device conflict", runErr(saga.StateUndone, dev("array", array.ErrConflict)), http.StatusConflict, true},
		{"run failed: undo refused", runErr(saga.StateFailed, dev("array", nil)), http.StatusBadGateway, true},
	}
	s := &Server{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := statusOf(tc.err); got != tc.want {
				t.Fatalf("statusOf(%v) = %d, want %d", tc.err, got, tc.want)
			}
			w := httptest.NewRecorder()
			s.writeError(w, httptest.NewRequest(http.MethodPost, "/v1/attachments", nil), tc.err)
			var p Problem
			if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.Status != tc.want || w.Code != tc.want {
				t.Fatalf("answer %d %s (%v)", w.Code, w.Body, err)
			}
			switch {
			case tc.want == http.StatusInternalServerError:
				if strings.Contains(p.Detail, tc.err.Error()) {
					t.Errorf("a bug's detail %q reached the client", p.Detail)
				}
			case p.Detail != tc.err.Error():
				t.Errorf("detail %q, want the error's own words %q", p.Detail, tc.err)
			}
			if tc.words && !strings.Contains(p.Detail, deviceWords) {
				t.Errorf("detail %q lost the device's words", p.Detail)
			}
			if got, want := w.Header().Get("Retry-After") != "", tc.want == http.StatusServiceUnavailable; got != want {
				t.Errorf("Retry-After %q on a %d", w.Header().Get("Retry-After"), tc.want)
			}
		})
	}
}
