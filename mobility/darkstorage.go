package mobility

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sanmob/sanmob/devices"
	"github.com/sanmob/sanmob/fabric/wwn"
	"github.com/sanmob/sanmob/store"
)

// Dark storage (DOMAIN.md): capacity allocated but presented to nothing, or
// presented only to hosts and VMs that no longer exist. darkVolumes decides
// it, a pure function of the arrays' observations, of which WWPNs the
// inventory owns and of which volumes are spoken for; DarkStorage runs it
// over the service's state and keeps in the store, per dark volume, when
// sanmob first saw it dark (kind kindDarkVolume), forgetting a volume that
// stops being dark. The refresh loop runs it after every read (noteDark), so
// that darkSince is the first refresh that saw the volume dark, not the
// first time someone asked.

// kindDarkVolume is the store kind of a dark volume's first sighting, by
// "<array>/<volume>".
const kindDarkVolume = "dark-volume"

// Reasons a volume is dark.
const (
	DarkNotPresented = "not-presented"  // no LUN map presents it
	DarkOrphaned     = "orphaned-hosts" // its LUN maps' initiators belong to no host or VM of the inventory
)

// DarkVolume is one volume of the dark-storage report.
type DarkVolume struct {
	Volume           string    `json:"volume"`
	Name             string    `json:"name"`
	Array            string    `json:"array"`
	Pool             string    `json:"pool"`
	ProvisionedBytes int64     `json:"provisionedBytes"`
	UsedBytes        int64     `json:"usedBytes"`
	DarkSince        time.Time `json:"darkSince"`
	DarkSeconds      float64   `json:"darkSeconds"` // now − darkSince
	Reason           string    `json:"reason"`      // not-presented | orphaned-hosts
	Detail           string    `json:"detail"`
	// HostGroups are the host groups presenting an orphaned volume.
	HostGroups []string `json:"hostGroups,omitempty"`
}

// DarkTotals sums the report.
type DarkTotals struct {
	ProvisionedBytes int64 `json:"provisionedBytes"`
	UsedBytes        int64 `json:"usedBytes"`
	Volumes          int   `json:"volumes"`
}

// DarkStorageReport is the whole report: the dark volumes by volume id,
// their totals, and the arrays that have not been read yet (whose volumes
// it cannot judge).
type DarkStorageReport struct {
	Items      []DarkVolume `json:"items"`
	Totals     DarkTotals   `json:"totals"`
	Unread     []string     `json:"unreadArrays,omitempty"`
	ObservedAt time.Time    `json:"observedAt"`
}

// darkArray is one array's last observation (nil: never read).
type darkArray struct {
	id  string
	obs *devices.ArrayObs
}

type darkRecord struct {
	Array  string    `json:"array"`
	Volume string    `json:"volume"`
	Since  time.Time `json:"since"`
}

func darkKey(arrayID, volume string) string { return arrayID + "/" + volume }

// darkVolumes lists the dark volumes of the arrays observed, sorted by
// volume then array, darkSince from since (by darkKey) or now. A volume is
// dark when no LUN map presents it, or when every initiator of every map
// that presents it belongs to nothing owned reports; a volume spokenFor
// (replicated, or with an attachment record) never is.
func darkVolumes(arrays []darkArray, owned func(wwn.WWN) bool, spokenFor func(arrayID, volume string) bool,
	since map[string]time.Time, now time.Time) []DarkVolume {
	var out []DarkVolume
	for _, a := range arrays {
		if a.obs == nil {
			continue
		}
		for _, v := range a.obs.Volumes {
			if spokenFor(a.id, v.ID) {
				continue
			}
			_, _, vi := a.obs.Volume(v.ID)
			maps := a.obs.MappingsOf(vi)
			var groups []string
			live := false
			for _, m := range maps {
				mp := &a.obs.Mappings[m]
				groups = append(groups, mp.HostGroup)
				if slices.ContainsFunc(mp.Initiators, owned) {
					live = true
					break
				}
			}
			if live {
				continue
			}
			d := DarkVolume{Volume: v.ID, Name: v.Name, Array: a.id, Pool: v.Pool,
				ProvisionedBytes: v.SizeBytes, UsedBytes: v.UsedBytes, DarkSince: now}
			if t, ok := since[darkKey(a.id, v.ID)]; ok {
				d.DarkSince = t
			}
			d.DarkSeconds = max(now.Sub(d.DarkSince), 0).Seconds()
			if len(maps) == 0 {
				d.Reason, d.Detail = DarkNotPresented, "no LUN map presents it"
			} else {
				slices.Sort(groups)
				d.HostGroups = slices.Compact(groups)
				d.Reason = DarkOrphaned
				d.Detail = fmt.Sprintf("presented only to initiators no host or VM of the inventory owns (host groups %s)",
					strings.Join(d.HostGroups, ", "))
			}
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(x, y DarkVolume) int {
		return cmp.Or(cmp.Compare(x.Volume, y.Volume), cmp.Compare(x.Array, y.Array))
	})
	return out
}

// darkState is the service's memory of first sightings, loaded from the
// store once and kept equal to it.
type darkState struct {
	mu     sync.Mutex
	since  map[string]time.Time // nil until loaded
	loaded bool
}

// DarkStorage evaluates the dark-storage report now and records first
// sightings: a volume newly dark is stored with the present, one no longer
// dark is forgotten (unless its array could not be read). Before the
// inventory is loaded and discovered every volume would look dark, so it
// answers ErrUnavailable then; a store failure is ErrUnavailable too.
func (s *Service) DarkStorage() (DarkStorageReport, error) {
	if !s.started.Load() || !s.Discovered() {
		return DarkStorageReport{}, fmt.Errorf("the inventory is still loading; ask again shortly: %w", ErrUnavailable)
	}
	s.darkMu().Lock()
	defer s.darkMu().Unlock()
	if err := s.loadDark(); err != nil {
		return DarkStorageReport{}, err
	}
	now := s.clk.Now()
	arrays := make([]darkArray, 0, len(s.arrIDs))
	var unread []string
	for _, id := range s.arrIDs {
		o := s.arrays[id].Obs.Load()
		if o == nil {
			unread = append(unread, id)
		}
		arrays = append(arrays, darkArray{id: id, obs: o})
	}
	spoken := map[string]bool{}
	for _, p := range s.repl.Pairs() {
		spoken[darkKey(p.Source.Array, p.Source.Volume)] = true
		spoken[darkKey(p.Target.Array, p.Target.Volume)] = true
	}
	var items []DarkVolume
	func() {
		s.RLock()
		defer s.RUnlock()
		attached := map[string]bool{}
		for _, r := range s.attachments {
			attached[r.Volume] = true
		}
		owned := func(w wwn.WWN) bool { _, ok := s.OwnerLocked(w); return ok }
		spokenFor := func(arrayID, volume string) bool {
			if spoken[darkKey(arrayID, volume)] {
				return true
			}
			// An attachment names the volume by its inventory id, which
			// is the array's id of it.
			if attached[volume] {
				v, ok := s.VolumeLocked(volume)
				return ok && v.Array == arrayID
			}
			return false
		}
		items = darkVolumes(arrays, owned, spokenFor, s.dark.since, now)
	}()
	if err := s.recordDark(items, unread, now); err != nil {
		return DarkStorageReport{}, err
	}
	rep := DarkStorageReport{Items: items, Unread: unread, ObservedAt: now}
	if rep.Items == nil {
		rep.Items = []DarkVolume{}
	}
	for _, d := range items {
		rep.Totals.ProvisionedBytes += d.ProvisionedBytes
		rep.Totals.UsedBytes += d.UsedBytes
		rep.Totals.Volumes++
	}
	return rep, nil
}

func (s *Service) darkMu() *sync.Mutex { return &s.dark.mu }

// loadDark reads the first sightings from the store, once.
func (s *Service) loadDark() error {
	if s.dark.loaded {
		return nil
	}
	since := map[string]time.Time{}
	err := s.st.List(kindDarkVolume, func(id string, raw []byte) error {
		var r darkRecord
		if err := json.Unmarshal(raw, &r); err != nil {
			return fmt.Errorf("dark-volume record %s: %w", id, err)
		}
		since[id] = r.Since
		return nil
	})
	if err != nil {
		return fmt.Errorf("reading dark-storage sightings: %w: %w", err, ErrUnavailable)
	}
	s.dark.since, s.dark.loaded = since, true
	return nil
}

// recordDark stores the sightings items adds and deletes those no longer
// dark, in one transaction, and then updates the memory of them. The
// caller holds the dark mutex.
func (s *Service) recordDark(items []DarkVolume, unread []string, now time.Time) error {
	dark := make(map[string]bool, len(items))
	var add []darkRecord
	for _, d := range items {
		k := darkKey(d.Array, d.Volume)
		dark[k] = true
		if _, ok := s.dark.since[k]; !ok {
			add = append(add, darkRecord{Array: d.Array, Volume: d.Volume, Since: now})
		}
	}
	var drop []string
	for k := range s.dark.since {
		arrayID, _, _ := strings.Cut(k, "/")
		if !dark[k] && !slices.Contains(unread, arrayID) {
			drop = append(drop, k)
		}
	}
	if len(add) == 0 && len(drop) == 0 {
		return nil
	}
	err := s.st.Update(func(tx *store.Tx) error {
		for _, r := range add {
			if err := tx.Put(kindDarkVolume, darkKey(r.Array, r.Volume), &r); err != nil {
				return err
			}
		}
		for _, k := range drop {
			if err := tx.Delete(kindDarkVolume, k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("recording dark-storage sightings: %w: %w", err, ErrUnavailable)
	}
	for _, r := range add {
		s.dark.since[darkKey(r.Array, r.Volume)] = r.Since
	}
	for _, k := range drop {
		delete(s.dark.since, k)
	}
	return nil
}

// noteDark is the refresh hook: it records first sightings after every
// read of the devices, once the inventory is loaded.
func (s *Service) noteDark() {
	if !s.started.Load() || !s.Discovered() {
		return
	}
	if _, err := s.DarkStorage(); err != nil {
		s.log.WithError(err).Warn("dark storage not evaluated")
	}
}
