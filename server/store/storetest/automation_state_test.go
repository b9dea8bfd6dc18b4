package storetest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/store"
)

func TestAutomationBuckets(t *testing.T) {
	t.Parallel()
	ForEach(t, func(t *testing.T, open Opener) {
		s := open(t)
		ctx := context.Background()
		a := Automation(t, s, map[string]any{"name": "buckets", "trigger": reactive, "actions": []any{map[string]any{"type": "do-nothing"}}})
		trig := a.Trigger.ID
		start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		ev := schema.Event{ID: uuid.New(), Occurred: start, Event: "x.happened", Resource: schema.Resource{"prefect.resource.id": "x.1"},
			Related: []schema.Resource{}, Payload: json.RawMessage(`{"a":1}`), Received: start}

		// A bucket is made, read back with its last event, changed and removed.
		keep := func(b *store.AutomationBucket) func(*store.AutomationBucket) (*store.AutomationBucket, error) {
			return func(*store.AutomationBucket) (*store.AutomationBucket, error) { return b, nil }
		}
		key := []string{"x.1", ""}
		first := &store.AutomationBucket{AutomationID: a.ID, TriggerID: trig, Key: key, Start: start, End: start.Add(time.Minute),
			Count: 1, LastEvent: &ev, LastOperation: "ensure_bucket[insert]"}
		require.NoError(t, s.UpdateBucket(ctx, a.ID, trig, key, keep(first)))
		var seen *store.AutomationBucket
		require.NoError(t, s.UpdateBucket(ctx, a.ID, trig, key, func(b *store.AutomationBucket) (*store.AutomationBucket, error) {
			seen = b
			next := *b
			next.Count++
			return &next, nil
		}))
		require.NotNil(t, seen)
		require.Equal(t, key, seen.Key)
		require.True(t, seen.Start.Equal(start) && seen.End.Equal(start.Add(time.Minute)))
		require.Equal(t, ev.ID, seen.LastEvent.ID)
		require.JSONEq(t, `{"a":1}`, string(seen.LastEvent.Payload))
		require.NoError(t, s.UpdateTriggerBuckets(ctx, a.ID, trig, func(all []store.AutomationBucket) ([]store.BucketChange, error) {
			require.Len(t, all, 1)
			require.Equal(t, 2, all[0].Count)
			other := all[0]
			other.Key = []string{"x.2", ""}
			return []store.BucketChange{{Key: other.Key, Next: &other}, {Key: key}}, nil
		}))
		require.NoError(t, s.UpdateTriggerBuckets(ctx, a.ID, trig, func(all []store.AutomationBucket) ([]store.BucketChange, error) {
			require.Len(t, all, 1)
			require.Equal(t, []string{"x.2", ""}, all[0].Key)
			return nil, nil
		}))

		// Ended buckets are swept; a deleted automation's state is gone with it.
		n, err := s.SweepBuckets(ctx, start.Add(time.Hour))
		require.NoError(t, err)
		require.Equal(t, 1, n)
		_, err = s.DeleteAutomation(ctx, a.ID)
		require.NoError(t, err)
		require.ErrorIs(t, s.UpdateBucket(ctx, a.ID, trig, key, keep(first)), schema.ErrNotFound)
	})
}

func TestCompositeChildFirings(t *testing.T) {
	t.Parallel()
	ForEach(t, func(t *testing.T, open Opener) {
		s := open(t)
		ctx := context.Background()
		a := Automation(t, s, map[string]any{"name": "composite", "trigger": reactive, "actions": []any{map[string]any{"type": "do-nothing"}}})
		parent, c1, c2 := uuid.New(), uuid.New(), uuid.New()
		t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		firing := func(child uuid.UUID, at time.Time) store.ChildFiring {
			id := uuid.New()
			return store.ChildFiring{AutomationID: a.ID, ParentTriggerID: parent, ChildTriggerID: child, FiringID: id, FiredAt: at,
				Firing: json.RawMessage(`{"id":"` + id.String() + `"}`)}
		}
		both := func(fs []store.ChildFiring) bool { return len(fs) == 2 }

		claimed, err := s.RecordChildFiring(ctx, firing(c1, t0), nil, both)
		require.NoError(t, err)
		require.Empty(t, claimed)
		// A later firing of the same child replaces its earlier one.
		again := firing(c1, t0.Add(time.Second))
		claimed, err = s.RecordChildFiring(ctx, again, nil, both)
		require.NoError(t, err)
		require.Empty(t, claimed)
		// Outside the window, the first child's firing no longer counts.
		notBefore := t0.Add(time.Minute)
		claimed, err = s.RecordChildFiring(ctx, firing(c2, t0.Add(2*time.Minute)), &notBefore, both)
		require.NoError(t, err)
		require.Empty(t, claimed)
		last := firing(c1, t0.Add(3*time.Minute))
		claimed, err = s.RecordChildFiring(ctx, last, nil, both)
		require.NoError(t, err)
		require.Len(t, claimed, 2)
		require.Equal(t, c2, claimed[0].ChildTriggerID, "oldest first")
		require.JSONEq(t, string(last.Firing), string(claimed[1].Firing))
		// Claimed firings are gone.
		claimed, err = s.RecordChildFiring(ctx, firing(c2, t0.Add(4*time.Minute)), nil, both)
		require.NoError(t, err)
		require.Empty(t, claimed)
	})
}
