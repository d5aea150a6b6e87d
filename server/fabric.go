package server

import (
	"context"
	"net/http"

	"github.com/sanmob/sanmob/alert"
	"github.com/sanmob/sanmob/fabric/wwn"
)

func (s *Server) reconcileFabric(w http.ResponseWriter, r *http.Request) {
	apply, err := boolParam(r, "apply")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	d, err := s.mob.Reconcile(r.Context(), vars(r)["id"], apply)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if apply {
		entry(w).WithField("fabric", clip(d.Fabric)).WithField("repaired", d.Repaired).Info("fabric reconciled")
	}
	writeJSON(w, http.StatusOK, d)
}

func (s *Server) listAlerts(w http.ResponseWriter, r *http.Request) {
	// Firing first, then resolved: an alert is its fingerprint and start.
	if l, ok := page(w, r, s.mob.Alerts(), func(a alert.Alert) string { return a.Fingerprint + "\x00" + a.StartsAt.String() }); ok {
		writeJSON(w, http.StatusOK, l)
	}
}

func (s *Server) loginVport(w http.ResponseWriter, r *http.Request) {
	s.vportAction(w, r, s.mob.LoginVport, "vport logged in")
}

func (s *Server) logoutVport(w http.ResponseWriter, r *http.Request) {
	s.vportAction(w, r, s.mob.LogoutVport, "vport logged out")
}

func (s *Server) vportAction(w http.ResponseWriter, r *http.Request, do func(context.Context, string, wwn.WWN) error, msg string) {
	v := vars(r)
	p, err := wwn.Parse(v["wwpn"])
	if err != nil {
		s.writeError(w, r, &FieldErr{Field: "wwpn", Reason: err.Error()})
		return
	}
	if err := do(r.Context(), v["id"], p); err != nil {
		s.writeError(w, r, err)
		return
	}
	entry(w).WithField("vm", clip(v["id"])).WithField("wwpn", p.String()).Info(msg)
	w.WriteHeader(http.StatusNoContent)
}
