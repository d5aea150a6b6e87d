package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"
)

// sseHeartbeat is how often (in nanoseconds) an idle event stream sends a
// comment line, so that proxies and clients do not take a quiet stream for a
// dead one; atomic, so that a test may change it under live streams.
var sseHeartbeat atomic.Int64

// sseWriteTimeout bounds each write of an event stream (nanoseconds): a
// client that stops reading is cut off once the socket's buffers are full
// for that long, instead of holding a handler and its buffers forever.
// Atomic, so that a test may shorten it.
var sseWriteTimeout atomic.Int64

func init() {
	sseHeartbeat.Store(int64(15 * time.Second))
	sseWriteTimeout.Store(int64(30 * time.Second))
}

// WriteTimeout is the time the daemon's http.Server gives a response to be
// written, from the end of the request's headers: a client that pipelines
// requests and never reads the answers is disconnected after it, rather than
// holding a connection and its send buffers forever. An event stream lifts
// it for itself and bounds each of its writes instead (sseWriteTimeout).
const WriteTimeout = 60 * time.Second

// sse writes one Server-Sent Events stream: id, event and JSON data per
// event, flushed at once, and heartbeat comments.
type sse struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

// startSSE sends the stream's headers; nil for a HEAD request, which gets
// nothing more.
func startSSE(w http.ResponseWriter, r *http.Request) *sse {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	rc := http.NewResponseController(w)
	// A stream lasts longer than the server's WriteTimeout: lift it, and
	// bound every write of the stream by itself instead (deadline).
	_ = rc.SetWriteDeadline(time.Time{})
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return nil
	}
	return &sse{w: w, rc: rc}
}

// deadline gives the next write sseWriteTimeout to leave. A server that
// cannot set deadlines (a test's recorder) writes without one.
func (s *sse) deadline() {
	_ = s.rc.SetWriteDeadline(time.Now().Add(time.Duration(sseWriteTimeout.Load())))
}

// send writes one event; false when the client is gone.
func (s *sse) send(event string, id uint64, v any) bool {
	data, err := json.Marshal(v)
	if err != nil {
		entry(s.w).WithField("error", clipErr(err)).Error("encoding an event")
		return false
	}
	s.deadline()
	if _, err := fmt.Fprintf(s.w, "id: %d\nevent: %s\ndata: %s\n\n", id, event, data); err != nil {
		return false
	}
	return s.rc.Flush() == nil
}

// heartbeat writes a comment line; false when the client is gone.
func (s *sse) heartbeat() bool {
	s.deadline()
	_, err := fmt.Fprint(s.w, ": heartbeat\n\n")
	return err == nil && s.rc.Flush() == nil
}

// ticker ticks every sseHeartbeat.
func (s *sse) ticker() *time.Ticker { return time.NewTicker(time.Duration(sseHeartbeat.Load())) }

// follow sends what ch delivers through send, and a heartbeat every
// sseHeartbeat, until ch closes, send says stop (false), the client goes
// or ctx ends.
func follow[E any](ctx context.Context, out *sse, ch <-chan E, send func(E) bool) {
	tick := out.ticker()
	defer tick.Stop()
	for {
		select {
		case e, ok := <-ch:
			if !ok || !send(e) {
				return
			}
		case <-tick.C:
			if !out.heartbeat() {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}
