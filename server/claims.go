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

// claimVars returns the owner and key of a claim's path. The router
// matches on the decoded path, so an escaped '/' (%2F) inside the owner or
// a key segment would name another claim than the caller meant: refused.
func claimVars(r *http.Request) (owner, key string, err error) {
	if strings.Contains(strings.ToLower(r.URL.EscapedPath()), "%2f") {
		return "", "", &FieldErr{Field: "key", Reason: "an escaped '/' (%2F) in the owner or a key segment is ambiguous: send the key's segments separated by plain '/'"}
	}
	v := vars(r)
	return v["owner"], v["key"], nil
}

func (s *Server) putClaim(w http.ResponseWriter, r *http.Request) {
	var spec mobility.ClaimSpec
	if err := decode(w, r, &spec); err != nil {
		s.writeError(w, r, err)
		return
	}
	owner, key, err := claimVars(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	c, created, err := s.mob.PutClaim(r.Context(), owner, key, spec)
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
	owner, key, err := claimVars(r)
	if err == nil {
		err = s.mob.DeleteClaim(r.Context(), owner, key)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) getClaim(w http.ResponseWriter, r *http.Request) {
	owner, key, err := claimVars(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	c, err := s.mob.GetClaim(owner, key)
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
