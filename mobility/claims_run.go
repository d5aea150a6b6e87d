package mobility

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/sanmob/sanmob/devices"
	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/inventory"
	"github.com/sanmob/sanmob/saga"
	"github.com/sanmob/sanmob/store"
)

// Operations of a claim run.
const (
	opClaimPut    = "put"
	opClaimDelete = "delete"
)

// claimPlan is a claim run's data: the record it writes (put) or removes
// (delete), and for a put that replaces a claim, the record it replaces.
type claimPlan struct {
	Op     string       `json:"op"`
	Record claimRecord  `json:"record"`
	Old    *claimRecord `json:"old,omitempty"`
}

// claimSteps is the plan of a claim run:
//
//	put:    zone (Ensure the new intents) → record → release (what only the old record needed)
//	delete: unzone (Release its intents) → forget
//
// The Zoner's Ensure and Release are idempotent against the switch, so a
// step retried or resumed after a crash does nothing twice.
func (s *Service) claimSteps(r saga.Run) ([]saga.Step, error) {
	var p claimPlan
	if err := json.Unmarshal(r.Data, &p); err != nil {
		return nil, fmt.Errorf("claim run %s: %w", r.ID, err)
	}
	switch p.Op {
	case opClaimPut:
		steps := []saga.Step{
			{Name: "zone", Do: s.stepClaimZone, Undo: s.stepClaimUnzoneNew},
			{Name: "record", Do: s.stepClaimRecord, Undo: s.stepClaimRestore, Local: true},
		}
		if p.Old != nil && len(minusIntents(p.Old.Intents, p.Record.Intents)) > 0 {
			steps = append(steps, saga.Step{Name: "release", Do: s.stepClaimReleaseOld, Undo: s.stepClaimEnsureOld})
		}
		return steps, nil
	case opClaimDelete:
		return []saga.Step{
			{Name: "unzone", Do: s.stepClaimUnzone, Undo: s.stepClaimZone},
			{Name: "forget", Do: s.stepClaimForget, Local: true},
		}, nil
	}
	return nil, fmt.Errorf("claim run %s: unknown op %q", r.ID, p.Op)
}

func loadClaimPlan(x *saga.Exec) (claimPlan, error) {
	var p claimPlan
	err := x.Load(&p)
	return p, err
}

// stepClaimZone makes the record's zones exist (group commit with every
// other claim and attachment in flight).
func (s *Service) stepClaimZone(ctx context.Context, x *saga.Exec) error {
	p, err := loadClaimPlan(x)
	if err != nil {
		return err
	}
	return MarkDevice("fabric", s.zoner.Ensure(ctx, p.Record.user(), intentsOf(p.Record.Intents)))
}

// stepClaimUnzoneNew undoes a put's zone step: the intents the old record
// did not hold are released (all of them for a new claim).
func (s *Service) stepClaimUnzoneNew(ctx context.Context, x *saga.Exec) error {
	p, err := loadClaimPlan(x)
	if err != nil {
		return err
	}
	drop := p.Record.Intents
	if p.Old != nil {
		drop = minusIntents(p.Record.Intents, p.Old.Intents)
	}
	if len(drop) == 0 {
		return nil
	}
	return MarkDevice("fabric", s.zoner.Release(ctx, p.Record.user(), intentsOf(drop)))
}

// stepClaimUnzone releases every intent of the record; a zone another
// claim or an attachment needs stays.
func (s *Service) stepClaimUnzone(ctx context.Context, x *saga.Exec) error {
	p, err := loadClaimPlan(x)
	if err != nil {
		return err
	}
	return MarkDevice("fabric", s.zoner.Release(ctx, p.Record.user(), intentsOf(p.Record.Intents)))
}

// stepClaimReleaseOld releases what only the replaced record needed.
func (s *Service) stepClaimReleaseOld(ctx context.Context, x *saga.Exec) error {
	p, err := loadClaimPlan(x)
	if err != nil || p.Old == nil {
		return err
	}
	return MarkDevice("fabric", s.zoner.Release(ctx, p.Record.user(), intentsOf(minusIntents(p.Old.Intents, p.Record.Intents))))
}

// stepClaimEnsureOld puts back what stepClaimReleaseOld released.
func (s *Service) stepClaimEnsureOld(ctx context.Context, x *saga.Exec) error {
	p, err := loadClaimPlan(x)
	if err != nil || p.Old == nil {
		return err
	}
	return MarkDevice("fabric", s.zoner.Ensure(ctx, p.Record.user(), intentsOf(minusIntents(p.Old.Intents, p.Record.Intents))))
}

// stepClaimRecord writes the claim's record (synced).
func (s *Service) stepClaimRecord(_ context.Context, x *saga.Exec) error {
	p, err := loadClaimPlan(x)
	if err != nil {
		return err
	}
	rec := p.Record
	rec.Operation = x.ID()
	return s.putClaim(&rec)
}

// stepClaimRestore undoes the record step: the old record back, or none.
func (s *Service) stepClaimRestore(_ context.Context, x *saga.Exec) error {
	p, err := loadClaimPlan(x)
	if err != nil {
		return err
	}
	if p.Old != nil {
		return s.putClaim(p.Old)
	}
	return s.dropClaim(p.Record.id())
}

// stepClaimForget removes the claim's record.
func (s *Service) stepClaimForget(_ context.Context, x *saga.Exec) error {
	p, err := loadClaimPlan(x)
	if err != nil {
		return err
	}
	if err := s.dropClaim(p.Record.id()); err != nil {
		return err
	}
	s.log.WithFields(logrus.Fields{"owner": p.Record.Owner, "key": p.Record.Key, "operation": x.ID()}).Info("zoning claim released")
	return nil
}

func (s *Service) putClaim(rec *claimRecord) error {
	s.Lock()
	defer s.Unlock()
	if err := s.st.Update(func(tx *store.Tx) error { return tx.Put(kindClaim, rec.id(), rec) }); err != nil {
		return inventory.StoreErr(err)
	}
	s.claims[rec.id()] = rec
	s.kickRefresh() // the observed zone DBs catch up with the commit
	return nil
}

func (s *Service) dropClaim(id string) error {
	s.Lock()
	defer s.Unlock()
	err := s.st.Update(func(tx *store.Tx) error {
		if err := tx.Delete(kindClaim, id); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return nil
	})
	if err != nil {
		return inventory.StoreErr(err)
	}
	delete(s.claims, id)
	s.kickRefresh()
	return nil
}

// PutClaim creates or replaces the zoning claim (owner, key) and returns it
// once every fabric it needs has committed (group commit: claims and
// attachments that arrive together share commits), created true when there
// was none. A repeated request whose ports still place the same way is a
// no-op; one that asks for other ports or lands otherwise replaces the
// claim: the new zones are made first, the ones only the old claim needed
// go after. The change is a saga run written before the first commit. When
// ctx ends first the run goes on and PutClaim returns a transient error.
// Errors: ErrInvalid (owner, key, ports, policy), ErrNotFeasible (a port
// logged in on no fabric), ErrConflict (no initiator shares a fabric with
// a target; a fabric zones with another policy), ErrUnavailable, and the
// switch's own error when a commit failed for good.
func (s *Service) PutClaim(ctx context.Context, owner, key string, spec ClaimSpec) (Claim, bool, error) {
	pc, err := parseClaim(owner, key, spec)
	if err != nil {
		return Claim{}, false, err
	}
	id := claimID(owner, key)
	defer s.claimLocks.Lock(id)()
	if err := s.settleClaim(ctx, id); err != nil {
		return Claim{}, false, err
	}
	s.RLock()
	old := s.claims[id]
	s.RUnlock()
	rec, err := s.claimPlanOf(ctx, pc, old)
	if err != nil {
		return Claim{}, false, err
	}
	now := s.clk.Now()
	rec.CreatedAt, rec.UpdatedAt = now, now
	p := claimPlan{Op: opClaimPut, Record: rec}
	if old != nil {
		if old.Policy == rec.Policy && slices.Equal(old.Initiators, rec.Initiators) && slices.Equal(old.Targets, rec.Targets) &&
			sameIntents(old.Intents, rec.Intents) {
			return s.repairClaim(ctx, old)
		}
		o := *old
		p.Old = &o
		p.Record.CreatedAt = old.CreatedAt
	}
	run, err := s.sagas.Submit(sagaClaim, id, p)
	if err != nil {
		return Claim{}, false, fmt.Errorf("claim %s: %w", id, err)
	}
	if _, err := s.sagas.Wait(ctx, run.ID); err != nil {
		return Claim{}, false, s.runErr(ctx, "claim", id, run.ID, err)
	}
	s.RLock()
	got := s.claims[id]
	s.RUnlock()
	if got == nil {
		return Claim{}, false, fmt.Errorf("claim %s ended without a record: %w", id, ErrConflict)
	}
	s.log.WithFields(logrus.Fields{"owner": owner, "key": key, "fabrics": strings.Join(got.Fabrics, ","), "intents": len(got.Intents),
		"replaced": old != nil, "operation": run.ID}).Info("zoning claim committed")
	return s.claimView(got), old == nil, nil
}

// repairClaim answers a repeated PUT: the claim as it is, after putting
// back the zones of it the fabrics' last reads miss (someone removed them
// behind sanmob's back). The repair is the fabric's reconcile: it restores
// sanmob's own zones there, as an operator's POST .../reconcile?apply=true
// would.
func (s *Service) repairClaim(ctx context.Context, r *claimRecord) (Claim, bool, error) {
	c, gone := s.claimViewGone(r)
	if len(gone) == 0 {
		return c, false, nil
	}
	repaired := map[string]bool{}
	for _, g := range gone {
		if repaired[g.fabric] {
			continue
		}
		repaired[g.fabric] = true
		if _, err := s.Reconcile(ctx, g.fabric, true); err != nil {
			return Claim{}, false, fmt.Errorf("claim %s: putting back its zones on fabric %s: %w", r.id(), g.fabric, err)
		}
		s.log.WithFields(logrus.Fields{"owner": r.Owner, "key": r.Key, "fabric": g.fabric}).Info("zoning claim repeated: its missing zones put back")
	}
	return s.claimView(r), false, nil
}

// DeleteClaim releases the claim (owner, key): its zones go unless another
// claim or an attachment needs them. Deleting a claim there is not is fine
// (idempotent, as CSI's unpublish must be). A claim whose last change
// failed has that change undone first.
func (s *Service) DeleteClaim(ctx context.Context, owner, key string) error {
	if err := CheckClaimOwner(owner); err != nil {
		return err
	}
	if err := CheckClaimKey(key); err != nil {
		return err
	}
	id := claimID(owner, key)
	defer s.claimLocks.Lock(id)()
	if err := s.settleClaim(ctx, id); err != nil {
		return err
	}
	s.RLock()
	rec := s.claims[id]
	s.RUnlock()
	if rec == nil {
		return nil
	}
	run, err := s.sagas.Submit(sagaClaim, id, claimPlan{Op: opClaimDelete, Record: *rec})
	if err != nil {
		return fmt.Errorf("release of claim %s: %w", id, err)
	}
	if _, err := s.sagas.Wait(ctx, run.ID); err != nil {
		return s.runErr(ctx, "release of claim", id, run.ID, err)
	}
	return nil
}

// settleClaim waits for a change of the claim in progress, and retries the
// undo of one that failed, before a new change starts.
func (s *Service) settleClaim(ctx context.Context, id string) error {
	retry := "once what blocks it is fixed, DELETE or PUT /v1/zoning/claims/" + id + " again"
	for range 3 {
		waited, err := s.settleRun(ctx, sagaClaim, id, retry)
		if err != nil {
			return err
		}
		if !waited {
			return nil
		}
	}
	return fmt.Errorf("claim %s keeps changing under this request: %w", id, ErrUnavailable)
}

// GetClaim returns one claim; ErrNotFound when there is none.
func (s *Service) GetClaim(owner, key string) (Claim, error) {
	if err := CheckClaimOwner(owner); err != nil {
		return Claim{}, err
	}
	if err := CheckClaimKey(key); err != nil {
		return Claim{}, err
	}
	s.RLock()
	rec := s.claims[claimID(owner, key)]
	if rec == nil {
		rec = s.claimRuns[claimID(owner, key)]
	}
	s.RUnlock()
	if rec == nil {
		return Claim{}, notFound("zoning claim", claimID(owner, key))
	}
	return s.claimView(rec), nil
}

// Claims lists the claims (of one owner when owner is not ""), by owner
// then key.
func (s *Service) Claims(owner string) []Claim {
	s.RLock()
	recs := make([]*claimRecord, 0, len(s.claims)+len(s.claimRuns))
	for _, r := range s.claims {
		if owner == "" || r.Owner == owner {
			recs = append(recs, r)
		}
	}
	for id, r := range s.claimRuns {
		if _, recorded := s.claims[id]; !recorded && (owner == "" || r.Owner == owner) {
			recs = append(recs, r)
		}
	}
	s.RUnlock()
	slices.SortFunc(recs, func(a, b *claimRecord) int {
		if c := strings.Compare(a.Owner, b.Owner); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
	out := make([]Claim, len(recs))
	for i, r := range recs {
		out[i] = s.claimView(r)
	}
	return out
}

// ClaimCount is how many claims there are.
func (s *Service) ClaimCount() int {
	s.RLock()
	defer s.RUnlock()
	return len(s.claims)
}

// claimView is a record as the API shows it: its zones as the switches
// name them, and its state from its last run and the switches' last reads.
func (s *Service) claimView(r *claimRecord) Claim {
	c, _ := s.claimViewGone(r)
	return c
}

// goneZone is a zone of a claim that a fabric's last read misses.
type goneZone struct{ fabric, name string }

// claimViewGone is claimView, with the zones of the claim that the
// fabrics' last reads miss.
func (s *Service) claimViewGone(r *claimRecord) (Claim, []goneZone) {
	c := r.Claim
	c.State, c.LastError = ClaimReady, ""
	if c.Fabrics == nil {
		c.Fabrics = []string{}
	}
	if c.Unreached == nil {
		c.Unreached = []Unreached{}
	}
	var gone []goneZone
	c.Zones, gone = s.claimZones(r)
	if len(gone) > 0 {
		c.State = ClaimDegraded
		c.LastError = "missing from the switch (removed behind sanmob's back?): " + describeGone(gone) +
			"; PUT the claim again, or POST /v1/fabrics/{id}/reconcile?apply=true, puts it back"
	}
	if run, active, err := s.sagas.Active(sagaClaim, r.id()); err == nil && active {
		c.Operation = run.ID
		if run.State == saga.StateFailed {
			c.State, c.LastError = ClaimFailed, run.LastError
		} else {
			c.State, c.LastError = ClaimPending, run.LastError
		}
	}
	return c, gone
}

// claimZones lists the zones that serve a claim, named as on the switches,
// and those the fabrics' last reads show missing.
func (s *Service) claimZones(r *claimRecord) (zones []ClaimZone, gone []goneZone) {
	zones = []ClaimZone{}
	ins := intentsOf(r.Intents)
	for _, fid := range r.Fabrics {
		o, sure := s.lastRead(fid)
		for _, z := range s.zoner.ZonesFor(fid, ins) {
			name, found := zoneOn(o, z)
			if !found && sure {
				gone = append(gone, goneZone{fid, name})
			}
			zones = append(zones, ClaimZone{Fabric: fid, Name: name, Members: slices.Concat(z.Principals, z.Members)})
		}
	}
	return zones, gone
}

func describeGone(gone []goneZone) string {
	out := make([]string, len(gone))
	for i, g := range gone {
		out[i] = "zone " + g.name + " on fabric " + g.fabric
	}
	return strings.Join(out, ", ")
}

// zoneOn finds a desired zone in a fabric's observation by its content:
// the name it has there (a switch keeps the name a zone was committed
// with), and whether it is there.
func zoneOn(o *devices.FabricObs, z fabric.Zone) (name string, found bool) {
	members := slices.Concat(z.Principals, z.Members)
	if o == nil || len(members) == 0 {
		return z.Name, false
	}
	key := fabric.ContentKey(z)
	_, _, pos := o.Port(members[0])
	for _, i := range pos {
		if have := o.DB.Zones[i]; fabric.Owned(have.Name) && fabric.ContentKey(have) == key {
			return have.Name, true
		}
	}
	return z.Name, false
}

// loadClaims reads the claim records and gives the Zoner back the intents
// each holds; a claim run that is not over holds, besides, every intent it
// may have committed or released (the old record's and the new one's), so
// that its resume or its undo finds them held, and no drift check takes its
// zones for orphans meanwhile.
func (s *Service) loadClaims() error {
	recs := map[string]*claimRecord{}
	if err := inventory.LoadKind(s.st, kindClaim, func(r *claimRecord) { recs[r.id()] = r }); err != nil {
		return err
	}
	for _, r := range recs {
		if err := s.zoner.Adopt(r.user(), intentsOf(r.Intents)); err != nil {
			s.log.WithError(err).WithField("claim", r.id()).Warn("zoning claim's intents refused")
		}
	}
	runs, err := s.sagas.List(sagaClaim)
	if err != nil {
		return inventory.StoreErr(err)
	}
	for _, r := range runs {
		if r.State.Terminal() && r.State != saga.StateFailed {
			continue
		}
		var p claimPlan
		if err := json.Unmarshal(r.Data, &p); err != nil {
			return fmt.Errorf("claim run %s: %w", r.ID, err)
		}
		held := p.Record.Intents
		if p.Old != nil {
			held = append(slices.Clip(held), minusIntents(p.Old.Intents, p.Record.Intents)...)
		}
		if err := s.zoner.Adopt(p.Record.user(), intentsOf(held)); err != nil {
			s.log.WithError(err).WithField("operation", r.ID).Warn("claim run's zone intents refused")
		}
		s.observeClaimRun(r)
	}
	s.Lock()
	s.claims = recs
	s.Unlock()
	return nil
}

// observeClaimRun raises OperationFailed while a claim change's undo
// fails (zones may be on a switch that no record explains), and resolves
// it when the run is over.
func (s *Service) observeClaimRun(r saga.Run) {
	var p claimPlan
	if json.Unmarshal(r.Data, &p) != nil {
		return
	}
	// A new claim whose first run is not over has no record yet; the run
	// explains what it may have put on the switches, and the claim shows
	// (pending, or failed) until the run is done or undone.
	s.Lock()
	if p.Op == opClaimPut && p.Old == nil && !(r.State.Terminal() && r.State != saga.StateFailed) {
		rec := p.Record
		s.claimRuns[p.Record.id()] = &rec
	} else {
		delete(s.claimRuns, p.Record.id())
	}
	s.Unlock()
	s.raiseOperationFailed(r, map[string]string{"operation": r.Kind + "/" + p.Op, "owner": p.Record.Owner, "key": p.Record.Key},
		fmt.Sprintf("%s of zoning claim %s could not be undone", p.Op, p.Record.id()))
}
