package sqlstore

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"prefectgo.dev/prefectgo/server/schema"
)

// openCryptTestDB migrates a SQLite file and returns a function opening
// stores on it, each with its own key cache and configured key.
func openCryptTestDB(t *testing.T) (*sql.DB, func(env map[string]string) *Store) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "t.db")+"?_pragma=foreign_keys(ON)&_txlock=immediate")
	require.NoError(t, err)
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { _ = db.Close() })
	_, err = Migrate(context.Background(), db, SQLite, os.DirFS("../sqlite/migrations"))
	require.NoError(t, err)
	return db, func(env map[string]string) *Store {
		return New(Options{Dialect: SQLite, Writer: db, EncryptionKey: env[encryptionKeyEnv]})
	}
}

func saveSecret(t *testing.T, s *Store, name, value string) schema.BlockDocument {
	t.Helper()
	ctx := context.Background()
	bt, err := s.ReadBlockTypeBySlug(ctx, "secret")
	if err != nil {
		bt, err = s.CreateBlockType(ctx, schema.BlockTypeCreate{Name: "Secret", Slug: "secret"})
		require.NoError(t, err)
	}
	bs, _, err := s.CreateBlockSchema(ctx, schema.BlockSchemaCreate{BlockTypeID: bt.ID, Version: "1",
		Fields: json.RawMessage(`{"title": "Secret", "secret_fields": ["value"]}`)})
	require.NoError(t, err)
	doc, err := s.CreateBlockDocument(ctx, schema.BlockDocumentCreate{Name: &name, BlockTypeID: bt.ID, BlockSchemaID: bs.ID,
		Data: json.RawMessage(`{"value": "` + value + `"}`)})
	require.NoError(t, err)
	return doc
}

func readValue(s *Store, id uuid.UUID) (any, error) {
	doc, err := s.ReadBlockDocument(context.Background(), id, true)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(doc.Data, &m); err != nil {
		return nil, err
	}
	return m["value"], nil
}

func TestBlockDataEncryptedWithConfigurationKey(t *testing.T) {
	t.Parallel()
	db, open := openCryptTestDB(t)
	s := open(nil)
	doc := saveSecret(t, s, "one", "s3cr3t")

	var stored string
	require.NoError(t, db.QueryRow(`SELECT data FROM block_document WHERE id = ?`, doc.ID.String()).Scan(&stored))
	require.True(t, strings.HasPrefix(stored, ciphertextPrefix), stored)
	require.NotContains(t, stored, "s3cr3t")

	// The key is the configuration row Prefect uses, created on first use.
	var value string
	require.NoError(t, db.QueryRow(`SELECT value FROM configuration WHERE key = 'ENCRYPTION_KEY'`).Scan(&value))
	var row struct {
		FernetKey string `json:"fernet_key"`
	}
	require.NoError(t, json.Unmarshal([]byte(value), &row))
	key, err := base64.URLEncoding.DecodeString(row.FernetKey)
	require.NoError(t, err)
	require.Len(t, key, 32)

	// Another server process on the same database reads it back.
	v, err := readValue(open(nil), doc.ID)
	require.NoError(t, err)
	require.Equal(t, "s3cr3t", v)
	// ... and so does one given that key in the environment.
	v, err = readValue(open(map[string]string{encryptionKeyEnv: row.FernetKey}), doc.ID)
	require.NoError(t, err)
	require.Equal(t, "s3cr3t", v)

	// A ciphertext is bound to its row.
	other := saveSecret(t, s, "two", "other")
	_, err = db.Exec(`UPDATE block_document SET data = ? WHERE id = ?`, stored, other.ID.String())
	require.NoError(t, err)
	_, err = readValue(s, other.ID)
	require.ErrorContains(t, err, "cannot decrypt")
}

func TestBlockDataEncryptedWithEnvironmentKey(t *testing.T) {
	t.Parallel()
	db, open := openCryptTestDB(t)
	env := map[string]string{encryptionKeyEnv: "not a fernet key, hashed into one"}
	doc := saveSecret(t, open(env), "one", "s3cr3t")
	var n int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM configuration`).Scan(&n))
	require.Zero(t, n, "with the variable set, no key is stored")

	v, err := readValue(open(env), doc.ID)
	require.NoError(t, err)
	require.Equal(t, "s3cr3t", v)

	_, err = readValue(open(map[string]string{encryptionKeyEnv: "another key"}), doc.ID)
	require.ErrorContains(t, err, "was PREFECT_SERVER_ENCRYPTION_KEY changed?")

	// SetEncryptionKey replaces the key given at construction.
	configured := open(map[string]string{encryptionKeyEnv: "another key"})
	configured.SetEncryptionKey(env[encryptionKeyEnv])
	v, err = readValue(configured, doc.ID)
	require.NoError(t, err)
	require.Equal(t, "s3cr3t", v)
}

func TestParseEncryptionKey(t *testing.T) {
	t.Parallel()
	raw := make([]byte, 32)
	for i := range raw {
		raw[i] = byte(i * 7)
	}
	require.Equal(t, raw, parseEncryptionKey(base64.URLEncoding.EncodeToString(raw)), "a Fernet key is used as is")
	require.Equal(t, raw, parseEncryptionKey(base64.StdEncoding.EncodeToString(raw)))
	require.Len(t, parseEncryptionKey("short"), 32)
	require.NotEqual(t, parseEncryptionKey("a"), parseEncryptionKey("b"))
}

// Documents that each reference the next twice expand exponentially on
// read; the expansion is bounded instead of exhausting memory.
func TestBlockDocumentExpansionBounded(t *testing.T) {
	t.Parallel()
	_, open := openCryptTestDB(t)
	s := open(map[string]string{encryptionKeyEnv: "k"})
	aead, err := s.blockCipher(context.Background())
	require.NoError(t, err)
	nodes := map[uuid.UUID]*storedDocument{}
	children := map[uuid.UUID][]docRef{}
	var ids []uuid.UUID
	for range 20 {
		id := uuid.New()
		sealed, err := sealBlockData(aead, id, []byte(`{}`))
		require.NoError(t, err)
		nodes[id] = &storedDocument{BlockDocument: schema.BlockDocument{ID: id}, sealed: sealed, schemaFields: map[string]any{}}
		ids = append(ids, id)
	}
	for i := 0; i+1 < len(ids); i++ {
		children[ids[i]] = []docRef{{name: "l", child: ids[i+1]}, {name: "r", child: ids[i+1]}}
	}
	budget := maxExpandedDocuments
	_, err = buildDocument(aead, nodes, children, ids[0], true, []uuid.UUID{ids[0]}, &budget)
	var bad *schema.BadRequestError
	require.ErrorAs(t, err, &bad)

	budget = maxExpandedDocuments
	doc, err := buildDocument(aead, nodes, children, ids[10], true, []uuid.UUID{ids[10]}, &budget)
	require.NoError(t, err, "2^10 documents are within the bound")
	require.Contains(t, string(doc.Data), `"l":{"l":`)
}
