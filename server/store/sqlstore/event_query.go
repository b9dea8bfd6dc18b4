package sqlstore

import (
	"context"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/store"
)

// Prefect's EventFilter in SQL (server/events/filters.py build_where_clauses):
// name and primary-resource id criteria on events; label, related and
// any-resource criteria as sub-selects on event_resources, one row of which
// must meet every criterion of the filter object.

// hasPrefix renders col starting with p, case-sensitively on both dialects
// (SQLite's LIKE ignores ASCII case).
func hasPrefix(col, p string) (string, []any) {
	return "substr(" + col + ", 1, " + strconv.Itoa(utf8.RuneCountInString(p)) + ") = ?", []any{p}
}

func (w *where) anyPrefix(col string, prefixes []string) {
	parts := make([]string, len(prefixes))
	var args []any
	for i, p := range prefixes {
		var a []any
		parts[i], a = hasPrefix(col, p)
		args = append(args, a...)
	}
	w.add("("+strings.Join(parts, " OR ")+")", args...)
}

// labelColumn is the SQL text value of one label of er.resource.
func (s *Store) labelColumn(label string) (string, any) {
	if s.d.Name == SQLite.Name {
		return "json_extract(er.resource, ?)", `$."` + strings.ReplaceAll(label, `"`, `\"`) + `"`
	}
	return "(er.resource ->> CAST(? AS TEXT))", label
}

// labelOps adds the criteria of one label's values on col (a column, or an
// expression taking exprArgs), as schema.LabelMatches decides in memory.
func (w *where) labelOps(col string, exprArgs []any, values []string) {
	if len(values) == 0 {
		w.add("1=0")
		return
	}
	// exprArgs repeat for every use of col.
	use := func(clause string, args ...any) {
		n := strings.Count(clause, "\x00")
		var all []any
		for range n {
			all = append(all, exprArgs...)
		}
		all = append(all, args...)
		// col appears before the value placeholders in every clause below.
		w.add(strings.ReplaceAll(clause, "\x00", col), all...)
	}
	ops := schema.ParseLabelOps(values)
	use("\x00 IS NOT NULL")
	if len(ops.Positive)+len(ops.PositivePrefixes) > 0 {
		var parts []string
		var args []any
		if len(ops.Positive) > 0 {
			parts = append(parts, "\x00 IN ("+placeholders(len(ops.Positive))+")")
			args = append(args, anyArgs(ops.Positive)...)
		}
		for _, p := range ops.PositivePrefixes {
			parts = append(parts, "substr(\x00, 1, "+strconv.Itoa(utf8.RuneCountInString(p))+") = ?")
			args = append(args, p)
		}
		// Arguments must follow placeholder order: expression, value, expression, value...
		var ordered []any
		ai := 0
		for _, part := range parts {
			for range strings.Count(part, "\x00") {
				ordered = append(ordered, exprArgs...)
			}
			k := strings.Count(strings.ReplaceAll(part, "\x00", ""), "?")
			ordered = append(ordered, args[ai:ai+k]...)
			ai += k
		}
		w.add("("+strings.ReplaceAll(strings.Join(parts, " OR "), "\x00", col)+")", ordered...)
	}
	if len(ops.Negative) > 0 {
		use("\x00 NOT IN ("+placeholders(len(ops.Negative))+")", anyArgs(ops.Negative)...)
	}
	for _, p := range ops.NegativePrefixes {
		use("substr(\x00, 1, "+strconv.Itoa(utf8.RuneCountInString(p))+") <> ?", p)
	}
}

// labels adds a resource specification's criteria on er; the id and role
// labels use their columns.
func (s *Store) labels(w *where, spec schema.ResourceSpecification) {
	for label, values := range spec {
		switch label {
		case "prefect.resource.id":
			w.labelOps("er.resource_id", nil, values)
		case "prefect.resource.role":
			w.labelOps("er.resource_role", nil, values)
		default:
			col, arg := s.labelColumn(label)
			w.labelOps(col, []any{arg}, values)
		}
	}
}

// resourceSub adds "events.id IN (event_resources rows meeting inner)",
// scoped to the filter's occurred window as Prefect does.
func (s *Store) resourceSub(w *where, f *schema.EventFilter, build func(*where)) {
	inner := newWhere(s.d)
	if f.Occurred.Since != nil {
		inner.add("er.occurred >= ?", *f.Occurred.Since)
	}
	if f.Occurred.Until != nil {
		inner.add("er.occurred <= ?", *f.Occurred.Until)
	}
	build(inner)
	w.sub("events.id IN (SELECT er.event_id FROM event_resources er WHERE "+inner.sql()+")", inner)
}

func (s *Store) prefectEventWhere(w *where, f *schema.EventFilter) {
	if f == nil {
		return
	}
	if f.Occurred.Since != nil {
		w.add("events.occurred >= ?", *f.Occurred.Since)
	}
	if f.Occurred.Until != nil {
		w.add("events.occurred <= ?", *f.Occurred.Until)
	}
	if n := f.Event; n != nil {
		if len(n.Prefix) > 0 {
			w.anyPrefix("events.event", n.Prefix)
		}
		for _, p := range n.ExcludePrefix {
			c, a := hasPrefix("events.event", p)
			w.add("NOT ("+c+")", a...)
		}
		if len(n.Name) > 0 {
			w.in("events.event", anyArgs(n.Name), false)
		}
		if len(n.ExcludeName) > 0 {
			w.in("events.event", anyArgs(n.ExcludeName), true)
		}
	}
	if r := f.Resource; r != nil {
		if len(r.ID) > 0 {
			w.in("events.resource_id", anyArgs(r.ID), false)
		}
		if len(r.IDPrefix) > 0 {
			w.anyPrefix("events.resource_id", r.IDPrefix)
		}
		if len(r.Labels) > 0 {
			s.resourceSub(w, f, func(in *where) {
				in.add("er.resource_role = ''")
				s.labels(in, r.Labels)
			})
		}
	}
	for _, rel := range f.Related {
		if rel.IsEmpty() {
			continue
		}
		s.resourceSub(w, f, func(in *where) {
			if len(rel.ID) > 0 {
				in.in("er.resource_id", anyArgs(rel.ID), false)
			}
			if len(rel.Role) > 0 {
				in.in("er.resource_role", anyArgs(rel.Role), false)
			} else {
				in.add("er.resource_role <> ''")
			}
			if len(rel.ResourcesInRoles) > 0 {
				parts := make([]string, len(rel.ResourcesInRoles))
				var args []any
				for i, p := range rel.ResourcesInRoles {
					parts[i] = "(er.resource_id = ? AND er.resource_role = ?)"
					args = append(args, p[0], p[1])
				}
				in.add("("+strings.Join(parts, " OR ")+")", args...)
			}
			if len(rel.Labels) > 0 {
				s.labels(in, rel.Labels)
			}
		})
	}
	for _, a := range f.AnyResource {
		if a.IsEmpty() {
			continue
		}
		s.resourceSub(w, f, func(in *where) {
			if len(a.ID) > 0 {
				in.in("er.resource_id", anyArgs(a.ID), false)
			}
			if len(a.IDPrefix) > 0 {
				in.anyPrefix("er.resource_id", a.IDPrefix)
			}
			if len(a.Labels) > 0 {
				s.labels(in, a.Labels)
			}
		})
	}
	if len(f.ID.ID) > 0 {
		w.in("events.id", anyArgs(f.ID.ID), false)
	}
	if f.Text != nil {
		s.textSearch(w, schema.ParseTextSearch(f.Text.Query))
	}
}

// textSearch renders a text query over the text schema.SearchableText
// builds in memory: name, resource, related and payload, lower-cased.
func (s *Store) textSearch(w *where, q schema.TextSearch) {
	hay := "lower(events.event || ' ' || events.resource || ' ' || events.related || ' ' || events.payload)"
	contains := "instr(" + hay + ", ?) > 0"
	if s.d.Name != SQLite.Name {
		hay = "lower(events.event || ' ' || events.resource::text || ' ' || events.related::text || ' ' || events.payload::text)"
		contains = "strpos(" + hay + ", ?) > 0"
	}
	if len(q.Include) > 0 {
		w.add("("+strings.TrimSuffix(strings.Repeat(contains+" OR ", len(q.Include)), " OR ")+")", anyArgs(q.Include)...)
	}
	for _, term := range q.Exclude {
		w.add("NOT "+contains, term)
	}
	for _, term := range q.Required {
		w.add(contains, term)
	}
}

// QueryEvents returns one page of the events matching f in f.Order.
func (s *Store) QueryEvents(ctx context.Context, f schema.EventFilter, offset, limit int) ([]schema.Event, error) {
	w := s.eventWhere(store.EventFilter{Match: &f})
	order := "DESC"
	if f.Order == "ASC" {
		order = "ASC"
	}
	return s.selectEvents(ctx, w, "events.occurred "+order+", events.id "+order, schema.Page{Limit: &limit, Offset: offset})
}

// ScanEventCounts calls fn for every event matching f with what counting
// needs, in no particular order.
func (s *Store) ScanEventCounts(ctx context.Context, f schema.EventFilter, fn func(store.EventCountRow)) error {
	w := s.eventWhere(store.EventFilter{Match: &f})
	return s.read(ctx, func(ctx context.Context, c conn) error {
		rows, err := c.query(ctx, `SELECT occurred, event, resource_id, resource FROM events WHERE `+w.sql(), w.args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r store.EventCountRow
			var occurred time.Time
			if err := rows.Scan(ts(&occurred), &r.Event, &r.ResourceID, jsonInto{&r.Resource}); err != nil {
				return classify(err)
			}
			r.Occurred = occurred
			fn(r)
		}
		return classify(rows.Err())
	})
}
