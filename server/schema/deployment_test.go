package schema

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestValidateParameters(t *testing.T) {
	t.Parallel()
	// A schema as Prefect generates it from a flow signature.
	const sig = `{"title":"Parameters","type":"object","required":["x"],
		"properties":{"x":{"type":"integer","position":0},
			"name":{"type":"string","default":"world"},
			"opt":{"type":"string"},
			"tags":{"type":"array","items":{"type":"string"}},
			"choice":{"$ref":"#/definitions/Color"},
			"either":{"anyOf":[{"type":"integer"},{"type":"null"}]}},
		"definitions":{"Color":{"enum":["red","blue"]}}}`
	for _, tc := range []struct {
		params, want   string
		ignoreRequired bool
	}{
		{params: `{"x": 1}`},
		{params: `{"x": 1.0}`},
		{params: `{"x": 1, "name": "a", "tags": ["a"], "choice": "red", "either": null}`},
		{params: `{"x": 1, "opt": null}`},
		{params: `{}`, ignoreRequired: true},
		{params: `{}`, want: "Validation failed. Failure reason: 'x' is a required property"},
		{params: `{"x": "a"}`, want: "Validation failed for field 'x'. Failure reason: 'a' is not of type 'integer'"},
		{params: `{"x": 1.5}`, want: "Validation failed for field 'x'. Failure reason: 1.5 is not of type 'integer'"},
		{params: `{"x": true}`, want: "Validation failed for field 'x'. Failure reason: True is not of type 'integer'"},
		{params: `{"x": 1, "name": null}`, want: "Validation failed for field 'name'. Failure reason: None is not of type 'string'"},
		{params: `{"x": 1, "tags": ["a", 2]}`, want: "Validation failed for field 'tags[1]'. Failure reason: 2 is not of type 'string'"},
		{params: `{"x": 1, "choice": "green"}`, want: "Validation failed for field 'choice'. Failure reason: 'green' is not one of ['red', 'blue']"},
		{params: `{"x": 1, "either": "s"}`, want: "Validation failed for field 'either'. Failure reason: 's' is not of type 'integer'"},
		// The shallowest complaint wins, as in jsonschema's best_match.
		{params: `{"name": 5}`, want: "Validation failed. Failure reason: 'x' is a required property"},
	} {
		err := ValidateParameters(json.RawMessage(tc.params), json.RawMessage(sig), tc.ignoreRequired, true)
		if tc.want == "" {
			require.NoError(t, err, tc.params)
			continue
		}
		require.EqualError(t, err, tc.want, tc.params)
	}
	require.NoError(t, ValidateParameters(json.RawMessage(`{"a": 1}`), nil, false, true), "no schema, nothing to check")
}

func TestScheduleNormalize(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct{ in, want, errLoc string }{
		{in: `{"interval": 60}`, want: `{"interval":60,"anchor_date":"2026-05-01T12:00:00Z","timezone":"UTC"}`},
		{in: `{"interval": 0.5, "anchor_date": "2024-01-01T01:00:00+01:00", "timezone": "Europe/Paris"}`,
			want: `{"interval":0.5,"anchor_date":"2024-01-01T00:00:00Z","timezone":"Europe/Paris"}`},
		{in: `{"interval": "PT1H", "anchor_date": "2024-01-01 00:00:00"}`, want: `{"interval":3600,"anchor_date":"2024-01-01T00:00:00Z","timezone":"UTC"}`},
		{in: `{"cron": "*/5 * * * *", "timezone": "America/New_York", "day_or": false}`,
			want: `{"cron":"*/5 * * * *","timezone":"America/New_York","day_or":false}`},
		{in: `{"cron": "@daily"}`, want: `{"cron":"@daily","timezone":null,"day_or":true}`},
		{in: `{"rrule": "FREQ=WEEKLY;BYDAY=MO"}`, want: `{"rrule":"FREQ=WEEKLY;BYDAY=MO","timezone":"UTC"}`},
		{in: `{"interval": 0}`, errLoc: "s.interval"},
		{in: `{"interval": 60, "timezone": "Nowhere/Land"}`, errLoc: "s.timezone"},
		{in: `{"interval": 60, "cron": "* * * * *"}`, errLoc: "s.IntervalSchedule.cron"},
		{in: `{"cron": "* *"}`, errLoc: "s.cron"},
		{in: `{"rrule": "x"}`, errLoc: "s.rrule"},
		{in: `{}`, errLoc: "s"},
		{in: `[]`, errLoc: "s"},
	} {
		var sc Schedule
		require.NoError(t, json.Unmarshal([]byte(tc.in), &sc), tc.in)
		err := sc.Normalize("s", now)
		if tc.errLoc != "" {
			var verr *ValidationError
			require.ErrorAs(t, err, &verr, tc.in)
			require.Equal(t, tc.errLoc, verr.Loc, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		out, err := json.Marshal(sc)
		require.NoError(t, err)
		require.JSONEq(t, tc.want, string(out), tc.in)
		// What was stored reads back the same.
		var again Schedule
		require.NoError(t, json.Unmarshal(out, &again))
		require.NoError(t, again.Normalize("s", now.Add(time.Hour)))
		out2, _ := json.Marshal(again)
		require.JSONEq(t, string(out), string(out2))
	}
}

func TestDeploymentCreateFieldsSent(t *testing.T) {
	t.Parallel()
	var d DeploymentCreate
	require.NoError(t, json.Unmarshal([]byte(`{"name":"n","flow_id":"0193a0b3-8a52-7ab1-9a79-1d2a0bdf1e35","tags":["a"]}`), &d))
	require.NoError(t, d.Validate())
	require.True(t, d.Has("tags"))
	require.False(t, d.Has("description"))
	require.True(t, d.EnforceParameterSchema, "Prefect's default")
	require.JSONEq(t, `{"type":"object","properties":{}}`, string(d.ParameterOpenAPISchema))

	var bad DeploymentCreate
	require.NoError(t, json.Unmarshal([]byte(`{"name":"n","flow_id":"0193a0b3-8a52-7ab1-9a79-1d2a0bdf1e35","enforce_parameter_schema":true,
		"parameter_openapi_schema":{"type":"object","properties":{"x":{"type":"integer"}}},"parameters":{"x":"no"}}`), &bad))
	require.Error(t, bad.Validate())
}
