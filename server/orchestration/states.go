package orchestration

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

// newState builds a state the way Prefect's state constructors do: a new
// id, stamped now, the type's default name unless one is given.
func newState(typ schema.StateType, name string, now time.Time) *schema.State {
	if name == "" {
		name = typ.DefaultName()
	}
	return &schema.State{ID: uuid.Must(uuid.NewV7()), Type: typ, Name: name, Timestamp: now}
}

// awaitingRetry is Prefect's AwaitingRetry: a Scheduled state that keeps the
// failure's message and data.
func awaitingRetry(at time.Time, failed *schema.State, now time.Time) *schema.State {
	s := newState(schema.StateScheduled, "AwaitingRetry", now)
	s.StateDetails.ScheduledTime = &at
	s.Message, s.Data = failed.Message, failed.Data
	return s
}

// delayDuration turns float seconds into a duration.
func delayDuration(seconds float64) time.Duration {
	return time.Duration(seconds * float64(time.Second))
}

// decodeData decodes a state's data; nil when absent or not JSON.
func decodeData(raw *json.RawMessage) any {
	if raw == nil {
		return nil
	}
	var v any
	if json.Unmarshal(*raw, &v) != nil {
		return nil
	}
	return v
}

// truthy is Python's truth value of decoded JSON, which Prefect applies to
// state data before looking inside it.
func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case float64:
		return x != 0
	case string:
		return x != ""
	case []any:
		return len(x) > 0
	case map[string]any:
		return len(x) > 0
	}
	return true
}

// persistedResult is Prefect's _has_persisted_result: data that is an
// object whose type is not "unpersisted" (a result record's metadata).
func persistedResult(v any) bool {
	m, ok := v.(map[string]any)
	return ok && m["type"] != "unpersisted"
}

// holdsPersistedResult reports whether a state's data is a non-empty
// persisted result, the data terminal-state protection guards.
func holdsPersistedResult(s *schema.State) bool {
	v := decodeData(s.Data)
	return truthy(v) && persistedResult(v)
}

// waitSeconds is WaitForScheduledTime's rounding of the time left until at:
// whole seconds down, plus one when the microsecond remainder rounds up
// (Python's round, so exactly half a second rounds to even, i.e. down).
func waitSeconds(at, now time.Time) int {
	// Python datetimes carry microseconds; so does the difference.
	micros := at.Truncate(time.Microsecond).Sub(now.Truncate(time.Microsecond)).Microseconds()
	secs, frac := micros/1_000_000, micros%1_000_000
	if frac < 0 {
		secs--
		frac += 1_000_000
	}
	if frac > 500_000 {
		secs++
	}
	return int(secs)
}
