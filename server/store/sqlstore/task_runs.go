package sqlstore

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/orchestration"
	"prefectgo.dev/prefectgo/server/schema"
)

const taskRunColumns = `task_run.id, task_run.created, task_run.updated, task_run.name, task_run.flow_run_id,
	task_run.task_key, task_run.dynamic_key, task_run.cache_key, task_run.cache_expiration, task_run.task_version,
	task_run.empirical_policy, task_run.tags, task_run.labels, task_run.state_id, task_run.task_inputs,
	task_run.state_type, task_run.state_name, task_run.run_count, task_run.flow_run_run_count,
	task_run.expected_start_time, task_run.next_scheduled_start_time, task_run.start_time, task_run.end_time,
	task_run.total_run_time, ` + stateColumns

const taskRunFrom = ` FROM task_run LEFT JOIN task_run_state st ON st.id = task_run.state_id`

func scanTaskRun(row scanner) (schema.TaskRun, error) {
	var r schema.TaskRun
	var st stateScan
	var stateType *string
	dest := []any{&r.ID, ts(&r.Created), ts(&r.Updated), &r.Name, nullUUID{&r.FlowRunID},
		&r.TaskKey, &r.DynamicKey, nullString{&r.CacheKey}, nullTime{&r.CacheExpiration}, nullString{&r.TaskVersion},
		jsonInto{&r.EmpiricalPolicy}, jsonInto{&r.Tags}, jsonCol{&r.Labels}, nullUUID{&r.StateID}, jsonCol{&r.TaskInputs},
		nullString{&stateType}, nullString{&r.StateName}, &r.RunCount, &r.FlowRunRunCount,
		nullTime{&r.ExpectedStartTime}, nullTime{&r.NextScheduledStartTime}, nullTime{&r.StartTime}, nullTime{&r.EndTime},
		&r.TotalRunTime}
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

// CreateTaskRun inserts a task run with its initial state, queued for the
// task workers when enqueue says so, or returns the one with the same flow
// run, task key and dynamic key.
func (s *Store) CreateTaskRun(ctx context.Context, run schema.TaskRun, enqueue *orchestration.TaskRunEnqueue) (schema.TaskRun, bool, error) {
	var out schema.TaskRun
	created := false
	err := s.tx(ctx, func(ctx context.Context, c conn) error {
		if run.FlowRunID != nil {
			existing, err := scanTaskRun(c.queryRow(ctx, `SELECT `+taskRunColumns+taskRunFrom+
				` WHERE task_run.flow_run_id = ? AND task_run.task_key = ? AND task_run.dynamic_key = ? ORDER BY task_run.created LIMIT 1`,
				*run.FlowRunID, run.TaskKey, run.DynamicKey))
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
		if err := insertTaskRuns(ctx, c, s.taskRunRows([]schema.TaskRun{run}, now), false); err != nil {
			return err
		}
		if run.State != nil {
			st, err := insertState(ctx, c, "task_run_state", "task_run_id", run.ID, *run.State, now)
			if err != nil {
				return err
			}
			run.State = &st
			run.StateID = &st.ID
			if enqueue != nil {
				if err := enqueueTaskRun(ctx, c, run, *enqueue, now); err != nil {
					return err
				}
			}
		}
		created = true
		out = run
		return nil
	})
	return out, created, err
}

// taskRunInsertColumns are the columns a task run is inserted with: the run
// with its current state's bookkeeping, so that one statement writes it whole.
const taskRunInsertColumns = `id, created, updated, name, flow_run_id, task_key, dynamic_key, cache_key,
	cache_expiration, task_version, empirical_policy, tags, labels, task_inputs, run_count, flow_run_run_count,
	expected_start_time, next_scheduled_start_time, start_time, end_time, total_run_time, ` + runStateColumns

var taskRunInsertWidth = strings.Count(taskRunInsertColumns, ",") + 1

// taskRunRows are the task_run rows of runs, in taskRunInsertColumns.
func (s *Store) taskRunRows(runs []schema.TaskRun, now time.Time) [][]any {
	rows := make([][]any, len(runs))
	for i, r := range runs {
		rows[i] = s.row(append([]any{r.ID, now, now, r.Name, r.FlowRunID, r.TaskKey, r.DynamicKey, r.CacheKey,
			r.CacheExpiration, r.TaskVersion, mustJSON(r.EmpiricalPolicy), mustJSON(nonNil(r.Tags)), orEmpty(r.Labels),
			orEmpty(r.TaskInputs), r.RunCount, r.FlowRunRunCount, r.ExpectedStartTime, r.NextScheduledStartTime,
			r.StartTime, r.EndTime, r.TotalRunTime}, runStateValues(r.State)...)...)
	}
	return rows
}

// insertTaskRuns writes taskRunRows in multi-row INSERTs. With upsert, an
// existing row with the same id is overwritten, but only by a state at least
// as new as the one it has; an id may then appear once (newestReports).
func insertTaskRuns(ctx context.Context, c conn, rows [][]any, upsert bool) error {
	for chunk := range rowChunks(rows) {
		q := `INSERT INTO task_run (` + taskRunInsertColumns + `) VALUES ` + valuesRows(len(chunk), taskRunInsertWidth)
		if upsert {
			q += ` ON CONFLICT (id) DO UPDATE SET updated = excluded.updated, name = excluded.name,
		cache_key = excluded.cache_key, cache_expiration = excluded.cache_expiration, task_version = excluded.task_version,
		empirical_policy = excluded.empirical_policy, tags = excluded.tags, labels = excluded.labels,
		state_id = excluded.state_id, task_inputs = excluded.task_inputs, state_type = excluded.state_type,
		state_name = excluded.state_name, state_timestamp = excluded.state_timestamp, run_count = excluded.run_count,
		flow_run_run_count = excluded.flow_run_run_count, expected_start_time = excluded.expected_start_time,
		next_scheduled_start_time = excluded.next_scheduled_start_time, start_time = excluded.start_time,
		end_time = excluded.end_time, total_run_time = excluded.total_run_time
		WHERE task_run.state_timestamp IS NULL OR excluded.state_timestamp >= task_run.state_timestamp`
		}
		if _, err := c.exec(ctx, q, rowArgs(chunk)...); err != nil {
			return err
		}
	}
	return nil
}

// writeTaskRunBookkeeping stores the run's new state and, of the fields the
// orchestration transforms keep, those that changed from was (setChanged).
func (s *Store) writeTaskRunBookkeeping(ctx context.Context, c conn, was, run schema.TaskRun) error {
	var up update
	up.setState(run.State)
	up.setChanged("run_count", was.RunCount, run.RunCount)
	up.setChanged("flow_run_run_count", was.FlowRunRunCount, run.FlowRunRunCount)
	up.setChanged("expected_start_time", was.ExpectedStartTime, run.ExpectedStartTime)
	up.setChanged("next_scheduled_start_time", was.NextScheduledStartTime, run.NextScheduledStartTime)
	up.setChanged("start_time", was.StartTime, run.StartTime)
	up.setChanged("end_time", was.EndTime, run.EndTime)
	up.setChanged("total_run_time", was.TotalRunTime, run.TotalRunTime)
	up.setChanged("cache_key", was.CacheKey, run.CacheKey)
	up.setChanged("cache_expiration", was.CacheExpiration, run.CacheExpiration)
	up.set("updated", s.clock())
	_, err := up.exec(ctx, c, "task_run", "id = ?", run.ID)
	return err
}

// ReadTaskRun returns one task run with its current state.
func (s *Store) ReadTaskRun(ctx context.Context, id uuid.UUID) (schema.TaskRun, error) {
	var r schema.TaskRun
	err := s.read(ctx, func(ctx context.Context, c conn) (err error) {
		r, err = scanTaskRun(c.queryRow(ctx, `SELECT `+taskRunColumns+taskRunFrom+` WHERE task_run.id = ?`, id))
		return err
	})
	return r, err
}

// UpdateTaskRun renames a task run.
func (s *Store) UpdateTaskRun(ctx context.Context, id uuid.UUID, u schema.TaskRunUpdate) error {
	return s.tx(ctx, func(ctx context.Context, c conn) error {
		if u.Name == nil {
			var n int
			return classify(c.queryRow(ctx, `SELECT 1 FROM task_run WHERE id = ?`, id).Scan(&n))
		}
		return mustDelete(c.exec(ctx, `UPDATE task_run SET name = ?, updated = ? WHERE id = ?`, *u.Name, s.clock(), id))
	})
}

// DeleteTaskRun deletes a task run and its states.
func (s *Store) DeleteTaskRun(ctx context.Context, id uuid.UUID) error {
	return s.tx(ctx, func(ctx context.Context, c conn) error {
		return mustDelete(c.exec(ctx, `DELETE FROM task_run WHERE id = ?`, id))
	})
}

var taskRunSorts = map[string]string{
	"":                              "task_run.id DESC",
	"ID_DESC":                       "task_run.id DESC",
	"EXPECTED_START_TIME_ASC":       "task_run.expected_start_time ASC",
	"EXPECTED_START_TIME_DESC":      "task_run.expected_start_time DESC",
	"NAME_ASC":                      "task_run.name ASC",
	"NAME_DESC":                     "task_run.name DESC",
	"NEXT_SCHEDULED_START_TIME_ASC": "task_run.next_scheduled_start_time ASC",
	"END_TIME_DESC":                 "task_run.end_time DESC",
}

func (s *Store) taskRunWhere(q schema.Query) *where {
	w := newWhere(s.d)
	s.taskRunFilter(w, "task_run", q.TaskRuns)
	// Prefect selects task runs by their flow run's flow, deployment, pool
	// and queue as well.
	if q.FlowRuns != nil || q.Flows != nil || q.Deployments != nil || q.WorkPools != nil || q.WorkPoolQueues != nil {
		fr := s.flowRunWhere(schema.Query{Flows: q.Flows, FlowRuns: q.FlowRuns, Deployments: q.Deployments,
			WorkPools: q.WorkPools, WorkPoolQueues: q.WorkPoolQueues})
		w.sub("task_run.flow_run_id IN (SELECT flow_run.id FROM flow_run WHERE "+fr.sql()+")", fr)
	}
	return w
}

// FilterTaskRuns returns the task runs matching q.
func (s *Store) FilterTaskRuns(ctx context.Context, q schema.Query) ([]schema.TaskRun, error) {
	order, err := sortClause(taskRunSorts, q.Sort)
	if err != nil {
		return nil, err
	}
	w := s.taskRunWhere(q)
	var out []schema.TaskRun
	err = s.read(ctx, func(ctx context.Context, c conn) error {
		var err error
		out, err = queryAll(ctx, c, scanTaskRun, `SELECT `+taskRunColumns+taskRunFrom+` WHERE `+w.sql()+` ORDER BY `+order+`, task_run.id`+s.page(q.Page), w.args...)
		return err
	})
	return nonNil(out), err
}

// CountTaskRuns counts the task runs matching q.
func (s *Store) CountTaskRuns(ctx context.Context, q schema.Query) (int, error) {
	w := s.taskRunWhere(q)
	return s.count(ctx, `SELECT count(*) FROM task_run WHERE `+w.sql(), w.args)
}

// SetTaskRunState reads the task run under lock with its flow run and cache
// hit, lets decide rule, and writes the outcome.
func (s *Store) SetTaskRunState(ctx context.Context, id uuid.UUID, cacheKey *string, decide orchestration.TaskRunDecider) (orchestration.TaskRunResult, error) {
	var res orchestration.TaskRunResult
	err := s.tx(ctx, func(ctx context.Context, c conn) error {
		if err := s.lockRow(ctx, c, "task_run", id); err != nil {
			return err
		}
		run, err := scanTaskRun(c.queryRow(ctx, `SELECT `+taskRunColumns+taskRunFrom+` WHERE task_run.id = ?`, id))
		if err != nil {
			return err
		}
		var flowRun *schema.FlowRun
		if run.FlowRunID != nil {
			fr, err := scanFlowRun(c.queryRow(ctx, `SELECT `+flowRunColumns+flowRunFrom+` WHERE flow_run.id = ?`, *run.FlowRunID))
			switch {
			case err == nil:
				flowRun = &fr
			case !errors.Is(err, schema.ErrNotFound):
				return err
			}
		}
		var cached *schema.State
		if cacheKey != nil {
			st, err := scanState(c.queryRow(ctx, `SELECT `+stateColumns+` FROM task_run_state_cache cache
				JOIN task_run_state st ON st.id = cache.task_run_state_id
				WHERE cache.cache_key = ? AND (cache.cache_expiration IS NULL OR cache.cache_expiration > ?)
				ORDER BY cache.created DESC LIMIT 1`, *cacheKey, s.clock()))
			switch {
			case err == nil:
				cached = &st
			case !errors.Is(err, schema.ErrNotFound):
				return err
			}
		}
		res = decide(run, flowRun, cached)
		if res.Write == nil {
			res.Run = run
			return nil
		}
		now := s.clock()
		st, err := insertState(ctx, c, "task_run_state", "task_run_id", id, *res.Write, now)
		if err != nil {
			return err
		}
		res.Write = &st
		res.Run.State = &st
		res.Run.StateID = &st.ID
		if err := s.writeTaskRunBookkeeping(ctx, c, run, res.Run); err != nil {
			return err
		}
		if res.Enqueue != nil {
			if err := enqueueTaskRun(ctx, c, res.Run, *res.Enqueue, now); err != nil {
				return err
			}
		}
		if res.Cache != nil {
			_, err = c.exec(ctx, `INSERT INTO task_run_state_cache (id, created, updated, cache_key, cache_expiration, task_run_state_id) VALUES (?, ?, ?, ?, ?, ?)`,
				uuid.Must(uuid.NewV7()), now, now, res.Cache.Key, res.Cache.Expiration, st.ID)
		}
		return err
	})
	return res, err
}

// ReadTaskRunState returns one task-run state.
func (s *Store) ReadTaskRunState(ctx context.Context, id uuid.UUID) (schema.State, error) {
	return s.readState(ctx, "task_run_state", id)
}

// ReadTaskRunStates returns a task run's states, oldest first.
func (s *Store) ReadTaskRunStates(ctx context.Context, taskRunID uuid.UUID) ([]schema.State, error) {
	return s.readStates(ctx, "task_run_state", "task_run_id", taskRunID)
}

// RecordTaskRunStates upserts task runs reported by client-side
// orchestration, in one transaction for the batch: each run once, as its
// newest report, and every state in one multi-row insert.
func (s *Store) RecordTaskRunStates(ctx context.Context, runs []schema.TaskRun) error {
	if len(runs) == 0 {
		return nil
	}
	// Rows are encoded before the transaction: on SQLite every write queues
	// for one writer, whose time is the server's ceiling.
	now := s.clock()
	var states [][]any
	for _, r := range runs {
		if st := r.State; st != nil {
			states = append(states, s.row(st.ID, now, now, r.ID, st.Type, st.Name, st.Timestamp, st.Message,
				mustJSON(st.StateDetails), st.Data))
		}
	}
	latest := s.taskRunRows(newestReports(runs), now)
	return s.tx(ctx, func(ctx context.Context, c conn) error {
		if err := insertTaskRuns(ctx, c, latest, true); err != nil {
			return err
		}
		for chunk := range rowChunks(states) {
			if _, err := c.exec(ctx, `INSERT INTO task_run_state (id, created, updated, task_run_id, type, name, timestamp, message, state_details, data)
				VALUES `+valuesRows(len(chunk), 10)+` ON CONFLICT DO NOTHING`, rowArgs(chunk)...); err != nil {
				return err
			}
		}
		return nil
	})
}

// newestReports keeps one report per task run, in the order the runs first
// appear: the one that upserting them all in turn would leave, since an
// upsert moves a run only to a state at least as new as its own (a report
// without a state moves only a run without one). Each keeps its state id.
func newestReports(runs []schema.TaskRun) []schema.TaskRun {
	at := make(map[uuid.UUID]int, len(runs))
	out := make([]schema.TaskRun, 0, len(runs))
	for _, r := range runs {
		if r.State != nil {
			r.StateID = &r.State.ID
		}
		i, seen := at[r.ID]
		if !seen {
			at[r.ID] = len(out)
			out = append(out, r)
			continue
		}
		if w := out[i]; w.State == nil || (r.State != nil && !r.State.Timestamp.Before(w.State.Timestamp)) {
			out[i] = r
		}
	}
	return out
}
