package server

import (
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/runs"
	"prefectgo.dev/prefectgo/server/store"
	"prefectgo.dev/prefectgo/server/store/storetest"
)

// TestRunsServiceIsTheOneDoor: every run creation and state change, from
// the API and from every background service (late runs, pause expirations,
// cancellation cleanup, the scheduler), goes through server/runs, because
// nothing else can reach the store's run-writing methods: they are not in
// store.Store, which is all the API and the services hold, and neither
// package depends on the rules or on runs' store interface.
func TestRunsServiceIsTheOneDoor(t *testing.T) {
	t.Parallel()
	writes := reflect.TypeFor[runs.Store]()
	readable := reflect.TypeFor[store.Store]()
	for i := range writes.NumMethod() {
		name := writes.Method(i).Name
		_, found := readable.MethodByName(name)
		require.False(t, found, "store.Store has %s: the API or a service could change runs around server/runs", name)
	}

	out, err := exec.Command("go", "list", "-deps", "./httpapi", "./services", "./taskworkers").CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, dep := range strings.Fields(string(out)) {
		require.NotContains(t, []string{"prefectgo.dev/prefectgo/server/orchestration", "prefectgo.dev/prefectgo/server/runs"}, dep,
			"the API and the services must change runs only through the interface runs satisfies")
	}

	// And every backend has the half that runs needs.
	storetest.ForEach(t, func(t *testing.T, open storetest.Opener) {
		_, ok := open(t).(runs.Store)
		require.True(t, ok)
	})
}
