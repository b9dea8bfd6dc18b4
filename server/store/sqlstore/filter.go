package sqlstore

import (
	"strconv"
	"strings"

	"prefectgo.dev/prefectgo/server/schema"
)

// where collects the criteria of one filter object with their arguments.
type where struct {
	d       Dialect
	or      bool
	clauses []string
	args    []any
}

func newWhere(d Dialect) *where { return &where{d: d} }

func (w *where) add(clause string, args ...any) {
	w.clauses = append(w.clauses, clause)
	w.args = append(w.args, args...)
}

// sub adds a clause built around another where's SQL, taking its arguments.
func (w *where) sub(clause string, inner *where) {
	w.add(clause, inner.args...)
}

// sql renders the criteria; no criteria match everything.
func (w *where) sql() string {
	if len(w.clauses) == 0 {
		return "1=1"
	}
	sep := " AND "
	if w.or {
		sep = " OR "
	}
	return "(" + strings.Join(w.clauses, sep) + ")"
}

// nested renders a filter object with its own operator as one clause of w.
func (w *where) nested(op schema.Operator, build func(*where)) {
	in := newWhere(w.d)
	in.or = op == "or_"
	build(in)
	if len(in.clauses) > 0 {
		w.sub(in.sql(), in)
	}
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

func anyArgs[T any](vs []T) []any {
	out := make([]any, len(vs))
	for i, v := range vs {
		out[i] = v
	}
	return out
}

func (w *where) ids(col string, f *schema.IDFilter) {
	if f == nil {
		return
	}
	if f.Any != nil {
		w.in(col, anyArgs(f.Any), false)
	}
	if f.NotAny != nil {
		w.in(col, anyArgs(f.NotAny), true)
	}
	w.isNull(col, f.IsNull)
}

// in renders col IN (...), where an empty list matches nothing (or, negated,
// everything), as Prefect's any_ [] does.
func (w *where) in(col string, vals []any, not bool) {
	switch {
	case len(vals) == 0 && !not:
		w.add("1=0")
	case len(vals) == 0:
	case not:
		w.add("("+col+" IS NULL OR "+col+" NOT IN ("+placeholders(len(vals))+"))", vals...)
	default:
		w.add(col+" IN ("+placeholders(len(vals))+")", vals...)
	}
}

func (w *where) isNull(col string, isNull *bool) {
	if isNull == nil {
		return
	}
	if *isNull {
		w.add(col + " IS NULL")
	} else {
		w.add(col + " IS NOT NULL")
	}
}

func (w *where) text(col string, f *schema.TextFilter) {
	if f == nil {
		return
	}
	if f.Any != nil {
		w.in(col, anyArgs(f.Any), false)
	}
	if f.NotAny != nil {
		w.in(col, anyArgs(f.NotAny), true)
	}
	if f.Like != nil {
		// Prefect's like_ is a case-insensitive substring match.
		w.add("lower("+col+") LIKE ?", "%"+strings.ToLower(*f.Like)+"%")
	}
	if len(f.StartsWith) > 0 {
		parts := make([]string, len(f.StartsWith))
		args := make([]any, len(f.StartsWith))
		for i, p := range f.StartsWith {
			parts[i] = col + " LIKE ?"
			args[i] = p + "%"
		}
		w.add("("+strings.Join(parts, " OR ")+")", args...)
	}
	w.isNull(col, f.IsNull)
}

func (w *where) times(col string, f *schema.TimeFilter) {
	if f == nil {
		return
	}
	if f.Before != nil {
		w.add(col+" <= ?", *f.Before)
	}
	if f.After != nil {
		w.add(col+" >= ?", *f.After)
	}
	w.isNull(col, f.IsNull)
}

func (w *where) tags(col string, f *schema.TagsFilter) {
	if f == nil {
		return
	}
	if len(f.All) > 0 {
		w.add(w.d.TagsAll(col), mustJSON(f.All))
	}
	if len(f.Any) > 0 {
		w.add(w.d.TagsAny(col), mustJSON(f.Any))
	}
	if f.IsNull != nil {
		if *f.IsNull {
			w.add("(" + col + " IS NULL OR " + w.emptyList(col) + ")")
		} else {
			w.add("(" + col + " IS NOT NULL AND NOT " + w.emptyList(col) + ")")
		}
	}
}

func (w *where) emptyList(col string) string {
	if w.d.Name == SQLite.Name {
		return "json_array_length(" + col + ") = 0"
	}
	return col + " = '[]'::jsonb"
}

func (w *where) state(table string, f *schema.StateFilter) {
	if f == nil {
		return
	}
	w.nested(f.Operator, func(in *where) {
		if f.Type != nil {
			if f.Type.Any != nil {
				in.in(table+".state_type", anyArgs(f.Type.Any), false)
			}
			if f.Type.NotAny != nil {
				in.in(table+".state_type", anyArgs(f.Type.NotAny), true)
			}
		}
		in.text(table+".state_name", f.Name)
	})
}

func (s *Store) flowFilter(w *where, t string, f *schema.FlowFilter) {
	if f == nil {
		return
	}
	w.nested(f.Operator, func(in *where) {
		in.ids(t+".id", f.ID)
		in.text(t+".name", f.Name)
		in.tags(t+".tags", f.Tags)
	})
}

func (s *Store) flowRunFilter(w *where, t string, f *schema.FlowRunFilter) {
	if f == nil {
		return
	}
	w.nested(f.Operator, func(in *where) {
		in.ids(t+".id", f.ID)
		in.text(t+".name", f.Name)
		in.tags(t+".tags", f.Tags)
		in.ids(t+".deployment_id", f.DeploymentID)
		in.text(t+".work_queue_name", f.WorkQueueName)
		in.state(t, f.State)
		in.text(t+".flow_version", f.FlowVersion)
		in.times(t+".start_time", f.StartTime)
		in.times(t+".end_time", f.EndTime)
		in.times(t+".expected_start_time", f.ExpectedStartTime)
		in.times(t+".next_scheduled_start_time", f.NextScheduledStartTime)
		in.ids(t+".parent_task_run_id", f.ParentTaskRunID)
		in.text(t+".idempotency_key", f.IdempotencyKey)
		if p := f.ParentFlowRunID; p != nil && p.Any != nil {
			parents := newWhere(s.d)
			parents.in("ptr.flow_run_id", anyArgs(p.Any), false)
			in.sub(t+".parent_task_run_id IN (SELECT ptr.id FROM task_run ptr WHERE "+parents.sql()+")", parents)
		}
	})
}

func (s *Store) taskRunFilter(w *where, t string, f *schema.TaskRunFilter) {
	if f == nil {
		return
	}
	w.nested(f.Operator, func(in *where) {
		in.ids(t+".id", f.ID)
		in.text(t+".name", f.Name)
		in.tags(t+".tags", f.Tags)
		in.state(t, f.State)
		in.times(t+".start_time", f.StartTime)
		in.times(t+".expected_start_time", f.ExpectedStartTime)
		in.ids(t+".flow_run_id", f.FlowRunID)
		if f.SubflowRuns != nil && f.SubflowRuns.Exists != nil {
			neg := ""
			if !*f.SubflowRuns.Exists {
				neg = "NOT "
			}
			in.add(neg + "EXISTS (SELECT 1 FROM flow_run sub WHERE sub.parent_task_run_id = " + t + ".id)")
		}
	})
}

// taskRunsOfFlowRun restricts flow runs (aliased flow_run) to those with a
// task run matching f.
func (s *Store) taskRunsOfFlowRun(w *where, f *schema.TaskRunFilter) {
	if f == nil {
		return
	}
	tr := newWhere(s.d)
	s.taskRunFilter(tr, "task_run", f)
	w.sub("flow_run.id IN (SELECT task_run.flow_run_id FROM task_run WHERE "+tr.sql()+")", tr)
}

// page renders LIMIT/OFFSET; the HTTP layer has already applied the default
// and maximum limit.
func (s *Store) page(p schema.Page) string {
	out := ""
	switch {
	case p.Limit != nil:
		out += " LIMIT " + strconv.Itoa(*p.Limit)
	case p.Offset > 0 && s.d.Name == SQLite.Name:
		out += " LIMIT -1" // SQLite needs a LIMIT before OFFSET
	}
	if p.Offset > 0 {
		out += " OFFSET " + strconv.Itoa(p.Offset)
	}
	return out
}
