package server

import (
	"net/http"
	"strconv"

	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/inventory"
)

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

type readyBody struct {
	Status string   `json:"status"`
	Why    []string `json:"why,omitempty"`
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ok, why := s.mob.Readiness()
	if s.cfg.Ready != nil {
		ok2, why2 := s.cfg.Ready()
		ok = ok && ok2
		why = append(why, why2...)
	}
	if !ok {
		p := newProblem(http.StatusServiceUnavailable, "not ready")
		p.Reasons = why
		writeProblem(w, r, p)
		return
	}
	writeJSON(w, http.StatusOK, readyBody{Status: "ready"})
}

func (s *Server) openapiHandler(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(s.openapi)
}

func (s *Server) listSites(w http.ResponseWriter, r *http.Request) {
	if l, ok := page(w, r, s.mob.Sites(), func(v inventory.Site) string { return v.ID }); ok {
		writeJSON(w, http.StatusOK, l)
	}
}

func (s *Server) getSite(w http.ResponseWriter, r *http.Request) {
	v, err := s.mob.Site(vars(r)["id"])
	s.reply(w, r, http.StatusOK, v, err)
}

func (s *Server) listLinks(w http.ResponseWriter, r *http.Request) {
	if l, ok := page(w, r, s.mob.Links(), func(v inventory.Link) string { return v.From + "\x00" + v.To }); ok {
		writeJSON(w, http.StatusOK, l)
	}
}

func (s *Server) listFabrics(w http.ResponseWriter, r *http.Request) {
	if l, ok := page(w, r, s.mob.Fabrics(), func(v inventory.Fabric) string { return v.ID }); ok {
		writeJSON(w, http.StatusOK, l)
	}
}

func (s *Server) getFabric(w http.ResponseWriter, r *http.Request) {
	v, err := s.mob.Fabric(vars(r)["id"])
	s.reply(w, r, http.StatusOK, v, err)
}

func (s *Server) listLogins(w http.ResponseWriter, r *http.Request) {
	logins, at, err := s.mob.Logins(vars(r)["id"])
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if l, ok := page(w, r, logins, func(v fabric.Login) string { return v.WWPN.String() }); ok {
		l.ObservedAt = at
		writeJSON(w, http.StatusOK, l)
	}
}

func (s *Server) listZones(w http.ResponseWriter, r *http.Request) {
	zones, at, err := s.mob.Zones(vars(r)["id"])
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if l, ok := page(w, r, zones, func(v inventory.ZoneView) string { return v.Name }); ok {
		l.ObservedAt = at
		writeJSON(w, http.StatusOK, l)
	}
}

func (s *Server) listHosts(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if site := q.Get("site"); site != "" {
		if _, err := s.mob.Site(site); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	if l, ok := page(w, r, s.mob.Hosts(inventory.HostFilter{Site: q.Get("site")}), func(h inventory.Host) string { return h.ID }); ok {
		writeJSON(w, http.StatusOK, l)
	}
}

func (s *Server) createHost(w http.ResponseWriter, r *http.Request) {
	var spec inventory.HostSpec
	if err := decode(w, r, &spec); err != nil {
		s.writeError(w, r, err)
		return
	}
	h, err := s.mob.CreateHost(spec)
	if err == nil {
		w.Header().Set("Location", "/v1/hosts/"+h.ID)
		entry(w).WithField("host", h.ID).Info("host created")
	}
	s.reply(w, r, http.StatusCreated, h, err)
}

func (s *Server) getHost(w http.ResponseWriter, r *http.Request) {
	v, err := s.mob.Host(vars(r)["id"])
	s.reply(w, r, http.StatusOK, v, err)
}

func (s *Server) updateHost(w http.ResponseWriter, r *http.Request) {
	var p inventory.HostPatch
	if err := decode(w, r, &p); err != nil {
		s.writeError(w, r, err)
		return
	}
	v, err := s.mob.UpdateHost(vars(r)["id"], p)
	s.reply(w, r, http.StatusOK, v, err)
}

func (s *Server) deleteHost(w http.ResponseWriter, r *http.Request) {
	if err := s.mob.DeleteHost(vars(r)["id"]); err != nil {
		s.writeError(w, r, err)
		return
	}
	entry(w).WithField("host", clip(vars(r)["id"])).Info("host deleted")
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) listVMs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if h := q.Get("host"); h != "" {
		if _, err := s.mob.Host(h); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	if site := q.Get("site"); site != "" {
		if _, err := s.mob.Site(site); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	vms := s.mob.VMs(inventory.VMFilter{Host: q.Get("host"), Site: q.Get("site")})
	if l, ok := page(w, r, vms, func(v inventory.VM) string { return v.ID }); ok {
		writeJSON(w, http.StatusOK, l)
	}
}

func (s *Server) createVM(w http.ResponseWriter, r *http.Request) {
	var spec inventory.VMSpec
	if err := decode(w, r, &spec); err != nil {
		s.writeError(w, r, err)
		return
	}
	v, err := s.mob.CreateVM(spec)
	if err == nil {
		w.Header().Set("Location", "/v1/vms/"+v.ID)
		entry(w).WithField("vm", v.ID).Info("vm created")
	}
	s.reply(w, r, http.StatusCreated, v, err)
}

func (s *Server) getVM(w http.ResponseWriter, r *http.Request) {
	v, err := s.mob.VM(vars(r)["id"])
	s.reply(w, r, http.StatusOK, v, err)
}

func (s *Server) updateVM(w http.ResponseWriter, r *http.Request) {
	var p inventory.VMPatch
	if err := decode(w, r, &p); err != nil {
		s.writeError(w, r, err)
		return
	}
	v, err := s.mob.UpdateVM(vars(r)["id"], p)
	s.reply(w, r, http.StatusOK, v, err)
}

func (s *Server) deleteVM(w http.ResponseWriter, r *http.Request) {
	if err := s.mob.DeleteVM(vars(r)["id"]); err != nil {
		s.writeError(w, r, err)
		return
	}
	entry(w).WithField("vm", clip(vars(r)["id"])).Info("vm deleted")
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) getTopology(w http.ResponseWriter, r *http.Request) {
	verify, err := boolParam(r, "verify")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	v, err := s.mob.Topology(r.Context(), vars(r)["id"], verify)
	s.reply(w, r, http.StatusOK, v, err)
}

func (s *Server) listArrays(w http.ResponseWriter, r *http.Request) {
	if l, ok := page(w, r, s.mob.Arrays(), func(v inventory.Array) string { return v.ID }); ok {
		writeJSON(w, http.StatusOK, l)
	}
}

func (s *Server) getArray(w http.ResponseWriter, r *http.Request) {
	v, err := s.mob.Array(vars(r)["id"])
	s.reply(w, r, http.StatusOK, v, err)
}

func (s *Server) listPools(w http.ResponseWriter, r *http.Request) {
	a := r.URL.Query().Get("array")
	if a != "" {
		if _, err := s.mob.Array(a); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	if l, ok := page(w, r, s.mob.Pools(a), func(v inventory.Pool) string { return v.ID }); ok {
		writeJSON(w, http.StatusOK, l)
	}
}

func (s *Server) getPool(w http.ResponseWriter, r *http.Request) {
	v, err := s.mob.Pool(vars(r)["id"])
	s.reply(w, r, http.StatusOK, v, err)
}

func (s *Server) listVolumes(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if a := q.Get("array"); a != "" {
		if _, err := s.mob.Array(a); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	if p := q.Get("pool"); p != "" {
		if _, err := s.mob.Pool(p); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	vols := s.mob.Volumes(inventory.VolumeFilter{Array: q.Get("array"), Pool: q.Get("pool")})
	if l, ok := page(w, r, vols, func(v inventory.Volume) string { return v.ID }); ok {
		writeJSON(w, http.StatusOK, l)
	}
}

func (s *Server) getVolume(w http.ResponseWriter, r *http.Request) {
	v, err := s.mob.Volume(vars(r)["id"])
	s.reply(w, r, http.StatusOK, v, err)
}

func (s *Server) listSnapshots(w http.ResponseWriter, r *http.Request) {
	vol := r.URL.Query().Get("volume")
	if vol != "" {
		if _, err := s.mob.Volume(vol); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	snaps := s.mob.Snapshots(vol)
	if l, ok := page(w, r, snaps, func(v inventory.SnapshotView) string { return v.ID }); ok {
		writeJSON(w, http.StatusOK, l)
	}
}

// reply writes v with status, or the problem for err.
func (s *Server) reply(w http.ResponseWriter, r *http.Request, status int, v any, err error) {
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, status, v)
}

func boolParam(r *http.Request, name string) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, &FieldErr{Field: name, Reason: "must be true or false"}
	}
	return b, nil
}
