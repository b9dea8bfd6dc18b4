package sqlstore

import (
	"context"
	"strings"
	"time"

	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/store"
)

// Prefect's EventFilter in SQL (server/events/filters.py build_where_clauses):
// name and primary-resource id criteria on events; label, related and
// any-resource criteria as sub-selects on event_resources, one row of which
// must meet every criterion of the filter object.

// prefixed renders col (an expression taking colArgs) starting with (NOT:
// with none of) the prefixes, case-sensitively on both dialects (SQLite's
// LIKE ignores ASCII case), bound as one list parameter.
func (w *where) prefixed(col string, colArgs []any, prefixes []string, not bool) (string, []any) {
	neg := ""
	if not {
		neg = "NOT "
	}
	return neg + "EXISTS (SELECT 1 FROM " + w.d.ListRows("p") + " WHERE substr(" + col + ", 1, length(p.value)) = p.value)",
		append([]any{w.list(prefixes)}, colArgs...)
}

// prefix adds prefixed's criterion.
func (w *where) prefix(col string, colArgs []any, prefixes []string, not bool) {
	c, a := w.prefixed(col, colArgs, prefixes, not)
	w.add(c, a...)
}

// labelColumn is the SQL text value of one label of er.resource.
func (s *Store) labelColumn(label string) (string, any) {
	return s.d.JSONText("er.resource"), s.d.JSONKey(label)
}

// labelOps adds the criteria of one label's values on col (a column, or an
// expression taking colArgs, repeated with every use of col), as
// schema.LabelMatches decides in memory.
func (w *where) labelOps(col string, colArgs []any, values []string) {
	if len(values) == 0 {
		w.add("1=0")
		return
	}
	ops := schema.ParseLabelOps(values)
	w.add(col+" IS NOT NULL", colArgs...)
	if len(ops.Positive)+len(ops.PositivePrefixes) > 0 {
		var parts []string
		var args []any
		if len(ops.Positive) > 0 {
			parts = append(parts, w.d.InList(col, false, false))
			args = append(append(args, colArgs...), w.list(ops.Positive))
		}
		if len(ops.PositivePrefixes) > 0 {
			c, a := w.prefixed(col, colArgs, ops.PositivePrefixes, false)
			parts = append(parts, c)
			args = append(args, a...)
		}
		w.add("("+strings.Join(parts, " OR ")+")", args...)
	}
	if len(ops.Negative) > 0 {
		w.add(w.d.InList(col, false, true), append(append([]any{}, colArgs...), w.list(ops.Negative))...)
	}
	if len(ops.NegativePrefixes) > 0 {
		w.prefix(col, colArgs, ops.NegativePrefixes, true)
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
			// The primary resource's row has role '', but no role label.
			w.labelOps("NULLIF(er.resource_role, '')", nil, values)
		default:
			col, arg := s.labelColumn(label)
			w.labelOps(col, []any{arg}, values)
		}
	}
}

// resourceSets collects the filter's criteria on event_resources, each
// met by one row of its own, scoped to the filter's occurred window as
// Prefect does.
type resourceSets struct {
	s     *Store
	f     *schema.EventFilter
	wants []*where
}

func (r *resourceSets) add(build func(*where)) {
	inner := newWhere(r.s.d)
	if r.f.Occurred.Since != nil {
		inner.add("er.occurred >= ?", *r.f.Occurred.Since)
	}
	if r.f.Occurred.Until != nil {
		inner.add("er.occurred <= ?", *r.f.Occurred.Until)
	}
	build(inner)
	r.wants = append(r.wants, inner)
}

// maxCompound is SQLite's limit on the terms of a compound SELECT
// (SQLITE_MAX_COMPOUND_SELECT).
const maxCompound = 500

// render restricts w to the events with rows meeting every criterion: ONE
// sub-select intersecting the events of each, as PostgreSQL's planner takes
// time exponential in the number of separate IN sub-selects (seconds at 80
// related filters), where an INTERSECT is linear.
func (r *resourceSets) render(w *where) {
	for len(r.wants) > 0 {
		n := min(len(r.wants), maxCompound)
		parts := make([]string, n)
		var args []any
		for i, in := range r.wants[:n] {
			parts[i] = "SELECT er.event_id FROM event_resources er WHERE " + in.sql()
			args = append(args, in.args...)
		}
		w.add("events.id IN ("+strings.Join(parts, " INTERSECT ")+")", args...)
		r.wants = r.wants[n:]
	}
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
	sets := &resourceSets{s: s, f: f}
	if n := f.Event; n != nil {
		if len(n.Prefix) > 0 {
			w.prefix("events.event", nil, n.Prefix, false)
		}
		if len(n.ExcludePrefix) > 0 {
			w.prefix("events.event", nil, n.ExcludePrefix, true)
		}
		if len(n.Name) > 0 {
			w.in("events.event", n.Name, false)
		}
		if len(n.ExcludeName) > 0 {
			w.in("events.event", n.ExcludeName, true)
		}
	}
	if r := f.Resource; r != nil {
		if len(r.ID) > 0 {
			w.in("events.resource_id", r.ID, false)
		}
		if len(r.IDPrefix) > 0 {
			w.prefix("events.resource_id", nil, r.IDPrefix, false)
		}
		if len(r.Labels) > 0 {
			sets.add(func(in *where) {
				in.add("er.resource_role = ''")
				s.labels(in, r.Labels)
			})
		}
	}
	for _, rel := range f.Related {
		if rel.IsEmpty() {
			continue
		}
		sets.add(func(in *where) {
			if len(rel.ID) > 0 {
				in.in("er.resource_id", rel.ID, false)
			}
			if len(rel.Role) > 0 {
				in.in("er.resource_role", rel.Role, false)
			} else {
				in.add("er.resource_role <> ''")
			}
			if len(rel.ResourcesInRoles) > 0 {
				in.resourcesInRoles(rel.ResourcesInRoles)
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
		sets.add(func(in *where) {
			if len(a.ID) > 0 {
				in.in("er.resource_id", a.ID, false)
			}
			if len(a.IDPrefix) > 0 {
				in.prefix("er.resource_id", nil, a.IDPrefix, false)
			}
			if len(a.Labels) > 0 {
				s.labels(in, a.Labels)
			}
		})
	}
	sets.render(w)
	if len(f.ID.ID) > 0 {
		w.inIDs("events.id", f.ID.ID, false)
	}
	if f.Text != nil {
		s.textSearch(w, schema.ParseTextSearch(f.Text.Query))
	}
}

// resourcesInRoles renders er being one of the (resource id, role) pairs,
// bound as one JSON array of pairs; p.value ->> 0 reads the first of a pair
// on both backends.
func (w *where) resourcesInRoles(pairs [][2]string) {
	rows := w.d.JSONRows("p")
	var arg any = mustJSON(pairs)
	for _, p := range pairs {
		if strings.IndexByte(p[0]+p[1], 0) >= 0 {
			arg = refuseNUL
		}
	}
	w.add("EXISTS (SELECT 1 FROM "+rows+" WHERE er.resource_id = p.value ->> 0 AND er.resource_role = p.value ->> 1)", arg)
}

// textSearch renders a text query over the text schema.SearchableText
// builds in memory: name, resource, related and payload, lower-cased.
func (s *Store) textSearch(w *where, q schema.TextSearch) {
	d := s.d
	contains := d.Contains("lower(events.event || ' ' || " + d.AsText("events.resource") + " || ' ' || " +
		d.AsText("events.related") + " || ' ' || " + d.AsText("events.payload") + ")")
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
