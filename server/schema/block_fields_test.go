package schema

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// goldens are computed by the pinned Prefect client
// (testdata/gen_block_goldens.py): our checksums must equal the client's, or
// it would register a new schema on every save.
type goldens struct {
	Checksums []struct {
		Name     string `json:"name"`
		Fields   string `json:"fields"`
		Checksum string `json:"checksum"`
	} `json:"checksums"`
	Obfuscation []struct {
		Data         json.RawMessage `json:"data"`
		SecretFields []string        `json:"secret_fields"`
		Want         json.RawMessage `json:"want"`
	} `json:"obfuscation"`
}

func loadGoldens(t *testing.T) goldens {
	t.Helper()
	raw, err := os.ReadFile("testdata/block_goldens.json")
	require.NoError(t, err)
	var g goldens
	require.NoError(t, json.Unmarshal(raw, &g))
	return g
}

func TestBlockSchemaChecksumMatchesPrefect(t *testing.T) {
	t.Parallel()
	for _, c := range loadGoldens(t).Checksums {
		fields, err := DecodeJSONObject([]byte(c.Fields))
		require.NoError(t, err, c.Name)
		got, err := BlockSchemaChecksum(fields)
		require.NoError(t, err, c.Name)
		require.Equal(t, c.Checksum, got, c.Name)

		// Preparing for storage computes the same checksum.
		p, err := PrepareBlockSchema(fields, nil)
		require.NoError(t, err, c.Name)
		require.Equal(t, c.Checksum, p.Checksum, c.Name)
	}
}

func TestPythonFloat(t *testing.T) {
	t.Parallel()
	for lit, want := range map[string]string{
		"1.0": "1.0", "1": "1", "-0": "0", "1.50": "1.5", "1e5": "100000.0", "1E-7": "1e-07",
		"0.0001": "0.0001", "0.00001": "1e-05", "1e16": "1e+16", "1e15": "1000000000000000.0",
		"123.456": "123.456", "-2.5e-300": "-2.5e-300", "1e400": "Infinity", "-0.0": "-0.0",
		"12345678901234567890": "12345678901234567890", "1.7976931348623157e308": "1.7976931348623157e+308",
	} {
		require.Equal(t, want, pythonNumber(lit), lit)
	}
}

func TestObfuscateSecretsMatchesPrefect(t *testing.T) {
	t.Parallel()
	for _, c := range loadGoldens(t).Obfuscation {
		data, err := DecodeJSONObject(c.Data)
		require.NoError(t, err)
		got, err := json.Marshal(ObfuscateSecrets(data, c.SecretFields))
		require.NoError(t, err)
		require.JSONEq(t, string(c.Want), string(got), "data %s, secret fields %v", c.Data, c.SecretFields)
	}
}

func TestRestoreSecrets(t *testing.T) {
	t.Parallel()
	current := map[string]any{"token": "real", "nested": map[string]any{"a": "1", "b": "2"}, "plain": "p"}
	update := map[string]any{"token": ObfuscatedSecret, "nested": map[string]any{"a": ObfuscatedSecret, "b": "new", "c": ObfuscatedSecret}, "plain": ObfuscatedSecret}
	got := RestoreSecrets(update, current, []string{"token", "nested.*"})
	require.Equal(t, map[string]any{
		"token":  "real",
		"nested": map[string]any{"a": "1", "b": "new", "c": ObfuscatedSecret},
		"plain":  ObfuscatedSecret, // not a secret field: taken as posted
	}, got)
}

func TestPrepareBlockSchemaNested(t *testing.T) {
	t.Parallel()
	var outer, otherSum string
	for _, c := range loadGoldens(t).Checksums {
		switch c.Name {
		case "Outer":
			outer = c.Fields
		case "Other":
			otherSum = c.Checksum
		}
	}
	fields, err := DecodeJSONObject([]byte(outer))
	require.NoError(t, err)
	p, err := PrepareBlockSchema(fields, nil)
	require.NoError(t, err)
	require.NotContains(t, p.Fields, "block_schema_references")
	require.NotContains(t, p.Fields, "definitions", "only block definitions: rebuilt from the nested schemas on read")
	require.Len(t, p.Definitions, 2)
	require.Equal(t, []BlockSchemaReference{
		{Name: "either", Checksum: "sha256:a17a3cb02197d0acf6882dba1c93bdb4383e7c90d79ae396dce4b7aaa45f3785", Slug: "inner-thing"},
		{Name: "either", Checksum: otherSum, Slug: "other"},
		{Name: "inner", Checksum: "sha256:a17a3cb02197d0acf6882dba1c93bdb4383e7c90d79ae396dce4b7aaa45f3785", Slug: "inner-thing"},
	}, p.References)

	// The nested schemas come from the definitions, by slug when a field holds several.
	child, err := ChildSchemaFields(p.Definitions, p.Fields, "either", "other")
	require.NoError(t, err)
	require.Equal(t, "Other", child["title"])
	cp, err := PrepareBlockSchema(child, p.Definitions)
	require.NoError(t, err)
	require.Equal(t, otherSum, cp.Checksum,
		"a nested schema stored from the definitions has the checksum the client computes for its class")
	_, err = ChildSchemaFields(p.Definitions, p.Fields, "nope", "other")
	require.Error(t, err)

	_, err = PrepareBlockSchema(map[string]any{"block_schema_references": map[string]any{"x": "bad"}}, nil)
	require.Error(t, err)
	_, err = PrepareBlockSchema(map[string]any{"definitions": []any{1}}, nil)
	require.Error(t, err)
}

func TestSplitBlockReferences(t *testing.T) {
	t.Parallel()
	id := uuid.New()
	plain, refs, err := SplitBlockReferences(map[string]any{
		"a": map[string]any{"$ref": map[string]any{"block_document_id": id.String()}},
		"b": map[string]any{"x": 1}, "c": "s",
	})
	require.NoError(t, err)
	require.Equal(t, map[string]any{"b": map[string]any{"x": 1}, "c": "s"}, plain)
	require.Equal(t, []BlockDocumentRef{{Name: "a", DocumentID: id}}, refs)

	for _, bad := range []any{map[string]any{}, "x", map[string]any{"block_document_id": "nope"}} {
		_, _, err = SplitBlockReferences(map[string]any{"a": map[string]any{"$ref": bad}})
		var br *BadRequestError
		require.ErrorAs(t, err, &br)
	}
}

func TestBlockDocumentFilterAnonymousDefault(t *testing.T) {
	t.Parallel()
	var q BlockDocumentQuery
	require.NoError(t, json.Unmarshal([]byte(`{"block_documents": {"name": {"any_": ["x"]}}}`), &q))
	require.NotNil(t, q.BlockDocuments.IsAnonymous)
	require.False(t, *q.BlockDocuments.IsAnonymous.Eq)
	require.NoError(t, json.Unmarshal([]byte(`{"block_documents": {"is_anonymous": null}}`), &q))
	require.Nil(t, q.BlockDocuments.IsAnonymous)
	require.NoError(t, json.Unmarshal([]byte(`{"block_documents": {"is_anonymous": {"eq_": true}}}`), &q))
	require.True(t, *q.BlockDocuments.IsAnonymous.Eq)
}
