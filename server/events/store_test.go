package events

import (
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/store"
	"prefectgo.dev/prefectgo/server/store/storetest"
)

var (
	_ EventWriter          = store.Store(nil)
	_ TaskRunStateRecorder = store.Store(nil)
)

// TestPipelineOnRealStore runs the client's sample events through ingest,
// broker, persister and recorder into each store backend, twice: the second
// pass is a client resending everything to a restarted server.
func TestPipelineOnRealStore(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, open storetest.Opener) {
		st := open(t)
		raws := sampleEvents(t)

		for range 2 {
			b := NewBroker()
			p := NewPersister(b, st, PersisterConfig{BatchSize: 7}, discardLogger())
			r := NewRecorder(b, st, RecorderConfig{BatchSize: 4}, discardLogger())
			require.NoError(t, p.Start(t.Context()))
			require.NoError(t, r.Start(t.Context()))
			in := NewIngestor(IngestConfig{Publisher: b, Logger: discardLogger()})
			for _, raw := range raws {
				ev, err := in.Receive(raw)
				require.NoError(t, err)
				require.NoError(t, in.Publish(t.Context(), ev))
			}
			p.Stop()
			r.Stop()
		}

		n, err := st.CountEvents(t.Context(), store.EventFilter{})
		require.NoError(t, err)
		require.Equal(t, len(raws), n)

		flaky := uuid.MustParse("01a22d46-0aaa-7619-88c5-f0605a6570d4")
		tr, err := st.ReadTaskRun(t.Context(), flaky)
		require.NoError(t, err)
		require.Equal(t, "flaky_retry-867", tr.Name)
		require.Equal(t, schema.StateFailed, *tr.StateType)
		require.Equal(t, uuid.MustParse("01a22d46-0ab4-7418-964e-98ddda19183d"), *tr.StateID)
		require.Equal(t, 2, tr.RunCount)
		require.Equal(t, uuid.MustParse("bda5de24-ecd7-4ee7-8fd5-d3337f0ff0b4"), *tr.FlowRunID)
		states, err := st.ReadTaskRunStates(t.Context(), flaky)
		require.NoError(t, err)
		var names []string
		for _, s := range states {
			names = append(names, s.Name)
		}
		require.Equal(t, []string{"Pending", "Running", "Retrying", "Failed"}, names)

		produce, err := st.ReadTaskRun(t.Context(), uuid.MustParse("01a22d46-317a-7bb2-89be-a6c230d1d418"))
		require.NoError(t, err)
		require.Equal(t, schema.StateCompleted, *produce.StateType)
		require.NotNil(t, produce.State)
		require.NotNil(t, produce.State.Data, "the persisted result's metadata")
	})
}
