package server

import (
	"net/http"

	"github.com/sanmob/sanmob/replication"
)

func (s *Server) listReplicationGroups(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, List[replication.Group]{Items: nonNil(s.mob.Replication().Groups())})
}

func (s *Server) listReplicationPairs(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, List[replication.Pair]{Items: nonNil(s.mob.Replication().Pairs())})
}

func nonNil[T any](xs []T) []T {
	if xs == nil {
		return []T{}
	}
	return xs
}
