package httpapi

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/settings"
)

// The policy is built from the settings as Prefect builds Starlette's
// arguments: split on commas, nothing trimmed, "*" only as an entry of its
// own; the safelisted headers are always allowed, sorted with the rest.
func TestNewCORSPolicy(t *testing.T) {
	t.Parallel()
	const vary = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers, Access-Control-Request-Private-Network"
	for _, tt := range []struct {
		name                      string
		origins, methods, headers string
		want                      corsPolicy
	}{
		{
			name: "Prefect's defaults", origins: "*", methods: "*", headers: "*",
			want: corsPolicy{
				allOrigins: true, origins: []string{"*"},
				methods:    corsAllMethods,
				allHeaders: true, headers: []string{"*", "accept", "accept-language", "content-language", "content-type"},
				preflight: http.Header{
					"Vary":                         {vary},
					"Access-Control-Allow-Origin":  {"*"},
					"Access-Control-Allow-Methods": {"DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT, QUERY"},
					"Access-Control-Max-Age":       {"600"},
				},
			},
		},
		{
			name:    "lists are split, not trimmed",
			origins: "http://localhost:4200, https://b.example", methods: "GET,POST, PATCH", headers: "X-Prefect-Api-Version,authorization, x-spaced",
			want: corsPolicy{
				origins: []string{"http://localhost:4200", " https://b.example"},
				methods: []string{"GET", "POST", " PATCH"},
				headers: []string{" x-spaced", "accept", "accept-language", "content-language", "content-type", "x-prefect-api-version", "authorization"},
				preflight: http.Header{
					"Vary":                         {vary},
					"Access-Control-Allow-Methods": {"GET, POST,  PATCH"},
					"Access-Control-Max-Age":       {"600"},
					"Access-Control-Allow-Headers": {" x-spaced, Accept, Accept-Language, Content-Language, Content-Type, X-Prefect-Api-Version, authorization"},
				},
			},
		},
		{
			name:    "a star among others allows all; a spaced star is a name",
			origins: "https://a.example,*", methods: "GET, *", headers: "Accept,Content-Type,accept",
			want: corsPolicy{
				allOrigins: true, origins: []string{"https://a.example", "*"},
				methods: []string{"GET", " *"},
				// Duplicates go as Python's set drops them: exact strings.
				headers: []string{"accept", "accept-language", "content-language", "content-type", "accept"},
				preflight: http.Header{
					"Vary":                         {vary},
					"Access-Control-Allow-Origin":  {"*"},
					"Access-Control-Allow-Methods": {"GET,  *"},
					"Access-Control-Max-Age":       {"600"},
					"Access-Control-Allow-Headers": {"Accept, Accept-Language, Content-Language, Content-Type, accept"},
				},
			},
		},
		{
			name:    "empty settings allow only an empty origin and method",
			origins: "", methods: "", headers: "",
			want: corsPolicy{
				origins: []string{""},
				methods: []string{""},
				headers: []string{"", "accept", "accept-language", "content-language", "content-type"},
				preflight: http.Header{
					"Vary":                         {vary},
					"Access-Control-Allow-Methods": {""},
					"Access-Control-Max-Age":       {"600"},
					"Access-Control-Allow-Headers": {", Accept, Accept-Language, Content-Language, Content-Type"},
				},
			},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, newCORSPolicy(tt.origins, tt.methods, tt.headers))
		})
	}
}

// A handler that writes nothing is still answered with the CORS headers.
func TestCORSOnSilentHandler(t *testing.T) {
	t.Parallel()
	h := CORS(settings.Defaults().API, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/api/health", nil)
	req.Header.Set("Origin", "http://localhost:4200")
	h.ServeHTTP(rec, req)
	require.Equal(t, "*", rec.Header().Get("Access-Control-Allow-Origin"))
	require.Equal(t, []string{"Origin"}, rec.Header().Values("Vary"))
}
