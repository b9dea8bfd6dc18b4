package ui_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/settings"
	"prefectgo.dev/prefectgo/server/ui"
)

const placeholder = "PREFECT_UI_SERVE_BASE_REPLACE_PLACEHOLDER"

// assets is the directory of the pinned prefect's UIs that hack/ui-assets.sh
// prints (PREFECTGO_TEST_UI, set by `make test-go`): real bundles, never
// committed ones.
func assets(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("PREFECTGO_TEST_UI")
	if dir == "" {
		t.Skip("PREFECTGO_TEST_UI is not set; `make test-go` sets it to the directory hack/ui-assets.sh prints")
	}
	for _, v := range []string{"v1", "v2"} {
		_, err := os.Stat(filepath.Join(dir, v, "index.html"))
		require.NoError(t, err, "PREFECTGO_TEST_UI=%s has no %s UI", dir, v)
	}
	return dir
}

// serve starts the UI handler over the real assets with the settings
// changed by edit (from the defaults, with the assets' directory).
func serve(t *testing.T, edit func(*settings.Settings)) *httptest.Server {
	t.Helper()
	s := settings.Defaults()
	s.UI.StaticDirectory = assets(t)
	if edit != nil {
		edit(&s)
	}
	srv := httptest.NewServer(ui.New(s, slog.New(slog.DiscardHandler)))
	t.Cleanup(srv.Close)
	return srv
}

// get sends one request without following redirects.
func get(t *testing.T, srv *httptest.Server, method, path string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	client := &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		// Left to itself the transport asks for gzip and hides it.
		Transport: &http.Transport{DisableCompression: true},
	}
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, body
}

const html = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8" // a browser's page load

// A page load of the neutral entry point (the V1 root) goes to the UI of
// the prefect_ui_version cookie, or else the default (V2 unless
// PREFECT_SERVER_UI_V2_ENABLED is false), with a 307 and the query kept; a
// request that is no page load gets the V1 page as it is. As Prefect's
// redirect_to_preferred_ui.
func TestRootFollowsCookieAndDefault(t *testing.T) {
	t.Parallel()
	v2Default := serve(t, nil)
	v1Default := serve(t, func(s *settings.Settings) { s.UI.V2Enabled = false })
	for _, tt := range []struct {
		name     string
		srv      *httptest.Server
		path     string
		header   []string
		status   int
		location string
	}{
		{"page load, no cookie", v2Default, "/", []string{"Accept", html}, 307, "/v2/"},
		{"query kept", v2Default, "/?a=1&b=2", []string{"Accept", html}, 307, "/v2/?a=1&b=2"},
		{"fetch metadata", v2Default, "/", []string{"Sec-Fetch-Mode", "navigate"}, 307, "/v2/"},
		{"iframe", v2Default, "/", []string{"Sec-Fetch-Dest", "iframe"}, 307, "/v2/"},
		{"cookie v1", v2Default, "/", []string{"Accept", html, "Cookie", "prefect_ui_version=v1"}, 200, ""},
		{"cookie v2", v2Default, "/", []string{"Accept", html, "Cookie", "prefect_ui_version=v2"}, 307, "/v2/"},
		{"unknown cookie", v2Default, "/", []string{"Accept", html, "Cookie", "prefect_ui_version=v3"}, 307, "/v2/"},
		{"no page load", v2Default, "/", nil, 200, ""},
		{"a V1 deep link stays", v2Default, "/flow-runs", []string{"Accept", html}, 200, ""},
		{"V1 default", v1Default, "/", []string{"Accept", html}, 200, ""},
		{"V1 default, cookie v2", v1Default, "/", []string{"Accept", html, "Cookie", "prefect_ui_version=v2"}, 307, "/v2/"},
		{"the V2 root is a directory", v2Default, "/v2", nil, 307, "/v2/"},
		{"V2 stays V2 whatever the cookie", v1Default, "/v2/", []string{"Accept", html, "Cookie", "prefect_ui_version=v1"}, 200, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, _ := get(t, tt.srv, http.MethodGet, tt.path, tt.header...)
			require.Equal(t, tt.status, resp.StatusCode)
			require.Equal(t, tt.location, resp.Header.Get("Location"))
		})
	}
}

// The V2 index is the React UI with the serve base written where the
// placeholder was; the V1 index has none (base "/" leaves the paths bare).
func TestIndexHasTheServeBase(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		base, path, script string
	}{
		{"/", "/v2/", `src="/v2/assets/index-`},
		{"/", "/", `src="/assets/index-`},
		{"/prefect/", "/prefect/v2/", `src="/prefect/v2/assets/index-`},
		{"/prefect", "/prefect/", `src="/prefect/assets/index-`},
		{"/v2", "/v2/", `src="/v2/assets/index-`},
	} {
		srv := serve(t, func(s *settings.Settings) { s.UI.ServeBase = tt.base })
		resp, body := get(t, srv, http.MethodGet, tt.path)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s %s", tt.base, tt.path)
		require.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
		require.Equal(t, "no-cache", resp.Header.Get("Cache-Control"))
		require.NotContains(t, string(body), placeholder)
		require.Contains(t, string(body), tt.script, "base %s", tt.base)
	}
}

// Every file of both UIs is served as built but for the placeholder, which
// is the base in the text files Prefect rewrites.
func TestEveryFileServed(t *testing.T) {
	t.Parallel()
	dir := assets(t)
	srv := serve(t, func(s *settings.Settings) { s.UI.ServeBase = "/prefect" })
	replaced := 0
	for _, b := range []struct{ dir, base string }{{"v1", "/prefect"}, {"v2", "/prefect/v2"}} {
		root := filepath.Join(dir, b.dir)
		require.NoError(t, filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			want, err := os.ReadFile(p)
			require.NoError(t, err)
			if slices.Contains([]string{".txt", ".html", ".css", ".js", ".json"}, filepath.Ext(p)) &&
				bytes.Contains(want, []byte(placeholder)) {
				replaced++
				want = bytes.ReplaceAll(want, []byte("/"+placeholder), []byte(b.base))
			}
			rel, _ := filepath.Rel(root, p)
			resp, body := get(t, srv, http.MethodGet, b.base+"/"+filepath.ToSlash(rel))
			require.Equal(t, http.StatusOK, resp.StatusCode, rel)
			require.Equal(t, want, body, rel)
			return nil
		}))
	}
	require.Positive(t, replaced, "the bundles hold the placeholder in some files")
}

// A deep link opened in the browser gets its UI's index.html, so the SPA's
// router shows the page; anything else that is not a file is a 404.
func TestDeepLinksGetIndex(t *testing.T) {
	t.Parallel()
	srv := serve(t, nil)
	_, v1Index := get(t, srv, http.MethodGet, "/index.html")
	_, v2Index := get(t, srv, http.MethodGet, "/v2/index.html")
	const run = "/runs/flow-run/5f0b4a3e-4b8e-4d8c-9a52-0c1f1f1b2c3d"
	for _, tt := range []struct {
		path, accept string
		want         []byte
	}{
		{run, html, v1Index},
		{"/v2" + run, html, v2Index},
		{"/v2" + run, "application/xhtml+xml", v2Index},
		{"/v2/assets/", html, v2Index}, // a directory without an index
		{"/v2/assets/no-such.js", html, v2Index},
	} {
		resp, body := get(t, srv, http.MethodGet, tt.path, "Accept", tt.accept)
		require.Equal(t, http.StatusOK, resp.StatusCode, tt.path)
		require.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"), tt.path)
		require.Equal(t, tt.want, body, tt.path)
	}
	for _, tt := range []struct{ method, path, accept string }{
		{http.MethodGet, "/v2" + run, ""},
		{http.MethodGet, "/v2" + run, "*/*"},
		{http.MethodGet, "/v2" + run, "text/html;q=0"},
		{http.MethodGet, "/v2/assets/no-such.js", "*/*"},
		{http.MethodPost, run, html},
	} {
		resp, body := get(t, srv, tt.method, tt.path, "Accept", tt.accept)
		require.Equal(t, http.StatusNotFound, resp.StatusCode, "%s %s %s", tt.method, tt.path, tt.accept)
		require.JSONEq(t, `{"detail":"Not Found"}`, string(body))
	}
	resp, body := get(t, srv, http.MethodPost, "/v2/index.html")
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	require.JSONEq(t, `{"detail":"Method Not Allowed"}`, string(body))
}

// The hashed assets the index names: their content type, a year's caching,
// gzip when the client takes it (the same bytes once inflated), revalidation
// by ETag, and ranges served uncompressed.
func TestHashedAssets(t *testing.T) {
	t.Parallel()
	srv := serve(t, nil)
	_, index := get(t, srv, http.MethodGet, "/v2/")
	script := regexp.MustCompile(`src="(/v2/assets/[^"]+\.js)"`).FindStringSubmatch(string(index))
	style := regexp.MustCompile(`href="(/v2/assets/[^"]+\.css)"`).FindStringSubmatch(string(index))
	require.NotNil(t, script, "no script in the V2 index")
	require.NotNil(t, style, "no stylesheet in the V2 index")

	for path, ctype := range map[string]string{script[1]: "text/javascript; charset=utf-8", style[1]: "text/css; charset=utf-8"} {
		resp, plain := get(t, srv, http.MethodGet, path)
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
		require.Equal(t, ctype, resp.Header.Get("Content-Type"), path)
		require.Equal(t, "public, max-age=31536000, immutable", resp.Header.Get("Cache-Control"), path)
		require.Equal(t, "Accept-Encoding", resp.Header.Get("Vary"), path)
		require.Empty(t, resp.Header.Get("Content-Encoding"), path)
		etag := resp.Header.Get("ETag")
		require.NotEmpty(t, etag)

		resp, compressed := get(t, srv, http.MethodGet, path, "Accept-Encoding", "gzip, deflate, br")
		require.Equal(t, "gzip", resp.Header.Get("Content-Encoding"), path)
		require.Equal(t, ctype, resp.Header.Get("Content-Type"), path)
		require.Less(t, len(compressed), len(plain), path)
		zr, err := gzip.NewReader(bytes.NewReader(compressed))
		require.NoError(t, err)
		inflated, err := io.ReadAll(zr)
		require.NoError(t, err)
		require.Equal(t, plain, inflated, path)
		require.NotEqual(t, etag, resp.Header.Get("ETag"), "one ETag per representation")

		resp, _ = get(t, srv, http.MethodGet, path, "If-None-Match", etag)
		require.Equal(t, http.StatusNotModified, resp.StatusCode, path)

		resp, part := get(t, srv, http.MethodGet, path, "Accept-Encoding", "gzip", "Range", "bytes=0-9")
		require.Equal(t, http.StatusPartialContent, resp.StatusCode, path)
		require.Empty(t, resp.Header.Get("Content-Encoding"), path)
		require.Equal(t, plain[:10], part, path)
	}

	// What is already compressed, or too small to gain, goes as it is.
	for _, path := range []string{"/v2/ico/favicon-32x32.png", "/robots.txt"} {
		resp, _ := get(t, srv, http.MethodGet, path, "Accept-Encoding", "gzip")
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
		require.Empty(t, resp.Header.Get("Content-Encoding"), path)
		require.Equal(t, "no-cache", resp.Header.Get("Cache-Control"), path)
	}
}

// /ui-settings, field for field as Prefect 3.9.1 computes it (compared with
// `prefect server start`): open without credentials, at the V1 base.
func TestUISettings(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		env  map[string]string
		path string
		want string
	}{
		{"defaults", nil, "/ui-settings",
			`{"api_url":"http://127.0.0.1:4200/api","csrf_enabled":false,"auth":null,"flags":[],"default_ui":"v2","available_uis":["v1","v2"],"v1_base_url":"/","v2_base_url":"/v2"}`},
		{"auth on", map[string]string{"PREFECT_SERVER_API_AUTH_STRING": "admin:secret"}, "/ui-settings",
			`{"api_url":"http://127.0.0.1:4200/api","csrf_enabled":false,"auth":"BASIC","flags":[],"default_ui":"v2","available_uis":["v1","v2"],"v1_base_url":"/","v2_base_url":"/v2"}`},
		{"CSRF on", map[string]string{"PREFECT_SERVER_CSRF_PROTECTION_ENABLED": "true"}, "/ui-settings",
			`{"api_url":"http://127.0.0.1:4200/api","csrf_enabled":true,"auth":null,"flags":[],"default_ui":"v2","available_uis":["v1","v2"],"v1_base_url":"/","v2_base_url":"/v2"}`},
		{"serve base", map[string]string{"PREFECT_UI_SERVE_BASE": "/prefect/", "PREFECT_API_URL": "https://prefect.example/api"}, "/prefect/ui-settings",
			`{"api_url":"https://prefect.example/api","csrf_enabled":false,"auth":null,"flags":[],"default_ui":"v2","available_uis":["v1","v2"],"v1_base_url":"/prefect","v2_base_url":"/prefect/v2"}`},
		{"serve base naming V2", map[string]string{"PREFECT_SERVER_UI_SERVE_BASE": "/v2"}, "/ui-settings",
			`{"api_url":"http://127.0.0.1:4200/api","csrf_enabled":false,"auth":null,"flags":[],"default_ui":"v2","available_uis":["v1","v2"],"v1_base_url":"/","v2_base_url":"/v2"}`},
		{"V1 default, API elsewhere", map[string]string{"PREFECT_SERVER_UI_V2_ENABLED": "false", "PREFECT_SERVER_API_HOST": "0.0.0.0", "PREFECT_SERVER_API_PORT": "8080"}, "/ui-settings",
			`{"api_url":"http://0.0.0.0:8080/api","csrf_enabled":false,"auth":null,"flags":[],"default_ui":"v1","available_uis":["v1","v2"],"v1_base_url":"/","v2_base_url":"/v2"}`},
		{"UI disabled", map[string]string{"PREFECT_SERVER_UI_ENABLED": "false"}, "/ui-settings",
			`{"api_url":"http://127.0.0.1:4200/api","csrf_enabled":false,"auth":null,"flags":[],"default_ui":"v2","available_uis":[],"v1_base_url":null,"v2_base_url":null}`},
		{"no assets", map[string]string{"PREFECT_SERVER_UI_STATIC_DIRECTORY": ""}, "/ui-settings",
			`{"api_url":"http://127.0.0.1:4200/api","csrf_enabled":false,"auth":null,"flags":[],"default_ui":"v2","available_uis":[],"v1_base_url":null,"v2_base_url":null}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"PREFECT_SERVER_UI_STATIC_DIRECTORY": assets(t)}
			for k, v := range tt.env {
				env[k] = v
			}
			s, err := settings.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
			require.NoError(t, err)
			srv := httptest.NewServer(ui.New(s, slog.New(slog.DiscardHandler)))
			defer srv.Close()
			resp, body := get(t, srv, http.MethodGet, tt.path)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			require.Equal(t, tt.want, string(body))

			resp, _ = get(t, srv, http.MethodPost, tt.path)
			require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
			require.Equal(t, "GET", resp.Header.Get("Allow"))
		})
	}
}

// With the UI disabled, or its bundles missing, every UI path is a 404.
func TestNoUI(t *testing.T) {
	t.Parallel()
	for name, edit := range map[string]func(*settings.Settings){
		"disabled":     func(s *settings.Settings) { s.UI.Enabled = false },
		"no directory": func(s *settings.Settings) { s.UI.StaticDirectory = "" },
		"empty directory": func(s *settings.Settings) {
			s.UI.StaticDirectory = t.TempDir()
		},
	} {
		srv := serve(t, edit)
		for _, path := range []string{"/", "/v2/", "/v2", "/runs/flow-run/1", "/v2/assets/x.js"} {
			resp, body := get(t, srv, http.MethodGet, path, "Accept", html)
			require.Equal(t, http.StatusNotFound, resp.StatusCode, "%s: %s", name, path)
			require.JSONEq(t, `{"detail":"Not Found"}`, string(body))
		}
	}
}

// Without a V2 bundle, V2 page loads go to the same page of the V1 UI.
func TestV1Only(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.Symlink(filepath.Join(assets(t), "v1"), filepath.Join(dir, "v1")))
	srv := serve(t, func(s *settings.Settings) { s.UI.StaticDirectory = dir })
	resp, _ := get(t, srv, http.MethodGet, "/v2/runs?tab=logs", "Accept", html)
	require.Equal(t, http.StatusTemporaryRedirect, resp.StatusCode)
	require.Equal(t, "/runs?tab=logs", resp.Header.Get("Location"))
	resp, body := get(t, srv, http.MethodGet, "/ui-settings")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.True(t, strings.Contains(string(body), `"default_ui":"v1","available_uis":["v1"],"v1_base_url":"/","v2_base_url":null`), string(body))
}

// With analytics off the UI's files carry a policy that lets its pages
// connect to this server and the UI's API URL only (the V2 bundle contacts
// Amplitude on load whatever the setting says); with them on, as by
// default, there is none, as in Prefect.
func TestAnalyticsOffConfinesConnections(t *testing.T) {
	t.Parallel()
	off := serve(t, func(s *settings.Settings) {
		s.AnalyticsEnabled = false
		s.UI.APIURL = "https://prefect.example/api"
	})
	_, index := get(t, off, http.MethodGet, "/v2/")
	script := regexp.MustCompile(`src="(/v2/assets/[^"]+\.js)"`).FindStringSubmatch(string(index))
	require.NotNil(t, script)
	for _, path := range []string{"/v2/", script[1], "/runs", "/v2/runs"} {
		resp, _ := get(t, off, http.MethodGet, path, "Accept", html)
		require.Equal(t, "connect-src 'self' https://prefect.example wss://prefect.example",
			resp.Header.Get("Content-Security-Policy"), path)
	}

	on := serve(t, nil)
	resp, _ := get(t, on, http.MethodGet, "/v2/")
	require.Empty(t, resp.Header.Get("Content-Security-Policy"))
}
