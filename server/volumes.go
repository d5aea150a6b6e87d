package server

import (
	"net/http"

	"github.com/sanmob/sanmob/inventory"
	"github.com/sanmob/sanmob/mobility"
)

func (s *Server) createVolume(w http.ResponseWriter, r *http.Request) {
	var spec mobility.VolumeSpec
	if err := decode(w, r, &spec); err != nil {
		s.writeError(w, r, err)
		return
	}
	v, err := s.mob.CreateVolume(r.Context(), spec)
	if err == nil {
		w.Header().Set("Location", "/v1/volumes/"+v.ID)
		entry(w).WithField("volume", v.ID).Info("volume created")
	}
	s.reply(w, r, http.StatusCreated, v, err)
}

// volumePatch is what PATCH /v1/volumes/{id} may change: the size, upward.
type volumePatch struct {
	SizeBytes *int64 `json:"sizeBytes"`
}

func (s *Server) updateVolume(w http.ResponseWriter, r *http.Request) {
	var p volumePatch
	if err := decode(w, r, &p); err != nil {
		s.writeError(w, r, err)
		return
	}
	if p.SizeBytes == nil {
		s.writeError(w, r, &FieldErr{Field: "sizeBytes", Reason: "required: the only field a volume changes"})
		return
	}
	v, err := s.mob.ExpandVolume(r.Context(), vars(r)["id"], *p.SizeBytes)
	s.reply(w, r, http.StatusOK, v, err)
}

func (s *Server) deleteVolume(w http.ResponseWriter, r *http.Request) {
	if err := s.mob.DeleteVolume(r.Context(), vars(r)["id"]); err != nil {
		s.writeError(w, r, err)
		return
	}
	entry(w).WithField("volume", clip(vars(r)["id"])).Info("volume deleted")
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) createVolumeSnapshot(w http.ResponseWriter, r *http.Request) {
	var spec mobility.SnapshotSpec
	if err := decode(w, r, &spec); err != nil {
		s.writeError(w, r, err)
		return
	}
	sn, err := s.mob.CreateSnapshot(r.Context(), vars(r)["id"], spec)
	s.reply(w, r, http.StatusCreated, sn, err)
}

func (s *Server) createVMSnapshot(w http.ResponseWriter, r *http.Request) {
	var spec mobility.SnapshotSpec
	if err := decode(w, r, &spec); err != nil {
		s.writeError(w, r, err)
		return
	}
	snaps, err := s.mob.SnapshotVM(r.Context(), vars(r)["id"], spec)
	s.reply(w, r, http.StatusCreated, List[inventory.SnapshotView]{Items: snaps}, err)
}

func (s *Server) getSnapshot(w http.ResponseWriter, r *http.Request) {
	sn, err := s.mob.Snapshot(vars(r)["id"])
	s.reply(w, r, http.StatusOK, sn, err)
}

func (s *Server) deleteSnapshot(w http.ResponseWriter, r *http.Request) {
	if err := s.mob.DeleteSnapshot(r.Context(), vars(r)["id"]); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) createAttachment(w http.ResponseWriter, r *http.Request) {
	var spec mobility.AttachmentSpec
	if err := decode(w, r, &spec); err != nil {
		s.writeError(w, r, err)
		return
	}
	at, err := s.mob.Attach(r.Context(), spec)
	if err == nil {
		w.Header().Set("Location", "/v1/attachments/"+at.Volume+"/"+at.Node)
	}
	s.reply(w, r, http.StatusCreated, at, err)
}

func (s *Server) listAttachments(w http.ResponseWriter, r *http.Request) {
	ats := s.mob.Attachments(r.URL.Query().Get("volume"))
	if l, ok := page(w, r, ats, func(a mobility.Attachment) string { return a.Volume + "\x00" + a.Node }); ok {
		writeJSON(w, http.StatusOK, l)
	}
}

func (s *Server) deleteAttachment(w http.ResponseWriter, r *http.Request) {
	v := vars(r)
	if err := s.mob.Detach(r.Context(), v["volume"], v["node"]); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) createMigration(w http.ResponseWriter, r *http.Request) {
	var spec mobility.MigrationSpec
	if err := decode(w, r, &spec); err != nil {
		s.writeError(w, r, err)
		return
	}
	if spec.DryRun {
		plan, err := s.mob.PlanMove(spec)
		s.reply(w, r, http.StatusOK, plan, err)
		return
	}
	m, err := s.mob.StartMigration(spec)
	if err == nil {
		w.Header().Set("Location", "/v1/migrations/"+m.ID)
	}
	s.reply(w, r, http.StatusCreated, m, err)
}

func (s *Server) listMigrations(w http.ResponseWriter, r *http.Request) {
	ms, err := s.mob.Migrations()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// Oldest first is id order: a migration's id starts with its creation time.
	if l, ok := page(w, r, ms, func(m mobility.Migration) string { return m.ID }); ok {
		writeJSON(w, http.StatusOK, l)
	}
}

func (s *Server) getMigration(w http.ResponseWriter, r *http.Request) {
	m, err := s.mob.Migration(vars(r)["id"])
	s.reply(w, r, http.StatusOK, m, err)
}
