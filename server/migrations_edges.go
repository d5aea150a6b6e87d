package server

import (
	"net/http"

	"github.com/sanmob/sanmob/mobility"
)

// The edges of a migration: abort, the hypervisor manager's compute report
// and the Server-Sent Events stream of its transitions.

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
	out := startSSE(w, r)
	if out == nil {
		return
	}
	if !out.send("snapshot", 0, m) {
		return
	}
	follow(ctx, out, ch, func(e mobility.MigrationEvent) bool { return out.send(e.Type, e.Seq, e) })
}
