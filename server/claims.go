package server

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/sanmob/sanmob/mobility"
)

// claimPath is the path of a claim, each segment of owner and key escaped.
func claimPath(owner, key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return "/v1/zoning/claims/" + url.PathEscape(owner) + "/" + strings.Join(segs, "/")
}

func (s *Server) putClaim(w http.ResponseWriter, r *http.Request) {
	var spec mobility.ClaimSpec
	if err := decode(w, r, &spec); err != nil {
		s.writeError(w, r, err)
		return
	}
	v := vars(r)
	c, created, err := s.mob.PutClaim(r.Context(), v["owner"], v["key"], spec)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		w.Header().Set("Location", claimPath(c.Owner, c.Key))
	}
	writeJSON(w, status, c)
}

func (s *Server) deleteClaim(w http.ResponseWriter, r *http.Request) {
	v := vars(r)
	if err := s.mob.DeleteClaim(r.Context(), v["owner"], v["key"]); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) getClaim(w http.ResponseWriter, r *http.Request) {
	v := vars(r)
	c, err := s.mob.GetClaim(v["owner"], v["key"])
	s.reply(w, r, http.StatusOK, c, err)
}

func (s *Server) listClaims(w http.ResponseWriter, r *http.Request) {
	owner := r.URL.Query().Get("owner")
	if owner != "" {
		if err := mobility.CheckClaimOwner(owner); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	cs := s.mob.Claims(owner)
	if l, ok := page(w, r, cs, func(c mobility.Claim) string { return c.Owner + "\x00" + c.Key }); ok {
		writeJSON(w, http.StatusOK, l)
	}
}
