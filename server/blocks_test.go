package server

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/settings"
	"prefectgo.dev/prefectgo/server/store"
	"prefectgo.dev/prefectgo/server/store/backend"
	"prefectgo.dev/prefectgo/server/store/storetest"
)

// testCatalogue is the directory hack/catalogue-assets.sh prints
// (PREFECTGO_TEST_CATALOGUE, set by `make test-go`).
func testCatalogue(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("PREFECTGO_TEST_CATALOGUE")
	if dir == "" {
		t.Skip("PREFECTGO_TEST_CATALOGUE is not set; `make test-go` sets it to the directory hack/catalogue-assets.sh prints")
	}
	return dir
}

// startWithCatalogue opens the database at dbURL and starts an App on it
// with the catalogue and registration on start, as `serve` does. The App
// and its store stop with the test.
func startWithCatalogue(t *testing.T, dbURL, dir string) (store.Store, error) {
	s := settings.Defaults()
	s.Database.ConnectionURL = dbURL
	s.Database.MigrateOnStart = true
	s.CatalogueDirectory = dir
	s.RegisterBlocksOnStart = true
	ctx := context.Background()
	st, err := backend.Open(ctx, DatabaseConfig(s))
	if err != nil {
		return nil, err
	}
	app := New(s, st, NewLogger(io.Discard, "ERROR"))
	t.Cleanup(func() {
		app.Stop()
		_ = st.Close()
	})
	return st, app.Start(ctx)
}

// blockRows are the block types and schemas, as the API reads them, and
// their identities apart.
type blockRows struct {
	types   []schema.BlockType
	schemas []schema.BlockSchema
}

func readBlockRows(t *testing.T, st store.Store) blockRows {
	t.Helper()
	types, err := st.FilterBlockTypes(context.Background(), schema.BlockTypeQuery{})
	require.NoError(t, err)
	schemas, err := st.FilterBlockSchemas(context.Background(), schema.BlockSchemaQuery{})
	require.NoError(t, err)
	return blockRows{types, schemas}
}

// identities are the slugs, and the checksums and versions of the schemas
// with their types' slugs, sorted.
func (r blockRows) identities() ([]string, []string) {
	var slugs, schemas []string
	for _, bt := range r.types {
		slugs = append(slugs, bt.Slug)
	}
	for _, bs := range r.schemas {
		schemas = append(schemas, bs.BlockType.Slug+" "+bs.Checksum+" "+bs.Version)
	}
	slices.Sort(slugs)
	slices.Sort(schemas)
	return slugs, schemas
}

// A second start registers the same catalogue over the first and changes
// no row, on either backend.
func TestRegisterBlocksOnStartTwice(t *testing.T) {
	t.Parallel()
	dir := testCatalogue(t)
	for name, dbURL := range map[string]func(t *testing.T) string{
		"sqlite": func(t *testing.T) string {
			return "sqlite+aiosqlite:///" + filepath.Join(t.TempDir(), "prefect.db")
		},
		"postgres": func(t *testing.T) string { return storetest.NewPostgresDatabase(t) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			url := dbURL(t)
			st, err := startWithCatalogue(t, url, dir)
			require.NoError(t, err)
			first := readBlockRows(t, st)
			slugs, _ := first.identities()
			require.Contains(t, slugs, "secret")
			require.Contains(t, slugs, "slack-webhook")
			require.Contains(t, slugs, "aws-credentials")

			st, err = startWithCatalogue(t, url, dir)
			require.NoError(t, err)
			require.Equal(t, first, readBlockRows(t, st), "the second start changed rows")
		})
	}
}

// Replicas starting at once on one PostgreSQL database all start, and the
// database holds what one replica registers alone: no row twice.
func TestReplicasRegisterBlocksAtOnce(t *testing.T) {
	t.Parallel()
	dir := testCatalogue(t)
	dbURL := storetest.NewPostgresDatabase(t)

	const n = 4
	stores := make([]store.Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { stores[i], errs[i] = startWithCatalogue(t, dbURL, dir) })
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	got := readBlockRows(t, stores[0])

	alone, err := startWithCatalogue(t, "sqlite+aiosqlite:///"+filepath.Join(t.TempDir(), "prefect.db"), dir)
	require.NoError(t, err)
	wantSlugs, wantSchemas := readBlockRows(t, alone).identities()
	gotSlugs, gotSchemas := got.identities()
	require.Equal(t, wantSlugs, gotSlugs)
	require.Equal(t, wantSchemas, gotSchemas)
}
