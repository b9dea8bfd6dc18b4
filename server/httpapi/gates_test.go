package httpapi_test

import (
	"encoding/base64"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/httpapi"
	"prefectgo.dev/prefectgo/server/settings"
	"prefectgo.dev/prefectgo/server/store/storetest"
)

func TestProbes(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)

		r := s.do(t, http.MethodGet, "/health", nil)
		requireStatus(t, http.StatusOK, r)
		require.JSONEq(t, `true`, string(r.Body))

		r = s.do(t, http.MethodGet, "/ready", nil)
		requireStatus(t, http.StatusOK, r)
		require.JSONEq(t, `{"message":"OK"}`, string(r.Body))

		r = s.do(t, http.MethodGet, "/admin/version", nil)
		requireStatus(t, http.StatusOK, r)
		version, ok := r.JSON(t).(string)
		require.True(t, ok, "version is not a string: %s", r.Body)
		require.Regexp(t, regexp.MustCompile(`^3\.\d+\.\d+`), version)

		r = s.do(t, http.MethodGet, "/version", nil)
		requireStatus(t, http.StatusOK, r)
		require.Equal(t, httpapi.APIVersion, r.JSON(t))

		// The exact words clients look for to switch CSRF handling off.
		requireDetail(t, http.StatusUnprocessableEntity, "CSRF protection is disabled.",
			s.do(t, http.MethodGet, "/csrf-token?client=x", nil))
	})
}

func TestCSRF(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open, func(s *settings.Settings) { s.API.CSRFProtectionEnabled = true })
		flow := map[string]any{"name": "csrf-flow"}

		r := s.do(t, http.MethodGet, "/csrf-token?client=client-1", nil)
		requireStatus(t, http.StatusOK, r)
		issued := r.Object(t)
		token, _ := issued["token"].(string)
		require.NotEmpty(t, token)
		require.Equal(t, "client-1", issued["client"])
		expiration, err := time.Parse(time.RFC3339Nano, issued["expiration"].(string))
		require.NoError(t, err)
		require.True(t, expiration.After(time.Now()), "the token expires at %v", expiration)

		requireValidationError(t, s.do(t, http.MethodGet, "/csrf-token", nil), "query", "client")

		// Reads need no token.
		requireStatus(t, http.StatusOK, s.do(t, http.MethodGet, "/health", nil))
		requireStatus(t, http.StatusOK, s.do(t, http.MethodGet, "/ready", nil))

		requireDetail(t, http.StatusForbidden, "Missing CSRF token.", s.do(t, http.MethodPost, "/flows/", flow))
		requireDetail(t, http.StatusForbidden, "Missing CSRF token.",
			s.do(t, http.MethodPost, "/flows/", flow, "Prefect-Csrf-Client", "client-1"))
		requireDetail(t, http.StatusForbidden, "Missing client identifier.",
			s.do(t, http.MethodPost, "/flows/", flow, "Prefect-Csrf-Token", token))
		requireDetail(t, http.StatusForbidden, "Invalid CSRF token or client identifier.",
			s.do(t, http.MethodPost, "/flows/", flow, "Prefect-Csrf-Token", "wrong-"+token, "Prefect-Csrf-Client", "client-1"))
		requireDetail(t, http.StatusForbidden, "Invalid CSRF token or client identifier.",
			s.do(t, http.MethodPost, "/flows/", flow, "Prefect-Csrf-Token", token, "Prefect-Csrf-Client", "client-2"))
		requireDetail(t, http.StatusForbidden, "Missing CSRF token.", s.do(t, http.MethodDelete, "/flows/name/x", nil))

		// None of the refused requests went through.
		requireDetail(t, http.StatusNotFound, "Flow not found", s.do(t, http.MethodGet, "/flows/name/csrf-flow", nil))

		r = s.do(t, http.MethodPost, "/flows/", flow, "Prefect-Csrf-Token", token, "Prefect-Csrf-Client", "client-1")
		requireStatus(t, http.StatusCreated, r)
		requireStatus(t, http.StatusOK, s.do(t, http.MethodGet, "/flows/name/csrf-flow", nil))

		// A new token for the client replaces the old one.
		r = s.do(t, http.MethodGet, "/csrf-token?client=client-1", nil)
		requireStatus(t, http.StatusOK, r)
		fresh := r.Object(t)["token"].(string)
		require.NotEqual(t, token, fresh)
		requireDetail(t, http.StatusForbidden, "Invalid CSRF token or client identifier.",
			s.do(t, http.MethodPost, "/flows/", flow, "Prefect-Csrf-Token", token, "Prefect-Csrf-Client", "client-1"))
		requireStatus(t, http.StatusOK,
			s.do(t, http.MethodPost, "/flows/", flow, "Prefect-Csrf-Token", fresh, "Prefect-Csrf-Client", "client-1"))
	})
}

func TestCSRFExpiredToken(t *testing.T) {
	t.Parallel()
	s := newServer(t, storetest.NewSQLite, func(s *settings.Settings) {
		s.API.CSRFProtectionEnabled = true
		s.API.CSRFTokenExpiration = time.Millisecond
	})
	r := s.do(t, http.MethodGet, "/csrf-token?client=c", nil)
	requireStatus(t, http.StatusOK, r)
	token := r.Object(t)["token"].(string)
	eventually(t, "the token to expire", func() bool {
		r := s.do(t, http.MethodPost, "/flows/", map[string]any{"name": "f"}, "Prefect-Csrf-Token", token, "Prefect-Csrf-Client", "c")
		return r.Status == http.StatusForbidden
	})
}

func TestBasicAuth(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open, func(s *settings.Settings) { s.API.AuthString = "admin:secret" })
		basic := func(creds string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(creds)) }
		unauthorized := func(t *testing.T, r reply) {
			t.Helper()
			requireStatus(t, http.StatusUnauthorized, r)
			require.JSONEq(t, `{"exception_message":"Unauthorized"}`, string(r.Body))
		}

		unauthorized(t, s.do(t, http.MethodGet, "/admin/version", nil))
		unauthorized(t, s.do(t, http.MethodPost, "/flows/", map[string]any{"name": "f"}))
		unauthorized(t, s.do(t, http.MethodPost, "/flows/", map[string]any{"name": "f"}, "Authorization", basic("admin:wrong")))
		unauthorized(t, s.do(t, http.MethodPost, "/flows/", map[string]any{"name": "f"}, "Authorization", "Bearer admin:secret"))
		unauthorized(t, s.do(t, http.MethodGet, "/no-such-route", nil))

		// The probes stay open, with or without a trailing slash.
		for _, path := range []string{"/health", "/health/", "/ready"} {
			requireStatus(t, http.StatusOK, s.do(t, http.MethodGet, path, nil))
		}

		r := s.do(t, http.MethodPost, "/flows/", map[string]any{"name": "f"}, "Authorization", basic("admin:secret"))
		requireStatus(t, http.StatusCreated, r)
		id := r.Object(t)["id"].(string)
		requireStatus(t, http.StatusOK, s.do(t, http.MethodGet, "/flows/"+id, nil, "Authorization", basic("admin:secret")))
		unauthorized(t, s.do(t, http.MethodGet, "/flows/"+id, nil))
	})
}

func TestAPIVersionHeader(t *testing.T) {
	t.Parallel()
	s := newServer(t, storetest.NewSQLite)
	get := func(version string) reply {
		return s.do(t, http.MethodGet, "/admin/version", nil, "X-PREFECT-API-VERSION", version)
	}
	for _, v := range []string{"0.7.0", "0.7.99", "0.0.1"} {
		r := get(v)
		requireDetail(t, http.StatusBadRequest,
			"The request specified API version "+v+" but this server requires version 0.8.0 or higher.", r)
	}
	for _, v := range []string{"abc", "0.8", "0.8.4.1", "a.b.c", "0.8.x"} {
		r := get(v)
		requireStatus(t, http.StatusBadRequest, r)
		require.Contains(t, r.Object(t)["detail"], "Invalid X-PREFECT-API-VERSION header format.", "version %q", v)
	}
	for _, v := range []string{"0.8.0", "0.8.4", "0.9.0", "1.0.0"} {
		requireStatus(t, http.StatusOK, get(v))
	}
	// No header at all is accepted.
	requireStatus(t, http.StatusOK, s.do(t, http.MethodGet, "/admin/version", nil))
	// The gate applies to writes too.
	requireStatus(t, http.StatusBadRequest, s.do(t, http.MethodPost, "/flows/", map[string]any{"name": "old-client"},
		"X-PREFECT-API-VERSION", "0.7.0"))
	requireDetail(t, http.StatusNotFound, "Flow not found", s.do(t, http.MethodGet, "/flows/name/old-client", nil))
}
