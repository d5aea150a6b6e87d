package server

import (
	"fmt"
	"net/http"
	"time"

	"github.com/sanmob/sanmob/thin"
)

// getPoolHistory answers GET /v1/pools/{id}/history?since=RFC3339.
func (s *Server) getPoolHistory(w http.ResponseWriter, r *http.Request) {
	var since time.Time
	if v := r.URL.Query().Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			writeProblem(w, r, withParam(newProblem(http.StatusBadRequest, "since must be an RFC 3339 time, such as 2026-03-01T12:00:00Z"), "since", "not an RFC 3339 time: "+v))
			return
		}
		since = t
	}
	pts, err := s.mob.PoolHistory(vars(r)["id"], since)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// Points are in time order; the key is the time, fixed-width.
	if l, ok := page(w, r, pts, func(p thin.Point) string { return fmt.Sprintf("%020d", p.At.UnixNano()) }); ok {
		writeJSON(w, http.StatusOK, l)
	}
}
