package server

import (
	"net/http"

	"github.com/sanmob/sanmob/replication"
)

func (s *Server) listReplicationGroups(w http.ResponseWriter, r *http.Request) {
	if l, ok := page(w, r, s.mob.Replication().Groups(), func(g replication.Group) string { return g.ID }); ok {
		writeJSON(w, http.StatusOK, l)
	}
}

func (s *Server) listReplicationPairs(w http.ResponseWriter, r *http.Request) {
	if l, ok := page(w, r, s.mob.Replication().Pairs(), func(p replication.Pair) string { return p.ID }); ok {
		writeJSON(w, http.StatusOK, l)
	}
}
