package sqlstore

import (
	"context"
	"errors"
	"html"
	"strings"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

const blockTypeColumns = `block_type.id, block_type.created, block_type.updated, block_type.name, block_type.slug,
	block_type.logo_url, block_type.documentation_url, block_type.description, block_type.code_example,
	block_type.is_protected`

func blockTypeDest(t *schema.BlockType) []any {
	return []any{&t.ID, ts(&t.Created), ts(&t.Updated), &t.Name, &t.Slug,
		nullString{&t.LogoURL}, nullString{&t.DocumentationURL}, nullString{&t.Description}, nullString{&t.CodeExample},
		&t.IsProtected}
}

func scanBlockType(row scanner) (schema.BlockType, error) {
	var t schema.BlockType
	err := row.Scan(blockTypeDest(&t)...)
	return t, classify(err)
}

// escapeHTML is Python's html.escape(s, quote=False), which Prefect applies
// to a new block type's description and code example.
func escapeHTML(s *string) *string {
	if s == nil {
		return nil
	}
	e := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(*s)
	return &e
}

// CreateBlockType stores a new block type.
func (s *Store) CreateBlockType(ctx context.Context, t schema.BlockTypeCreate) (schema.BlockType, error) {
	var out schema.BlockType
	err := s.tx(ctx, func(ctx context.Context, c conn) error {
		var n int
		if err := classify(c.queryRow(ctx, `SELECT count(*) FROM block_type WHERE slug = ?`, t.Slug).Scan(&n)); err != nil {
			return err
		}
		if n > 0 {
			return &schema.ConflictError{Msg: `Block type with name "` + t.Name + `" already exists`}
		}
		now := s.clock()
		id := uuid.Must(uuid.NewV7())
		if _, err := c.exec(ctx, `INSERT INTO block_type (id, created, updated, name, slug, logo_url, documentation_url,
			description, code_example, is_protected) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			id, now, now, t.Name, t.Slug, t.LogoURL, t.DocumentationURL, escapeHTML(t.Description), escapeHTML(t.CodeExample),
			t.IsProtected); err != nil {
			var conflict *schema.ConflictError
			if errors.As(err, &conflict) {
				return &schema.ConflictError{Msg: `Block type with name "` + t.Name + `" already exists`}
			}
			return err
		}
		var err error
		out, err = scanBlockType(c.queryRow(ctx, `SELECT `+blockTypeColumns+` FROM block_type WHERE id = ?`, id))
		return err
	})
	return out, err
}

// RegisterBlockType stores a catalogue block type by its slug. The insert
// gives way to a row another transaction holds (ON CONFLICT waits for it),
// and the stored row is then locked and brought up to date.
func (s *Store) RegisterBlockType(ctx context.Context, t schema.BlockTypeCreate) (schema.BlockType, string, error) {
	var out schema.BlockType
	change := ""
	err := s.tx(ctx, func(ctx context.Context, c conn) error {
		change = ""
		now := s.clock()
		res, err := c.exec(ctx, `INSERT INTO block_type (id, created, updated, name, slug, logo_url, documentation_url,
			description, code_example, is_protected) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (slug) DO NOTHING`,
			uuid.Must(uuid.NewV7()), now, now, t.Name, t.Slug, t.LogoURL, t.DocumentationURL, escapeHTML(t.Description),
			escapeHTML(t.CodeExample), t.IsProtected)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			change = "created"
		}
		cur, err := scanBlockType(c.queryRow(ctx, `SELECT `+blockTypeColumns+` FROM block_type WHERE slug = ?`+s.d.ForUpdate("block_type"), t.Slug))
		if err != nil || change != "" {
			out = cur
			return err
		}
		var up update
		// Prefect's upsert of a protected type writes it as created (its
		// texts escaped); its update of any other type writes them as given.
		description, example := t.Description, t.CodeExample
		if t.IsProtected {
			description, example = escapeHTML(description), escapeHTML(example)
			if cur.Name != t.Name {
				up.set("name", t.Name)
			}
			if !cur.IsProtected {
				up.set("is_protected", true)
			}
		}
		for _, f := range []struct {
			col      string
			v, cur   *string
			unescape bool
		}{
			{"logo_url", t.LogoURL, cur.LogoURL, false},
			{"documentation_url", t.DocumentationURL, cur.DocumentationURL, false},
			{"description", description, cur.Description, true},
			{"code_example", example, cur.CodeExample, true},
		} {
			if !sameText(f.v, f.cur, f.unescape) {
				up.set(f.col, f.v)
			}
		}
		if up.empty() {
			out = cur
			return nil
		}
		up.set("updated", now)
		if _, err := up.exec(ctx, c, "block_type", "id = ?", cur.ID); err != nil {
			return err
		}
		change = "updated"
		out, err = scanBlockType(c.queryRow(ctx, `SELECT `+blockTypeColumns+` FROM block_type WHERE id = ?`, cur.ID))
		return err
	})
	return out, change, err
}

// ReadBlockType returns one block type.
func (s *Store) ReadBlockType(ctx context.Context, id uuid.UUID) (schema.BlockType, error) {
	var t schema.BlockType
	err := s.read(ctx, func(ctx context.Context, c conn) (err error) {
		t, err = scanBlockType(c.queryRow(ctx, `SELECT `+blockTypeColumns+` FROM block_type WHERE id = ?`, id))
		return err
	})
	return t, err
}

// ReadBlockTypeBySlug returns the block type with that slug.
func (s *Store) ReadBlockTypeBySlug(ctx context.Context, slug string) (schema.BlockType, error) {
	var t schema.BlockType
	err := s.read(ctx, func(ctx context.Context, c conn) (err error) {
		t, err = scanBlockType(c.queryRow(ctx, `SELECT `+blockTypeColumns+` FROM block_type WHERE slug = ?`, slug))
		return err
	})
	return t, err
}

// blockTypeFilter adds the criteria on the block_type table.
func (s *Store) blockTypeFilter(w *where, f *schema.BlockTypeFilter) {
	if f == nil {
		return
	}
	w.text("block_type.name", f.Name)
	w.text("block_type.slug", f.Slug)
}

// blockSchemaFilter adds the criteria on the block_schema table.
func (s *Store) blockSchemaFilter(w *where, f *schema.BlockSchemaFilter) {
	if f == nil {
		return
	}
	w.nested(f.Operator, func(in *where) {
		in.ids("block_schema.block_type_id", f.BlockTypeID)
		if f.BlockCapabilities != nil && len(f.BlockCapabilities.All) > 0 {
			in.add(s.d.TagsAll("block_schema.capabilities"), mustJSON(f.BlockCapabilities.All))
		}
		in.ids("block_schema.id", f.ID)
		in.text("block_schema.version", f.Version)
	})
}

// FilterBlockTypes returns the block types matching q, by name.
func (s *Store) FilterBlockTypes(ctx context.Context, q schema.BlockTypeQuery) ([]schema.BlockType, error) {
	w := newWhere(s.d)
	s.blockTypeFilter(w, q.BlockTypes)
	if q.BlockSchemas != nil {
		sw := newWhere(s.d)
		s.blockSchemaFilter(sw, q.BlockSchemas)
		w.sub(`EXISTS (SELECT 1 FROM block_schema WHERE block_schema.block_type_id = block_type.id AND `+sw.sql()+`)`, sw)
	}
	var out []schema.BlockType
	err := s.read(ctx, func(ctx context.Context, c conn) error {
		rows, err := c.query(ctx, `SELECT `+blockTypeColumns+` FROM block_type WHERE `+w.sql()+
			` ORDER BY block_type.name, block_type.id`+s.page(q.Page), w.args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			t, err := scanBlockType(rows)
			if err != nil {
				return err
			}
			out = append(out, t)
		}
		return classify(rows.Err())
	})
	return nonNil(out), err
}

// UpdateBlockType changes the fields present in u. Like Prefect, it writes
// nothing when u sets every updatable field to what is stored (the client
// calls it on every block registration).
func (s *Store) UpdateBlockType(ctx context.Context, id uuid.UUID, u schema.BlockTypeUpdate) (bool, error) {
	changed := false
	err := s.tx(ctx, func(ctx context.Context, c conn) error {
		cur, err := scanBlockType(c.queryRow(ctx, `SELECT `+blockTypeColumns+` FROM block_type WHERE id = ?`+s.d.ForUpdate("block_type"), id))
		if err != nil {
			return err
		}
		fields := []struct {
			col      string
			v        schema.Nullable[string]
			cur      *string
			unescape bool
		}{
			{"logo_url", u.LogoURL, cur.LogoURL, false},
			{"documentation_url", u.DocumentationURL, cur.DocumentationURL, false},
			{"description", u.Description, cur.Description, true},
			{"code_example", u.CodeExample, cur.CodeExample, true},
		}
		same := true
		var up update
		for _, f := range fields {
			if !f.v.Set {
				same = false // Prefect compares the set fields with all of the stored ones
				continue
			}
			if !sameText(f.v.Value, f.cur, f.unescape) {
				same = false
			}
			up.set(f.col, f.v.Value)
		}
		if same || up.empty() {
			return nil
		}
		up.set("updated", s.clock())
		_, err = up.exec(ctx, c, "block_type", "id = ?", id)
		changed = err == nil
		return err
	})
	return changed, err
}

func sameText(a, b *string, unescape bool) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	if unescape {
		return html.UnescapeString(*a) == html.UnescapeString(*b)
	}
	return *a == *b
}

// DeleteBlockType deletes a type with its schemas and documents.
func (s *Store) DeleteBlockType(ctx context.Context, id uuid.UUID) error {
	return s.tx(ctx, func(ctx context.Context, c conn) error {
		t, err := scanBlockType(c.queryRow(ctx, `SELECT `+blockTypeColumns+` FROM block_type WHERE id = ?`, id))
		if err != nil {
			return err
		}
		if t.IsProtected {
			return &schema.ForbiddenError{Msg: "protected block types cannot be deleted."}
		}
		return mustDelete(c.exec(ctx, `DELETE FROM block_type WHERE id = ?`, id))
	})
}
