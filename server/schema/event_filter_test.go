package schema

import (
	"encoding/json"
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
		"order": "asc", "text": {"query": "ignored"}}`), &f))
	require.Equal(t, ResourceSpecification{"a": {"x"}, "b": {"y", "z"}}, f.Resource.Labels)
	require.Len(t, f.Related, 1)
	require.Len(t, f.AnyResource, 2)
	now := time.Date(2026, 5, 5, 12, 0, 0, 0, time.UTC)
	f.Resolve(now)
	require.Equal(t, "ASC", f.Order)
	require.Equal(t, time.Date(2025, 11, 6, 0, 0, 0, 0, time.UTC), *f.Occurred.Since)
	require.Equal(t, now, *f.Occurred.Until)
}
