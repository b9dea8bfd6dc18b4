package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/settings"
	"prefectgo.dev/prefectgo/server/store/storetest"
)

// /admin/settings is nested as Prefect's settings model, typed, with the two
// the UIs read where they read them (server.analytics_enabled: a missing
// value turns the V2 UI's analytics on) and no flat variable names (the V1
// UI would show its promotions for PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT).
func TestAdminSettingsForTheUI(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open, func(s *settings.Settings) {
			s.AnalyticsEnabled = false
			s.UI.ShowPromotionalContent = false
		})
		r := s.do(t, http.MethodGet, "/admin/settings", nil)
		requireStatus(t, http.StatusOK, r)
		got := r.Object(t)
		server, _ := got["server"].(map[string]any)
		require.Equal(t, false, server["analytics_enabled"])
		require.Equal(t, map[string]any{"show_promotional_content": false}, pick(server["ui"], "show_promotional_content"))
		require.Equal(t, 4200.0, pick(server["api"], "port")["port"])
		require.NotContains(t, got, "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT")
		require.Contains(t, got, "home")
	})
}

// pick is the named keys of a decoded JSON object.
func pick(obj any, keys ...string) map[string]any {
	m, _ := obj.(map[string]any)
	out := map[string]any{}
	for _, k := range keys {
		out[k] = m[k]
	}
	return out
}
