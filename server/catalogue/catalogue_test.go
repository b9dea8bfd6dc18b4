package catalogue_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/catalogue"
	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/store"
	"prefectgo.dev/prefectgo/server/store/storetest"
)

// catalogueDir is the directory hack/catalogue-assets.sh prints
// (PREFECTGO_TEST_CATALOGUE, set by `make test-go`): prefect's own catalogue,
// never a hand-written one.
func catalogueDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("PREFECTGO_TEST_CATALOGUE")
	if dir == "" {
		t.Skip("PREFECTGO_TEST_CATALOGUE is not set; `make test-go` sets it to the directory hack/catalogue-assets.sh prints")
	}
	return dir
}

// entry and blocksFile are blocks.json as the tests read it, apart from the package.
type entry struct {
	BlockType   schema.BlockTypeCreate `json:"block_type"`
	BlockSchema struct {
		Fields       json.RawMessage `json:"fields"`
		Checksum     string          `json:"checksum"`
		Capabilities []string        `json:"capabilities"`
		Version      string          `json:"version"`
	} `json:"block_schema"`
}

type blocksFile struct {
	PrefectVersion                   string `json:"prefect_version"`
	Protected, Registry, Collections []entry
}

// all is every entry, in registration order.
func (f blocksFile) all() []entry {
	return append(append(append([]entry{}, f.Protected...), f.Registry...), f.Collections...)
}

func readBlocksFile(t *testing.T, dir string) blocksFile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "blocks.json"))
	require.NoError(t, err)
	var f blocksFile
	require.NoError(t, json.Unmarshal(data, &f))
	return f
}

func logTo(buf *bytes.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// Without a directory: one warning, views answer as Prefect's route does for
// a view it cannot fetch or does not know, and nothing can be installed.
func TestNoCatalogue(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	c := catalogue.Load("", logTo(&logs))
	require.Equal(t, 1, strings.Count(logs.String(), "\n"), "logged once: %s", logs.String())
	require.Contains(t, logs.String(), "PREFECT_SERVER_CATALOGUE_DIRECTORY is unset")
	require.False(t, c.HasBlocks())
	_, err := c.View("aggregate-worker-metadata")
	require.ErrorIs(t, err, catalogue.ErrMissingView)
	_, err = c.View("no-such-view")
	require.ErrorIs(t, err, catalogue.ErrUnknownView)
	changes, err := c.InstallProtected(context.Background(), storetest.NewSQLite(t))
	require.ErrorIs(t, err, catalogue.ErrNoBlocks)
	require.Empty(t, changes)
}

// A directory whose blocks.json is damaged or missing keeps its views and
// registers nothing, and says so.
func TestDamagedCatalogue(t *testing.T) {
	t.Parallel()
	for name, blocks := range map[string]string{
		"missing":   "",
		"truncated": `{"prefect_version": "3.9.1", "protected": [`,
		"unknown":   `{"prefect_version": "3.9.1", "protected": [], "extra": 1}`,
		"empty":     `{"prefect_version": "3.9.1", "protected": []}`,
		"bad type":  `{"prefect_version": "3.9.1", "protected": [{"block_type": {"name": "X", "slug": "Not A Slug"}, "block_schema": {"fields": {}, "version": "1"}}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			require.NoError(t, os.Mkdir(filepath.Join(dir, "views"), 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(dir, "views", "aggregate-worker-metadata.json"), []byte(`{"prefect": {}}`), 0o644))
			if blocks != "" {
				require.NoError(t, os.WriteFile(filepath.Join(dir, "blocks.json"), []byte(blocks), 0o644))
			}
			var logs bytes.Buffer
			c := catalogue.Load(dir, logTo(&logs))
			require.False(t, c.HasBlocks())
			require.Contains(t, logs.String(), "no block catalogue")
			body, err := c.View("aggregate-worker-metadata")
			require.NoError(t, err)
			require.JSONEq(t, `{"prefect": {}}`, string(body))
		})
	}
}

// The views are the wheel's files, served whole; Prefect knows views it does
// not bundle, which this server cannot fetch.
func TestViews(t *testing.T) {
	t.Parallel()
	dir := catalogueDir(t)
	c := catalogue.Load(dir, nil)
	body, err := c.View("aggregate-worker-metadata")
	require.NoError(t, err)
	want, err := os.ReadFile(filepath.Join(dir, "views", "aggregate-worker-metadata.json"))
	require.NoError(t, err)
	require.Equal(t, string(want), string(body))
	var workers map[string]map[string]struct {
		Type string `json:"type"`
	}
	require.NoError(t, json.Unmarshal(body, &workers))
	require.Equal(t, "process", workers["prefect"]["process"].Type)
	require.Equal(t, "kubernetes", workers["prefect-kubernetes"]["kubernetes"].Type)
	_, err = c.View("demo-flows")
	require.ErrorIs(t, err, catalogue.ErrMissingView)
	_, err = c.View("../blocks")
	require.ErrorIs(t, err, catalogue.ErrUnknownView)
}

// Every schema of the catalogue has, computed here, the checksum prefect
// gave it: the one a client computes for the same block, so Block.save()
// finds the registered schema instead of adding one.
func TestChecksumsAreTheClients(t *testing.T) {
	t.Parallel()
	f := readBlocksFile(t, catalogueDir(t))
	n := 0
	for _, e := range f.all() {
		fields, err := schema.DecodeJSONObject(e.BlockSchema.Fields)
		require.NoError(t, err)
		p, err := schema.PrepareBlockSchema(fields, nil)
		require.NoError(t, err)
		require.Equal(t, e.BlockSchema.Checksum, p.Checksum, e.BlockType.Slug)
		n++
	}
	require.Greater(t, n, 40)
}

// snapshot is every block type and schema row as the API reads them.
func snapshot(t *testing.T, st store.Store) ([]schema.BlockType, []schema.BlockSchema) {
	t.Helper()
	ctx := context.Background()
	types, err := st.FilterBlockTypes(ctx, schema.BlockTypeQuery{})
	require.NoError(t, err)
	schemas, err := st.FilterBlockSchemas(ctx, schema.BlockSchemaQuery{})
	require.NoError(t, err)
	return types, schemas
}

// Registration stores every type and schema of the catalogue, the system
// blocks protected; a second registration changes no row.
func TestRegisterAll(t *testing.T) {
	t.Parallel()
	dir := catalogueDir(t)
	f := readBlocksFile(t, dir)
	storetest.ForEach(t, func(t *testing.T, open storetest.Opener) {
		st := open(t)
		ctx := context.Background()
		var logs bytes.Buffer
		c := catalogue.Load(dir, logTo(&logs))
		require.True(t, c.HasBlocks())
		changes, err := c.RegisterAll(ctx, st)
		require.NoError(t, err)
		require.NotContains(t, logs.String(), "level=ERROR")

		slugs := map[string]bool{}
		for _, e := range f.all() {
			slugs[e.BlockType.Slug] = true
			bt, err := st.ReadBlockTypeBySlug(ctx, e.BlockType.Slug)
			require.NoError(t, err)
			bs, err := st.ReadBlockSchemaByChecksum(ctx, e.BlockSchema.Checksum, &e.BlockSchema.Version)
			require.NoError(t, err, "the schema of %s", e.BlockType.Slug)
			require.Equal(t, bt.ID, *bs.BlockTypeID)
			require.ElementsMatch(t, e.BlockSchema.Capabilities, bs.Capabilities)
		}
		for _, e := range f.Protected {
			bt, err := st.ReadBlockTypeBySlug(ctx, e.BlockType.Slug)
			require.NoError(t, err)
			require.True(t, bt.IsProtected, e.BlockType.Slug)
		}
		require.Len(t, changes, len(slugs), "one created change per type")
		for _, ch := range changes {
			require.Equal(t, "created", ch.Action)
		}
		types, schemas := snapshot(t, st)
		require.Len(t, types, len(slugs))

		changes, err = c.RegisterAll(ctx, st)
		require.NoError(t, err)
		require.Empty(t, changes)
		types2, schemas2 := snapshot(t, st)
		require.Equal(t, types, types2, "a second registration writes nothing")
		require.Equal(t, schemas, schemas2)

		changes, err = c.InstallProtected(ctx, st)
		require.NoError(t, err)
		require.Empty(t, changes)
	})
}

// A user's block type keeps what Prefect's registration keeps: its name
// (unless a protected type), and its own schemas and documents.
func TestRegisterAllOverUserTypes(t *testing.T) {
	t.Parallel()
	dir := catalogueDir(t)
	storetest.ForEach(t, func(t *testing.T, open storetest.Opener) {
		st := open(t)
		ctx := context.Background()
		desc := "mine"
		slack, err := st.CreateBlockType(ctx, schema.BlockTypeCreate{Name: "My Slack", Slug: "slack-webhook", Description: &desc})
		require.NoError(t, err)
		own := schema.BlockSchemaCreate{BlockTypeID: slack.ID, Fields: json.RawMessage(`{"title": "Mine", "type": "object", "properties": {}}`)}
		require.NoError(t, own.Validate())
		ownSchema, _, err := st.CreateBlockSchema(ctx, own)
		require.NoError(t, err)
		oldSecret, err := st.CreateBlockType(ctx, schema.BlockTypeCreate{Name: "Old Secret", Slug: "secret"})
		require.NoError(t, err)

		c := catalogue.Load(dir, nil)
		changes, err := c.RegisterAll(ctx, st)
		require.NoError(t, err)
		updated := map[string]bool{}
		for _, ch := range changes {
			if ch.Action == "updated" {
				updated[ch.BlockType.Slug] = true
			}
		}
		require.Equal(t, map[string]bool{"slack-webhook": true, "secret": true}, updated)

		got, err := st.ReadBlockTypeBySlug(ctx, "slack-webhook")
		require.NoError(t, err)
		require.Equal(t, slack.ID, got.ID)
		require.Equal(t, "My Slack", got.Name)
		require.NotEqual(t, desc, *got.Description, "the catalogue's description, as Prefect's registration writes it")
		require.False(t, got.IsProtected)
		_, err = st.ReadBlockSchema(ctx, ownSchema.ID)
		require.NoError(t, err, "the user's schema stays")

		secret, err := st.ReadBlockTypeBySlug(ctx, "secret")
		require.NoError(t, err)
		require.Equal(t, oldSecret.ID, secret.ID)
		require.Equal(t, "Secret", secret.Name)
		require.True(t, secret.IsProtected)
	})
}

// The install route's half: only the protected types, and again nothing.
func TestInstallProtected(t *testing.T) {
	t.Parallel()
	dir := catalogueDir(t)
	f := readBlocksFile(t, dir)
	st := storetest.NewSQLite(t)
	c := catalogue.Load(dir, nil)
	changes, err := c.InstallProtected(context.Background(), st)
	require.NoError(t, err)
	require.Len(t, changes, len(f.Protected))
	types, schemas := snapshot(t, st)
	require.Len(t, types, len(f.Protected))
	require.Len(t, schemas, len(f.Protected))
	for _, bt := range types {
		require.True(t, bt.IsProtected)
	}
	changes, err = c.InstallProtected(context.Background(), st)
	require.NoError(t, err)
	require.Empty(t, changes)
	require.False(t, errors.Is(err, catalogue.ErrNoBlocks))
}
