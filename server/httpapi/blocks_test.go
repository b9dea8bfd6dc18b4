package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/store"
	"prefectgo.dev/prefectgo/server/store/storetest"
)

// secretSchemaFields is the schema Prefect 3.9.1's Secret block registers,
// and its checksum as the client computes it.
const (
	secretSchemaFields = `{"block_schema_references": {}, "block_type_slug": "secret", "description": "A block that represents a secret value. The value stored in this block will be obfuscated when this block is viewed or edited in the UI.", "properties": {"value": {"anyOf": [{"format": "password", "type": "string", "writeOnly": true}, {"title": "string", "type": "string"}, {"$ref": "#/definitions/JsonValue", "title": "JSON"}], "description": "A value that should be kept secret.", "examples": ["sk-1234567890", {"password": "s3cr3t", "username": "johndoe"}], "format": "password", "title": "Value", "writeOnly": true, "position": 0}}, "required": ["value"], "secret_fields": ["value", "value"], "title": "Secret", "type": "object", "definitions": {"JsonValue": {}}}`
	secretChecksum     = "sha256:c078ed9c1e813e224c0b353d7ad4564a11d51d3198d9ac0686478165a1911c78"
)

// registerSecret does what Block.register_type_and_schema does for Secret
// against a fresh server and returns the type and schema ids.
func (s *testServer) registerSecret(t *testing.T) (typeID, schemaID string) {
	t.Helper()
	requireDetail(t, http.StatusNotFound, "Block type not found", s.do(t, http.MethodGet, "/block_types/slug/secret", nil))
	r := s.do(t, http.MethodPost, "/block_types/", map[string]any{
		"name": "Secret", "slug": "secret", "logo_url": "https://example.com/secret.png", "documentation_url": nil,
		"description": "A block that represents a secret value.", "code_example": "```python\nSecret.load(\"BLOCK_NAME\")\n```",
	})
	requireStatus(t, http.StatusCreated, r)
	bt := r.Object(t)
	require.Equal(t, "secret", bt["slug"])
	require.Equal(t, false, bt["is_protected"])
	typeID = bt["id"].(string)

	requireDetail(t, http.StatusNotFound, "Block schema not found",
		s.do(t, http.MethodGet, "/block_schemas/checksum/"+secretChecksum+"?version=3.9.1", nil))
	body := `{"fields": ` + secretSchemaFields + `, "block_type_id": "` + typeID + `", "capabilities": [], "version": "3.9.1"}`
	r = s.do(t, http.MethodPost, "/block_schemas/", body)
	requireStatus(t, http.StatusCreated, r)
	bs := r.Object(t)
	require.Equal(t, secretChecksum, bs["checksum"], "the checksum the client computes")
	require.Equal(t, "3.9.1", bs["version"])
	require.Equal(t, "secret", bs["block_type"].(map[string]any)["slug"])
	schemaID = bs["id"].(string)

	// Registering again finds both.
	r = s.do(t, http.MethodGet, "/block_schemas/checksum/"+secretChecksum+"?version=3.9.1", nil)
	requireStatus(t, http.StatusOK, r)
	require.Equal(t, schemaID, r.Object(t)["id"])
	r = s.do(t, http.MethodPost, "/block_schemas/", body)
	requireStatus(t, http.StatusOK, r)
	require.Equal(t, schemaID, r.Object(t)["id"])
	requireStatus(t, http.StatusNoContent, s.do(t, http.MethodPatch, "/block_types/"+typeID, map[string]any{
		"logo_url": "https://example.com/secret.png", "documentation_url": nil,
		"description": "A block that represents a secret value.", "code_example": "```python\nSecret.load(\"BLOCK_NAME\")\n```",
	}))
	return typeID, schemaID
}

func TestBlockSaveAndLoad(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		typeID, schemaID := s.registerSecret(t)

		// Secret(value="s3cr3t").save("my-secret")
		create := map[string]any{"name": "my-secret", "data": map[string]any{"value": "s3cr3t"},
			"block_schema_id": schemaID, "block_type_id": typeID, "is_anonymous": false}
		r := s.do(t, http.MethodPost, "/block_documents/", create)
		requireStatus(t, http.StatusCreated, r)
		doc := r.Object(t)
		id := doc["id"].(string)
		require.Equal(t, map[string]any{"value": "********"}, doc["data"])
		require.Equal(t, "Secret", doc["block_type_name"])
		require.Equal(t, map[string]any{}, doc["block_document_references"])
		require.Equal(t, schemaID, doc["block_schema"].(map[string]any)["id"])
		requireDetail(t, http.StatusConflict, "Block already exists", s.do(t, http.MethodPost, "/block_documents/", create))

		// Secret.load("my-secret")
		byName := "/block_types/slug/secret/block_documents/name/my-secret"
		r = s.do(t, http.MethodGet, byName+"?include_secrets=true", nil)
		requireStatus(t, http.StatusOK, r)
		loaded := r.Object(t)
		require.Equal(t, id, loaded["id"])
		require.Equal(t, map[string]any{"value": "s3cr3t"}, loaded["data"])
		schemaObj := loaded["block_schema"].(map[string]any)
		require.Equal(t, secretChecksum, schemaObj["checksum"])
		require.Equal(t, "secret", schemaObj["block_type"].(map[string]any)["slug"])
		r = s.do(t, http.MethodGet, byName, nil)
		requireStatus(t, http.StatusOK, r)
		require.Equal(t, map[string]any{"value": "********"}, r.Object(t)["data"])
		requireDetail(t, http.StatusNotFound, "Block document not found",
			s.do(t, http.MethodGet, "/block_types/slug/secret/block_documents/name/nope", nil))
		requireValidationError(t, s.do(t, http.MethodGet, byName+"?include_secrets=maybe", nil), "query", "include_secrets")

		// save(..., overwrite=True): update then read by id.
		requireStatus(t, http.StatusNoContent, s.do(t, http.MethodPatch, "/block_documents/"+id,
			map[string]any{"block_schema_id": schemaID, "data": map[string]any{"value": "n3w"}}))
		r = s.do(t, http.MethodGet, "/block_documents/"+id+"?include_secrets=true", nil)
		requireStatus(t, http.StatusOK, r)
		require.Equal(t, map[string]any{"value": "n3w"}, r.Object(t)["data"])
		// Posting back the obfuscated value keeps the secret.
		requireStatus(t, http.StatusNoContent, s.do(t, http.MethodPatch, "/block_documents/"+id,
			map[string]any{"data": map[string]any{"value": "********"}, "merge_existing_data": false}))
		r = s.do(t, http.MethodGet, "/block_documents/"+id+"?include_secrets=1", nil)
		require.Equal(t, map[string]any{"value": "n3w"}, r.Object(t)["data"])

		// prefect block ls, and listings by type.
		anon := map[string]any{"data": map[string]any{"value": "a"}, "block_schema_id": schemaID, "block_type_id": typeID, "is_anonymous": true}
		r = s.do(t, http.MethodPost, "/block_documents/", anon)
		requireStatus(t, http.StatusCreated, r)
		require.Regexp(t, `^anonymous-`, r.Object(t)["name"])
		r = s.do(t, http.MethodPost, "/block_documents/filter", map[string]any{"block_schema_type": nil, "offset": nil, "limit": nil, "include_secrets": true})
		requireStatus(t, http.StatusOK, r)
		list := r.List(t)
		require.Len(t, list, 1, "anonymous documents are left out by default")
		require.Equal(t, map[string]any{"value": "n3w"}, list[0].(map[string]any)["data"])
		r = s.do(t, http.MethodPost, "/block_documents/count", map[string]any{"block_documents": map[string]any{"is_anonymous": nil}})
		requireStatus(t, http.StatusOK, r)
		require.Equal(t, float64(2), r.JSON(t))
		r = s.do(t, http.MethodGet, "/block_types/slug/secret/block_documents", nil)
		requireStatus(t, http.StatusOK, r)
		require.Len(t, r.List(t), 1)
		requireDetail(t, http.StatusNotFound, "Block type not found", s.do(t, http.MethodGet, "/block_types/slug/nope/block_documents", nil))

		r = s.do(t, http.MethodPost, "/block_types/filter", map[string]any{})
		requireStatus(t, http.StatusOK, r)
		require.Len(t, r.List(t), 1)
		r = s.do(t, http.MethodPost, "/block_schemas/filter", map[string]any{"block_schemas": map[string]any{"block_type_id": map[string]any{"any_": []string{typeID}}}})
		requireStatus(t, http.StatusOK, r)
		require.Len(t, r.List(t), 1)
		r = s.do(t, http.MethodGet, "/block_capabilities/", nil)
		requireStatus(t, http.StatusOK, r)
		require.Equal(t, []any{}, r.List(t))

		requireStatus(t, http.StatusNoContent, s.do(t, http.MethodDelete, "/block_documents/"+id, nil))
		requireDetail(t, http.StatusNotFound, "Block document not found", s.do(t, http.MethodDelete, "/block_documents/"+id, nil))
		requireDetail(t, http.StatusNotFound, "Block document not found", s.do(t, http.MethodGet, "/block_documents/"+id, nil))
		requireStatus(t, http.StatusNoContent, s.do(t, http.MethodDelete, "/block_schemas/"+schemaID, nil))
		requireStatus(t, http.StatusNoContent, s.do(t, http.MethodDelete, "/block_types/"+typeID, nil))
		requireDetail(t, http.StatusNotFound, "Block type not found", s.do(t, http.MethodDelete, "/block_types/"+typeID, nil))
	})
}

func TestBlockTemplatingReference(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		typeID, schemaID := s.registerSecret(t)
		inner := s.do(t, http.MethodPost, "/block_documents/", map[string]any{"name": "inner", "data": map[string]any{"value": "x"},
			"block_schema_id": schemaID, "block_type_id": typeID})
		requireStatus(t, http.StatusCreated, inner)
		innerID := inner.Object(t)["id"].(string)

		// A document whose field points at another one reads with its data.
		r := s.do(t, http.MethodPost, "/block_documents/", map[string]any{"name": "outer",
			"data":            map[string]any{"value": map[string]any{"$ref": map[string]any{"block_document_id": innerID}}},
			"block_schema_id": schemaID, "block_type_id": typeID})
		requireStatus(t, http.StatusCreated, r)
		r = s.do(t, http.MethodGet, "/block_types/slug/secret/block_documents/name/outer?include_secrets=true", nil)
		requireStatus(t, http.StatusOK, r)
		got := r.Object(t)
		require.Equal(t, map[string]any{"value": map[string]any{"value": "x"}}, got["data"])
		ref := got["block_document_references"].(map[string]any)["value"].(map[string]any)["block_document"].(map[string]any)
		require.Equal(t, innerID, ref["id"])
		require.Equal(t, "inner", ref["name"])
		require.Equal(t, "secret", ref["block_type"].(map[string]any)["slug"])

		requireDetail(t, http.StatusBadRequest, "Received block reference without a block_document_id in key value",
			s.do(t, http.MethodPost, "/block_documents/", map[string]any{"name": "broken",
				"data": map[string]any{"value": map[string]any{"$ref": map[string]any{}}}, "block_schema_id": schemaID, "block_type_id": typeID}))
		r = s.do(t, http.MethodPatch, "/block_documents/"+innerID, map[string]any{
			"data": map[string]any{"loop": map[string]any{"$ref": map[string]any{"block_document_id": got["id"]}}}})
		requireStatus(t, http.StatusBadRequest, r)
		require.Contains(t, r.Object(t)["detail"], "cycle")
	})
}

func TestBlockBadInput(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		typeID, schemaID := s.registerSecret(t)

		requireDetail(t, http.StatusForbidden, "Block type names beginning with 'Prefect' are reserved.",
			s.do(t, http.MethodPost, "/block_types/", map[string]any{"name": "Prefect Thing", "slug": "prefect-thing"}))
		requireDetail(t, http.StatusConflict, `Block type with name "Again" already exists`,
			s.do(t, http.MethodPost, "/block_types/", map[string]any{"name": "Again", "slug": "secret"}))
		requireValidationError(t, s.do(t, http.MethodPost, "/block_types/", map[string]any{"name": "X", "slug": "Not A Slug"}), "body", "slug")
		requireValidationError(t, s.do(t, http.MethodPost, "/block_types/", map[string]any{"name": "a/b", "slug": "ab"}), "body", "name")
		requireValidationError(t, s.do(t, http.MethodPost, "/block_types/", map[string]any{"slug": "ab"}), "body", "name")
		requireValidationError(t, s.do(t, http.MethodPost, "/block_types/", `{"name": "x", "slug": 3}`), "body", "slug")
		requireValidationError(t, s.do(t, http.MethodPost, "/block_types/", `{"name": "x\u0000", "slug": "x"}`), "body", "name")
		requireDetail(t, http.StatusNotFound, "Not Found", s.do(t, http.MethodGet, "/block_types/not-a-uuid", nil))
		requireDetail(t, http.StatusNotFound, "Not Found", s.do(t, http.MethodGet, "/block_documents/not-a-uuid", nil))
		requireDetail(t, http.StatusNotFound, "Block type not found", s.do(t, http.MethodPatch, "/block_types/"+uuid.NewString(), map[string]any{}))

		missing := uuid.NewString()
		requireDetail(t, http.StatusNotFound, "Block type "+missing+" not found.",
			s.do(t, http.MethodPost, "/block_schemas/", map[string]any{"fields": map[string]any{}, "block_type_id": missing}))
		requireValidationError(t, s.do(t, http.MethodPost, "/block_schemas/", map[string]any{"fields": map[string]any{}}), "body", "block_type_id")
		requireValidationError(t, s.do(t, http.MethodPost, "/block_schemas/", map[string]any{"fields": []int{1}, "block_type_id": typeID}), "body", "fields")
		requireValidationError(t, s.do(t, http.MethodPost, "/block_schemas/", map[string]any{
			"fields": map[string]any{"block_schema_references": map[string]any{"x": "y"}}, "block_type_id": typeID}), "body", "fields", "block_schema_references", "x")
		requireValidationError(t, s.do(t, http.MethodPost, "/block_schemas/", map[string]any{
			"fields": map[string]any{"definitions": "nope"}, "block_type_id": typeID}), "body", "fields", "definitions")
		requireValidationError(t, s.do(t, http.MethodPost, "/block_schemas/", map[string]any{
			"fields": map[string]any{"s": "nul\u0000"}, "block_type_id": typeID}), "body", "fields")
		r := s.do(t, http.MethodPost, "/block_schemas/", map[string]any{"block_type_id": typeID, "fields": map[string]any{
			"properties":              map[string]any{"x": map[string]any{"$ref": "#/definitions/X"}},
			"block_schema_references": map[string]any{"x": map[string]any{"block_schema_checksum": "sha256:0", "block_type_slug": "unregistered"}}}})
		requireStatus(t, http.StatusConflict, r)
		require.Contains(t, r.Object(t)["detail"], "block type 'unregistered' was not found")
		r = s.do(t, http.MethodPost, "/block_schemas/", map[string]any{"block_type_id": typeID, "fields": map[string]any{
			"properties":              map[string]any{"x": map[string]any{"$ref": "#/definitions/X"}},
			"block_schema_references": map[string]any{"x": map[string]any{"block_schema_checksum": "sha256:0", "block_type_slug": "secret"}}}})
		requireValidationError(t, r, "body", "fields")
		requireDetail(t, http.StatusNotFound, "Block schema not found", s.do(t, http.MethodDelete, "/block_schemas/"+uuid.NewString(), nil))

		doc := func(fields map[string]any) map[string]any {
			d := map[string]any{"name": "ok-name", "data": map[string]any{}, "block_schema_id": schemaID, "block_type_id": typeID}
			for k, v := range fields {
				d[k] = v
			}
			return d
		}
		body := requireValidationError(t, s.do(t, http.MethodPost, "/block_documents/", doc(map[string]any{"name": nil})), "body")
		require.Contains(t, mustJSON(t, body), "Names must be provided for block documents.")
		requireValidationError(t, s.do(t, http.MethodPost, "/block_documents/", doc(map[string]any{"name": "Upper_Case"})), "body", "name")
		requireValidationError(t, s.do(t, http.MethodPost, "/block_documents/", doc(map[string]any{"name": "", "is_anonymous": true})), "body", "name")
		requireValidationError(t, s.do(t, http.MethodPost, "/block_documents/", doc(map[string]any{"data": "x"})), "body", "data")
		requireValidationError(t, s.do(t, http.MethodPost, "/block_documents/", doc(map[string]any{"block_schema_id": nil})), "body", "block_schema_id")
		requireValidationError(t, s.do(t, http.MethodPost, "/block_documents/", doc(map[string]any{"block_type_id": "nope"})))
		requireDetail(t, http.StatusNotFound, "Block type not found",
			s.do(t, http.MethodPost, "/block_documents/", doc(map[string]any{"block_type_id": uuid.NewString()})))
		requireStatus(t, http.StatusConflict, s.do(t, http.MethodPost, "/block_documents/", doc(map[string]any{"block_schema_id": uuid.NewString()})))
		requireStatus(t, http.StatusConflict, s.do(t, http.MethodPost, "/block_documents/", doc(map[string]any{
			"data": map[string]any{"x": map[string]any{"$ref": map[string]any{"block_document_id": uuid.NewString()}}}})))
		requireDetail(t, http.StatusBadRequest, "Received block reference with an invalid block_document_id in key x",
			s.do(t, http.MethodPost, "/block_documents/", doc(map[string]any{
				"data": map[string]any{"x": map[string]any{"$ref": map[string]any{"block_document_id": 7}}}})))
		requireDetail(t, http.StatusNotFound, "Block document not found",
			s.do(t, http.MethodPatch, "/block_documents/"+uuid.NewString(), map[string]any{"data": map[string]any{}}))
		requireValidationError(t, s.do(t, http.MethodPatch, "/block_documents/"+uuid.NewString(), map[string]any{"data": []int{}}), "body", "data")

		requireDetail(t, http.StatusUnprocessableEntity, "Invalid limit: must be less than or equal to 200.",
			s.do(t, http.MethodPost, "/block_documents/filter", map[string]any{"limit": 201}))
		requireValidationError(t, s.do(t, http.MethodPost, "/block_documents/filter", map[string]any{"sort": "SIDEWAYS"}), "body", "sort")
		requireValidationError(t, s.do(t, http.MethodPost, "/block_documents/filter", map[string]any{"offset": -1}), "body", "offset")
		requireValidationError(t, s.do(t, http.MethodPost, "/block_types/filter", `{"block_types": [`))
		requireValidationError(t, s.do(t, http.MethodPost, "/block_schemas/filter", map[string]any{"block_schemas": map[string]any{"id": map[string]any{"any_": []string{"x"}}}}))
		requireValidationError(t, s.do(t, http.MethodGet, "/block_documents/"+uuid.NewString()+"?include_secrets=2", nil), "query", "include_secrets")
	})
}

// The by-name route is what prefect.yaml templating calls; names with
// characters that need escaping in a URL still round-trip.
func TestBlockDocumentNameInPath(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		typeID, schemaID := s.registerSecret(t)
		var create schema.BlockDocumentCreate
		require.NoError(t, json.Unmarshal([]byte(`{"name": "a-b-1", "data": {"value": 1.50}, "block_schema_id": "`+schemaID+
			`", "block_type_id": "`+typeID+`"}`), &create))
		requireStatus(t, http.StatusCreated, s.do(t, http.MethodPost, "/block_documents", create))
		r := s.do(t, http.MethodGet, "/block_types/slug/secret/block_documents/name/"+url.PathEscape("a-b-1")+"?include_secrets=true", nil)
		requireStatus(t, http.StatusOK, r)
		require.Contains(t, string(r.Body), `"data":{"value":1.50}`, "numbers are kept as written")
	})
}

func TestBlockLifecycleEvents(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		typeID, schemaID := s.registerSecret(t)
		r := s.do(t, http.MethodPost, "/block_documents/", map[string]any{"name": "evented", "data": map[string]any{"value": "s3cr3t", "note": "hi"},
			"block_schema_id": schemaID, "block_type_id": typeID})
		requireStatus(t, http.StatusCreated, r)
		id := r.Object(t)["id"].(string)
		requireStatus(t, http.StatusCreated, s.do(t, http.MethodPost, "/block_documents/", map[string]any{"data": map[string]any{"value": "x"},
			"block_schema_id": schemaID, "block_type_id": typeID, "is_anonymous": true}))
		requireStatus(t, http.StatusNoContent, s.do(t, http.MethodDelete, "/block_documents/"+id, nil))
		s.sendMarker(t)

		evs, err := s.Store.ReadEvents(t.Context(), store.EventFilter{Names: []string{
			"prefect.block-type.created", "prefect.block-document.created", "prefect.block-document.deleted"}}, 100)
		require.NoError(t, err)
		byName := map[string][]schema.Event{}
		for _, ev := range evs {
			byName[ev.Event] = append(byName[ev.Event], ev)
		}
		require.Len(t, byName["prefect.block-type.created"], 1)
		require.Equal(t, "prefect.block-type."+typeID, byName["prefect.block-type.created"][0].Resource.ID())
		created := byName["prefect.block-document.created"]
		require.Len(t, created, 1, "none for anonymous documents")
		require.Equal(t, "prefect.block-document."+id, created[0].Resource.ID())
		require.Equal(t, "evented", created[0].Resource["prefect.resource.name"])
		require.JSONEq(t, `{"name": "evented", "data": {"note": "hi"}, "block_schema": {"capabilities": [],
			"block_type": {"id": "`+typeID+`", "name": "Secret"}}}`, string(created[0].Payload), "secret fields are left out")
		require.Equal(t, "block-type", created[0].Related[0].Role())
		require.Equal(t, "prefect.block-schema."+schemaID, created[0].Related[1].ID())
		require.Len(t, byName["prefect.block-document.deleted"], 1)
	})
}
