package sqlstore

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

// A deployment's schedules, and the scheduled runs they leave behind when
// they change.

const scheduleColumns = `deployment_schedule.id, deployment_schedule.created, deployment_schedule.updated,
	deployment_schedule.deployment_id, deployment_schedule.schedule, deployment_schedule.active,
	deployment_schedule.max_scheduled_runs, deployment_schedule.parameters, deployment_schedule.slug`

func scanSchedule(row scanner) (schema.DeploymentSchedule, error) {
	var sc schema.DeploymentSchedule
	var raw json.RawMessage
	err := row.Scan(&sc.ID, ts(&sc.Created), ts(&sc.Updated), nullUUID{&sc.DeploymentID}, jsonCol{&raw},
		&sc.Active, nullInt{&sc.MaxScheduledRuns}, jsonCol{&sc.Parameters}, nullString{&sc.Slug})
	if err != nil {
		return sc, classify(err)
	}
	if err := json.Unmarshal(raw, &sc.Schedule); err != nil {
		return sc, err
	}
	// A stored schedule is already normalized; this only types its fields.
	_ = sc.Schedule.Normalize("schedule", sc.Created)
	if len(sc.Parameters) == 0 {
		sc.Parameters = json.RawMessage(`{}`)
	}
	return sc, nil
}

// insertSchedules adds schedules to a deployment.
func (s *Store) insertSchedules(ctx context.Context, c conn, depID uuid.UUID, in []schema.DeploymentScheduleCreate) ([]schema.DeploymentSchedule, error) {
	out := make([]schema.DeploymentSchedule, 0, len(in))
	// One timestamp for the batch: listed most recently updated first, the
	// schedules of one write keep the order they were sent in.
	now := s.clock()
	for _, sc := range in {
		active := true
		if sc.Active != nil {
			active = *sc.Active
		}
		params := sc.Parameters
		if len(params) == 0 || string(params) == "null" {
			params = json.RawMessage(`{}`)
		}
		row := schema.DeploymentSchedule{ID: uuid.Must(uuid.NewV7()), Created: now, Updated: now, DeploymentID: &depID,
			Schedule: sc.Schedule, Active: active, MaxScheduledRuns: sc.MaxScheduledRuns, Parameters: params, Slug: sc.Slug}
		if _, err := c.exec(ctx, `INSERT INTO deployment_schedule (id, created, updated, deployment_id, schedule, active,
			max_scheduled_runs, parameters, slug) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			row.ID, now, now, depID, mustJSON(row.Schedule), active, sc.MaxScheduledRuns, params, sc.Slug); err != nil {
			var conflict *schema.ConflictError
			if errors.As(err, &conflict) && sc.Slug != nil {
				return nil, &schema.ConflictError{Msg: "Schedule slugs must be unique within a deployment."}
			}
			return nil, err
		}
		out = append(out, row)
	}
	return out, nil
}

// runSelection says which of a deployment's SCHEDULED, never-run runs a
// write deletes.
type runSelection struct {
	autoOnly   bool       // only auto-scheduled runs
	futureOnly bool       // only runs scheduled after now
	scheduleID *uuid.UUID // only the runs of this schedule (by idempotency key)
}

// deleteScheduledRuns deletes a deployment's runs that are SCHEDULED and
// have never run, except those waiting for a concurrency slot.
func (s *Store) deleteScheduledRuns(ctx context.Context, c conn, depID uuid.UUID, sel runSelection) error {
	w := newWhere(s.d)
	w.add("flow_run.deployment_id = ?", depID)
	w.add("flow_run.state_type = ?", string(schema.StateScheduled))
	w.add("(flow_run.state_name IS NULL OR flow_run.state_name <> ?)", awaitingConcurrencySlot)
	w.add("flow_run.run_count = 0")
	if sel.autoOnly {
		w.add("flow_run.auto_scheduled = ?", true)
	}
	if sel.futureOnly {
		w.add("flow_run.next_scheduled_start_time > ?", s.clock())
	}
	if sel.scheduleID != nil {
		// The scheduler's idempotency key: "scheduled {deployment} {schedule} {date}".
		w.add("flow_run.idempotency_key LIKE ?", "scheduled "+depID.String()+" "+sel.scheduleID.String()+" %")
	}
	if err := deleteTaskRunsOf(ctx, c, `SELECT flow_run.id FROM flow_run WHERE `+w.sql(), w.args...); err != nil {
		return err
	}
	_, err := c.exec(ctx, `DELETE FROM flow_run WHERE `+w.sql(), w.args...)
	return err
}

// applyScheduleUpdates replaces a deployment's schedules, or updates them by slug.
func (s *Store) applyScheduleUpdates(ctx context.Context, c conn, cur schema.Deployment, sent []schema.DeploymentScheduleUpdate) error {
	if !schema.SchedulesBySlug(cur.Schedules, sent) {
		if _, err := c.exec(ctx, `DELETE FROM deployment_schedule WHERE deployment_id = ?`, cur.ID); err != nil {
			return err
		}
		var creates []schema.DeploymentScheduleCreate
		for _, sc := range sent {
			if sc.Schedule == nil {
				continue
			}
			creates = append(creates, schema.DeploymentScheduleCreate{Active: sc.Active, Schedule: *sc.Schedule,
				MaxScheduledRuns: sc.MaxScheduledRuns, Parameters: sc.Parameters, Slug: sc.Slug})
		}
		_, err := s.insertSchedules(ctx, c, cur.ID, creates)
		return err
	}
	bySlug := map[string]uuid.UUID{}
	for _, sc := range cur.Schedules {
		bySlug[*sc.Slug] = sc.ID
	}
	// Renamed schedules first lose their old slug, so the new slugs never
	// collide with them in the unique index.
	targets := make([]*uuid.UUID, len(sent))
	for i, sc := range sent {
		target := *sc.Slug
		if sc.Replaces != nil && *sc.Replaces != "" {
			target = *sc.Replaces
		}
		if id, ok := bySlug[target]; ok {
			targets[i] = &id
			if target != *sc.Slug {
				if _, err := c.exec(ctx, `UPDATE deployment_schedule SET slug = NULL WHERE id = ?`, id); err != nil {
					return err
				}
			}
		}
	}
	var creates []schema.DeploymentScheduleCreate
	for i, sc := range sent {
		if targets[i] == nil {
			if sc.Schedule != nil {
				creates = append(creates, schema.DeploymentScheduleCreate{Active: sc.Active, Schedule: *sc.Schedule,
					MaxScheduledRuns: sc.MaxScheduledRuns, Parameters: sc.Parameters, Slug: sc.Slug})
			}
			continue
		}
		if err := s.updateSchedule(ctx, c, *targets[i], sc); err != nil {
			return err
		}
	}
	_, err := s.insertSchedules(ctx, c, cur.ID, creates)
	return err
}

func (s *Store) updateSchedule(ctx context.Context, c conn, id uuid.UUID, u schema.DeploymentScheduleUpdate) error {
	var up update
	if u.Schedule != nil {
		up.set("schedule", mustJSON(*u.Schedule))
	}
	if u.Active != nil {
		up.set("active", *u.Active)
	}
	if u.MaxScheduledRuns != nil {
		up.set("max_scheduled_runs", *u.MaxScheduledRuns)
	}
	if len(u.Parameters) > 0 {
		up.set("parameters", u.Parameters)
	}
	if u.Slug != nil {
		up.set("slug", *u.Slug)
	}
	up.set("updated", s.clock())
	res, err := up.exec(ctx, c, "deployment_schedule", "id = ?", id)
	if err != nil {
		var conflict *schema.ConflictError
		if errors.As(err, &conflict) {
			return &schema.ConflictError{Msg: "Schedule slugs must be unique within a deployment."}
		}
		return err
	}
	return mustDelete(res, nil)
}

// ReadDeploymentSchedules lists a deployment's schedules.
func (s *Store) ReadDeploymentSchedules(ctx context.Context, depID uuid.UUID) ([]schema.DeploymentSchedule, error) {
	d, err := s.ReadDeployment(ctx, depID)
	if err != nil {
		return nil, err
	}
	return d.Schedules, nil
}

// CreateDeploymentSchedules adds schedules to a deployment.
func (s *Store) CreateDeploymentSchedules(ctx context.Context, depID uuid.UUID, in []schema.DeploymentScheduleCreate) ([]schema.DeploymentSchedule, error) {
	var out []schema.DeploymentSchedule
	err := s.tx(ctx, func(ctx context.Context, c conn) error {
		if err := mustDelete(c.exec(ctx, `UPDATE deployment SET updated = ? WHERE id = ?`, s.clock(), depID)); err != nil {
			return err
		}
		var err error
		out, err = s.insertSchedules(ctx, c, depID, in)
		return err
	})
	return out, err
}

// UpdateDeploymentSchedule changes one schedule and drops its future runs.
func (s *Store) UpdateDeploymentSchedule(ctx context.Context, depID, schedID uuid.UUID, u schema.DeploymentScheduleUpdate) error {
	return s.tx(ctx, func(ctx context.Context, c conn) error {
		if err := s.touchDeploymentOf(ctx, c, depID, schedID); err != nil {
			return err
		}
		if err := s.updateSchedule(ctx, c, schedID, u); err != nil {
			return err
		}
		return s.deleteScheduledRuns(ctx, c, depID, runSelection{autoOnly: true, futureOnly: true, scheduleID: &schedID})
	})
}

// DeleteDeploymentSchedule deletes one schedule and its future runs.
func (s *Store) DeleteDeploymentSchedule(ctx context.Context, depID, schedID uuid.UUID) error {
	return s.tx(ctx, func(ctx context.Context, c conn) error {
		if err := s.touchDeploymentOf(ctx, c, depID, schedID); err != nil {
			return err
		}
		if _, err := c.exec(ctx, `DELETE FROM deployment_schedule WHERE id = ?`, schedID); err != nil {
			return err
		}
		return s.deleteScheduledRuns(ctx, c, depID, runSelection{autoOnly: true, futureOnly: true, scheduleID: &schedID})
	})
}

// touchDeploymentOf checks that the schedule belongs to the deployment and
// marks the deployment updated, so the scheduler reschedules it soon.
func (s *Store) touchDeploymentOf(ctx context.Context, c conn, depID, schedID uuid.UUID) error {
	err := mustDelete(c.exec(ctx, `UPDATE deployment SET updated = ? WHERE id = ?`, s.clock(), depID))
	if errors.Is(err, schema.ErrNotFound) {
		return &schema.NotFoundError{Detail: "Deployment not found."}
	}
	if err != nil {
		return err
	}
	var n int
	if err := c.queryRow(ctx, `SELECT count(*) FROM deployment_schedule WHERE id = ? AND deployment_id = ?`, schedID, depID).Scan(&n); err != nil {
		return classify(err)
	}
	if n == 0 {
		return &schema.NotFoundError{Detail: "Schedule not found."}
	}
	return nil
}
