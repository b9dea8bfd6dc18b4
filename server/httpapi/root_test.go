package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/settings"
	"prefectgo.dev/prefectgo/server/store/storetest"
)

// /admin/settings gives every setting by its variable, and the two the V2
// UI reads where it reads them: server.analytics_enabled (a missing value
// would turn its analytics on) and server.ui.show_promotional_content.
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
		require.Equal(t, map[string]any{"analytics_enabled": false, "ui": map[string]any{"show_promotional_content": false}}, got["server"])
		require.Equal(t, "false", got["PREFECT_SERVER_ANALYTICS_ENABLED"])
		require.Equal(t, "false", got["PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT"])
		require.Equal(t, "4200", got["PREFECT_SERVER_API_PORT"])
	})
}
