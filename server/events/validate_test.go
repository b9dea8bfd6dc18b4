package events

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/schema"
)

// eventJSON is a valid event as a map, for tests to mutate.
func eventJSON() map[string]any {
	return map[string]any{
		"id":       uuid.NewString(),
		"occurred": "2026-11-30T16:24:54.576646Z",
		"event":    "prefect.task-run.Pending",
		"resource": map[string]any{"prefect.resource.id": "prefect.task-run." + uuid.NewString()},
		"related": []any{
			map[string]any{"prefect.resource.id": "prefect.tag.a", "prefect.resource.role": "tag"},
		},
		"payload": map[string]any{"k": "v"},
	}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

func labels(n int) map[string]any {
	m := map[string]any{"prefect.resource.id": "prefect.thing.1"}
	for i := 1; i < n; i++ {
		m["label."+strconv.Itoa(i)] = "v"
	}
	return m
}

func relatedN(n int) []any {
	rel := make([]any, n)
	for i := range rel {
		rel[i] = map[string]any{"prefect.resource.id": "prefect.tag." + strconv.Itoa(i), "prefect.resource.role": "tag"}
	}
	return rel
}

func TestDecodeEvent(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name   string
		mutate func(m map[string]any)
		field  string // expected InvalidEventError.Field; "" with reason "" means valid
		reason string
	}{
		{name: "valid", mutate: func(map[string]any) {}},
		{name: "name at limit", mutate: func(m map[string]any) { m["event"] = strings.Repeat("é", 1024) }},
		{name: "name over limit", mutate: func(m map[string]any) { m["event"] = strings.Repeat("é", 1025) },
			field: "event", reason: "Event name must be at most 1024 characters"},
		{name: "related at limit", mutate: func(m map[string]any) { m["related"] = relatedN(100) }},
		{name: "related over limit", mutate: func(m map[string]any) { m["related"] = relatedN(101) },
			field: "related", reason: "The maximum number of related resources is 100"},
		{name: "resource labels at limit", mutate: func(m map[string]any) { m["resource"] = labels(500) }},
		{name: "resource labels over limit", mutate: func(m map[string]any) { m["resource"] = labels(501) },
			field: "resource", reason: "The maximum number of labels per resource is 500"},
		{name: "related labels at limit", mutate: func(m map[string]any) {
			l := labels(499)
			l["prefect.resource.role"] = "r"
			m["related"] = []any{l}
		}},
		{name: "related labels over limit", mutate: func(m map[string]any) {
			l := labels(500)
			l["prefect.resource.role"] = "r"
			m["related"] = []any{relatedN(1)[0], l}
		}, field: "related.1", reason: "The maximum number of labels per resource is 500"},
		{name: "missing id", mutate: func(m map[string]any) { delete(m, "id") }, field: "id", reason: "Field required"},
		{name: "bad id", mutate: func(m map[string]any) { m["id"] = "nope" }, field: "id", reason: "Input should be a valid UUID"},
		{name: "missing occurred", mutate: func(m map[string]any) { delete(m, "occurred") }, field: "occurred", reason: "Field required"},
		{name: "bad occurred", mutate: func(m map[string]any) { m["occurred"] = "yesterday" }, field: "occurred", reason: "Input should be a valid datetime or date, invalid character in year"},
		{name: "occurred past year 9999 in UTC", mutate: func(m map[string]any) { m["occurred"] = "9999-12-31T23:00:00-14:00" }, field: "occurred",
			reason: "Input should be a valid datetime, the time in UTC must lie between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z"},
		{name: "naive occurred is UTC", mutate: func(m map[string]any) { m["occurred"] = "2026-11-30T16:24:54.576646" }},
		{name: "missing event", mutate: func(m map[string]any) { delete(m, "event") }, field: "event", reason: "Field required"},
		{name: "event not a string", mutate: func(m map[string]any) { m["event"] = 3 }, field: "event", reason: "Input should be a valid string"},
		{name: "missing resource", mutate: func(m map[string]any) { delete(m, "resource") }, field: "resource", reason: "Field required"},
		{name: "resource without id", mutate: func(m map[string]any) { m["resource"] = map[string]any{"a": "b"} },
			field: "resource", reason: "Resources must include the prefect.resource.id label"},
		{name: "resource with empty id", mutate: func(m map[string]any) { m["resource"] = map[string]any{"prefect.resource.id": ""} },
			field: "resource", reason: "The prefect.resource.id label must be non-empty"},
		{name: "related without role", mutate: func(m map[string]any) { m["related"] = []any{map[string]any{"prefect.resource.id": "x"}} },
			field: "related.0", reason: "Related Resources must include the prefect.resource.role label"},
		{name: "related with empty role", mutate: func(m map[string]any) {
			m["related"] = []any{map[string]any{"prefect.resource.id": "x", "prefect.resource.role": ""}}
		}, field: "related.0", reason: "The prefect.resource.role label must be non-empty"},
		{name: "payload not an object", mutate: func(m map[string]any) { m["payload"] = []any{1} }, field: "payload", reason: "Input should be a valid dictionary"},
		{name: "missing related and payload", mutate: func(m map[string]any) { delete(m, "related"); delete(m, "payload") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := eventJSON()
			tt.mutate(m)
			ev, err := DecodeEvent(mustJSON(t, m), Limits{})
			if tt.reason == "" {
				require.NoError(t, err)
				require.Equal(t, m["event"], ev.Event)
				require.Equal(t, time.UTC, ev.Occurred.Location())
				require.NotNil(t, ev.Related)
				require.NotEmpty(t, ev.Payload)
				return
			}
			var ie *InvalidEventError
			require.ErrorAs(t, err, &ie)
			require.Equal(t, tt.field, ie.Field)
			require.Equal(t, tt.reason, ie.Reason)
			require.Equal(t, -1, ie.Index)
		})
	}
}

func TestDecodeEventSize(t *testing.T) {
	t.Parallel()
	raw := mustJSON(t, eventJSON())

	_, err := DecodeEvent(raw, Limits{MaxSizeBytes: int64(len(raw))})
	require.NoError(t, err)

	_, err = DecodeEvent(raw, Limits{MaxSizeBytes: int64(len(raw) - 1)})
	var ie *InvalidEventError
	require.ErrorAs(t, err, &ie)
	require.Equal(t, "", ie.Field)
	require.Equal(t, "Event is too large ("+strconv.Itoa(len(raw))+" > "+strconv.Itoa(len(raw)-1)+" bytes)", ie.Reason)
}

func TestDecodeEventFields(t *testing.T) {
	t.Parallel()
	follows := uuid.New()
	m := eventJSON()
	m["follows"] = follows.String()
	m["occurred"] = "2026-11-30T17:24:54.5766469+01:00"
	m["received"] = "1999-01-01T00:00:00Z" // the client's received is not trusted
	m["unknown"] = true
	ev, err := DecodeEvent(mustJSON(t, m), Limits{})
	require.NoError(t, err)
	require.Equal(t, m["id"], ev.ID.String())
	require.Equal(t, &follows, ev.Follows)
	require.Equal(t, time.Date(2026, 11, 30, 16, 24, 54, 576646000, time.UTC), ev.Occurred)
	require.True(t, ev.Received.IsZero())
	require.JSONEq(t, `{"k":"v"}`, string(ev.Payload))
	require.Equal(t, schema.Resource{"prefect.resource.id": "prefect.tag.a", "prefect.resource.role": "tag"}, ev.Related[0])
}

func TestInvalidEventErrorAsValidationError(t *testing.T) {
	t.Parallel()
	err := error(&InvalidEventError{Index: 3, Field: "related", Reason: "The maximum number of related resources is 100"})
	var ve *schema.ValidationError
	require.True(t, errors.As(err, &ve))
	require.Equal(t, "3.related", ve.Loc)
	require.Equal(t, "The maximum number of related resources is 100", ve.Msg)
	require.Equal(t, "3.related: The maximum number of related resources is 100", err.Error())
}

func TestLimitsDefaults(t *testing.T) {
	t.Parallel()
	require.Equal(t, Limits{MaxSizeBytes: 1_500_000, MaxRelatedResources: 100, MaxLabelsPerResource: 500, MaxNameLength: 1024},
		Limits{}.WithDefaults())
}
