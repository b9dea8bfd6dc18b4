package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/store"
)

const (
	terminalStates = `('COMPLETED', 'CANCELLED', 'FAILED', 'CRASHED')`
	failedStates   = `('FAILED', 'CRASHED')`
)

// CountTaskRunsByFlowRun counts each flow run's task runs that are not a
// subflow's (no flow run names them its parent).
func (s *Store) CountTaskRunsByFlowRun(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]int, error) {
	w := newWhere(s.d)
	w.inIDs("task_run.flow_run_id", ids, false)
	return s.countsByID(ctx, `SELECT task_run.flow_run_id, count(*) FROM task_run WHERE `+w.sql()+
		` AND NOT EXISTS (SELECT 1 FROM flow_run sub WHERE sub.parent_task_run_id = task_run.id)
		GROUP BY task_run.flow_run_id`, w.args...)
}

// CountTaskRunsByState counts the task runs matching q by state type.
func (s *Store) CountTaskRunsByState(ctx context.Context, q schema.Query) (schema.CountByState, error) {
	w := s.taskRunWhere(q)
	var out schema.CountByState
	err := s.read(ctx, func(ctx context.Context, c conn) error {
		rows, err := c.query(ctx, `SELECT task_run.state_type, count(*) FROM task_run WHERE `+w.sql()+
			` AND task_run.state_type IS NOT NULL GROUP BY task_run.state_type`, w.args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var t string
			var n int
			if err := rows.Scan(&t, &n); err != nil {
				return classify(err)
			}
			out.Add(schema.StateType(t), n)
		}
		return classify(rows.Err())
	})
	return out, err
}

// CountTaskRunsByBucket counts the task runs matching q by bucket of start
// time, failed or not.
func (s *Store) CountTaskRunsByBucket(ctx context.Context, q schema.Query, start time.Time, width float64) ([]store.TaskRunBucket, error) {
	w := s.taskRunWhere(q)
	bucket := `CAST(floor(` + s.d.Seconds("task_run.start_time", s.d.TimeArg) + ` / ?) AS INTEGER)`
	var out []store.TaskRunBucket
	err := s.read(ctx, func(ctx context.Context, c conn) error {
		var err error
		out, err = queryAll(ctx, c, func(row scanner) (store.TaskRunBucket, error) {
			var b store.TaskRunBucket
			return b, classify(row.Scan(&b.Index, &b.Failed, &b.Completed))
		}, `SELECT `+bucket+` AS bucket,
			sum(CASE WHEN task_run.state_type IN `+failedStates+` THEN 1 ELSE 0 END),
			sum(CASE WHEN task_run.state_type NOT IN `+failedStates+` THEN 1 ELSE 0 END)
			FROM task_run WHERE `+w.sql()+` AND task_run.start_time IS NOT NULL GROUP BY bucket`,
			append([]any{start, width}, w.args...)...)
		return err
	})
	return out, err
}

// FlowRunLateness averages Prefect's estimated_start_time_delta at now: how
// late a run started, or, not started nor finished, how late it is now.
func (s *Store) FlowRunLateness(ctx context.Context, q schema.Query, now time.Time) (*float64, error) {
	w := s.flowRunWhere(q)
	lateness := `CASE WHEN flow_run.start_time > flow_run.expected_start_time THEN ` +
		s.d.Seconds("flow_run.start_time", "flow_run.expected_start_time") + `
		WHEN flow_run.start_time IS NULL AND flow_run.state_type NOT IN ` + terminalStates + `
			AND flow_run.expected_start_time < ` + s.d.TimeArg + ` THEN ` + s.d.Seconds(s.d.TimeArg, "flow_run.expected_start_time") + `
		ELSE 0 END`
	var avg sql.NullFloat64
	err := s.read(ctx, func(ctx context.Context, c conn) error {
		return classify(c.queryRow(ctx, `SELECT avg(`+lateness+`) FROM flow_run WHERE `+w.sql(),
			append([]any{now, now}, w.args...)...).Scan(&avg))
	})
	if err != nil || !avg.Valid {
		return nil, err
	}
	return &avg.Float64, nil
}

// RunHistory groups the runs of kind matching q by bucket of expected start
// time and state, in the database: the dashboard asks it of every run.
func (s *Store) RunHistory(ctx context.Context, kind store.RunKind, q schema.Query, start time.Time, width float64, n int, now time.Time) ([]store.HistoryBucket, error) {
	var w *where
	switch kind {
	case store.FlowRunKind:
		w = s.flowRunWhere(q)
	case store.TaskRunKind:
		w = s.taskRunWhere(q)
	default:
		return nil, fmt.Errorf("run history of %q", kind)
	}
	t := string(kind)
	// Prefect's estimated_run_time and estimated_start_time_delta at now, as
	// FlowRunLateness computes the latter; only positive parts are summed.
	runTime := `CASE WHEN ` + t + `.state_type = 'RUNNING' AND ` + t + `.state_timestamp IS NOT NULL THEN ` +
		t + `.total_run_time + ` + s.d.Seconds(s.d.TimeArg, t+".state_timestamp") + ` ELSE ` + t + `.total_run_time END`
	lateness := `CASE WHEN ` + t + `.start_time > ` + t + `.expected_start_time THEN ` +
		s.d.Seconds(t+".start_time", t+".expected_start_time") + `
		WHEN ` + t + `.start_time IS NULL AND (` + t + `.state_type IS NULL OR ` + t + `.state_type NOT IN ` + terminalStates + `)
			AND ` + t + `.expected_start_time < ` + s.d.TimeArg + ` THEN ` + s.d.Seconds(s.d.TimeArg, t+".expected_start_time") + `
		ELSE 0 END`
	bucket := `CAST(floor(` + s.d.Seconds(t+".expected_start_time", s.d.TimeArg) + ` / ?) AS INTEGER)`
	end := start.Add(time.Duration(float64(n) * width * float64(time.Second)))
	query := `SELECT bucket, state_type, state_name, count(*),
		sum(CASE WHEN run_time > 0 THEN run_time ELSE 0 END), sum(CASE WHEN lateness > 0 THEN lateness ELSE 0 END)
		FROM (SELECT ` + bucket + ` AS bucket, ` + t + `.state_type, coalesce(` + t + `.state_name, '') AS state_name, ` +
		runTime + ` AS run_time, ` + lateness + ` AS lateness
			FROM ` + t + ` WHERE ` + w.sql() + ` AND ` + t + `.expected_start_time >= ` + s.d.TimeArg +
		` AND ` + t + `.expected_start_time < ` + s.d.TimeArg + ` AND ` + t + `.state_type IS NOT NULL) runs
		GROUP BY bucket, state_type, state_name ORDER BY bucket, state_type, state_name`
	args := append([]any{start, width, now, now, now}, w.args...)
	args = append(args, start, end)
	var out []store.HistoryBucket
	err := s.read(ctx, func(ctx context.Context, c conn) error {
		var err error
		out, err = queryAll(ctx, c, func(row scanner) (store.HistoryBucket, error) {
			var b store.HistoryBucket
			var st string
			err := row.Scan(&b.Index, &st, &b.StateName, &b.CountRuns, &b.SumEstimatedRunTime, &b.SumEstimatedLateness)
			b.StateType = schema.StateType(st)
			return b, classify(err)
		}, query, args...)
		return err
	})
	return out, err
}

// ObservedStates groups each state history by pair before combining them,
// so the union holds distinct pairs rather than every retained transition.
// The prefix matches lower(substr(col)) against the lowered prefix: no LIKE,
// so its wildcards need no escaping.
func (s *Store) ObservedStates(ctx context.Context, q schema.ObservedStatesQuery) ([]schema.ObservedState, error) {
	where, args := "", []any{}
	if q.Prefix != "" {
		n := utf8.RuneCountInString(q.Prefix)
		where = ` WHERE lower(substr(state_type, 1, ?)) = lower(?) OR lower(substr(state_name, 1, ?)) = lower(?)`
		args = append(args, n, q.Prefix, n, q.Prefix)
	}
	order := `state_type, state_name`
	if q.Sort != schema.ObservedNameAsc {
		order = `last_seen DESC, ` + order
	}
	args = append(args, q.Limit)
	query := `SELECT state_type, state_name, min(first_seen) AS first_seen, max(last_seen) AS last_seen FROM (
			SELECT type AS state_type, name AS state_name, min(timestamp) AS first_seen, max(timestamp) AS last_seen
				FROM flow_run_state GROUP BY type, name
			UNION ALL
			SELECT type, name, min(timestamp), max(timestamp) FROM task_run_state GROUP BY type, name
		) histories GROUP BY state_type, state_name`
	query = `SELECT * FROM (` + query + `) observed` + where + ` ORDER BY ` + order + ` LIMIT ?`
	var out []schema.ObservedState
	err := s.read(ctx, func(ctx context.Context, c conn) error {
		var err error
		out, err = queryAll(ctx, c, func(sc scanner) (schema.ObservedState, error) {
			var o schema.ObservedState
			return o, sc.Scan(&o.StateType, &o.StateName, ts(&o.FirstSeen), ts(&o.LastSeen))
		}, query, args...)
		return err
	})
	return nonNil(out), err
}
