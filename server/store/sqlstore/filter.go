package sqlstore

import (
	"strconv"
	"strings"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

// where collects the criteria of one filter object with their arguments.
//
// Lists of values (any_, not_any_, startswith_, prefixes, label values) bind
// as ONE parameter each, a JSON array on SQLite and an array on PostgreSQL,
// so no filter runs into the backends' limits on bound parameters or
// expression depth whatever its size. What cannot be answered is refused:
// the argument of the offending criterion is a refusal, which conn returns
// as a validation error (a 422) instead of running the statement.
type where struct {
	d          Dialect
	or         bool
	clauses    []string
	args       []any
	hasRefusal bool
}

func newWhere(d Dialect) *where { return &where{d: d} }

const (
	// maxBoundParams is SQLite's limit on parameters in one statement
	// (SQLITE_MAX_VARIABLE_NUMBER), the lower of the two backends' (PostgreSQL
	// takes 65,535): a filter binding more is refused on both.
	maxBoundParams = 32_766
	// maxLikePattern is SQLite's limit on a LIKE pattern, in bytes
	// (SQLITE_MAX_LIKE_PATTERN_LENGTH). Values without wildcards are matched
	// without LIKE on SQLite, so only patterns with % or _ meet it; they are
	// refused past it on both backends, so the API does not depend on the
	// backend.
	maxLikePattern = 50_000
	// flatClauses is how many criteria are joined in one flat chain; longer
	// lists nest as a balanced tree, as SQLite's parser limits the depth of
	// an expression (1,000) and a flat chain is as deep as it is long.
	flatClauses = 32
)

// refusal stands, as an argument, for a filter value the backends cannot
// take; conn refuses to run a statement carrying one.
type refusal struct{ err error }

func refuse(loc, msg string) refusal { return refusal{schema.Invalid(loc, msg)} }

var refuseNUL = refuse("", "Filter values cannot contain the NUL character (\\u0000), which PostgreSQL cannot store.")

// refused returns the first refusal among a statement's arguments.
func refused(args []any) error {
	for _, a := range args {
		if r, ok := a.(refusal); ok {
			return r.err
		}
	}
	return nil
}

func (w *where) add(clause string, args ...any) {
	w.clauses = append(w.clauses, clause)
	for i, a := range args {
		switch v := a.(type) {
		case refusal:
			w.hasRefusal = true
		case string:
			if strings.IndexByte(v, 0) >= 0 {
				args[i] = refuseNUL
				w.hasRefusal = true
			}
		}
	}
	w.args = append(w.args, args...)
	if !w.hasRefusal && len(w.args) > maxBoundParams {
		w.args = append(w.args, refuse("", "The filter binds more than "+strconv.Itoa(maxBoundParams)+
			" values (labels, related resources and the like); split it into several requests."))
		w.hasRefusal = true
	}
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
	return "(" + joinBalanced(w.clauses, sep) + ")"
}

// joinBalanced joins parts with sep, nesting long lists as a balanced tree
// (the operators are associative, and the order of the parts, hence of the
// placeholders, is kept).
func joinBalanced(parts []string, sep string) string {
	if len(parts) <= flatClauses {
		return strings.Join(parts, sep)
	}
	mid := len(parts) / 2
	return "(" + joinBalanced(parts[:mid], sep) + ")" + sep + "(" + joinBalanced(parts[mid:], sep) + ")"
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

// list binds vals as one parameter: a JSON array on SQLite, a text[] on
// PostgreSQL.
func (w *where) list(vals []string) any {
	for _, v := range vals {
		if strings.IndexByte(v, 0) >= 0 {
			return refuseNUL
		}
	}
	return w.d.ListArg(vals)
}

// jsonList binds vals as one JSON array on both backends.
func (w *where) jsonList(vals []string) any {
	for _, v := range vals {
		if strings.IndexByte(v, 0) >= 0 {
			return refuseNUL
		}
	}
	return mustJSON(vals)
}

func (w *where) ids(col string, f *schema.IDFilter) {
	if f == nil {
		return
	}
	if f.Any != nil {
		w.inIDs(col, f.Any, false)
	}
	if f.NotAny != nil {
		w.inIDs(col, f.NotAny, true)
	}
	w.isNull(col, f.IsNull)
}

// in renders col being one of vals, where an empty list matches nothing
// (or, negated, everything), as Prefect's any_ [] does; a NULL is in no
// list, and so not in any.
func (w *where) in(col string, vals []string, not bool) { w.inList(col, vals, false, not) }

// inIDs is in for a UUID column.
func (w *where) inIDs(col string, vals []uuid.UUID, not bool) {
	w.inList(col, uuidTexts(vals), true, not)
}

func (w *where) inList(col string, vals []string, uuids, not bool) {
	switch {
	case len(vals) == 0 && !not:
		w.add("1=0")
	case len(vals) == 0:
	case not:
		w.add("("+col+" IS NULL OR "+w.d.InList(col, uuids, true)+")", w.list(vals))
	default:
		w.add(w.d.InList(col, uuids, false), w.list(vals))
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
		w.in(col, f.Any, false)
	}
	if f.NotAny != nil {
		w.in(col, f.NotAny, true)
	}
	if f.Like != nil && *f.Like != "" {
		w.add(w.like(col, *f.Like))
	}
	if len(f.StartsWith) > 0 {
		w.startsWith(col, f.StartsWith)
	}
	w.isNull(col, f.IsNull)
}

// hasWildcard reports whether a LIKE pattern made of v needs LIKE.
func hasWildcard(v string) bool { return strings.ContainsAny(v, "%_") }

// likeTooLong refuses a value with wildcards whose pattern (with the % added
// around it) passes SQLite's limit.
func likeTooLong(field, v string, added int) (refusal, bool) {
	if !hasWildcard(v) || len(v)+added <= maxLikePattern {
		return refusal{}, false
	}
	return refuse(field, field+" values containing % or _ are LIKE patterns, limited to "+
		strconv.Itoa(maxLikePattern-added)+" bytes; this one has "+strconv.Itoa(len(v))+"."), true
}

// like renders Prefect's like_: ILIKE '%v%', a case-insensitive substring
// match where % and _ in v are wildcards and nothing escapes (the backslash
// is an ordinary character on both backends). SQLite's LIKE and lower() fold
// ASCII case only, so instr over lower() is the same test for a value
// without wildcards, with no limit on its length.
func (w *where) like(col, v string) (string, any) {
	if r, bad := likeTooLong("like_", v, 2); bad {
		return "1=0", r
	}
	if w.d.LikeLimited && !hasWildcard(v) {
		return "instr(lower(" + col + "), lower(?)) > 0", v
	}
	return w.d.ILike(col, "?"), "%" + v + "%"
}

// startsWith renders Prefect's startswith_: any of ILIKE 'p%', in one
// parameter whatever the number of prefixes. On SQLite the prefixes without
// wildcards compare without LIKE (as in like), so only those with
// wildcards meet its pattern limit.
func (w *where) startsWith(col string, prefixes []string) {
	for _, p := range prefixes {
		if r, bad := likeTooLong("startswith_", p, 1); bad {
			w.add("1=0", r)
			return
		}
	}
	var plain, wild []string
	for _, p := range prefixes {
		if w.d.LikeLimited && !hasWildcard(p) {
			plain = append(plain, p)
		} else {
			wild = append(wild, p)
		}
	}
	var parts []string
	var args []any
	if len(plain) > 0 {
		parts = append(parts, "EXISTS (SELECT 1 FROM "+w.d.ListRows("p")+" WHERE lower(substr("+col+", 1, length(p.value))) = lower(p.value))")
		args = append(args, w.list(plain))
	}
	if len(wild) > 0 {
		parts = append(parts, "EXISTS (SELECT 1 FROM "+w.d.ListRows("p")+" WHERE "+w.d.ILike(col, "p.value || '%'")+")")
		args = append(args, w.list(wild))
	}
	w.add("("+strings.Join(parts, " OR ")+")", args...)
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
		w.add(w.d.TagsAll(col), w.jsonList(f.All))
	}
	if len(f.Any) > 0 {
		w.add(w.d.TagsAny(col), w.jsonList(f.Any))
	}
	if f.IsNull != nil {
		if *f.IsNull {
			w.add("(" + col + " IS NULL OR " + w.d.EmptyArray(col) + ")")
		} else {
			w.add("(" + col + " IS NOT NULL AND NOT " + w.d.EmptyArray(col) + ")")
		}
	}
}

func (w *where) state(table string, f *schema.StateFilter) {
	if f == nil {
		return
	}
	w.nested(f.Operator, func(in *where) {
		if f.Type != nil {
			if f.Type.Any != nil {
				in.in(table+".state_type", texts(f.Type.Any), false)
			}
			if f.Type.NotAny != nil {
				in.in(table+".state_type", texts(f.Type.NotAny), true)
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
			parents.inIDs("ptr.flow_run_id", p.Any, false)
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
	case p.Offset > 0:
		out += s.d.Limitless
	}
	if p.Offset > 0 {
		out += " OFFSET " + strconv.Itoa(p.Offset)
	}
	return out
}
