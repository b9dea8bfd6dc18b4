package storetest

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/store"
)

// secretFields is the schema the Prefect 3.9.1 client registers for its
// Secret block (abridged to what the server looks at).
const secretFields = `{"block_schema_references": {}, "block_type_slug": "secret", "properties": {"value": {"anyOf": [
	{"format": "password", "type": "string", "writeOnly": true}, {"title": "string", "type": "string"},
	{"$ref": "#/definitions/JsonValue", "title": "JSON"}], "title": "Value", "writeOnly": true, "position": 0}},
	"required": ["value"], "secret_fields": ["value", "value"], "title": "Secret", "type": "object",
	"definitions": {"JsonValue": {}}}`

func newBlockType(t *testing.T, s store.Store, name, slug string) schema.BlockType {
	t.Helper()
	bt, err := s.CreateBlockType(context.Background(), schema.BlockTypeCreate{Name: name, Slug: slug})
	require.NoError(t, err)
	return bt
}

func newBlockSchema(t *testing.T, s store.Store, typeID uuid.UUID, fields string, caps ...string) schema.BlockSchema {
	t.Helper()
	c := schema.BlockSchemaCreate{BlockTypeID: typeID, Fields: json.RawMessage(fields), Capabilities: caps}
	require.NoError(t, c.Validate())
	bs, created, err := s.CreateBlockSchema(context.Background(), c)
	require.NoError(t, err)
	require.True(t, created)
	return bs
}

func dataOf(t *testing.T, d schema.BlockDocument) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(d.Data, &m))
	return m
}

func TestBlockTypes(t *testing.T) {
	t.Parallel()
	ForEach(t, func(t *testing.T, open Opener) {
		s := open(t)
		ctx := context.Background()
		desc := "Holds <secrets> & more"
		bt, err := s.CreateBlockType(ctx, schema.BlockTypeCreate{Name: "Secret", Slug: "secret", Description: &desc})
		require.NoError(t, err)
		require.Equal(t, "Holds &lt;secrets&gt; &amp; more", *bt.Description, "Prefect stores descriptions HTML-escaped")
		_, err = s.CreateBlockType(ctx, schema.BlockTypeCreate{Name: "Other", Slug: "secret"})
		var conflict *schema.ConflictError
		require.ErrorAs(t, err, &conflict)
		require.Equal(t, `Block type with name "Other" already exists`, conflict.Msg)

		got, err := s.ReadBlockTypeBySlug(ctx, "secret")
		require.NoError(t, err)
		require.Equal(t, bt.ID, got.ID)
		_, err = s.ReadBlockType(ctx, uuid.New())
		require.ErrorIs(t, err, schema.ErrNotFound)

		newBlockType(t, s, "Another", "another")
		all, err := s.FilterBlockTypes(ctx, schema.BlockTypeQuery{})
		require.NoError(t, err)
		require.Equal(t, []string{"Another", "Secret"}, []string{all[0].Name, all[1].Name}, "ordered by name")
		like := "SEC"
		some, err := s.FilterBlockTypes(ctx, schema.BlockTypeQuery{BlockTypes: &schema.BlockTypeFilter{Name: &schema.TextFilter{Like: &like}}})
		require.NoError(t, err)
		require.Len(t, some, 1)

		logo := "https://example.com/logo.png"
		changed, err := s.UpdateBlockType(ctx, bt.ID, schema.BlockTypeUpdate{
			LogoURL: schema.Nullable[string]{Set: true, Value: &logo}, Description: schema.Nullable[string]{Set: true}})
		require.NoError(t, err)
		require.True(t, changed)
		same := schema.BlockTypeUpdate{LogoURL: schema.Nullable[string]{Set: true, Value: &logo},
			DocumentationURL: schema.Nullable[string]{Set: true}, Description: schema.Nullable[string]{Set: true},
			CodeExample: schema.Nullable[string]{Set: true}}
		changed, err = s.UpdateBlockType(ctx, bt.ID, same)
		require.NoError(t, err)
		require.False(t, changed, "an update to the stored values writes nothing")
		got, err = s.ReadBlockType(ctx, bt.ID)
		require.NoError(t, err)
		require.Equal(t, logo, *got.LogoURL)
		require.Nil(t, got.Description, "an explicit null clears the field")
		_, err = s.UpdateBlockType(ctx, uuid.New(), schema.BlockTypeUpdate{})
		require.ErrorIs(t, err, schema.ErrNotFound)

		// Deleting a type deletes its schemas and documents.
		bs := newBlockSchema(t, s, bt.ID, secretFields)
		doc, err := s.CreateBlockDocument(ctx, schema.BlockDocumentCreate{Name: ptr("x"), Data: json.RawMessage(`{"value": "v"}`),
			BlockSchemaID: bs.ID, BlockTypeID: bt.ID})
		require.NoError(t, err)
		require.NoError(t, s.DeleteBlockType(ctx, bt.ID))
		_, err = s.ReadBlockSchema(ctx, bs.ID)
		require.ErrorIs(t, err, schema.ErrNotFound)
		_, err = s.ReadBlockDocument(ctx, doc.ID, false)
		require.ErrorIs(t, err, schema.ErrNotFound)
		require.ErrorIs(t, s.DeleteBlockType(ctx, bt.ID), schema.ErrNotFound)

		protected, err := s.CreateBlockType(ctx, schema.BlockTypeCreate{Name: "System", Slug: "system", IsProtected: true})
		require.NoError(t, err)
		var forbidden *schema.ForbiddenError
		require.ErrorAs(t, s.DeleteBlockType(ctx, protected.ID), &forbidden)
		sys := newBlockSchema(t, s, protected.ID, `{"title": "System"}`)
		require.ErrorAs(t, s.DeleteBlockSchema(ctx, sys.ID), &forbidden)
	})
}

func TestBlockSchemas(t *testing.T) {
	t.Parallel()
	ForEach(t, func(t *testing.T, open Opener) {
		s := open(t)
		ctx := context.Background()
		bt := newBlockType(t, s, "Secret", "secret")

		bs := newBlockSchema(t, s, bt.ID, secretFields, "read")
		require.Equal(t, checksumOf(t, secretFields), bs.Checksum)
		require.Equal(t, schema.DefaultBlockSchemaVersion, bs.Version)
		require.Equal(t, "secret", bs.BlockType.Slug)
		require.Equal(t, []string{"read"}, bs.Capabilities)
		var fields map[string]any
		require.NoError(t, json.Unmarshal(bs.Fields, &fields))
		require.Equal(t, map[string]any{}, fields["block_schema_references"])
		require.NotContains(t, fields, "definitions", "an empty definition is not kept (Prefect drops it too)")

		// The same fields again: the stored schema, not a new one.
		again, created, err := s.CreateBlockSchema(ctx, schema.BlockSchemaCreate{BlockTypeID: bt.ID, Fields: json.RawMessage(secretFields),
			Capabilities: []string{}, Version: schema.DefaultBlockSchemaVersion})
		require.NoError(t, err)
		require.False(t, created)
		require.Equal(t, bs.ID, again.ID)
		v2, created, err := s.CreateBlockSchema(ctx, schema.BlockSchemaCreate{BlockTypeID: bt.ID, Fields: json.RawMessage(secretFields),
			Capabilities: []string{"read", "write"}, Version: "2"})
		require.NoError(t, err)
		require.True(t, created, "another version is another schema")

		byChecksum, err := s.ReadBlockSchemaByChecksum(ctx, bs.Checksum, nil)
		require.NoError(t, err)
		require.Equal(t, v2.ID, byChecksum.ID, "without a version, the newest")
		version := schema.DefaultBlockSchemaVersion
		byChecksum, err = s.ReadBlockSchemaByChecksum(ctx, bs.Checksum, &version)
		require.NoError(t, err)
		require.Equal(t, bs.ID, byChecksum.ID)
		_, err = s.ReadBlockSchemaByChecksum(ctx, "sha256:nope", nil)
		require.ErrorIs(t, err, schema.ErrNotFound)

		_, _, err = s.CreateBlockSchema(ctx, schema.BlockSchemaCreate{BlockTypeID: uuid.New(), Fields: json.RawMessage(`{}`), Version: "x"})
		require.ErrorIs(t, err, schema.ErrNotFound)

		all, err := s.FilterBlockSchemas(ctx, schema.BlockSchemaQuery{})
		require.NoError(t, err)
		require.Equal(t, []uuid.UUID{v2.ID, bs.ID}, []uuid.UUID{all[0].ID, all[1].ID}, "newest first")
		both, err := s.FilterBlockSchemas(ctx, schema.BlockSchemaQuery{BlockSchemas: &schema.BlockSchemaFilter{
			BlockCapabilities: &schema.TagsFilter{All: []string{"write", "read"}}}})
		require.NoError(t, err)
		require.Len(t, both, 1)
		require.Equal(t, v2.ID, both[0].ID)
		byVersion, err := s.FilterBlockSchemas(ctx, schema.BlockSchemaQuery{BlockSchemas: &schema.BlockSchemaFilter{
			Version: &schema.TextFilter{Any: []string{"2"}}, BlockTypeID: &schema.IDFilter{Any: []uuid.UUID{bt.ID}}}})
		require.NoError(t, err)
		require.Len(t, byVersion, 1)

		caps, err := s.ReadBlockCapabilities(ctx)
		require.NoError(t, err)
		require.Equal(t, []string{"read", "write"}, caps)

		types, err := s.FilterBlockTypes(ctx, schema.BlockTypeQuery{BlockSchemas: &schema.BlockSchemaFilter{
			BlockCapabilities: &schema.TagsFilter{All: []string{"write"}}}})
		require.NoError(t, err)
		require.Len(t, types, 1)

		require.NoError(t, s.DeleteBlockSchema(ctx, v2.ID))
		require.ErrorIs(t, s.DeleteBlockSchema(ctx, v2.ID), schema.ErrNotFound)
	})
}

// The schemas of a block holding other blocks, as the Prefect client sends
// them: Outer has a field of block type Inner and one of Inner or Other.
const (
	innerFields = `{"block_schema_references": {}, "block_type_slug": "inner-thing", "properties": {"token": {"format": "password",
		"title": "Token", "type": "string", "writeOnly": true, "position": 0}, "count": {"default": 3, "title": "Count",
		"type": "integer", "position": 1}, "ratio": {"default": 1.5, "title": "Ratio", "type": "number", "position": 2}},
		"required": ["token"], "secret_fields": ["token"], "title": "Inner", "type": "object"}`
	otherFields = `{"block_schema_references": {}, "block_type_slug": "other", "properties": {"x": {"default": "x", "title": "X",
		"type": "string", "position": 0}}, "secret_fields": [], "title": "Other", "type": "object"}`
	outerFields = `{"block_schema_references": {"either": [{"block_schema_checksum": "%INNER%", "block_type_slug": "inner-thing"},
		{"block_schema_checksum": "%OTHER%", "block_type_slug": "other"}], "inner": {"block_schema_checksum": "%INNER%",
		"block_type_slug": "inner-thing"}}, "block_type_slug": "outer", "properties": {"inner": {"$ref": "#/definitions/Inner",
		"position": 0}, "either": {"anyOf": [{"$ref": "#/definitions/Inner"}, {"$ref": "#/definitions/Other"}, {"type": "null"}],
		"default": null, "title": "Either", "position": 1}, "label": {"default": "x", "title": "Label", "type": "string",
		"position": 2}, "password": {"format": "password", "title": "Password", "type": "string", "writeOnly": true,
		"position": 3}}, "required": ["inner"], "secret_fields": ["inner.token", "either.token", "password"], "title": "Outer",
		"type": "object", "definitions": {"Inner": ` + innerFields + `, "Other": ` + otherFields + `}}`
)

func checksumOf(t *testing.T, fields string) string {
	t.Helper()
	m, err := schema.DecodeJSONObject([]byte(fields))
	require.NoError(t, err)
	sum, err := schema.BlockSchemaChecksum(m)
	require.NoError(t, err)
	return sum
}

func outerSchemaFields(t *testing.T) string {
	t.Helper()
	r := []byte(outerFields)
	r = replaceAll(r, "%INNER%", checksumOf(t, innerFields))
	r = replaceAll(r, "%OTHER%", checksumOf(t, otherFields))
	return string(r)
}

func replaceAll(b []byte, old, new string) []byte {
	out := []byte{}
	for {
		i := indexOf(b, old)
		if i < 0 {
			return append(out, b...)
		}
		out = append(append(out, b[:i]...), new...)
		b = b[i+len(old):]
	}
}

func indexOf(b []byte, s string) int {
	for i := 0; i+len(s) <= len(b); i++ {
		if string(b[i:i+len(s)]) == s {
			return i
		}
	}
	return -1
}

func TestNestedBlockSchemas(t *testing.T) {
	t.Parallel()
	ForEach(t, func(t *testing.T, open Opener) {
		s := open(t)
		ctx := context.Background()
		outerType := newBlockType(t, s, "Outer", "outer")
		fields := outerSchemaFields(t)

		// The nested block types must be registered first.
		_, _, err := s.CreateBlockSchema(ctx, schema.BlockSchemaCreate{BlockTypeID: outerType.ID, Fields: json.RawMessage(fields), Version: "1"})
		var conflict *schema.ConflictError
		require.ErrorAs(t, err, &conflict)
		require.Contains(t, conflict.Msg, "block type 'inner-thing' was not found")

		newBlockType(t, s, "Inner Thing", "inner-thing")
		newBlockType(t, s, "Other", "other")
		outer := newBlockSchema(t, s, outerType.ID, fields)
		require.Equal(t, checksumOf(t, fields), outer.Checksum)

		// The nested schemas were stored from the definitions, under the
		// checksums the client computes for them.
		inner, err := s.ReadBlockSchemaByChecksum(ctx, checksumOf(t, innerFields), nil)
		require.NoError(t, err)
		require.Equal(t, "inner-thing", inner.BlockType.Slug)
		_, err = s.ReadBlockSchemaByChecksum(ctx, checksumOf(t, otherFields), nil)
		require.NoError(t, err)

		// Reads rebuild the references and the definitions.
		read, err := s.ReadBlockSchema(ctx, outer.ID)
		require.NoError(t, err)
		var got, sent map[string]any
		require.NoError(t, json.Unmarshal(read.Fields, &got))
		require.NoError(t, json.Unmarshal([]byte(fields), &sent))
		require.Equal(t, sent["block_schema_references"], got["block_schema_references"])
		require.Equal(t, sent["definitions"], got["definitions"])
		require.Equal(t, sent, got, "the fields read back are the fields sent")
	})
}

func TestBlockDocuments(t *testing.T) {
	t.Parallel()
	ForEach(t, func(t *testing.T, open Opener) {
		s := open(t)
		ctx := context.Background()
		bt := newBlockType(t, s, "Secret", "secret")
		bs := newBlockSchema(t, s, bt.ID, secretFields)

		create := schema.BlockDocumentCreate{Name: ptr("my-secret"), Data: json.RawMessage(`{"value": "s3cr3t", "n": 12345678901234567890}`),
			BlockSchemaID: bs.ID, BlockTypeID: bt.ID}
		doc, err := s.CreateBlockDocument(ctx, create)
		require.NoError(t, err)
		require.Equal(t, "my-secret", doc.Name)
		require.Equal(t, "Secret", *doc.BlockTypeName)
		require.Equal(t, map[string]any{}, doc.References)
		require.Equal(t, "secret", doc.BlockType.Slug)
		require.Equal(t, bs.ID, doc.BlockSchema.ID)
		require.Equal(t, "secret", doc.BlockSchema.BlockType.Slug)
		require.JSONEq(t, `{"value": "********", "n": 12345678901234567890}`, string(doc.Data), "created documents come back obfuscated")

		_, err = s.CreateBlockDocument(ctx, create)
		var conflict *schema.ConflictError
		require.ErrorAs(t, err, &conflict)
		require.Equal(t, "Block already exists", conflict.Msg)

		// Save and load round trip, with and without secrets.
		loaded, err := s.ReadBlockDocumentByName(ctx, "secret", "my-secret", true)
		require.NoError(t, err)
		require.Equal(t, doc.ID, loaded.ID)
		require.JSONEq(t, `{"value": "s3cr3t", "n": 12345678901234567890}`, string(loaded.Data))
		hidden, err := s.ReadBlockDocument(ctx, doc.ID, false)
		require.NoError(t, err)
		require.Equal(t, "********", dataOf(t, hidden)["value"])
		_, err = s.ReadBlockDocumentByName(ctx, "secret", "nope", true)
		require.ErrorIs(t, err, schema.ErrNotFound)

		// Anonymous documents get a name and are left out of listings by default.
		anon, err := s.CreateBlockDocument(ctx, schema.BlockDocumentCreate{Data: json.RawMessage(`{"value": "a"}`),
			BlockSchemaID: bs.ID, BlockTypeID: bt.ID, IsAnonymous: true})
		require.NoError(t, err)
		require.Regexp(t, `^anonymous-[0-9a-f-]{36}$`, anon.Name)
		require.True(t, anon.IsAnonymous)
		listed, err := s.FilterBlockDocuments(ctx, schema.BlockDocumentQuery{})
		require.NoError(t, err)
		require.Len(t, listed, 1)
		n, err := s.CountBlockDocuments(ctx, schema.BlockDocumentQuery{BlockDocuments: &schema.BlockDocumentFilter{}})
		require.NoError(t, err)
		require.Equal(t, 2, n, "an explicit filter without is_anonymous matches both")
		n, err = s.CountBlockDocuments(ctx, schema.BlockDocumentQuery{})
		require.NoError(t, err)
		require.Equal(t, 1, n)
		byName, err := s.ReadBlockDocumentByName(ctx, "secret", anon.Name, false)
		require.NoError(t, err, "reading by name finds anonymous documents too")
		require.Equal(t, anon.ID, byName.ID)

		docs, err := s.FilterBlockDocuments(ctx, schema.BlockDocumentQuery{IncludeSecrets: true})
		require.NoError(t, err)
		require.Len(t, docs, 1)
		require.Equal(t, "s3cr3t", dataOf(t, docs[0])["value"])

		// Updates merge by default; an obfuscated secret posted back keeps its value.
		require.NoError(t, s.UpdateBlockDocument(ctx, doc.ID, schema.BlockDocumentUpdate{Data: json.RawMessage(`{"value": "********", "extra": 1}`)}))
		loaded, err = s.ReadBlockDocument(ctx, doc.ID, true)
		require.NoError(t, err)
		require.JSONEq(t, `{"value": "s3cr3t", "n": 12345678901234567890, "extra": 1}`, string(loaded.Data))
		no := false
		require.NoError(t, s.UpdateBlockDocument(ctx, doc.ID, schema.BlockDocumentUpdate{Data: json.RawMessage(`{"value": "new"}`), MergeExistingData: &no}))
		loaded, err = s.ReadBlockDocument(ctx, doc.ID, true)
		require.NoError(t, err)
		require.JSONEq(t, `{"value": "new"}`, string(loaded.Data))
		require.ErrorIs(t, s.UpdateBlockDocument(ctx, uuid.New(), schema.BlockDocumentUpdate{Data: json.RawMessage(`{}`)}), schema.ErrNotFound)

		// Moving to a schema of another type is refused.
		other := newBlockType(t, s, "Other", "other")
		otherSchema := newBlockSchema(t, s, other.ID, `{"title": "Other"}`)
		var bad *schema.BadRequestError
		require.ErrorAs(t, s.UpdateBlockDocument(ctx, doc.ID, schema.BlockDocumentUpdate{BlockSchemaID: &otherSchema.ID,
			Data: json.RawMessage(`{}`)}), &bad)

		require.NoError(t, s.DeleteBlockDocument(ctx, doc.ID))
		require.ErrorIs(t, s.DeleteBlockDocument(ctx, doc.ID), schema.ErrNotFound)
		_, err = s.CreateBlockDocument(ctx, schema.BlockDocumentCreate{Name: ptr("x"), Data: json.RawMessage(`{}`),
			BlockSchemaID: bs.ID, BlockTypeID: uuid.New()})
		require.ErrorIs(t, err, schema.ErrNotFound)
		_, err = s.CreateBlockDocument(ctx, schema.BlockDocumentCreate{Name: ptr("x"), Data: json.RawMessage(`{}`),
			BlockSchemaID: uuid.New(), BlockTypeID: bt.ID})
		require.ErrorAs(t, err, &conflict)
	})
}

func TestBlockDocumentReferences(t *testing.T) {
	t.Parallel()
	ForEach(t, func(t *testing.T, open Opener) {
		s := open(t)
		ctx := context.Background()
		outerType := newBlockType(t, s, "Outer", "outer")
		innerType := newBlockType(t, s, "Inner Thing", "inner-thing")
		newBlockType(t, s, "Other", "other")
		outerSchema := newBlockSchema(t, s, outerType.ID, outerSchemaFields(t))
		innerSchema, err := s.ReadBlockSchemaByChecksum(ctx, checksumOf(t, innerFields), nil)
		require.NoError(t, err)

		inner, err := s.CreateBlockDocument(ctx, schema.BlockDocumentCreate{Name: ptr("inner"), Data: json.RawMessage(`{"token": "tok", "count": 3}`),
			BlockSchemaID: innerSchema.ID, BlockTypeID: innerType.ID})
		require.NoError(t, err)
		outer, err := s.CreateBlockDocument(ctx, schema.BlockDocumentCreate{Name: ptr("outer"),
			Data: json.RawMessage(`{"inner": {"$ref": {"block_document_id": "` + inner.ID.String() + `"}},
				"either": {"token": "inline", "count": 1}, "password": "pw", "label": "l"}`),
			BlockSchemaID: outerSchema.ID, BlockTypeID: outerType.ID})
		require.NoError(t, err)

		// References are resolved on read; each level obfuscates its own secrets.
		require.JSONEq(t, `{"inner": {"token": "********", "count": 3}, "either": {"token": "********", "count": 1},
			"password": "********", "label": "l"}`, string(outer.Data))
		ref := outer.References["inner"].(map[string]any)["block_document"].(map[string]any)
		require.Equal(t, inner.ID, ref["id"])
		require.Equal(t, "inner", ref["name"])
		require.Equal(t, false, ref["is_anonymous"])

		full, err := s.ReadBlockDocument(ctx, outer.ID, true)
		require.NoError(t, err)
		require.JSONEq(t, `{"inner": {"token": "tok", "count": 3}, "either": {"token": "inline", "count": 1},
			"password": "pw", "label": "l"}`, string(full.Data))

		// A reference back to the outer document would close a cycle.
		var bad *schema.BadRequestError
		require.ErrorAs(t, s.UpdateBlockDocument(ctx, inner.ID, schema.BlockDocumentUpdate{
			Data: json.RawMessage(`{"back": {"$ref": {"block_document_id": "` + outer.ID.String() + `"}}}`)}), &bad)
		require.Contains(t, bad.Msg, "cycle")
		_, err = s.CreateBlockDocument(ctx, schema.BlockDocumentCreate{Name: ptr("broken"), Data: json.RawMessage(`{"x": {"$ref": {}}}`),
			BlockSchemaID: outerSchema.ID, BlockTypeID: outerType.ID})
		require.ErrorAs(t, err, &bad)
		require.Equal(t, "Received block reference without a block_document_id in key x", bad.Msg)
		_, err = s.CreateBlockDocument(ctx, schema.BlockDocumentCreate{Name: ptr("dangling"),
			Data:          json.RawMessage(`{"x": {"$ref": {"block_document_id": "` + uuid.NewString() + `"}}}`),
			BlockSchemaID: outerSchema.ID, BlockTypeID: outerType.ID})
		var conflict *schema.ConflictError
		require.ErrorAs(t, err, &conflict)

		// An update that no longer names the reference drops it (as in Prefect,
		// even when merging: stored data holds no reference fields).
		require.NoError(t, s.UpdateBlockDocument(ctx, outer.ID, schema.BlockDocumentUpdate{Data: json.RawMessage(`{"label": "m"}`)}))
		full, err = s.ReadBlockDocument(ctx, outer.ID, true)
		require.NoError(t, err)
		require.NotContains(t, dataOf(t, full), "inner")
		require.Empty(t, full.References)

		// Deleting a referenced document removes the reference.
		require.NoError(t, s.UpdateBlockDocument(ctx, outer.ID, schema.BlockDocumentUpdate{
			Data: json.RawMessage(`{"inner": {"$ref": {"block_document_id": "` + inner.ID.String() + `"}}}`)}))
		full, err = s.ReadBlockDocument(ctx, outer.ID, true)
		require.NoError(t, err)
		require.Equal(t, "tok", dataOf(t, full)["inner"].(map[string]any)["token"])
		require.NoError(t, s.DeleteBlockDocument(ctx, inner.ID))
		full, err = s.ReadBlockDocument(ctx, outer.ID, true)
		require.NoError(t, err)
		require.Empty(t, full.References)

		// Filters on the type and the schema.
		docs, err := s.FilterBlockDocuments(ctx, schema.BlockDocumentQuery{BlockTypes: &schema.BlockTypeFilter{
			Slug: &schema.TextFilter{Any: []string{"outer"}}}, Sort: "NAME_DESC"})
		require.NoError(t, err)
		require.Len(t, docs, 1)
		docs, err = s.FilterBlockDocuments(ctx, schema.BlockDocumentQuery{BlockSchemas: &schema.BlockSchemaFilter{
			ID: &schema.IDFilter{Any: []uuid.UUID{innerSchema.ID}}}})
		require.NoError(t, err)
		require.Empty(t, docs)
		_, err = s.FilterBlockDocuments(ctx, schema.BlockDocumentQuery{Sort: "SIDEWAYS"})
		var invalid *schema.ValidationError
		require.ErrorAs(t, err, &invalid)
	})
}

// Clients saving blocks at the same time register the same schema at the
// same time; every one of them must get it (PostgreSQL lets them race).
func TestBlockSchemaConcurrentRegistration(t *testing.T) {
	t.Parallel()
	ForEach(t, func(t *testing.T, open Opener) {
		s := open(t)
		ctx := context.Background()
		outerType := newBlockType(t, s, "Outer", "outer")
		newBlockType(t, s, "Inner Thing", "inner-thing")
		newBlockType(t, s, "Other", "other")
		fields := outerSchemaFields(t)

		const n = 8
		type result struct {
			id      uuid.UUID
			created bool
			err     error
		}
		results := make(chan result, n)
		for range n {
			go func() {
				bs, created, err := s.CreateBlockSchema(ctx, schema.BlockSchemaCreate{BlockTypeID: outerType.ID,
					Fields: json.RawMessage(fields), Capabilities: []string{}, Version: "1"})
				results <- result{bs.ID, created, err}
			}()
		}
		var ids []uuid.UUID
		createdCount := 0
		for range n {
			r := <-results
			require.NoError(t, r.err)
			ids = append(ids, r.id)
			if r.created {
				createdCount++
			}
		}
		require.Equal(t, 1, createdCount)
		for _, id := range ids {
			require.Equal(t, ids[0], id)
		}
	})
}

// A nested schema created from the definitions can name its parent's
// checksum (block definitions do not enter the parent's checksum), so
// crafted input makes a cycle of schema references. Reads must not loop.
func TestBlockSchemaReferenceCycle(t *testing.T) {
	t.Parallel()
	ForEach(t, func(t *testing.T, open Opener) {
		s := open(t)
		ctx := context.Background()
		bt := newBlockType(t, s, "T", "t")
		x := map[string]any{"title": "X", "block_type_slug": "t",
			"properties":              map[string]any{"y": map[string]any{"$ref": "#/definitions/Y"}},
			"block_schema_references": map[string]any{"y": map[string]any{"block_schema_checksum": "sha256:none", "block_type_slug": "t"}}}
		xSum, err := schema.BlockSchemaChecksum(x)
		require.NoError(t, err)
		x["definitions"] = map[string]any{"Y": map[string]any{"title": "Y", "block_type_slug": "t",
			"properties":              map[string]any{"x": map[string]any{"$ref": "#/definitions/X"}},
			"block_schema_references": map[string]any{"x": map[string]any{"block_schema_checksum": xSum, "block_type_slug": "t"}}}}
		raw, err := json.Marshal(x)
		require.NoError(t, err)
		created := newBlockSchema(t, s, bt.ID, string(raw))
		require.Equal(t, xSum, created.Checksum)

		read, err := s.ReadBlockSchema(ctx, created.ID)
		require.NoError(t, err)
		var fields map[string]any
		require.NoError(t, json.Unmarshal(read.Fields, &fields))
		require.Contains(t, fields["definitions"], "Y")
		all, err := s.FilterBlockSchemas(ctx, schema.BlockSchemaQuery{})
		require.NoError(t, err)
		require.Len(t, all, 2)
		var y map[string]any
		require.NoError(t, json.Unmarshal(all[0].Fields, &y))
		require.Equal(t, "Y", y["title"])
		require.Equal(t, map[string]any{"x": map[string]any{"block_schema_checksum": xSum, "block_type_slug": "t"}},
			y["block_schema_references"], "the nested schema points back at its parent: a cycle")
	})
}

// Registering Prefect's catalogue: a new slug is created, a stored one is
// brought to the catalogue's texts (and, for a protected type, its name and
// protection) and nothing else, and a second registration writes nothing.
func TestRegisterBlockType(t *testing.T) {
	t.Parallel()
	ForEach(t, func(t *testing.T, open Opener) {
		s := open(t)
		ctx := context.Background()
		desc, logo := "Sends <messages> & more", "https://example.com/slack.png"
		slack := schema.BlockTypeCreate{Name: "Slack Webhook", Slug: "slack-webhook", Description: &desc, LogoURL: &logo}
		bt, change, err := s.RegisterBlockType(ctx, slack)
		require.NoError(t, err)
		require.Equal(t, "created", change)
		require.Equal(t, "Sends &lt;messages&gt; &amp; more", *bt.Description, "created as Prefect creates: escaped")
		require.False(t, bt.IsProtected)

		again, change, err := s.RegisterBlockType(ctx, slack)
		require.NoError(t, err)
		require.Empty(t, change, "the same type again writes nothing")
		require.Equal(t, bt, again, "not even its updated time")

		// A user's edit of the texts is undone, as Prefect's registration undoes it; the name a
		// user gave a type of that slug stays, and an unprotected type is not protected.
		mine, err := s.CreateBlockType(ctx, schema.BlockTypeCreate{Name: "My Teams", Slug: "ms-teams-webhook"})
		require.NoError(t, err)
		other := "https://example.com/teams"
		changed, err := s.UpdateBlockType(ctx, bt.ID, schema.BlockTypeUpdate{LogoURL: schema.Nullable[string]{Set: true, Value: &other}})
		require.NoError(t, err)
		require.True(t, changed)
		restored, change, err := s.RegisterBlockType(ctx, slack)
		require.NoError(t, err)
		require.Equal(t, "updated", change)
		require.Equal(t, logo, *restored.LogoURL)
		require.Equal(t, bt.ID, restored.ID)
		teams, change, err := s.RegisterBlockType(ctx, schema.BlockTypeCreate{Name: "Microsoft Teams Webhook", Slug: "ms-teams-webhook", LogoURL: &logo})
		require.NoError(t, err)
		require.Equal(t, "updated", change)
		require.Equal(t, mine.ID, teams.ID)
		require.Equal(t, "My Teams", teams.Name)
		require.Equal(t, logo, *teams.LogoURL)
		require.False(t, teams.IsProtected)

		// A protected type is upserted whole: a Secret type a client registered before the
		// catalogue was takes the catalogue's name and becomes protected.
		old, err := s.CreateBlockType(ctx, schema.BlockTypeCreate{Name: "Old Secret", Slug: "secret", Description: &desc})
		require.NoError(t, err)
		secret := schema.BlockTypeCreate{Name: "Secret", Slug: "secret", Description: &desc, IsProtected: true}
		got, change, err := s.RegisterBlockType(ctx, secret)
		require.NoError(t, err)
		require.Equal(t, "updated", change)
		require.Equal(t, old.ID, got.ID)
		require.Equal(t, "Secret", got.Name)
		require.True(t, got.IsProtected)
		require.Equal(t, *old.Description, *got.Description)
		_, change, err = s.RegisterBlockType(ctx, secret)
		require.NoError(t, err)
		require.Empty(t, change)
		// Registered again as an unprotected type (Prefect's registry step lists it too), it stays protected.
		secret.IsProtected = false
		got, change, err = s.RegisterBlockType(ctx, secret)
		require.NoError(t, err)
		require.Empty(t, change)
		require.True(t, got.IsProtected)
	})
}

// Replicas starting together register the same types at once: every call
// succeeds, one creates, and there is one row.
func TestRegisterBlockTypeConcurrently(t *testing.T) {
	t.Parallel()
	ForEach(t, func(t *testing.T, open Opener) {
		s := open(t)
		ctx := context.Background()
		const n = 8
		type result struct {
			id     uuid.UUID
			change string
			err    error
		}
		results := make(chan result, n)
		for range n {
			go func() {
				bt, change, err := s.RegisterBlockType(ctx, schema.BlockTypeCreate{Name: "Webhook", Slug: "webhook", IsProtected: true})
				results <- result{bt.ID, change, err}
			}()
		}
		var first uuid.UUID
		created := 0
		for range n {
			r := <-results
			require.NoError(t, r.err)
			if first == uuid.Nil {
				first = r.id
			}
			require.Equal(t, first, r.id)
			if r.change == "created" {
				created++
			} else {
				require.Empty(t, r.change)
			}
		}
		require.Equal(t, 1, created)
		all, err := s.FilterBlockTypes(ctx, schema.BlockTypeQuery{})
		require.NoError(t, err)
		require.Len(t, all, 1)
	})
}
