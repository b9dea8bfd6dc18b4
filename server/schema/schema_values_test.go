package schema_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/schema"
)

// schemaValueCases are forms' schemas and values, one or more keywords
// failing in each, as the UI sends them to POST /ui/schemas/validate.
var schemaValueCases = []struct{ name, schema, values string }{
	{"valid", `{"type":"object","properties":{"n":{"type":"integer"},"s":{"type":"string","default":"x"}},"required":["n"]}`, `{"n":3,"s":"y"}`},
	{"required", `{"type":"object","properties":{"name":{"type":"string"}},"required":["name"]}`, `{}`},
	{"type", `{"type":"object","properties":{"n":{"type":"integer"}},"required":["n"]}`, `{"n":"x"}`},
	{"optional without default takes null", `{"type":"object","properties":{"n":{"type":"integer"}}}`, `{"n":null}`},
	{"optional without default, wrong type", `{"type":"object","properties":{"n":{"type":"integer"}}}`, `{"n":"x"}`},
	{"type list", `{"type":"object","properties":{"n":{"type":["string","null"]}},"required":["n"]}`, `{"n":1}`},
	{"enum", `{"type":"object","properties":{"c":{"enum":["a","b"]}},"required":["c"]}`, `{"c":"z"}`},
	{"const", `{"type":"object","properties":{"c":{"const":"a"}},"required":["c"]}`, `{"c":"z"}`},
	{"number bounds", `{"type":"object","properties":{"a":{"type":"integer","minimum":5},"b":{"type":"number","maximum":1.5},
		"c":{"type":"integer","exclusiveMinimum":0},"d":{"type":"integer","exclusiveMaximum":10}},"required":["a","b","c","d"]}`,
		`{"a":1,"b":2.5,"c":0,"d":10}`},
	{"string bounds", `{"type":"object","properties":{"a":{"type":"string","minLength":1},"b":{"type":"string","maxLength":2},
		"c":{"type":"string","pattern":"^a"},"d":{"type":"string","minLength":3},"e":{"type":"string","maxLength":0}},"required":["a","b","c","d","e"]}`,
		`{"a":"","b":"abc","c":"b","d":"x","e":"y"}`},
	{"array bounds", `{"type":"object","properties":{"a":{"type":"array","minItems":2},"b":{"type":"array","maxItems":0},"c":{"type":"array","minItems":1}},
		"required":["a","b","c"]}`, `{"a":[1],"b":[1],"c":[]}`},
	{"nested object", `{"type":"object","properties":{"o":{"type":"object","properties":{"x":{"type":"integer"},"y":{"type":"string"}},"required":["x","y"]}},"required":["o"]}`,
		`{"o":{"x":"y"}}`},
	{"array items", `{"type":"object","properties":{"l":{"type":"array","items":{"type":"integer"}}},"required":["l"]}`, `{"l":[1,"a",2,"b"]}`},
	{"array of objects", `{"type":"object","properties":{"l":{"type":"array","items":{"type":"object","properties":{"k":{"type":"string"}},"required":["k"]}}},"required":["l"]}`,
		`{"l":[{"k":"a"},{},{"k":1}]}`},
	{"definitions", `{"definitions":{"P":{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]}},"type":"object",
		"properties":{"p":{"$ref":"#/definitions/P"}},"required":["p"]}`, `{"p":{}}`},
	{"secret block", `{"title":"Secret","type":"object","properties":{"value":{"title":"Value","anyOf":[{"type":"string","format":"password","writeOnly":true},{"type":"string"},{}]}},
		"required":["value"],"block_type_slug":"secret"}`, `{}`},
	{"secret block filled", `{"title":"Secret","type":"object","properties":{"value":{"title":"Value","anyOf":[{"type":"string","format":"password","writeOnly":true},{"type":"string"},{}]}},
		"required":["value"],"block_type_slug":"secret"}`, `{"value":"typed"}`},
	{"block reference", `{"type":"object","properties":{"creds":{"$ref":"#/definitions/Creds"}},"required":["creds"],
		"definitions":{"Creds":{"title":"Creds","type":"object","block_type_slug":"creds","properties":{"token":{"type":"string"}},"required":["token"]}}}`,
		`{"creds":{"$ref":{"block_document_id":"5d1c07c6-3c5b-4a8d-9b54-0a2f3b9c1a11"}}}`},
	{"anyOf none", `{"type":"object","properties":{"x":{"anyOf":[{"type":"integer"},{"type":"boolean"}]}},"required":["x"]}`, `{"x":"s"}`},
}

// TestValidateValuesMatchesPrefect answers each case as Prefect's own
// preprocess_schema, validate and build_error_obj do (the pinned prefect in
// the venv, PREFECTGO_TEST_PYTHON): the same messages under the same paths.
func TestValidateValuesMatchesPrefect(t *testing.T) {
	python := os.Getenv("PREFECTGO_TEST_PYTHON")
	if python == "" {
		t.Skip("PREFECTGO_TEST_PYTHON is not set; `make test-go` sets it to the pinned prefect's venv")
	}
	var in []map[string]json.RawMessage
	for _, c := range schemaValueCases {
		in = append(in, map[string]json.RawMessage{"schema": json.RawMessage(c.schema), "values": json.RawMessage(c.values)})
	}
	body, err := json.Marshal(in)
	require.NoError(t, err)
	cmd := exec.Command(python, "testdata/prefect_validate.py")
	cmd.Env = append(os.Environ(), "PREFECT_HOME="+t.TempDir())
	cmd.Stdin = bytes.NewReader(body)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, stderr.String())
	var want []any
	require.NoError(t, json.Unmarshal(out, &want))
	require.Len(t, want, len(schemaValueCases))

	for i, c := range schemaValueCases {
		t.Run(c.name, func(t *testing.T) {
			s, ok := schema.DecodeObject(json.RawMessage(c.schema))
			require.True(t, ok)
			v, ok := schema.DecodeObject(json.RawMessage(c.values))
			require.True(t, ok)
			got, err := schema.ValidateValues(v, schema.PreprocessSchema(s, false))
			require.NoError(t, err)
			raw, err := json.Marshal(got)
			require.NoError(t, err)
			var gotJSON any
			require.NoError(t, json.Unmarshal(raw, &gotJSON))
			// Python lists a level's errors in the schema's keyword order; the
			// tree is the same either way.
			require.Equal(t, sortedTree(want[i]), sortedTree(gotJSON))
		})
	}
}

func TestValidateValuesCircular(t *testing.T) {
	s, _ := schema.DecodeObject(json.RawMessage(`{"$ref":"#/definitions/A","definitions":{"A":{"$ref":"#/definitions/A"}}}`))
	_, err := schema.ValidateValues(map[string]any{}, s)
	require.ErrorIs(t, err, schema.ErrSchemaCircular)
}

// sortedTree sorts every list of an error tree by its entries' JSON.
func sortedTree(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[k] = sortedTree(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = sortedTree(e)
		}
		slices.SortFunc(out, func(a, b any) int {
			ja, _ := json.Marshal(a)
			jb, _ := json.Marshal(b)
			return bytes.Compare(ja, jb)
		})
		return out
	}
	return v
}
