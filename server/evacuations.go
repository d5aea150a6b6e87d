package server

import (
	"net/http"

	"github.com/sanmob/sanmob/mobility"
)

// createEvacuation starts moving every VM off a host: 201 with the
// evacuation as recorded, each VM's destination (or why it has none), phase
// running. The moves run in the background; GET /v1/evacuations/{id} shows
// how they go.
func (s *Server) createEvacuation(w http.ResponseWriter, r *http.Request) {
	var spec mobility.EvacuationSpec
	if err := decode(w, r, &spec); err != nil {
		s.writeError(w, r, err)
		return
	}
	e, err := s.mob.StartEvacuation(spec)
	if err == nil {
		w.Header().Set("Location", "/v1/evacuations/"+e.ID)
		entry(w).WithField("evacuation", e.ID).Info("evacuation started")
	}
	s.reply(w, r, http.StatusCreated, e, err)
}

func (s *Server) listEvacuations(w http.ResponseWriter, r *http.Request) {
	es, err := s.mob.Evacuations()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if l, ok := page(w, r, es, func(e mobility.Evacuation) string { return e.ID }); ok {
		writeJSON(w, http.StatusOK, l)
	}
}

func (s *Server) getEvacuation(w http.ResponseWriter, r *http.Request) {
	e, err := s.mob.Evacuation(vars(r)["id"])
	s.reply(w, r, http.StatusOK, e, err)
}
