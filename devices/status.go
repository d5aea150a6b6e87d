package devices

import (
	"time"

	"github.com/sanmob/sanmob/errclass"
)

// DeviceStatus says how fresh sanmob's view of a device is.
type DeviceStatus struct {
	ObservedAt  *time.Time `json:"observedAt,omitempty"`
	LastAttempt *time.Time `json:"lastAttemptAt,omitempty"`
	Reachable   bool       `json:"reachable"`
	LastError   string     `json:"lastError,omitempty"`
}

// StatusOf is the API's view of a device's freshness.
func StatusOf(observed time.Time, st *DevStatus) DeviceStatus {
	var d DeviceStatus
	if !observed.IsZero() {
		d.ObservedAt = &observed
	}
	if st != nil {
		at := st.At
		d.LastAttempt = &at
		d.Reachable = st.Err == nil
		if st.Err != nil {
			d.LastError = st.Err.Error()
		}
	}
	return d
}

// NotObserved is the error for a device that has no observation yet: the
// error of its last read, or ErrNotObserved.
func NotObserved(kind, id string, st *DevStatus) error {
	if st != nil && st.Err != nil {
		return &DeviceError{Kind: kind, ID: id, Err: st.Err}
	}
	return &DeviceError{Kind: kind, ID: id, Err: ErrNotObserved}
}

// DeviceError says that a device could not be read. It is transient (the
// device may answer again) and keeps the device's own error.
type DeviceError struct {
	Kind, ID string
	Err      error
}

func (e *DeviceError) Error() string {
	return e.Kind + " " + e.ID + " has not answered: " + e.Err.Error()
}

// Unwrap keeps the device's error (and its sentinel) reachable.
func (e *DeviceError) Unwrap() error { return e.Err }

// ErrorClass: a device that could not be read is transient, whatever the
// read's own error was.
func (e *DeviceError) ErrorClass() errclass.Class { return errclass.Transient }
