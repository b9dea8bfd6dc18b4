package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/schema"
)

// FuzzDecodeEvent: whatever a client sends, DecodeEvent either refuses it
// with an InvalidEventError (which the HTTP layer renders as a 422) or
// returns an event that passes the limits and survives a JSON round trip
// unchanged, as the broker and the /events/out socket send it on.
func FuzzDecodeEvent(f *testing.F) {
	// The events the real client sent in one flow run, one per line.
	lines, err := os.ReadFile("testdata/client-3.9.1-events.jsonl")
	require.NoError(f, err)
	for line := range bytes.Lines(lines) {
		f.Add(bytes.TrimSpace(line))
	}
	f.Add(mustJSON(f, eventJSON()))
	f.Add([]byte(`null`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"id":"6a8e1c73-7f55-4ff0-a2b9-5a3e63d7c2a1","occurred":"2026-01-01 00:00","event":"x","resource":{"prefect.resource.id":"r"},"payload":null,"follows":"6a8e1c73-7f55-4ff0-a2b9-5a3e63d7c2a2"}`))

	f.Fuzz(func(t *testing.T, raw []byte) {
		ev, err := DecodeEvent(raw, Limits{})
		if err != nil {
			var invalid *InvalidEventError
			require.True(t, errors.As(err, &invalid), "not an InvalidEventError: %v", err)
			var verr *schema.ValidationError
			require.True(t, errors.As(err, &verr), "not seen as a ValidationError: %v", err)
			return
		}
		require.NoError(t, Limits{}.Check(ev))
		require.True(t, schema.IsJSONObject(ev.Payload), "payload %q", ev.Payload)

		again, err := json.Marshal(ev)
		require.NoError(t, err, "an accepted event must encode: %+v", ev)
		if int64(len(again)) > (Limits{}).WithDefaults().MaxSizeBytes {
			return // the encoding adds "received" and "follows"
		}
		back, err := DecodeEvent(again, Limits{})
		require.NoError(t, err, "re-decoding %s", again)
		require.JSONEq(t, string(ev.Payload), string(back.Payload))
		ev.Payload, back.Payload = nil, nil
		require.Equal(t, ev, back)
	})
}
