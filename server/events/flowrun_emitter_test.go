package events

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/schema"
)

// countingReader knows one flow and counts its reads.
type countingReader struct {
	flow  schema.Flow
	reads int
}

func (r *countingReader) ReadFlow(_ context.Context, id uuid.UUID) (schema.Flow, error) {
	r.reads++
	if id != r.flow.ID {
		return schema.Flow{}, schema.ErrNotFound
	}
	return r.flow, nil
}

func (r *countingReader) ReadDeployment(context.Context, uuid.UUID) (schema.Deployment, error) {
	return schema.Deployment{}, schema.ErrNotFound
}

func (r *countingReader) ReadWorkPool(context.Context, uuid.UUID) (schema.WorkPool, error) {
	return schema.WorkPool{}, schema.ErrNotFound
}

func (r *countingReader) ReadTaskRun(context.Context, uuid.UUID) (schema.TaskRun, error) {
	return schema.TaskRun{}, schema.ErrNotFound
}

// The flow is read once per TTL, not once per transition; a flow that cannot
// be read is asked for again next time.
func TestFlowRunEventsCacheRelatedObjects(t *testing.T) {
	reader := &countingReader{flow: schema.Flow{ID: uuid.New(), Name: "etl", Tags: []string{"nightly"}}}
	f := NewFlowRunEvents(nil, reader, nil)
	now := time.Now()
	f.now = func() time.Time { return now }
	run := schema.FlowRun{ID: uuid.New(), FlowID: reader.flow.ID}

	for range 3 {
		rel := f.Related(t.Context(), run)
		require.Equal(t, "etl", rel.FlowName)
		require.Equal(t, []string{"nightly"}, rel.FlowTags)
	}
	require.Equal(t, 1, reader.reads)

	now = now.Add(relatedTTL)
	f.Related(t.Context(), run)
	require.Equal(t, 2, reader.reads, "an expired entry is read again")

	missing := schema.FlowRun{ID: uuid.New(), FlowID: uuid.New()}
	require.Empty(t, f.Related(t.Context(), missing).FlowName)
	f.Related(t.Context(), missing)
	require.Equal(t, 4, reader.reads, "misses are not cached")
}
