package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

// Block schemas are stored as Prefect stores them: the client's fields
// without "block_schema_references" (one block_schema_reference row per
// nested block instead) and with "definitions" cut to the non-block ones.
// Reads rebuild both from the nested schemas, recursively.

const blockSchemaColumns = `block_schema.id, block_schema.created, block_schema.updated, block_schema.checksum,
	block_schema.fields, block_schema.capabilities, block_schema.version, block_schema.block_type_id, ` + blockTypeColumns

const blockSchemaFrom = ` FROM block_schema JOIN block_type ON block_type.id = block_schema.block_type_id`

// maxBlockNesting bounds how deep nested schemas and documents are followed
// (Prefect's _BLOCK_DOCUMENT_REFERENCE_MAX_DEPTH).
const maxBlockNesting = 50

// storedSchema is a block_schema row with its stored fields decoded.
type storedSchema struct {
	schema.BlockSchema
	fields map[string]any
}

func scanBlockSchema(row scanner) (storedSchema, error) {
	var s storedSchema
	var fields json.RawMessage
	var bt schema.BlockType
	var typeID uuid.UUID
	dest := append([]any{&s.ID, ts(&s.Created), ts(&s.Updated), &s.Checksum, jsonCol{&fields},
		jsonInto{&s.Capabilities}, &s.Version, &typeID}, blockTypeDest(&bt)...)
	if err := row.Scan(dest...); err != nil {
		return s, classify(err)
	}
	s.BlockTypeID = &typeID
	s.BlockType = &bt
	s.Capabilities = nonNil(s.Capabilities)
	var err error
	s.fields, err = schema.DecodeJSONObject(fields)
	return s, err
}

func (s *Store) querySchemas(ctx context.Context, c conn, q string, args ...any) ([]storedSchema, error) {
	rows, err := c.query(ctx, `SELECT `+blockSchemaColumns+blockSchemaFrom+` `+q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []storedSchema
	for rows.Next() {
		bs, err := scanBlockSchema(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, bs)
	}
	return out, classify(rows.Err())
}

type schemaRef struct {
	name  string
	child uuid.UUID
}

// buildSchemas returns the schemas with their fields rebuilt: the
// block_schema_references of their nested blocks and the definitions of
// those blocks' schemas, recursively.
func (s *Store) buildSchemas(ctx context.Context, c conn, roots []storedSchema) ([]schema.BlockSchema, error) {
	nodes := map[uuid.UUID]*storedSchema{}
	children := map[uuid.UUID][]schemaRef{}
	var frontier []uuid.UUID
	for i := range roots {
		if nodes[roots[i].ID] == nil {
			nodes[roots[i].ID] = &roots[i]
			frontier = append(frontier, roots[i].ID)
		}
	}
	for depth := 0; len(frontier) > 0 && depth <= maxBlockNesting; depth++ {
		rows, err := c.query(ctx, `SELECT name, parent_block_schema_id, reference_block_schema_id FROM block_schema_reference
			WHERE parent_block_schema_id IN (`+placeholders(len(frontier))+`) ORDER BY created, id`, anyArgs(frontier)...)
		if err != nil {
			return nil, err
		}
		var missing []uuid.UUID
		for rows.Next() {
			var r schemaRef
			var parent uuid.UUID
			if err := rows.Scan(&r.name, &parent, &r.child); err != nil {
				rows.Close()
				return nil, classify(err)
			}
			children[parent] = append(children[parent], r)
			if nodes[r.child] == nil && !slices.Contains(missing, r.child) {
				missing = append(missing, r.child)
			}
		}
		rows.Close()
		if err := classify(rows.Err()); err != nil {
			return nil, err
		}
		frontier = nil
		if len(missing) > 0 {
			loaded, err := s.querySchemas(ctx, c, `WHERE block_schema.id IN (`+placeholders(len(missing))+`)`, anyArgs(missing)...)
			if err != nil {
				return nil, err
			}
			for i := range loaded {
				nodes[loaded[i].ID] = &loaded[i]
				frontier = append(frontier, loaded[i].ID)
			}
		}
	}
	g := &schemaGraph{nodes: nodes, children: children, memo: map[uuid.UUID]map[string]any{}}
	out := make([]schema.BlockSchema, len(roots))
	for i, r := range roots {
		out[i] = r.BlockSchema
		out[i].Fields = mustJSON(g.fields(r.ID, nil))
	}
	return out, nil
}

// schemaGraph is a set of schemas with their references.
type schemaGraph struct {
	nodes    map[uuid.UUID]*storedSchema
	children map[uuid.UUID][]schemaRef
	// memo holds the rebuilt fields of each schema, so a schema nested in
	// many places is rebuilt once.
	memo map[uuid.UUID]map[string]any
}

// fields is Prefect's _construct_full_block_schema for one schema. path
// holds the schemas above it: a reference back to one of them (a cycle,
// which crafted input can create) is listed but not expanded.
func (g *schemaGraph) fields(id uuid.UUID, path []uuid.UUID) map[string]any {
	if f, ok := g.memo[id]; ok {
		return f
	}
	f := schemaFields(g, id, append(slices.Clone(path), id))
	g.memo[id] = f
	return f
}

func schemaFields(g *schemaGraph, id uuid.UUID, path []uuid.UUID) map[string]any {
	nodes, children := g.nodes, g.children
	n := nodes[id]
	f := make(map[string]any, len(n.fields)+2)
	for k, v := range n.fields {
		f[k] = v
	}
	refs := map[string]any{}
	defs := map[string]any{}
	var seen []uuid.UUID
	for _, ch := range children[id] {
		child := nodes[ch.child]
		if child == nil {
			continue
		}
		entry := map[string]any{"block_schema_checksum": child.Checksum, "block_type_slug": child.BlockType.Slug}
		switch existing := refs[ch.name].(type) {
		case nil:
			refs[ch.name] = entry
		case []any:
			if !containsEntry(existing, entry) {
				refs[ch.name] = append(existing, entry)
			}
		case map[string]any:
			if !sameEntry(existing, entry) {
				refs[ch.name] = []any{existing, entry}
			}
		}
		if len(path) > maxBlockNesting || slices.Contains(seen, ch.child) || slices.Contains(path, ch.child) {
			continue
		}
		seen = append(seen, ch.child)
		full := g.fields(ch.child, path)
		title, ok := full["title"].(string)
		if !ok {
			continue
		}
		childDefs, _ := full["definitions"].(map[string]any)
		cf := make(map[string]any, len(full))
		for k, v := range full {
			if k != "definitions" {
				cf[k] = v
			}
		}
		defs[title] = cf
		for k, v := range childDefs {
			defs[k] = v
		}
	}
	f["block_schema_references"] = refs
	stored, _ := f["definitions"].(map[string]any)
	if len(defs) > 0 || len(stored) > 0 {
		merged := make(map[string]any, len(stored)+len(defs))
		for k, v := range stored {
			merged[k] = v
		}
		for k, v := range defs {
			merged[k] = v
		}
		f["definitions"] = merged
	}
	return f
}

func sameEntry(a, b map[string]any) bool {
	return a["block_schema_checksum"] == b["block_schema_checksum"] && a["block_type_slug"] == b["block_type_slug"]
}

func containsEntry(list []any, e map[string]any) bool {
	for _, x := range list {
		if m, ok := x.(map[string]any); ok && sameEntry(m, e) {
			return true
		}
	}
	return false
}

// readSchema reads one schema by a query and rebuilds its fields.
func (s *Store) readSchema(ctx context.Context, c conn, q string, args ...any) (schema.BlockSchema, error) {
	found, err := s.querySchemas(ctx, c, q, args...)
	if err != nil {
		return schema.BlockSchema{}, err
	}
	if len(found) == 0 {
		return schema.BlockSchema{}, schema.ErrNotFound
	}
	built, err := s.buildSchemas(ctx, c, found[:1])
	if err != nil {
		return schema.BlockSchema{}, err
	}
	return built[0], nil
}

// ReadBlockSchema returns one schema.
func (s *Store) ReadBlockSchema(ctx context.Context, id uuid.UUID) (schema.BlockSchema, error) {
	var out schema.BlockSchema
	err := s.read(ctx, func(ctx context.Context, c conn) (err error) {
		out, err = s.readSchema(ctx, c, `WHERE block_schema.id = ?`, id)
		return err
	})
	return out, err
}

// newestByChecksum is the query of the newest schema with a checksum (and
// version when given), with its arguments.
func newestByChecksum(checksum string, version *string) (string, []any) {
	q := `WHERE block_schema.checksum = ?`
	args := []any{checksum}
	if version != nil {
		q += ` AND block_schema.version = ?`
		args = append(args, *version)
	}
	return q + ` ORDER BY block_schema.created DESC, block_schema.id DESC LIMIT 1`, args
}

// ReadBlockSchemaByChecksum returns the newest schema with the checksum.
func (s *Store) ReadBlockSchemaByChecksum(ctx context.Context, checksum string, version *string) (schema.BlockSchema, error) {
	var out schema.BlockSchema
	err := s.read(ctx, func(ctx context.Context, c conn) (err error) {
		q, args := newestByChecksum(checksum, version)
		out, err = s.readSchema(ctx, c, q, args...)
		return err
	})
	return out, err
}

// FilterBlockSchemas returns the schemas matching q, newest first.
func (s *Store) FilterBlockSchemas(ctx context.Context, q schema.BlockSchemaQuery) ([]schema.BlockSchema, error) {
	w := newWhere(s.d)
	s.blockSchemaFilter(w, q.BlockSchemas)
	var out []schema.BlockSchema
	err := s.read(ctx, func(ctx context.Context, c conn) error {
		found, err := s.querySchemas(ctx, c, `WHERE `+w.sql()+` ORDER BY block_schema.created DESC, block_schema.id DESC`+s.page(q.Page), w.args...)
		if err != nil {
			return err
		}
		out, err = s.buildSchemas(ctx, c, found)
		return err
	})
	return nonNil(out), err
}

// CreateBlockSchema stores a schema and the nested schemas it references.
func (s *Store) CreateBlockSchema(ctx context.Context, bs schema.BlockSchemaCreate) (schema.BlockSchema, bool, error) {
	fields, err := schema.DecodeJSONObject(bs.Fields)
	if err != nil {
		return schema.BlockSchema{}, false, schema.Invalid("fields", "Input should be a valid dictionary")
	}
	var out schema.BlockSchema
	created := false
	attempt := func() error {
		return s.tx(ctx, func(ctx context.Context, c conn) error {
			if _, err := scanBlockType(c.queryRow(ctx, `SELECT `+blockTypeColumns+` FROM block_type WHERE id = ?`, bs.BlockTypeID)); err != nil {
				return err
			}
			id, isNew, err := s.createSchemaTx(ctx, c, bs.BlockTypeID, fields, bs.Capabilities, bs.Version, nil, 0)
			if err != nil {
				return err
			}
			created = isNew
			out, err = s.readSchema(ctx, c, `WHERE block_schema.id = ?`, id)
			return err
		})
	}
	err = attempt()
	var conflict *schema.ConflictError
	if errors.As(err, &conflict) && strings.HasPrefix(conflict.Msg, "Data integrity conflict") {
		// Another replica stored the same schema (or a nested one) meanwhile:
		// a second attempt finds it.
		err = attempt()
	}
	return out, created, err
}

// createSchemaTx is Prefect's models.block_schemas.create_block_schema: it
// returns the stored schema with the same checksum and version, or inserts
// one and registers its nested schemas (from definitions, when not stored).
func (s *Store) createSchemaTx(ctx context.Context, c conn, typeID uuid.UUID, fields map[string]any,
	capabilities []string, version string, inherited map[string]any, depth int) (uuid.UUID, bool, error) {
	if depth > maxBlockNesting {
		return uuid.Nil, false, schema.Invalid("fields", "Block schemas are nested too deeply")
	}
	p, err := schema.PrepareBlockSchema(fields, inherited)
	if err != nil {
		return uuid.Nil, false, err
	}
	q, args := newestByChecksum(p.Checksum, &version)
	var existing uuid.UUID
	err = classify(c.queryRow(ctx, `SELECT block_schema.id FROM block_schema `+q, args...).Scan(&existing))
	if err == nil {
		return existing, false, nil
	}
	if !errors.Is(err, schema.ErrNotFound) {
		return uuid.Nil, false, err
	}
	id := uuid.Must(uuid.NewV7())
	now := s.clock()
	if _, err := c.exec(ctx, `INSERT INTO block_schema (id, created, updated, checksum, fields, capabilities, version, block_type_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, id, now, now, p.Checksum, mustJSON(p.Fields), mustJSON(nonNil(capabilities)), version, typeID); err != nil {
		return uuid.Nil, false, err
	}
	for _, ref := range p.References {
		refType, err := scanBlockType(c.queryRow(ctx, `SELECT `+blockTypeColumns+` FROM block_type WHERE slug = ?`, ref.Slug))
		if errors.Is(err, schema.ErrNotFound) {
			return uuid.Nil, false, &schema.ConflictError{Msg: "Cannot create block schema because block type " + pyRepr(ref.Slug) +
				" was not found.Did you forget to register the block type?"}
		}
		if err != nil {
			return uuid.Nil, false, err
		}
		q, args := newestByChecksum(ref.Checksum, nil)
		var child uuid.UUID
		err = classify(c.queryRow(ctx, `SELECT block_schema.id FROM block_schema `+q, args...).Scan(&child))
		if errors.Is(err, schema.ErrNotFound) {
			if p.Definitions == nil {
				return uuid.Nil, false, schema.Invalid("fields", "Unable to create nested block schema due to missing definitions in root block schema fields")
			}
			sub, err := schema.ChildSchemaFields(p.Definitions, p.Fields, ref.Name, refType.Slug)
			if err != nil {
				return uuid.Nil, false, err
			}
			if sub == nil {
				return uuid.Nil, false, schema.Invalid("fields", "Unable to create nested block schema for block type "+pyRepr(refType.Name)+" due to missing definition.")
			}
			child, _, err = s.createSchemaTx(ctx, c, refType.ID, sub, []string{}, schema.DefaultBlockSchemaVersion, p.Definitions, depth+1)
			if err != nil {
				return uuid.Nil, false, err
			}
		} else if err != nil {
			return uuid.Nil, false, err
		}
		var n int
		if err := classify(c.queryRow(ctx, `SELECT count(*) FROM block_schema_reference WHERE name = ? AND parent_block_schema_id = ?
			AND reference_block_schema_id = ?`, ref.Name, id, child).Scan(&n)); err != nil {
			return uuid.Nil, false, err
		}
		if n == 0 {
			if _, err := c.exec(ctx, `INSERT INTO block_schema_reference (id, created, updated, name, parent_block_schema_id,
				reference_block_schema_id) VALUES (?, ?, ?, ?, ?, ?)`, uuid.Must(uuid.NewV7()), now, now, ref.Name, id, child); err != nil {
				return uuid.Nil, false, err
			}
		}
	}
	return id, true, nil
}

// pyRepr quotes a string as Python's repr() does in the messages we copy.
func pyRepr(s string) string { return "'" + s + "'" }

// DeleteBlockSchema deletes a schema (and, by cascade, its documents).
func (s *Store) DeleteBlockSchema(ctx context.Context, id uuid.UUID) error {
	return s.tx(ctx, func(ctx context.Context, c conn) error {
		found, err := s.querySchemas(ctx, c, `WHERE block_schema.id = ?`, id)
		if err != nil {
			return err
		}
		if len(found) == 0 {
			return schema.ErrNotFound
		}
		if found[0].BlockType.IsProtected {
			return &schema.ForbiddenError{Msg: "Block schemas for protected block types cannot be deleted."}
		}
		return mustDelete(c.exec(ctx, `DELETE FROM block_schema WHERE id = ?`, id))
	})
}

// ReadBlockCapabilities returns every capability any schema declares.
func (s *Store) ReadBlockCapabilities(ctx context.Context) ([]string, error) {
	out := []string{}
	err := s.read(ctx, func(ctx context.Context, c conn) error {
		rows, err := c.query(ctx, `SELECT DISTINCT capabilities FROM block_schema`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var caps []string
			if err := rows.Scan(jsonInto{&caps}); err != nil {
				return classify(err)
			}
			for _, cp := range caps {
				if !slices.Contains(out, cp) {
					out = append(out, cp)
				}
			}
		}
		return classify(rows.Err())
	})
	slices.Sort(out)
	return out, err
}
