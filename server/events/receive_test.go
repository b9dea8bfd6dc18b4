package events

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/schema"
)

var testNow = time.Date(2026, 12, 1, 10, 0, 0, 123456789, time.FixedZone("CET", 3600))

func newTestIngestor(pub Publisher) *Ingestor {
	return NewIngestor(IngestConfig{
		Publisher: pub,
		Logger:    discardLogger(),
		Now:       func() time.Time { return testNow },
	})
}

func TestIngestBatch(t *testing.T) {
	t.Parallel()
	pub := &recordingPublisher{}
	in := newTestIngestor(pub)
	a, b := eventJSON(), eventJSON()

	require.NoError(t, in.Ingest(t.Context(), mustJSON(t, []any{a, b})))

	got := pub.published()
	require.Len(t, got, 2)
	require.Equal(t, a["id"], got[0].ID.String())
	require.Equal(t, b["id"], got[1].ID.String())
	want := time.Date(2026, 12, 1, 9, 0, 0, 123456000, time.UTC) // UTC, microseconds
	require.Equal(t, want, got[0].Received)
	require.Equal(t, want, got[1].Received)
}

func TestIngestBatchOneInvalidPublishesNothing(t *testing.T) {
	t.Parallel()
	pub := &recordingPublisher{}
	in := newTestIngestor(pub)
	bad := eventJSON()
	bad["related"] = relatedN(101)

	err := in.Ingest(t.Context(), mustJSON(t, []any{eventJSON(), bad, eventJSON()}))

	var ie *InvalidEventError
	require.ErrorAs(t, err, &ie)
	require.Equal(t, 1, ie.Index)
	require.Equal(t, "related", ie.Field)
	require.Equal(t, "The maximum number of related resources is 100", ie.Reason)
	require.Empty(t, pub.published())
}

func TestIngestBody(t *testing.T) {
	t.Parallel()
	in := newTestIngestor(&recordingPublisher{})
	for body, reason := range map[string]string{
		`{"id": 1}`: "Input should be a valid list",
		`null`:      "Input should be a valid list",
		`[`:         "Invalid JSON: unexpected end of JSON input",
	} {
		var ie *InvalidEventError
		require.ErrorAs(t, in.Ingest(t.Context(), []byte(body)), &ie, body)
		require.Equal(t, reason, ie.Reason, body)
		require.Equal(t, -1, ie.Index)
	}
	require.NoError(t, in.Ingest(t.Context(), []byte(`[]`)))
}

func TestIngestDropsResentEvents(t *testing.T) {
	t.Parallel()
	pub := &recordingPublisher{}
	in := newTestIngestor(pub)
	ev := eventJSON()

	require.NoError(t, in.Ingest(t.Context(), mustJSON(t, []any{ev, ev})))
	require.NoError(t, in.Ingest(t.Context(), mustJSON(t, []any{ev})))
	require.Len(t, pub.published(), 1)
}

func TestPublishFailureForgetsIDs(t *testing.T) {
	t.Parallel()
	pub := &recordingPublisher{err: errors.New("broker down")}
	in := newTestIngestor(pub)
	ev := schema.Event{ID: uuid.New()}

	require.Error(t, in.Publish(t.Context(), ev))
	pub.err = nil
	require.NoError(t, in.Publish(t.Context(), ev))
	require.Len(t, pub.published(), 1)
}

func TestRecentIDsWindow(t *testing.T) {
	t.Parallel()
	r := newRecentIDs(2)
	a, b, c := uuid.New(), uuid.New(), uuid.New()
	require.True(t, r.add(a))
	require.True(t, r.add(b))
	require.False(t, r.add(a))
	require.True(t, r.add(c)) // evicts a
	require.True(t, r.add(a))
	require.False(t, r.add(c))
	r.forget(c)
	require.True(t, r.add(c))
}

func TestEmitStampsReceived(t *testing.T) {
	t.Parallel()
	pub := &recordingPublisher{}
	in := newTestIngestor(pub)
	require.NoError(t, in.Emit(t.Context(), schema.Event{ID: uuid.New(), Event: "prefect.flow-run.Running"}))
	require.Equal(t, time.Date(2026, 12, 1, 9, 0, 0, 123456000, time.UTC), pub.published()[0].Received)
}
