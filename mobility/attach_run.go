package mobility

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/sanmob/sanmob/errclass"
	"github.com/sanmob/sanmob/fabric/wwn"
	"github.com/sanmob/sanmob/saga"
)

// sagaAttachment is the saga kind of attaches and detaches. Both share it,
// keyed by volume/node, so that at most one of them runs for an attachment.
const sagaAttachment = "attachment"

// Operations of an attachment run.
const (
	opAttach = "attach"
	opDetach = "detach"
)

// attachPlan is an attach or detach run's data: every choice made before
// the first device call, and what the steps learn on the way (LoggedIn).
type attachPlan struct {
	Op             string            `json:"op"`
	Volume         string            `json:"volume"`
	Node           string            `json:"node"`
	NodeKind       string            `json:"nodeKind"`
	Array          string            `json:"array"`
	HostGroup      string            `json:"hostGroup"`
	LUN            int               `json:"lun"`
	Initiators     []wwn.WWN         `json:"initiators"`
	TargetPorts    []wwn.WWN         `json:"targetPorts"`
	Fabrics        []string          `json:"fabrics"`
	Intents        []intentRecord    `json:"intents"`
	PublishContext map[string]string `json:"publishContext"`
	CreatedAt      time.Time         `json:"createdAt"`
	// MappedBefore: the volume was masked to the host group before this
	// attach, so undoing the attach leaves the mask.
	MappedBefore bool `json:"mappedBefore,omitempty"`
	// LoggedIn are the vports the login step logged in (saved before each
	// login), which its undo logs out again.
	LoggedIn []wwn.WWN `json:"loggedIn,omitempty"`
}

func (p *attachPlan) key() string { return attachKey(p.Volume, p.Node) }

func (p *attachPlan) attachment() Attachment {
	return Attachment{Volume: p.Volume, Node: p.Node, NodeKind: p.NodeKind, Array: p.Array, LUN: p.LUN,
		HostGroup: p.HostGroup, Fabrics: p.Fabrics, CreatedAt: p.CreatedAt, PublishContext: p.PublishContext}
}

func (p *attachPlan) record() attachRecord {
	return attachRecord{Attachment: p.attachment(), Intents: p.Intents, Initiators: p.Initiators, TargetPorts: p.TargetPorts}
}

// Attach presents a volume to a node: masks it on its array (host group of
// the node's initiators, the volume's stable LUN id), zones every fabric the
// initiators sit on through the Zoner, and logs a VM's active vports in. It
// decides everything from the observed devices first, then runs the change
// as a saga run (see attachSteps): the run's record is on disk before the
// first device call, a transient error is retried, a final one undoes what
// was done, and a crash resumes it at the next start. Attach waits for the
// run; when ctx ends first the run goes on and Attach returns a transient
// error (the caller retries and finds it done). Idempotent. The LUN id is
// the volume's own wherever the node has it free, else the node's lowest
// free one (the attachment says which). Errors: ErrNotFound (volume, node),
// ErrConflict (attached to another node and not MultiNode; another site; no
// target port on the node's fabrics), ErrUnavailable, and the device's own
// error (its words and class) when a step failed for good.
func (s *Service) Attach(ctx context.Context, spec AttachmentSpec) (Attachment, error) {
	if spec.Volume == "" {
		return Attachment{}, invalid("volume", "required")
	}
	if spec.Node == "" {
		return Attachment{}, invalid("node", "required")
	}
	defer s.volLocks.Lock(spec.Volume)()
	key := attachKey(spec.Volume, spec.Node)
	if at, done, err := s.settle(ctx, key, opAttach); done || err != nil {
		return at, err
	}
	p, err := s.planAttach(spec)
	if err != nil {
		return Attachment{}, err
	}
	run, err := s.sagas.Submit(sagaAttachment, key, p)
	if err != nil {
		s.reserve(p.Array+"/"+p.HostGroup, p.LUN, "")
		return Attachment{}, fmt.Errorf("attach %s: %w", key, err)
	}
	if _, err := s.sagas.Wait(ctx, run.ID); err != nil {
		return Attachment{}, s.runErr(ctx, opAttach, key, run.ID, err)
	}
	s.RLock()
	rec, ok := s.attachments[key]
	s.RUnlock()
	if !ok || rec.State != StateAttached {
		return Attachment{}, fmt.Errorf("attach %s ended without an attachment: %w", key, ErrConflict)
	}
	return rec.Attachment, nil
}

// runErr is the error of a run Wait gave up on: still in progress when the
// caller's context ended (transient: ask again), else the run's own error,
// which keeps the failed step's error, its words and its class.
func (s *Service) runErr(ctx context.Context, op, key, id string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s of %s is still in progress (operation %s); ask again: %w", op, key, id, ErrUnavailable)
	}
	var re *saga.RunError
	if errors.As(err, &re) && re.State == saga.StateFailed {
		// Over, and not undone: the same answer as every later request
		// gets (see failedErr).
		undo := errclass.Of(re.UndoErr)
		return errclass.Wrap(undo, fmt.Errorf("%s of %s failed and could not be undone; asking again retries the undo: %w: %w",
			op, key, err, failedClass(undo)))
	}
	return err
}

// failedClass is the sentinel a request on a failed run answers with: the
// undo's own class decides. An undo kept from finishing by a busy or
// unreachable device is transient — asking again later retries it, and may
// well succeed (503, CSI Unavailable); one a device refuses needs a person
// first (409, CSI FailedPrecondition), and a quick retry would only hammer.
func failedClass(undo errclass.Class) error {
	if undo == errclass.Transient {
		return ErrUnavailable
	}
	return ErrConflict
}

// undoClass is the class of the error that keeps a failed run's undo from
// finishing, as its record says.
func undoClass(r saga.Run) errclass.Class {
	for _, st := range r.Steps {
		if st.State == saga.StepFailed && st.ErrorClass == errclass.Transient.String() {
			return errclass.Transient
		}
	}
	return errclass.Final
}

// settle looks at what is there for key before a new operation op starts:
// an attached attachment answers an attach at once, a missing one a detach
// (done); a run in progress is waited for; a failed one is retried (its
// undo), so that what a person fixed is cleaned up before anything else.
func (s *Service) settle(ctx context.Context, key, op string) (Attachment, bool, error) {
	retry := "once what blocks it is fixed, DELETE /v1/attachments/" + key + " (or attach again)"
	for range 3 {
		waited, err := s.settleRun(ctx, sagaAttachment, key, retry)
		if err != nil {
			return Attachment{}, true, err
		}
		if waited {
			continue // look again: another request may have started one
		}
		s.RLock()
		rec, ok := s.attachments[key]
		s.RUnlock()
		switch {
		case op == opAttach && ok && rec.State == StateAttached:
			return rec.Attachment, true, nil
		case op == opDetach && !ok:
			return Attachment{}, true, nil
		}
		return Attachment{}, false, nil
	}
	return Attachment{}, true, fmt.Errorf("%s keeps changing under this request: %w", key, ErrUnavailable)
}

// planAttach decides an attach from the volume and node records and the
// array's last observation: host group, LUN id (reserved at once, so that
// concurrent attaches to a host group never choose the same), target ports
// and zone intents.
func (s *Service) planAttach(spec AttachmentSpec) (attachPlan, error) {
	s.RLock()
	v, ok := s.VolumeLocked(spec.Volume)
	s.RUnlock()
	if !ok {
		return attachPlan{}, notFound("volume", spec.Volume)
	}
	n, err := s.nodeOf(spec.Node)
	if err != nil {
		return attachPlan{}, err
	}
	for _, at := range s.Attachments(spec.Volume) {
		if at.Node != spec.Node && !v.MultiNode {
			return attachPlan{}, fmt.Errorf("volume %s is attached to %s and is not multi-node: %w", v.ID, at.Node, ErrConflict)
		}
	}
	a := s.arrays[v.Array]
	if a == nil || v.Missing {
		return attachPlan{}, fmt.Errorf("volume %s is not on a known array: %w", v.ID, ErrConflict)
	}
	if a.Site != n.site {
		return attachPlan{}, fmt.Errorf("volume %s is at site %s, %s %s at site %s; storage is presented within a site: %w", v.ID, a.Site, n.kind, n.id, n.site, ErrConflict)
	}
	o := a.Obs.Load() // one observation for every choice below
	if o == nil {
		return attachPlan{}, fmt.Errorf("array %s has not been read: %w", a.ID, ErrUnavailable)
	}
	hg, had, hgMaps := hostGroupOf(n, o)
	// A group's target ports are shared by its volumes (a masking view's
	// are): the attach presents through the ports the group has where it
	// has some, so that the node's other volumes keep theirs.
	var groupPorts []wwn.WWN
	if len(hgMaps) > 0 {
		groupPorts = o.Mappings[hgMaps[0]].TargetPorts
	}
	targets, err := s.targetsFor(n, a, o, groupPorts)
	if err != nil {
		return attachPlan{}, err
	}
	defer s.hgLocks.Lock(a.ID + "/" + hg)()
	lun := s.lunFor(v, a.ID, o, hg, hgMaps)
	if lun < 0 {
		return attachPlan{}, fmt.Errorf("host group %s has no free LUN id: %w", hg, ErrConflict)
	}
	p := attachPlan{Op: opAttach, Volume: v.ID, Node: n.id, NodeKind: n.kind, Array: a.ID, HostGroup: hg, LUN: lun, CreatedAt: s.clk.Now()}
	var picked []wwn.WWN
	for _, fid := range sortedKeys(targets) {
		p.Fabrics = append(p.Fabrics, fid)
		picked = append(picked, targets[fid]...)
	}
	p.TargetPorts = union(picked, groupPorts) // the group keeps the ports it had
	p.Intents = zoneIntents(n, targets, a.ID)
	for _, fid := range sortedKeys(n.initiators) {
		p.Initiators = append(p.Initiators, n.initiators[fid]...)
	}
	for _, w := range had { // the group keeps whom it had
		if !slices.Contains(p.Initiators, w) {
			p.Initiators = append(p.Initiators, w)
		}
	}
	p.MappedBefore = slices.ContainsFunc(hgMaps, func(mi int32) bool { return o.Mappings[mi].Volume == v.ID })
	p.PublishContext = publishContext(v, lun, picked, p.Fabrics)
	s.reserve(a.ID+"/"+hg, lun, v.ID)
	return p, nil
}

// Detach undoes Attach as a saga run: the map goes, then the zones only
// this attachment needed (the Zoner keeps those other attachments hold),
// then the record; a final error puts back what went. A failed attachment
// is first undone (its run retried). Detaching what is not attached is
// fine; ErrNotFound for an unknown volume or node.
func (s *Service) Detach(ctx context.Context, volume, nodeID string) error {
	defer s.volLocks.Lock(volume)()
	key := attachKey(volume, nodeID)
	s.RLock()
	_, vok := s.VolumeLocked(volume)
	_, attached := s.attachments[key]
	_, hok := s.HostLocked(nodeID)
	_, mok := s.VMLocked(nodeID)
	s.RUnlock()
	switch {
	case attached:
	case !vok:
		return notFound("volume", volume)
	case !hok && !mok:
		return notFound("node (host or vm)", nodeID)
	}
	if _, done, err := s.settle(ctx, key, opDetach); done || err != nil {
		return err
	}
	s.RLock()
	rec, ok := s.attachments[key]
	s.RUnlock()
	if !ok {
		return nil
	}
	p := attachPlan{Op: opDetach, Volume: rec.Volume, Node: rec.Node, NodeKind: rec.NodeKind, Array: rec.Array,
		HostGroup: rec.HostGroup, LUN: rec.LUN, Fabrics: rec.Fabrics, Intents: rec.Intents,
		Initiators: rec.Initiators, TargetPorts: rec.TargetPorts, PublishContext: rec.PublishContext, CreatedAt: rec.CreatedAt}
	if len(p.Initiators) == 0 || len(p.TargetPorts) == 0 {
		// A record written before attachments kept their map: the undo of
		// the unmask (a re-map) needs it, so rebuild it as Attach made it.
		p.Initiators, p.TargetPorts = s.mapOfOldRecord(rec)
	}
	run, err := s.sagas.Submit(sagaAttachment, key, p)
	if err != nil {
		return fmt.Errorf("detach %s: %w", key, err)
	}
	if _, err := s.sagas.Wait(ctx, run.ID); err != nil {
		return s.runErr(ctx, opDetach, key, run.ID, err)
	}
	return nil
}

// mapOfOldRecord rebuilds the initiators and target ports of an attachment
// recorded before records kept them: the node's initiators and the targets
// of its zone intents, in the order Attach uses.
func (s *Service) mapOfOldRecord(rec *attachRecord) (inits, targets []wwn.WWN) {
	if n, err := s.nodeOf(rec.Node); err == nil {
		for _, fid := range sortedKeys(n.initiators) {
			inits = append(inits, n.initiators[fid]...)
		}
	}
	for _, in := range rec.Intents {
		if !slices.Contains(targets, in.Target) {
			targets = append(targets, in.Target)
		}
	}
	return inits, targets
}
