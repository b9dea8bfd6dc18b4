package sqlstore

import (
	"context"
	"crypto/cipher"
	"encoding/json"
	"errors"
	"slices"
	"strconv"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

// Block documents hold their data encrypted (block_crypt.go), without the
// fields that reference other documents: those are block_document_reference
// rows, and reads merge the referenced documents' data back in, recursively.

const blockDocumentColumns = `block_document.id, block_document.created, block_document.updated, block_document.name,
	block_document.data, block_document.is_anonymous, block_document.block_type_name, block_document.block_type_id,
	block_document.block_schema_id, block_schema.fields, ` + blockTypeColumns

const blockDocumentFrom = ` FROM block_document
	JOIN block_type ON block_type.id = block_document.block_type_id
	JOIN block_schema ON block_schema.id = block_document.block_schema_id`

// integrityConflict is Prefect's answer to a violated constraint.
const integrityConflict = "Data integrity conflict. This usually means a unique or foreign key constraint was violated. See server logs for details."

// storedDocument is a block_document row: its sealed data and the stored
// fields of its schema, whose secret_fields say what to obfuscate.
type storedDocument struct {
	schema.BlockDocument
	sealed       string
	schemaFields map[string]any
}

func scanBlockDocument(row scanner) (storedDocument, error) {
	var d storedDocument
	var bt schema.BlockType
	var fields json.RawMessage
	dest := append([]any{&d.ID, ts(&d.Created), ts(&d.Updated), &d.Name, &d.sealed, &d.IsAnonymous,
		nullString{&d.BlockTypeName}, &d.BlockTypeID, &d.BlockSchemaID, jsonCol{&fields}}, blockTypeDest(&bt)...)
	if err := row.Scan(dest...); err != nil {
		return d, classify(err)
	}
	d.BlockType = &bt
	var err error
	d.schemaFields, err = schema.DecodeJSONObject(fields)
	return d, err
}

func (s *Store) queryDocuments(ctx context.Context, c conn, q string, args ...any) ([]storedDocument, error) {
	rows, err := c.query(ctx, `SELECT `+blockDocumentColumns+blockDocumentFrom+` `+q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []storedDocument
	for rows.Next() {
		d, err := scanBlockDocument(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, classify(rows.Err())
}

// decryptData returns a row's stored data.
func decryptData(aead cipher.AEAD, d storedDocument) (map[string]any, error) {
	plain, err := openBlockData(aead, d.ID, d.sealed)
	if err != nil {
		return nil, err
	}
	return schema.DecodeJSONObject(plain)
}

type docRef struct {
	id    uuid.UUID // the reference row
	name  string
	child uuid.UUID
}

// buildDocuments is Prefect's read_block_documents after the filter: the
// documents with ids, in that order, each with the data of the documents it
// references (recursively) merged in and its schema attached.
func (s *Store) buildDocuments(ctx context.Context, c conn, aead cipher.AEAD, ids []uuid.UUID, includeSecrets bool) ([]schema.BlockDocument, error) {
	if len(ids) == 0 {
		return []schema.BlockDocument{}, nil
	}
	nodes := map[uuid.UUID]*storedDocument{}
	children := map[uuid.UUID][]docRef{}
	frontier := ids
	for depth := 0; len(frontier) > 0 && depth <= maxBlockNesting+1; depth++ {
		loaded, err := s.queryDocuments(ctx, c, `WHERE block_document.id IN (`+placeholders(len(frontier))+`)`, anyArgs(frontier)...)
		if err != nil {
			return nil, err
		}
		for i := range loaded {
			nodes[loaded[i].ID] = &loaded[i]
		}
		refs, err := s.documentRefs(ctx, c, frontier)
		if err != nil {
			return nil, err
		}
		frontier = nil
		for _, r := range refs {
			children[r.parent] = append(children[r.parent], r.docRef)
			if nodes[r.child] == nil && !slices.Contains(frontier, r.child) {
				frontier = append(frontier, r.child)
			}
		}
	}
	out := make([]schema.BlockDocument, 0, len(ids))
	var schemaIDs []uuid.UUID
	budget := maxExpandedDocuments
	for _, id := range ids {
		if nodes[id] == nil {
			continue // deleted between the filter and this read
		}
		doc, err := buildDocument(aead, nodes, children, id, includeSecrets, []uuid.UUID{id}, &budget)
		if err != nil {
			return nil, err
		}
		out = append(out, doc)
		if !slices.Contains(schemaIDs, doc.BlockSchemaID) {
			schemaIDs = append(schemaIDs, doc.BlockSchemaID)
		}
	}
	if len(schemaIDs) == 0 {
		return out, nil
	}
	found, err := s.querySchemas(ctx, c, `WHERE block_schema.id IN (`+placeholders(len(schemaIDs))+`)`, anyArgs(schemaIDs)...)
	if err != nil {
		return nil, err
	}
	built, err := s.buildSchemas(ctx, c, found)
	if err != nil {
		return nil, err
	}
	for i := range out {
		for j := range built {
			if built[j].ID == out[i].BlockSchemaID {
				bs := built[j]
				out[i].BlockSchema = &bs
			}
		}
	}
	return out, nil
}

type parentRef struct {
	docRef
	parent uuid.UUID
}

// documentRefs returns the references held by the parents, oldest first.
func (s *Store) documentRefs(ctx context.Context, c conn, parents []uuid.UUID) ([]parentRef, error) {
	rows, err := c.query(ctx, `SELECT id, name, parent_block_document_id, reference_block_document_id FROM block_document_reference
		WHERE parent_block_document_id IN (`+placeholders(len(parents))+`) ORDER BY created, id`, anyArgs(parents)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []parentRef
	for rows.Next() {
		var r parentRef
		if err := rows.Scan(&r.id, &r.name, &r.parent, &r.child); err != nil {
			return nil, classify(err)
		}
		out = append(out, r)
	}
	return out, classify(rows.Err())
}

// maxExpandedDocuments bounds how many documents one read expands. Each
// reference nests the referenced document's data, so documents that
// reference others several times, level after level, grow exponentially.
const maxExpandedDocuments = 10_000

// buildDocument is Prefect's _construct_full_block_document for one
// document; path holds the documents above it, so a cycle cannot recurse.
func buildDocument(aead cipher.AEAD, nodes map[uuid.UUID]*storedDocument, children map[uuid.UUID][]docRef,
	id uuid.UUID, includeSecrets bool, path []uuid.UUID, budget *int) (schema.BlockDocument, error) {
	if *budget--; *budget < 0 {
		return schema.BlockDocument{}, &schema.BadRequestError{Msg: "Block document references expand to more than " +
			strconv.Itoa(maxExpandedDocuments) + " documents."}
	}
	n := nodes[id]
	doc := n.BlockDocument
	data, err := decryptData(aead, *n)
	if err != nil {
		return doc, err
	}
	if !includeSecrets {
		data = schema.ObfuscateSecrets(data, schema.SecretFields(n.schemaFields))
	}
	doc.References = map[string]any{}
	if len(path) <= maxBlockNesting {
		for _, ch := range children[id] {
			if nodes[ch.child] == nil || slices.Contains(path, ch.child) {
				continue
			}
			child, err := buildDocument(aead, nodes, children, ch.child, includeSecrets, append(slices.Clone(path), ch.child), budget)
			if err != nil {
				return doc, err
			}
			var childData any
			if err := json.Unmarshal(child.Data, &childData); err != nil {
				return doc, err
			}
			data[ch.name] = childData
			doc.References[ch.name] = map[string]any{"block_document": map[string]any{
				"id":                        child.ID,
				"name":                      child.Name,
				"block_type":                child.BlockType,
				"is_anonymous":              child.IsAnonymous,
				"block_document_references": child.References,
			}}
		}
	}
	doc.Data = mustJSON(data)
	return doc, nil
}

var blockDocumentSorts = map[string]string{
	"":                        "block_document.name ASC",
	"NAME_ASC":                "block_document.name ASC",
	"NAME_DESC":               "block_document.name DESC",
	"BLOCK_TYPE_AND_NAME_ASC": "block_document.block_type_name ASC, block_document.name ASC",
}

func (s *Store) blockDocumentWhere(q schema.BlockDocumentQuery) *where {
	w := newWhere(s.d)
	f := q.BlockDocuments
	if f == nil {
		f = &schema.BlockDocumentFilter{IsAnonymous: schema.NonAnonymous()}
	}
	w.nested(f.Operator, func(in *where) {
		in.ids("block_document.id", f.ID)
		if f.IsAnonymous != nil && f.IsAnonymous.Eq != nil {
			in.add("block_document.is_anonymous = ?", *f.IsAnonymous.Eq)
		}
		in.ids("block_document.block_type_id", f.BlockTypeID)
		in.text("block_document.name", f.Name)
	})
	if q.BlockTypes != nil {
		tw := newWhere(s.d)
		s.blockTypeFilter(tw, q.BlockTypes)
		w.sub(`EXISTS (SELECT 1 FROM block_type WHERE block_type.id = block_document.block_type_id AND `+tw.sql()+`)`, tw)
	}
	if q.BlockSchemas != nil {
		sw := newWhere(s.d)
		s.blockSchemaFilter(sw, q.BlockSchemas)
		w.sub(`EXISTS (SELECT 1 FROM block_schema WHERE block_schema.id = block_document.block_schema_id AND `+sw.sql()+`)`, sw)
	}
	return w
}

// FilterBlockDocuments returns the documents matching q.
func (s *Store) FilterBlockDocuments(ctx context.Context, q schema.BlockDocumentQuery) ([]schema.BlockDocument, error) {
	order, err := sortClause(blockDocumentSorts, q.Sort)
	if err != nil {
		return nil, err
	}
	aead, err := s.blockCipher(ctx)
	if err != nil {
		return nil, err
	}
	w := s.blockDocumentWhere(q)
	var out []schema.BlockDocument
	err = s.read(ctx, func(ctx context.Context, c conn) error {
		ids, err := s.documentIDs(ctx, c, `SELECT block_document.id FROM block_document WHERE `+w.sql()+
			` ORDER BY `+order+`, block_document.id`+s.page(q.Page), w.args...)
		if err != nil {
			return err
		}
		out, err = s.buildDocuments(ctx, c, aead, ids, q.IncludeSecrets)
		return err
	})
	return nonNil(out), err
}

func (s *Store) documentIDs(ctx context.Context, c conn, q string, args ...any) ([]uuid.UUID, error) {
	return idsOf(ctx, c, q, args...)
}

// CountBlockDocuments counts the documents matching q.
func (s *Store) CountBlockDocuments(ctx context.Context, q schema.BlockDocumentQuery) (int, error) {
	w := s.blockDocumentWhere(q)
	return s.count(ctx, `SELECT count(*) FROM block_document WHERE `+w.sql(), w.args)
}

// readDocument reads one document selected by an id query.
func (s *Store) readDocument(ctx context.Context, c conn, aead cipher.AEAD, includeSecrets bool, q string, args ...any) (schema.BlockDocument, error) {
	ids, err := s.documentIDs(ctx, c, q, args...)
	if err != nil {
		return schema.BlockDocument{}, err
	}
	docs, err := s.buildDocuments(ctx, c, aead, ids, includeSecrets)
	if err != nil {
		return schema.BlockDocument{}, err
	}
	if len(docs) == 0 {
		return schema.BlockDocument{}, schema.ErrNotFound
	}
	return docs[0], nil
}

// ReadBlockDocument returns one document.
func (s *Store) ReadBlockDocument(ctx context.Context, id uuid.UUID, includeSecrets bool) (schema.BlockDocument, error) {
	aead, err := s.blockCipher(ctx)
	if err != nil {
		return schema.BlockDocument{}, err
	}
	var out schema.BlockDocument
	err = s.read(ctx, func(ctx context.Context, c conn) (err error) {
		out, err = s.readDocument(ctx, c, aead, includeSecrets, `SELECT id FROM block_document WHERE id = ?`, id)
		return err
	})
	return out, err
}

// ReadBlockDocumentByName returns the document of a type, by name.
func (s *Store) ReadBlockDocumentByName(ctx context.Context, typeSlug, name string, includeSecrets bool) (schema.BlockDocument, error) {
	aead, err := s.blockCipher(ctx)
	if err != nil {
		return schema.BlockDocument{}, err
	}
	var out schema.BlockDocument
	err = s.read(ctx, func(ctx context.Context, c conn) (err error) {
		out, err = s.readDocument(ctx, c, aead, includeSecrets, `SELECT block_document.id FROM block_document
			JOIN block_type ON block_type.id = block_document.block_type_id
			WHERE block_type.slug = ? AND block_document.name = ?`, typeSlug, name)
		return err
	})
	return out, err
}

// CreateBlockDocument stores a document and its references.
func (s *Store) CreateBlockDocument(ctx context.Context, d schema.BlockDocumentCreate) (schema.BlockDocument, error) {
	data, err := schema.DecodeJSONObject(d.Data)
	if err != nil {
		return schema.BlockDocument{}, schema.Invalid("data", "Input should be a valid dictionary")
	}
	plain, refs, err := schema.SplitBlockReferences(data)
	if err != nil {
		return schema.BlockDocument{}, err
	}
	aead, err := s.blockCipher(ctx)
	if err != nil {
		return schema.BlockDocument{}, err
	}
	var out schema.BlockDocument
	err = s.tx(ctx, func(ctx context.Context, c conn) error {
		bt, err := scanBlockType(c.queryRow(ctx, `SELECT `+blockTypeColumns+` FROM block_type WHERE id = ?`, d.BlockTypeID))
		if err != nil {
			return err
		}
		var n int
		if err := classify(c.queryRow(ctx, `SELECT count(*) FROM block_schema WHERE id = ?`, d.BlockSchemaID).Scan(&n)); err != nil {
			return err
		}
		if n == 0 {
			return &schema.ConflictError{Msg: integrityConflict}
		}
		name := "anonymous-" + uuid.NewString()
		if d.Name != nil && *d.Name != "" {
			name = *d.Name
		}
		if err := classify(c.queryRow(ctx, `SELECT count(*) FROM block_document WHERE block_type_id = ? AND name = ?`, d.BlockTypeID, name).Scan(&n)); err != nil {
			return err
		}
		if n > 0 {
			return &schema.ConflictError{Msg: "Block already exists"}
		}
		id := uuid.Must(uuid.NewV7())
		sealed, err := sealBlockData(aead, id, mustJSON(plain))
		if err != nil {
			return err
		}
		now := s.clock()
		if _, err := c.exec(ctx, `INSERT INTO block_document (id, created, updated, name, data, is_anonymous, block_type_name,
			block_type_id, block_schema_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			id, now, now, name, sealed, d.IsAnonymous, bt.Name, d.BlockTypeID, d.BlockSchemaID); err != nil {
			return err
		}
		for _, r := range refs {
			if err := s.createDocumentRef(ctx, c, id, r); err != nil {
				return err
			}
		}
		out, err = s.readDocument(ctx, c, aead, false, `SELECT id FROM block_document WHERE id = ?`, id)
		return err
	})
	return out, err
}

// createDocumentRef stores that parent's field r.Name is the document
// r.DocumentID, unless that would close a cycle of references.
func (s *Store) createDocumentRef(ctx context.Context, c conn, parent uuid.UUID, r schema.BlockDocumentRef) error {
	var n int
	if err := classify(c.queryRow(ctx, `SELECT count(*) FROM block_document WHERE id = ?`, r.DocumentID).Scan(&n)); err != nil {
		return err
	}
	if n == 0 {
		return &schema.ConflictError{Msg: integrityConflict}
	}
	cycle, err := s.referenceWouldCycle(ctx, c, parent, r.DocumentID)
	if err != nil {
		return err
	}
	if cycle {
		return &schema.BadRequestError{Msg: "Cannot create block document reference: it would introduce a cycle into the " +
			"block_document_reference graph (parent=" + parent.String() + ", reference=" + r.DocumentID.String() + ")."}
	}
	now := s.clock()
	_, err = c.exec(ctx, `INSERT INTO block_document_reference (id, created, updated, name, parent_block_document_id,
		reference_block_document_id) VALUES (?, ?, ?, ?, ?, ?)`, uuid.Must(uuid.NewV7()), now, now, r.Name, parent, r.DocumentID)
	return err
}

// referenceWouldCycle reports whether parent is reachable from ref along
// existing references (or is ref itself).
func (s *Store) referenceWouldCycle(ctx context.Context, c conn, parent, ref uuid.UUID) (bool, error) {
	visited := map[uuid.UUID]bool{}
	frontier := []uuid.UUID{ref}
	for len(frontier) > 0 {
		var next []uuid.UUID
		for _, id := range frontier {
			if id == parent {
				return true, nil
			}
			visited[id] = true
		}
		refs, err := s.documentRefs(ctx, c, frontier)
		if err != nil {
			return false, err
		}
		for _, r := range refs {
			if !visited[r.child] && !slices.Contains(next, r.child) {
				next = append(next, r.child)
			}
		}
		frontier = next
	}
	return false, nil
}

// UpdateBlockDocument is Prefect's models.block_documents.update_block_document.
func (s *Store) UpdateBlockDocument(ctx context.Context, id uuid.UUID, u schema.BlockDocumentUpdate) error {
	var update map[string]any
	if u.Data != nil {
		var err error
		if update, err = schema.DecodeJSONObject(u.Data); err != nil {
			return schema.Invalid("data", "Input should be a valid dictionary")
		}
	}
	aead, err := s.blockCipher(ctx)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(ctx context.Context, c conn) error {
		found, err := s.queryDocuments(ctx, c, `WHERE block_document.id = ?`+s.d.ForUpdate("block_document"), id)
		if err != nil {
			return err
		}
		if len(found) == 0 {
			return schema.ErrNotFound
		}
		cur := found[0]
		if update == nil {
			return nil // merging without data changes nothing, not even the schema
		}
		current, err := decryptData(aead, cur)
		if err != nil {
			return err
		}
		update = schema.RestoreSecrets(update, current, schema.SecretFields(cur.schemaFields))
		if u.Merge() {
			for k, v := range update {
				current[k] = v
			}
			update = current
		}
		plain, refs, err := schema.SplitBlockReferences(update)
		if err != nil {
			return err
		}
		sealed, err := sealBlockData(aead, id, mustJSON(plain))
		if err != nil {
			return err
		}
		if _, err := c.exec(ctx, `UPDATE block_document SET data = ?, updated = ? WHERE id = ?`, sealed, s.clock(), id); err != nil {
			return err
		}
		if u.BlockSchemaID != nil && *u.BlockSchemaID != cur.BlockSchemaID {
			var typeID uuid.UUID
			err := classify(c.queryRow(ctx, `SELECT block_type_id FROM block_schema WHERE id = ?`, *u.BlockSchemaID).Scan(&typeID))
			if errors.Is(err, schema.ErrNotFound) {
				return &schema.BadRequestError{Msg: "Block schema " + u.BlockSchemaID.String() + " not found"}
			}
			if err != nil {
				return err
			}
			if typeID != cur.BlockTypeID {
				return &schema.BadRequestError{Msg: "Must migrate block document to a block schema of the same block type."}
			}
			if _, err := c.exec(ctx, `UPDATE block_document SET block_schema_id = ? WHERE id = ?`, *u.BlockSchemaID, id); err != nil {
				return err
			}
		}
		existing, err := s.documentRefs(ctx, c, []uuid.UUID{id})
		if err != nil {
			return err
		}
		kept := map[uuid.UUID]bool{}
		for _, r := range refs {
			i := slices.IndexFunc(existing, func(e parentRef) bool { return e.name == r.Name && e.child == r.DocumentID })
			if i >= 0 {
				kept[existing[i].id] = true
				continue
			}
			if err := s.createDocumentRef(ctx, c, id, r); err != nil {
				return err
			}
		}
		for _, e := range existing {
			if !kept[e.id] {
				if _, err := c.exec(ctx, `DELETE FROM block_document_reference WHERE id = ?`, e.id); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// DeleteBlockDocument deletes a document; references to and from it go with it.
func (s *Store) DeleteBlockDocument(ctx context.Context, id uuid.UUID) error {
	return s.tx(ctx, func(ctx context.Context, c conn) error {
		if err := mustDelete(c.exec(ctx, `DELETE FROM block_document WHERE id = ?`, id)); err != nil {
			return err
		}
		return clearResultStorageOf(ctx, c, id)
	})
}
