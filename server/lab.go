package server

import (
	"net/http"
	"time"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/fabric/wwn"
)

// Lab is the embedded lab's own truth and controls, for the /v1/lab routes.
// Implementations wrap ErrNotFound for an unknown device, zone or login,
// ErrInvalid for a bad fault or WWN, and fabric.ErrConflict for a port
// that may not be plugged or pulled.
type Lab interface {
	ZoneDB(fabricID string) (fabric.ZoneDB, error)
	Logins(fabricID string) ([]fabric.Login, error)
	DeleteZone(fabricID, zone string) error
	// PlugPort cables a port into the fabric's switch, as an administrator
	// connecting a device sanmob does not manage would: a physical login
	// on a free switch port. It is refused for a WWPN logged in anywhere
	// in the lab.
	PlugPort(fabricID string, p LabPort) (fabric.Login, error)
	// UnplugPort pulls a port PlugPort cabled; the lab's own stay.
	UnplugPort(fabricID, wwpn string) error
	Mappings(arrayID string) ([]array.Mapping, error)
	Clock() (now time.Time, speed float64)
	InjectFault(LabFault) (LabFault, error)
	Faults() []LabFault
	ClearFaults()
}

// LabFault makes the next Count operations (or a Rate share of them) of Op
// on Target fail or, with LatencyMs, slow down. LatencyMs is lab time: the
// lab's clock runs --lab-speed times real time, so 2000 at speed 60 delays
// an operation by about 33 ms of wall time.
type LabFault struct {
	Target    string  `json:"target"`
	Op        string  `json:"op"`
	Count     int     `json:"count,omitempty"`
	Rate      float64 `json:"rate,omitempty"`
	LatencyMs float64 `json:"latencyMs,omitempty"`
	// Kind is unavailable (default: a transient failure), final, or
	// applied-timeout (the operation takes effect, the caller sees a timeout).
	Kind string `json:"kind,omitempty"`
}

// LabPort is a port to cable into a lab switch: its names, and whether it
// is a storage target port (an array's) or an initiator.
type LabPort struct {
	WWPN   string `json:"wwpn"`
	WWNN   string `json:"wwnn"`
	Target bool   `json:"target"`
}

// LabZoneDB is the switch's zone DB as API.md shows it.
type LabZoneDB struct {
	Checksum     string    `json:"checksum"`
	Effective    string    `json:"effective"`
	Zones        []LabZone `json:"zones"`
	EffectiveSet []string  `json:"effectiveZones"`
	SizeBytes    int       `json:"sizeBytes"`
	MaxBytes     int       `json:"maxBytes"`
}

// LabZone is one zone of LabZoneDB.
type LabZone struct {
	Name       string    `json:"name"`
	Members    []wwn.WWN `json:"members"`
	Principals []wwn.WWN `json:"principals,omitempty"`
}

// LabClock is the virtual clock.
type LabClock struct {
	Now   time.Time `json:"now"`
	Speed float64   `json:"speed"`
}

func (s *Server) labZoneDB(w http.ResponseWriter, r *http.Request) {
	db, err := s.cfg.Lab.ZoneDB(vars(r)["id"])
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := LabZoneDB{Checksum: db.Checksum, Effective: db.EffectiveCfg, EffectiveSet: db.Effective, SizeBytes: db.SizeBytes, MaxBytes: db.MaxBytes, Zones: make([]LabZone, 0, len(db.Zones))}
	for _, z := range db.Zones {
		out.Zones = append(out.Zones, LabZone{Name: z.Name, Members: z.Members, Principals: z.Principals})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) labLogins(w http.ResponseWriter, r *http.Request) {
	l, err := s.cfg.Lab.Logins(vars(r)["id"])
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if p, ok := page(w, r, l, func(v fabric.Login) string { return v.WWPN.String() }); ok {
		writeJSON(w, http.StatusOK, p)
	}
}

func (s *Server) labDeleteZone(w http.ResponseWriter, r *http.Request) {
	if err := s.cfg.Lab.DeleteZone(vars(r)["id"], vars(r)["name"]); err != nil {
		s.writeError(w, r, err)
		return
	}
	entry(w).WithFields(map[string]any{"fabric": clip(vars(r)["id"]), "zone": clip(vars(r)["name"])}).Info("lab: zone removed behind sanmob's back")
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) labPlugPort(w http.ResponseWriter, r *http.Request) {
	var p LabPort
	if err := decode(w, r, &p); err != nil {
		s.writeError(w, r, err)
		return
	}
	l, err := s.cfg.Lab.PlugPort(vars(r)["id"], p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	entry(w).WithFields(map[string]any{"fabric": clip(vars(r)["id"]), "wwpn": l.WWPN.String(), "kind": string(l.Kind), "switchPort": l.SwitchPort}).Info("lab: port plugged in behind sanmob's back")
	writeJSON(w, http.StatusCreated, l)
}

func (s *Server) labUnplugPort(w http.ResponseWriter, r *http.Request) {
	if err := s.cfg.Lab.UnplugPort(vars(r)["id"], vars(r)["wwpn"]); err != nil {
		s.writeError(w, r, err)
		return
	}
	entry(w).WithFields(map[string]any{"fabric": clip(vars(r)["id"]), "wwpn": clip(vars(r)["wwpn"])}).Info("lab: port pulled behind sanmob's back")
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) labMappings(w http.ResponseWriter, r *http.Request) {
	m, err := s.cfg.Lab.Mappings(vars(r)["id"])
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if p, ok := page(w, r, m, func(v array.Mapping) string { return v.Volume + "\x00" + v.HostGroup }); ok {
		writeJSON(w, http.StatusOK, p)
	}
}

func (s *Server) labClock(w http.ResponseWriter, r *http.Request) {
	now, speed := s.cfg.Lab.Clock()
	writeJSON(w, http.StatusOK, LabClock{Now: now, Speed: speed})
}

func (s *Server) labListFaults(w http.ResponseWriter, r *http.Request) {
	// Faults have no id: the token's count places the next page.
	if p, ok := page(w, r, s.cfg.Lab.Faults(), func(f LabFault) string { return f.Target + "\x00" + f.Op }); ok {
		writeJSON(w, http.StatusOK, p)
	}
}

func (s *Server) labInjectFault(w http.ResponseWriter, r *http.Request) {
	var f LabFault
	if err := decode(w, r, &f); err != nil {
		s.writeError(w, r, err)
		return
	}
	out, err := s.cfg.Lab.InjectFault(f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	entry(w).WithFields(map[string]any{"target": clip(f.Target), "op": clip(f.Op), "count": f.Count, "rate": f.Rate, "latencyMs": f.LatencyMs}).Info("lab: fault injected")
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) labClearFaults(w http.ResponseWriter, r *http.Request) {
	s.cfg.Lab.ClearFaults()
	w.WriteHeader(http.StatusNoContent)
}
