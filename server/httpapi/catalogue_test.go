package httpapi_test

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/settings"
	"prefectgo.dev/prefectgo/server/store"
	"prefectgo.dev/prefectgo/server/store/storetest"
)

// catalogueDir is the directory hack/catalogue-assets.sh prints
// (PREFECTGO_TEST_CATALOGUE, set by `make test-go`).
func catalogueDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("PREFECTGO_TEST_CATALOGUE")
	if dir == "" {
		t.Skip("PREFECTGO_TEST_CATALOGUE is not set; `make test-go` sets it to the directory hack/catalogue-assets.sh prints")
	}
	return dir
}

func withCatalogue(dir string, register bool) func(*settings.Settings) {
	return func(s *settings.Settings) {
		s.CatalogueDirectory = dir
		s.RegisterBlocksOnStart = register
	}
}

// The views are the wheel's files; names Prefect does not know, and those
// it knows but does not bundle, are 404s with Prefect's words.
func TestCollectionViews(t *testing.T) {
	t.Parallel()
	dir := catalogueDir(t)
	s := newServer(t, storetest.NewSQLite, withCatalogue(dir, false))
	r := s.do(t, http.MethodGet, "/collections/views/aggregate-worker-metadata", nil)
	requireStatus(t, http.StatusOK, r)
	want, err := os.ReadFile(filepath.Join(dir, "views", "aggregate-worker-metadata.json"))
	require.NoError(t, err)
	require.JSONEq(t, string(want), string(r.Body))
	requireDetail(t, http.StatusNotFound, "View nope not found in registry", s.do(t, http.MethodGet, "/collections/views/nope", nil))
	requireDetail(t, http.StatusNotFound, "Requested content missing for view demo-flows",
		s.do(t, http.MethodGet, "/collections/views/demo-flows", nil))
	requireDetail(t, http.StatusNotFound, "Not Found", s.do(t, http.MethodGet, "/collections/views/", nil))
}

// Without a catalogue the server still answers: the views as views it
// cannot fetch, the install route 501 (nothing to install from).
func TestNoCatalogue(t *testing.T) {
	t.Parallel()
	s := newServer(t, storetest.NewSQLite, withCatalogue("", true))
	requireDetail(t, http.StatusNotFound, "Requested content missing for view aggregate-worker-metadata",
		s.do(t, http.MethodGet, "/collections/views/aggregate-worker-metadata", nil))
	requireDetail(t, http.StatusNotImplemented, "The block catalogue is not installed on this server "+
		"(PREFECT_SERVER_CATALOGUE_DIRECTORY): there is nothing to install the system block types from.",
		s.do(t, http.MethodPost, "/block_types/install_system_block_types", nil))
	r := s.do(t, http.MethodPost, "/block_types/filter", map[string]any{})
	requireStatus(t, http.StatusOK, r)
	require.Empty(t, r.List(t), "nothing registered at start")
}

// The install route installs the protected system blocks, with their
// lifecycle events, answers null as Prefect does, and a second call
// changes nothing.
func TestInstallSystemBlockTypes(t *testing.T) {
	t.Parallel()
	dir := catalogueDir(t)
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open, withCatalogue(dir, false))
		r := s.do(t, http.MethodPost, "/block_types/filter", map[string]any{})
		requireStatus(t, http.StatusOK, r)
		require.Empty(t, r.List(t), "registration on start is off")

		r = s.do(t, http.MethodPost, "/block_types/install_system_block_types", nil)
		requireStatus(t, http.StatusOK, r)
		require.Equal(t, "null\n", string(r.Body))
		r = s.do(t, http.MethodPost, "/block_types/filter", map[string]any{})
		requireStatus(t, http.StatusOK, r)
		var slugs []string
		for _, bt := range r.List(t) {
			m := bt.(map[string]any)
			require.Equal(t, true, m["is_protected"], m["slug"])
			slugs = append(slugs, m["slug"].(string))
		}
		require.ElementsMatch(t, []string{"local-file-system", "secret", "webhook"}, slugs)
		r = s.do(t, http.MethodPost, "/block_schemas/filter", map[string]any{})
		requireStatus(t, http.StatusOK, r)
		require.Len(t, r.List(t), 3)
		requireDetail(t, http.StatusForbidden, "protected block types cannot be deleted.",
			s.do(t, http.MethodDelete, "/block_types/"+r.List(t)[0].(map[string]any)["block_type_id"].(string), nil))

		before := s.do(t, http.MethodPost, "/block_types/filter", map[string]any{})
		requireStatus(t, http.StatusOK, s.do(t, http.MethodPost, "/block_types/install_system_block_types", nil))
		after := s.do(t, http.MethodPost, "/block_types/filter", map[string]any{})
		require.JSONEq(t, string(before.Body), string(after.Body))

		s.sendMarker(t)
		evs, err := s.Store.ReadEvents(t.Context(), store.EventFilter{Names: []string{"prefect.block-type.created", "prefect.block-type.updated"}}, 100)
		require.NoError(t, err)
		require.Len(t, evs, 3, "one created event per type, none for the second install")
	})
}

// With registration on, the server starts with the whole catalogue.
func TestRegisterBlocksOnStart(t *testing.T) {
	t.Parallel()
	dir := catalogueDir(t)
	s := newServer(t, storetest.NewSQLite, withCatalogue(dir, true))
	r := s.do(t, http.MethodGet, "/block_types/slug/slack-webhook", nil)
	requireStatus(t, http.StatusOK, r)
	require.Equal(t, false, r.Object(t)["is_protected"])
	r = s.do(t, http.MethodGet, "/block_types/slug/aws-credentials", nil)
	requireStatus(t, http.StatusOK, r)
	r = s.do(t, http.MethodGet, "/block_types/slug/secret", nil)
	requireStatus(t, http.StatusOK, r)
	require.Equal(t, true, r.Object(t)["is_protected"])
	r = s.do(t, http.MethodGet, "/block_capabilities", nil)
	requireStatus(t, http.StatusOK, r)
	require.Subset(t, r.List(t), []any{"notify", "read-path", "write-path", "get-directory", "put-directory"})
}
