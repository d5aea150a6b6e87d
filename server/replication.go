package server

import (
	"net/http"

	"github.com/sanmob/sanmob/replication"
)

func (s *Server) listReplicationGroups(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, List[replication.Group]{Items: s.mob.Replication().Groups()})
}

func (s *Server) listReplicationPairs(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, List[replication.Pair]{Items: s.mob.Replication().Pairs()})
}
