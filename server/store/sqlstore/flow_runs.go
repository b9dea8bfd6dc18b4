package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"time"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/orchestration"
	"prefectgo.dev/prefectgo/server/schema"
)

const flowRunColumns = `flow_run.id, flow_run.created, flow_run.updated, flow_run.name, flow_run.flow_id,
	flow_run.state_id, flow_run.deployment_id, flow_run.deployment_version, flow_run.work_queue_id,
	flow_run.work_queue_name, flow_run.work_pool_id, flow_run.work_pool_name, flow_run.flow_version,
	flow_run.parameters, flow_run.idempotency_key, flow_run.context, flow_run.empirical_policy,
	flow_run.tags, flow_run.labels, flow_run.parent_task_run_id, flow_run.state_type, flow_run.state_name,
	flow_run.run_count, flow_run.expected_start_time, flow_run.next_scheduled_start_time,
	flow_run.start_time, flow_run.end_time, flow_run.total_run_time, flow_run.auto_scheduled,
	flow_run.infrastructure_document_id, flow_run.infrastructure_pid, flow_run.created_by,
	flow_run.job_variables, ` + stateColumns

const flowRunFrom = ` FROM flow_run LEFT JOIN flow_run_state st ON st.id = flow_run.state_id`

func scanFlowRun(row scanner) (schema.FlowRun, error) {
	var r schema.FlowRun
	var st stateScan
	var stateType *string
	dest := []any{&r.ID, ts(&r.Created), ts(&r.Updated), &r.Name, &r.FlowID,
		nullUUID{&r.StateID}, nullUUID{&r.DeploymentID}, nullString{&r.DeploymentVersion}, nullUUID{&r.WorkQueueID},
		nullString{&r.WorkQueueName}, nullUUID{&r.WorkPoolID}, nullString{&r.WorkPoolName}, nullString{&r.FlowVersion},
		jsonCol{&r.Parameters}, nullString{&r.IdempotencyKey}, jsonCol{&r.Context}, jsonInto{&r.EmpiricalPolicy},
		jsonInto{&r.Tags}, jsonCol{&r.Labels}, nullUUID{&r.ParentTaskRunID}, nullString{&stateType}, nullString{&r.StateName},
		&r.RunCount, nullTime{&r.ExpectedStartTime}, nullTime{&r.NextScheduledStartTime},
		nullTime{&r.StartTime}, nullTime{&r.EndTime}, &r.TotalRunTime, &r.AutoScheduled,
		nullUUID{&r.InfrastructureDocumentID}, nullString{&r.InfrastructurePID}, jsonInto{&r.CreatedBy},
		jsonCol{&r.JobVariables}}
	if err := row.Scan(append(dest, st.dest()...)...); err != nil {
		return r, classify(err)
	}
	if stateType != nil {
		t := schema.StateType(*stateType)
		r.StateType = &t
	}
	r.EmpiricalPolicy.Normalize()
	r.Tags = nonNil(r.Tags)
	var err error
	r.State, err = st.state()
	return r, err
}

// CreateFlowRun inserts a run with its initial state, or returns the run
// already holding the same idempotency key.
func (s *Store) CreateFlowRun(ctx context.Context, run schema.FlowRun) (schema.FlowRun, bool, error) {
	var out schema.FlowRun
	created := false
	err := s.tx(ctx, func(ctx context.Context, c conn) error {
		if run.IdempotencyKey != nil {
			existing, err := scanFlowRun(c.queryRow(ctx, `SELECT `+flowRunColumns+flowRunFrom+` WHERE flow_run.flow_id = ? AND flow_run.idempotency_key = ?`, run.FlowID, *run.IdempotencyKey))
			if err == nil {
				out = existing
				return nil
			}
			if !errors.Is(err, schema.ErrNotFound) {
				return err
			}
		}
		now := s.clock()
		run.Created, run.Updated = now, now
		// The row is written with its state's fields, which a new run's
		// state keeps: no other state of the run can share its timestamp.
		if _, err := c.exec(ctx, `INSERT INTO flow_run (`+flowRunInsertColumns+`) VALUES `+valuesRows(1, flowRunInsertWidth),
			s.flowRunRows([]schema.FlowRun{run}, now)[0]...); err != nil {
			return err
		}
		if run.State != nil {
			st, err := insertState(ctx, c, "flow_run_state", "flow_run_id", run.ID, *run.State, now)
			if err != nil {
				return err
			}
			run.State = &st
			run.StateID = &st.ID
		}
		created = true
		out = run
		return nil
	})
	return out, created, err
}

// flowRunInsertColumns are the columns a new run is inserted with: the run
// with its current state's bookkeeping, so that one statement writes it whole.
const flowRunInsertColumns = `id, created, updated, name, flow_id, deployment_id, deployment_version, work_queue_id,
	work_queue_name, work_pool_id, work_pool_name, flow_version, parameters, idempotency_key, context, empirical_policy,
	tags, labels, parent_task_run_id, auto_scheduled, infrastructure_document_id, infrastructure_pid, created_by,
	job_variables, run_count, expected_start_time, next_scheduled_start_time, start_time, end_time, total_run_time, ` +
	runStateColumns

var flowRunInsertWidth = strings.Count(flowRunInsertColumns, ",") + 1

// flowRunRows are the flow_run rows of new runs, in flowRunInsertColumns.
func (s *Store) flowRunRows(runs []schema.FlowRun, now time.Time) [][]any {
	rows := make([][]any, len(runs))
	for i, r := range runs {
		rows[i] = s.row(append([]any{r.ID, now, now, r.Name, r.FlowID, r.DeploymentID, r.DeploymentVersion, r.WorkQueueID,
			r.WorkQueueName, r.WorkPoolID, r.WorkPoolName, r.FlowVersion, orEmpty(r.Parameters), r.IdempotencyKey,
			orEmpty(r.Context), mustJSON(r.EmpiricalPolicy), mustJSON(nonNil(r.Tags)), orEmpty(r.Labels),
			r.ParentTaskRunID, r.AutoScheduled, r.InfrastructureDocumentID, r.InfrastructurePID, createdByJSON(r.CreatedBy),
			orEmpty(r.JobVariables), r.RunCount, r.ExpectedStartTime, r.NextScheduledStartTime, r.StartTime, r.EndTime,
			r.TotalRunTime}, runStateValues(r.State)...)...)
	}
	return rows
}

func createdByJSON(c *schema.CreatedBy) json.RawMessage {
	if c == nil {
		return nil
	}
	return mustJSON(c)
}

// writeFlowRunBookkeeping stores the run's new state and, of the fields the
// orchestration transforms keep, those that changed from was (setChanged).
func (s *Store) writeFlowRunBookkeeping(ctx context.Context, c conn, was, run schema.FlowRun) error {
	var up update
	up.setState(run.State)
	up.setChanged("run_count", was.RunCount, run.RunCount)
	up.setChanged("expected_start_time", was.ExpectedStartTime, run.ExpectedStartTime)
	up.setChanged("next_scheduled_start_time", was.NextScheduledStartTime, run.NextScheduledStartTime)
	up.setChanged("start_time", was.StartTime, run.StartTime)
	up.setChanged("end_time", was.EndTime, run.EndTime)
	up.setChanged("total_run_time", was.TotalRunTime, run.TotalRunTime)
	if !reflect.DeepEqual(run.EmpiricalPolicy, was.EmpiricalPolicy) {
		up.set("empirical_policy", mustJSON(run.EmpiricalPolicy))
	}
	up.set("updated", s.clock())
	_, err := up.exec(ctx, c, "flow_run", "id = ?", run.ID)
	return err
}

// ReadFlowRun returns one run with its current state.
func (s *Store) ReadFlowRun(ctx context.Context, id uuid.UUID) (schema.FlowRun, error) {
	var r schema.FlowRun
	err := s.read(ctx, func(ctx context.Context, c conn) (err error) {
		r, err = scanFlowRun(c.queryRow(ctx, `SELECT `+flowRunColumns+flowRunFrom+` WHERE flow_run.id = ?`, id))
		return err
	})
	return r, err
}

// UpdateFlowRun applies the set fields of u.
func (s *Store) UpdateFlowRun(ctx context.Context, id uuid.UUID, u schema.FlowRunUpdate) error {
	var up update
	if u.Name != nil {
		up.set("name", *u.Name)
	}
	if u.FlowVersion != nil {
		up.set("flow_version", *u.FlowVersion)
	}
	if len(u.Parameters) > 0 && string(u.Parameters) != "null" {
		up.set("parameters", u.Parameters)
	}
	if u.EmpiricalPolicy != nil {
		p := *u.EmpiricalPolicy
		p.Normalize()
		up.set("empirical_policy", mustJSON(p))
	}
	if u.Tags != nil {
		up.set("tags", mustJSON(nonNil(*u.Tags)))
	}
	if u.InfrastructurePID != nil {
		up.set("infrastructure_pid", *u.InfrastructurePID)
	}
	if len(u.JobVariables) > 0 && string(u.JobVariables) != "null" {
		up.set("job_variables", u.JobVariables)
	}
	up.set("updated", s.clock())
	return s.tx(ctx, func(ctx context.Context, c conn) error {
		return mustDelete(up.exec(ctx, c, "flow_run", "id = ?", id))
	})
}

// MergeFlowRunLabels merges labels into the run's labels.
func (s *Store) MergeFlowRunLabels(ctx context.Context, id uuid.UUID, labels json.RawMessage) error {
	return s.tx(ctx, func(ctx context.Context, c conn) error {
		return mustDelete(c.exec(ctx, `UPDATE flow_run SET labels = `+s.d.JSONMerge("labels")+`, updated = ? WHERE id = ?`, labels, s.clock(), id))
	})
}

// DeleteFlowRun deletes a run, its states and its task runs.
func (s *Store) DeleteFlowRun(ctx context.Context, id uuid.UUID) error {
	return s.tx(ctx, func(ctx context.Context, c conn) error {
		if err := deleteTaskRunsOf(ctx, c, `SELECT id FROM flow_run WHERE id = ?`, id); err != nil {
			return err
		}
		return mustDelete(c.exec(ctx, `DELETE FROM flow_run WHERE id = ?`, id))
	})
}

// deleteTaskRunsOf deletes the task runs of the flow runs selected by
// runsQuery (which has the given arguments); task_run has no foreign key to
// cascade from.
func deleteTaskRunsOf(ctx context.Context, c conn, runsQuery string, args ...any) error {
	_, err := c.exec(ctx, `DELETE FROM task_run WHERE flow_run_id IN (`+runsQuery+`)`, args...)
	return err
}

var flowRunSorts = map[string]string{
	"":                              "flow_run.id DESC",
	"ID_DESC":                       "flow_run.id DESC",
	"START_TIME_ASC":                "coalesce(flow_run.start_time, flow_run.expected_start_time) ASC",
	"START_TIME_DESC":               "coalesce(flow_run.start_time, flow_run.expected_start_time) DESC",
	"EXPECTED_START_TIME_ASC":       "flow_run.expected_start_time ASC",
	"EXPECTED_START_TIME_DESC":      "flow_run.expected_start_time DESC",
	"NAME_ASC":                      "flow_run.name ASC",
	"NAME_DESC":                     "flow_run.name DESC",
	"NEXT_SCHEDULED_START_TIME_ASC": "flow_run.next_scheduled_start_time ASC",
	"END_TIME_DESC":                 "flow_run.end_time DESC",
	"CREATED_DESC":                  "flow_run.created DESC",
	"UPDATED_DESC":                  "flow_run.updated DESC",
}

func (s *Store) flowRunWhere(q schema.Query) *where {
	w := newWhere(s.d)
	s.flowRunFilter(w, "flow_run", q.FlowRuns)
	if q.Flows != nil {
		fw := newWhere(s.d)
		s.flowFilter(fw, "flow", q.Flows)
		w.sub("flow_run.flow_id IN (SELECT flow.id FROM flow WHERE "+fw.sql()+")", fw)
	}
	s.taskRunsOfFlowRun(w, q.TaskRuns)
	s.flowRunRelatedFilters(w, q)
	return w
}

// FilterFlowRuns returns the runs matching q.
func (s *Store) FilterFlowRuns(ctx context.Context, q schema.Query) ([]schema.FlowRun, error) {
	order, err := sortClause(flowRunSorts, q.Sort)
	if err != nil {
		return nil, err
	}
	w := s.flowRunWhere(q)
	var out []schema.FlowRun
	err = s.read(ctx, func(ctx context.Context, c conn) error {
		var err error
		out, err = queryAll(ctx, c, scanFlowRun, `SELECT `+flowRunColumns+flowRunFrom+` WHERE `+w.sql()+` ORDER BY `+order+`, flow_run.id`+s.page(q.Page), w.args...)
		return err
	})
	return nonNil(out), err
}

// CountFlowRuns counts the runs matching q.
func (s *Store) CountFlowRuns(ctx context.Context, q schema.Query) (int, error) {
	w := s.flowRunWhere(q)
	return s.count(ctx, `SELECT count(*) FROM flow_run WHERE `+w.sql(), w.args)
}

// SetFlowRunState reads the run under lock, lets decide rule, and writes the
// outcome in the same transaction.
func (s *Store) SetFlowRunState(ctx context.Context, id uuid.UUID, decide orchestration.FlowRunDecider) (orchestration.FlowRunResult, error) {
	var res orchestration.FlowRunResult
	err := s.tx(ctx, func(ctx context.Context, c conn) error {
		// Lock first, then read: on PostgreSQL a locking SELECT that waited
		// for another transition returns the run's new row joined to its old
		// state, so the read must be a later statement (lockRow).
		if err := s.lockRow(ctx, c, "flow_run", id); err != nil {
			return err
		}
		run, err := scanFlowRun(c.queryRow(ctx, `SELECT `+flowRunColumns+flowRunFrom+` WHERE flow_run.id = ?`, id))
		if err != nil {
			return err
		}
		dep, err := s.loadDeploymentConcurrency(ctx, c, run)
		if err != nil {
			return err
		}
		// Decide, then apply the slot and lease changes asked for; should
		// they find the facts changed (they cannot while the limit is
		// locked, but the updates are conditional anyway), decide again
		// with the facts corrected.
		for attempt := 0; ; attempt++ {
			res = decide(run, dep.facts)
			applied, err := s.applyDeploymentEffects(ctx, c, run, dep, res.Deployment)
			if err != nil {
				return err
			}
			if applied {
				break
			}
			if attempt == 2 {
				return errors.New("deployment concurrency facts kept changing")
			}
		}
		if res.Write == nil {
			// Nothing written, but a rule may still have changed the run's
			// policy (HandleResumingPausedFlows marks it resuming).
			if reflect.DeepEqual(res.Run.EmpiricalPolicy, run.EmpiricalPolicy) {
				return nil
			}
			_, err := c.exec(ctx, `UPDATE flow_run SET empirical_policy = ?, updated = ? WHERE id = ?`, mustJSON(res.Run.EmpiricalPolicy), s.clock(), id)
			return err
		}
		st, err := insertState(ctx, c, "flow_run_state", "flow_run_id", id, *res.Write, s.clock())
		if err != nil {
			return err
		}
		res.Write = &st
		res.Run.State = &st
		res.Run.StateID = &st.ID
		if in := res.RunInput; in != nil {
			in.FlowRunID = id
			if err := insertFlowRunInput(ctx, c, *in, s.clock()); err != nil {
				return err
			}
		}
		return s.writeFlowRunBookkeeping(ctx, c, run, res.Run)
	})
	return res, err
}

// ReadFlowRunState returns one flow-run state.
func (s *Store) ReadFlowRunState(ctx context.Context, id uuid.UUID) (schema.State, error) {
	return s.readState(ctx, "flow_run_state", id)
}

// ReadFlowRunStates returns a run's states, oldest first.
func (s *Store) ReadFlowRunStates(ctx context.Context, flowRunID uuid.UUID) ([]schema.State, error) {
	return s.readStates(ctx, "flow_run_state", "flow_run_id", flowRunID)
}
