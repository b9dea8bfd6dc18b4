package sqlstore

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/schema"
)

func TestNewestReports(t *testing.T) {
	t.Parallel()
	t0 := time.Now().UTC()
	a, b := uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7())
	report := func(run uuid.UUID, name string, at *time.Time) schema.TaskRun {
		r := schema.TaskRun{ID: run, Name: name}
		if at != nil {
			r.State = &schema.State{ID: uuid.Must(uuid.NewV7()), Timestamp: *at}
		}
		return r
	}
	later, same := t0.Add(time.Second), t0
	got := newestReports([]schema.TaskRun{
		report(a, "a-stateless", nil),
		report(b, "b-new", &later),
		report(a, "a-old", &t0),
		report(b, "b-old", &t0), // older: the upsert would not move b back
		report(a, "a-same", &same),
		report(a, "a-stateless-again", nil), // moves only a run without a state
	})
	names := []string{}
	for _, r := range got {
		names = append(names, r.Name)
		require.Equal(t, r.State.ID, *r.StateID)
	}
	require.Equal(t, []string{"a-same", "b-new"}, names, "one per run, in first-seen order; a tie goes to the later")
}
