package sqlstore

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/orchestration"
	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/store"
)

// Deployment concurrency. A deployment's concurrency_limit is enforced by
// the v2 limit "deployment:<id>" (deployment.concurrency_limit_id), kept in
// step with the deployment by syncDeploymentLimit, so the lease routes and
// the repossessor treat it like any other limit.
//
// SetFlowRunState loads what the rules read (loadDeploymentConcurrency) with
// the limit row locked, so the slot count the rules see cannot change before
// the effects they ask for are applied (applyDeploymentEffects) in the same
// transaction. The increment and the renewal are still conditional UPDATEs:
// should one find the facts changed after all, the store decides again with
// the facts corrected (no slot, or no live lease) rather than fail.

// deploymentWaits are the slot-wait caps used for the denied-slot decay of
// deployment limits: Prefect's defaults (deployment limits only ever count
// active slots, so they matter little).
var deploymentWaits = store.SlotWaits{Tag: 10, Max: 30}

// deploymentLease is what loadDeploymentConcurrency found: the facts for
// the rules and the locked limit the effects apply to.
type deploymentLease struct {
	facts *orchestration.DeploymentConcurrency
	limit *limitRow
}

// loadDeploymentConcurrency reads the run's deployment concurrency, locking
// the deployment's limit. A lease of the run's current state that has
// expired but not yet been reaped is reaped first, as the repossessor would,
// so that its slot counts as free.
func (s *Store) loadDeploymentConcurrency(ctx context.Context, c conn, run schema.FlowRun) (deploymentLease, error) {
	if run.DeploymentID == nil {
		return deploymentLease{}, nil
	}
	var limitID *uuid.UUID
	var options *schema.ConcurrencyOptions
	err := classify(c.queryRow(ctx, `SELECT concurrency_limit_id, concurrency_options FROM deployment WHERE id = ?`,
		*run.DeploymentID).Scan(nullUUID{&limitID}, jsonInto{&options}))
	if errors.Is(err, schema.ErrNotFound) {
		return deploymentLease{facts: &orchestration.DeploymentConcurrency{Missing: true}}, nil
	}
	if err != nil {
		return deploymentLease{}, err
	}
	facts := &orchestration.DeploymentConcurrency{}
	out := deploymentLease{facts: facts}
	if options != nil {
		facts.CollisionStrategy, facts.GracePeriodSeconds = options.CollisionStrategy, options.GracePeriodSeconds
	}
	if limitID == nil {
		return out, nil
	}
	now := s.clock()
	var lease *uuid.UUID
	if run.State != nil {
		lease = run.State.StateDetails.DeploymentConcurrencyLeaseID
	}
	if lease != nil {
		if _, err := s.releaseLease(ctx, c, *lease, deploymentWaits, true); err != nil {
			return out, err
		}
	}
	limits, err := s.lockLimits(ctx, c, true, []string{limitID.String()})
	if err != nil || len(limits) == 0 || !limits[0].Active {
		return out, err
	}
	l := limits[0]
	out.limit = &l
	facts.Limit = &l.Limit
	n, _ := l.decayedActive(now)
	facts.SlotAvailable = n+1 <= l.Limit
	if lease != nil {
		var expiration time.Time
		err := classify(c.queryRow(ctx, `SELECT expiration FROM concurrency_lease WHERE id = ?`, *lease).Scan(ts(&expiration)))
		switch {
		case err == nil:
			facts.LeaseAlive = expiration.After(now)
		case !errors.Is(err, schema.ErrNotFound):
			return out, err
		}
	}
	return out, nil
}

// applyDeploymentEffects makes the changes the rules asked for. It returns
// false, having changed nothing, when the acquisition or renewal found the
// facts different from what was loaded; d.facts then holds the corrected
// facts to decide again with.
func (s *Store) applyDeploymentEffects(ctx context.Context, c conn, run schema.FlowRun, d deploymentLease, e orchestration.DeploymentEffects) (bool, error) {
	now := s.clock()
	if a := e.Acquire; a != nil {
		if d.limit == nil {
			return false, errors.New("deployment slot requested without a locked limit")
		}
		n, nAsOf := d.limit.decayedActive(now)
		decayed := d.limit.ActiveSlots - n
		r, err := c.exec(ctx, `UPDATE concurrency_limit_v2 SET active_slots = active_slots - ? + 1, active_slots_as_of = ?, updated = ?
			WHERE id = ? AND active AND active_slots - ? + 1 <= "limit"`, decayed, nAsOf, now, d.limit.ID, decayed)
		if err != nil {
			return false, err
		}
		if n, _ := r.RowsAffected(); n != 1 {
			d.facts.SlotAvailable = false
			return false, nil
		}
		holder := &schema.ConcurrencyLeaseHolder{Type: "flow_run", ID: run.ID}
		if err := insertLease(ctx, c, store.ConcurrencyLease{ID: a.LeaseID, Created: now, Expiration: now.Add(a.TTL),
			Slots: 1, Holder: holder, LimitIDs: []uuid.UUID{d.limit.ID}}); err != nil {
			return false, err
		}
	}
	if rn := e.Renew; rn != nil {
		r, err := c.exec(ctx, `UPDATE concurrency_lease SET expiration = ? WHERE id = ? AND expiration > ?`, now.Add(rn.TTL), rn.LeaseID, now)
		if err != nil {
			return false, err
		}
		if n, _ := r.RowsAffected(); n != 1 {
			d.facts.LeaseAlive = false
			return false, nil
		}
	}
	if e.Pin != nil {
		if _, err := c.exec(ctx, `UPDATE concurrency_lease SET expiration = ? WHERE id = ?`, now.Add(100*365*24*time.Hour), *e.Pin); err != nil {
			return false, err
		}
	}
	if e.Release != nil {
		if _, err := s.releaseLease(ctx, c, *e.Release, deploymentWaits, false); err != nil {
			return false, err
		}
	}
	return true, nil
}

// deploymentLimitName is the name of the v2 limit enforcing a deployment's
// concurrency_limit.
func deploymentLimitName(id uuid.UUID) string { return "deployment:" + id.String() }

// syncDeploymentLimit makes the deployment's v2 limit match its
// concurrency_limit: created (or adopted, if one by that name exists) when
// set, its limit updated when changed, deleted when unset.
func (s *Store) syncDeploymentLimit(ctx context.Context, c conn, id uuid.UUID) error {
	var limit *int
	var limitID *uuid.UUID
	if err := classify(c.queryRow(ctx, `SELECT concurrency_limit, concurrency_limit_id FROM deployment WHERE id = ?`, id).
		Scan(nullInt{&limit}, nullUUID{&limitID})); err != nil {
		return err
	}
	now := s.clock()
	if limit == nil {
		if limitID == nil {
			return nil
		}
		if _, err := c.exec(ctx, `DELETE FROM concurrency_limit_v2 WHERE id = ?`, *limitID); err != nil {
			return err
		}
		_, err := c.exec(ctx, `UPDATE deployment SET concurrency_limit_id = NULL WHERE id = ?`, id)
		return err
	}
	if limitID != nil {
		r, err := c.exec(ctx, `UPDATE concurrency_limit_v2 SET "limit" = ?, updated = ? WHERE id = ?`, *limit, now, *limitID)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 1 {
			return nil
		}
	}
	// None yet (or it was deleted through the v2 routes): adopt one by the
	// deployment's name, or create it.
	var existing uuid.UUID
	err := classify(c.queryRow(ctx, `SELECT id FROM concurrency_limit_v2 WHERE name = ?`, deploymentLimitName(id)).Scan(&existing))
	switch {
	case err == nil:
		if _, err := c.exec(ctx, `UPDATE concurrency_limit_v2 SET "limit" = ?, updated = ? WHERE id = ?`, *limit, now, existing); err != nil {
			return err
		}
	case errors.Is(err, schema.ErrNotFound):
		existing = uuid.Must(uuid.NewV7())
		if err := insertLimit(ctx, c, schema.ConcurrencyLimitV2{ID: existing, Created: now, Updated: now, Active: true,
			Name: deploymentLimitName(id), Limit: *limit, AvgSlotOccupancySeconds: 2}); err != nil {
			return err
		}
	default:
		return err
	}
	_, err = c.exec(ctx, `UPDATE deployment SET concurrency_limit_id = ? WHERE id = ?`, existing, id)
	return err
}

// deleteDeploymentLimit deletes the v2 limit of a deployment being deleted.
func deleteDeploymentLimit(ctx context.Context, c conn, id uuid.UUID) error {
	_, err := c.exec(ctx, `DELETE FROM concurrency_limit_v2 WHERE id IN (SELECT concurrency_limit_id FROM deployment WHERE id = ?)`, id)
	return err
}
