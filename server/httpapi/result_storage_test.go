package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/store/storetest"
)

// TestDefaultResultStorage: /admin/storage set to a block document that can
// write paths, refused for one that cannot or does not exist, cleared by
// DELETE and by deleting the document.
func TestDefaultResultStorage(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		storage := func() any {
			t.Helper()
			r := s.do(t, http.MethodGet, "/admin/storage", nil)
			requireStatus(t, http.StatusOK, r)
			return r.Object(t)["default_result_storage_block_id"]
		}
		require.Nil(t, storage())

		document := func(slug string, capabilities []string) string {
			t.Helper()
			r := s.do(t, http.MethodPost, "/block_types/", map[string]any{"name": slug, "slug": slug})
			requireStatus(t, http.StatusCreated, r)
			typeID := r.Object(t)["id"].(string)
			r = s.do(t, http.MethodPost, "/block_schemas/", map[string]any{"block_type_id": typeID, "capabilities": capabilities,
				"fields": map[string]any{"title": slug, "type": "object", "properties": map[string]any{"basepath": map[string]any{"type": "string"}}}})
			requireStatus(t, http.StatusCreated, r)
			r = s.do(t, http.MethodPost, "/block_documents/", map[string]any{"name": slug + "-doc", "data": map[string]any{"basepath": "/tmp"},
				"block_schema_id": r.Object(t)["id"], "block_type_id": typeID})
			requireStatus(t, http.StatusCreated, r)
			return r.Object(t)["id"].(string)
		}
		files := document("local-files", []string{"read-path", "write-path"})
		other := document("not-storage", []string{})

		r := s.do(t, http.MethodPut, "/admin/storage", map[string]any{"default_result_storage_block_id": files})
		requireStatus(t, http.StatusOK, r)
		require.Equal(t, files, r.Object(t)["default_result_storage_block_id"])
		require.Equal(t, files, storage())

		requireDetail(t, http.StatusUnprocessableEntity, "Block document "+other+" cannot be used for result storage.",
			s.do(t, http.MethodPut, "/admin/storage", map[string]any{"default_result_storage_block_id": other}))
		missing := uuid.NewString()
		requireDetail(t, http.StatusNotFound, "Block document "+missing+" not found.",
			s.do(t, http.MethodPut, "/admin/storage", map[string]any{"default_result_storage_block_id": missing}))
		requireValidationError(t, s.do(t, http.MethodPut, "/admin/storage", map[string]any{}), "body", "default_result_storage_block_id")
		require.Equal(t, files, storage(), "a refused change leaves it")

		requireStatus(t, http.StatusNoContent, s.do(t, http.MethodDelete, "/admin/storage", nil))
		require.Nil(t, storage())
		requireStatus(t, http.StatusOK, s.do(t, http.MethodPut, "/admin/storage", map[string]any{"default_result_storage_block_id": files}))
		requireStatus(t, http.StatusNoContent, s.do(t, http.MethodDelete, "/block_documents/"+files, nil))
		require.Nil(t, storage(), "deleting the document unsets it")
	})
}
