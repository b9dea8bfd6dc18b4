package ceiling_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/bench/ceiling"
	"prefectgo.dev/prefectgo/bench/load"
)

// The null server answers the lifecycle load generator the way it needs:
// lifecycles complete and no request is an error. Were the generator to
// send something the instrument does not answer, this fails.
func TestNullServerAnswersTheLifecycle(t *testing.T) {
	url, stop, err := ceiling.NullServer()
	require.NoError(t, err)
	defer stop()
	c := load.NewClient(url, 4)
	defer c.Close()
	rec, _, err := load.Run(context.Background(), c, load.Lifecycle(load.DefaultOptions()), 4, 300*time.Millisecond)
	require.NoError(t, err)
	require.Zero(t, rec.Errors, "%v", rec.Samples)
	require.Positive(t, rec.Ops)
	require.Equal(t, 4*rec.Ops, rec.Requests, "every completed lifecycle is four requests, none extra")

	// A body that is not JSON, or a route the lifecycle does not use, is an error.
	err = c.Do(context.Background(), "POST", "/logs/", "not a list", nil)
	require.ErrorContains(t, err, "422")
	err = c.Do(context.Background(), "POST", "/events", []int{}, nil)
	require.ErrorContains(t, err, "404")
}
