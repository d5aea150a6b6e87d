package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/sanmob/sanmob/mobility"
)

// The edges of a migration: abort, the hypervisor manager's compute report
// and the Server-Sent Events stream of its transitions.

// sseHeartbeat is how often (in nanoseconds) an idle event stream sends a
// comment line, so that proxies and clients do not take a quiet stream for a
// dead one; atomic, so that a test may change it under live streams.
var sseHeartbeat atomic.Int64

func init() { sseHeartbeat.Store(int64(15 * time.Second)) }

func (s *Server) abortMigration(w http.ResponseWriter, r *http.Request) {
	m, err := s.mob.AbortMigration(vars(r)["id"])
	s.reply(w, r, http.StatusOK, m, err)
}

func (s *Server) retryMigration(w http.ResponseWriter, r *http.Request) {
	m, err := s.mob.RetryMigration(vars(r)["id"])
	s.reply(w, r, http.StatusOK, m, err)
}

func (s *Server) reportMigrationCompute(w http.ResponseWriter, r *http.Request) {
	var rep mobility.ComputeReport
	if err := decode(w, r, &rep); err != nil {
		s.writeError(w, r, err)
		return
	}
	m, err := s.mob.ReportCompute(vars(r)["id"], rep)
	s.reply(w, r, http.StatusOK, m, err)
}

// migrationEvents streams a migration's transitions as Server-Sent Events:
// first "snapshot" (id 0, the migration as it is), then "step" and "phase"
// events (id: their sequence number, data: a mobility.MigrationEvent),
// a comment line every sseHeartbeat; the stream ends after the event of a
// terminal phase (at once after the snapshot of an ended migration), or
// after a "resync" event when the client reads too slowly — it should then
// read the migration again and reconnect. A reconnect starts again from a
// snapshot; Last-Event-ID is not replayed.
func (s *Server) migrationEvents(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	m, ch, err := s.mob.MigrationEvents(ctx, vars(r)["id"])
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	rc := http.NewResponseController(w)
	send := func(event string, id uint64, v any) bool {
		data, err := json.Marshal(v)
		if err != nil {
			entry(w).WithError(err).Error("encoding an event")
			return false
		}
		if _, err := fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", id, event, data); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send("snapshot", 0, m) {
		return
	}
	tick := time.NewTicker(time.Duration(sseHeartbeat.Load()))
	defer tick.Stop()
	for {
		select {
		case e, ok := <-ch:
			if !ok {
				return
			}
			if !send(e.Type, e.Seq, e) {
				return
			}
		case <-tick.C:
			if _, err := fmt.Fprint(w, ": heartbeat\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}
