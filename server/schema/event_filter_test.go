package schema

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestLabelMatches(t *testing.T) {
	cases := []struct {
		values  []string
		v       string
		present bool
		want    bool
	}{
		{[]string{"a"}, "a", true, true},
		{[]string{"a"}, "b", true, false},
		{[]string{"a*"}, "abc", true, true},
		{[]string{"a*"}, "Abc", true, false},
		{[]string{"!a"}, "b", true, true},
		{[]string{"!a"}, "a", true, false},
		{[]string{"!a"}, "", false, false}, // negation needs the label
		{[]string{"!a*"}, "abc", true, false},
		{[]string{"a", "b*"}, "bc", true, true},
		{[]string{"x*", "!xy*"}, "xz", true, true},
		{[]string{"x*", "!xy*"}, "xyz", true, false},
		{[]string{}, "a", true, false},
	}
	for _, c := range cases {
		require.Equal(t, c.want, LabelMatches(c.values, c.v, c.present), "%v %q", c.values, c.v)
	}
}

func TestEventFilterDecodingIsLenient(t *testing.T) {
	var f EventFilter
	require.NoError(t, json.Unmarshal([]byte(`{
		"resource": {"labels": {"a": "x", "b": ["y", "z"]}, "new_field": true},
		"related": {"role": ["flow"]},
		"any_resource": [{"id": ["r"]}, {"id_prefix": ["q"]}],
		"order": "asc", "text": {"query": "anything"}}`), &f))
	require.Equal(t, ResourceSpecification{"a": {"x"}, "b": {"y", "z"}}, f.Resource.Labels)
	require.Len(t, f.Related, 1)
	require.Len(t, f.AnyResource, 2)
	now := time.Date(2026, 5, 5, 12, 0, 0, 0, time.UTC)
	f.Resolve(now)
	require.Equal(t, "ASC", f.Order)
	require.Equal(t, time.Date(2025, 11, 6, 0, 0, 0, 0, time.UTC), f.Occurred.Since.Time)
	require.Equal(t, now, f.Occurred.Until.Time)
}

func TestParseTextSearch(t *testing.T) {
	cases := []struct {
		query string
		want  TextSearch
	}{
		{"", TextSearch{}},
		{"error Timeout", TextSearch{Include: []string{"error", "timeout"}}},
		{"error -debug !trace +prod", TextSearch{Include: []string{"error"}, Exclude: []string{"debug", "trace"}, Required: []string{"prod"}}},
		{`"connection timeout" -"dry run"`, TextSearch{Include: []string{"connection timeout"}, Exclude: []string{"dry run"}}},
		{`"say \"hi\" \\ \n"`, TextSearch{Include: []string{`say "hi" \ \n`}}},
		{`- lonely + prefixes`, TextSearch{Include: []string{"lonely", "prefixes"}}},
		{`"unclosed phrase`, TextSearch{Include: []string{"unclosed phrase"}}},
		{`a"b c"`, TextSearch{Include: []string{"a", "b c"}}},
		{`"  "`, TextSearch{}},
	}
	for _, c := range cases {
		require.Equal(t, c.want, ParseTextSearch(c.query), c.query)
	}
}

func TestEventTextQueryLimit(t *testing.T) {
	var f EventFilter
	require.NoError(t, json.Unmarshal([]byte(`{"text":{"query":"`+strings.Repeat("x", 200)+`"}}`), &f))
	err := json.Unmarshal([]byte(`{"text":{"query":"`+strings.Repeat("x", 201)+`"}}`), &f)
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)
	require.Contains(t, ve.Msg, "at most 200 characters")
}
