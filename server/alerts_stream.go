package server

import (
	"net/http"

	"github.com/sanmob/sanmob/alert"
)

// alertEvents streams the alerts' changes as Server-Sent Events: first
// "snapshot" (id 0, data {"items": the firing alerts}), then one "fired" or
// "resolved" event per change (id: the change's seq, data: an alert.Event),
// a comment line every sseHeartbeat. A client that reads too slowly gets a
// "resync" event and the stream ends: it should reconnect, which starts
// again from a snapshot (Last-Event-ID is not replayed). The stream never
// holds the alert manager up.
func (s *Server) alertEvents(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Alerts == nil {
		writeProblem(w, r, newProblem(http.StatusServiceUnavailable, "this server has no alert manager wired to stream from"))
		return
	}
	snap, sub := s.cfg.Alerts.Subscribe()
	defer sub.Close()
	out := startSSE(w, r)
	if out == nil {
		return
	}
	if snap == nil {
		snap = []alert.Alert{}
	}
	if !out.send("snapshot", 0, List[alert.Alert]{Items: snap}) {
		return
	}
	follow(r.Context(), out, sub.C(), func(e alert.Event) bool {
		return out.send(e.Type, e.Seq, e) && e.Type != alert.EventResync
	})
}
