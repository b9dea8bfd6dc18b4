// Package ui serves Prefect's two web UIs as `prefect server start` does
// (prefect/server/api/server.py, create_ui_app): the Vue UI ("v1") at
// PREFECT_SERVER_UI_SERVE_BASE and the React UI ("v2") at <base>/v2, each
// with the serve base written into its files and index.html for any
// navigation it has no file for; a 307 from a neutral entry point to the
// UI the browser chose (the prefect_ui_version cookie) or the server's
// default; gzip; and /ui-settings, which both UIs read first.
//
// The bundles are Prefect's own, built into the prefect wheel; nothing of
// them is in this repository. hack/ui-assets.sh extracts them from the
// pinned wheel into a directory that PREFECT_SERVER_UI_STATIC_DIRECTORY
// names; without one the server serves the API alone.
package ui

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"prefectgo.dev/prefectgo/server/settings"
)

// version names a UI as Prefect does.
type version string

const (
	v1 version = "v1"
	v2 version = "v2"
)

// cookieName holds the UI a browser last chose; the UIs set it themselves.
const cookieName = "prefect_ui_version"

// legacyMarker is the file Prefect writes into a prepared bundle; a static
// directory holding one is itself the V1 bundle (the layout from before
// there was a V2 UI), with v2/ inside it.
const legacyMarker = "UI_SERVE_BASE"

// Handler serves the UIs and /ui-settings; every other path is a 404.
type Handler struct {
	v1Base, v2Base string
	settingsPath   string
	settingsBody   []byte
	defaultUI      version
	bundles        map[version]*bundle // the UIs found; none when disabled
	// csp confines the UI's connections when analytics are off; see connectPolicy.
	csp string
}

// New loads the bundles under s.UI.StaticDirectory and logs, once, what it
// serves or why it serves no UI. The UI is optional: the handler always
// works, with whatever bundles it found.
func New(s settings.Settings, log *slog.Logger) *Handler {
	h := &Handler{bundles: map[version]*bundle{}}
	h.v1Base, h.v2Base = resolveBases(s.UI.ServeBase)
	h.settingsPath = joinPath(h.v1Base, "ui-settings")
	if s.UI.Enabled {
		h.load(s.UI.StaticDirectory, log)
	}
	configured := v1
	if s.UI.V2Enabled {
		configured = v2
	}
	h.defaultUI = h.pickDefault(configured)
	apiURL := s.UI.APIURL
	if apiURL == "" {
		// Prefect's default (settings/models/root.py): the listen address
		// and /api, never the configured base path.
		apiURL = "http://" + s.API.Host + ":" + strconv.Itoa(s.API.Port) + "/api"
	}
	h.settingsBody = h.uiSettings(s, apiURL)
	if !s.AnalyticsEnabled {
		h.csp = connectPolicy(apiURL)
	}
	return h
}

// connectPolicy lets the UI's pages connect (fetch, XHR, WebSocket, beacon)
// to this server and the UI's API URL only. With analytics off the V2 UI
// sends no events (see httpapi's adminSettings), but its bundle initialises
// the Amplitude SDK on every load all the same, and the SDK then fetches
// its remote configuration from sr-client-cfg.amplitude.com, retrying;
// Prefect's own server lets it. The policy has the browser refuse that, and
// anything else the bundles might try; scripts, styles and images are left
// alone (block types' logos, for one, are images at the URLs the types name).
func connectPolicy(apiURL string) string {
	policy := "connect-src 'self'"
	u, err := url.Parse(apiURL)
	if err != nil || u.Host == "" {
		return policy // a relative API URL is this server
	}
	switch u.Scheme {
	case "http":
		policy += " http://" + u.Host + " ws://" + u.Host
	case "https":
		policy += " https://" + u.Host + " wss://" + u.Host
	}
	return policy
}

// load reads the bundles of a static directory laid out as Prefect's
// PREFECT_UI_STATIC_DIRECTORY (server.py build_static_dir).
func (h *Handler) load(dir string, log *slog.Logger) {
	if dir == "" {
		log.Warn("no UI to serve, only the API: PREFECT_SERVER_UI_STATIC_DIRECTORY is unset; " +
			"hack/ui-assets.sh prints a directory with the UIs of the pinned prefect wheel (make run-server uses it)")
		return
	}
	v1Dir := filepath.Join(dir, string(v1))
	if _, err := os.Stat(filepath.Join(dir, legacyMarker)); err == nil {
		v1Dir = dir
	}
	var missing []any
	for _, b := range []struct {
		v         version
		dir, base string
	}{{v1, v1Dir, h.v1Base}, {v2, filepath.Join(dir, string(v2)), h.v2Base}} {
		bundle, err := loadBundle(b.dir, b.base)
		if err != nil {
			missing = append(missing, string(b.v), err.Error())
			continue
		}
		h.bundles[b.v] = bundle
	}
	if len(missing) > 0 {
		log.Warn("UI bundles missing from PREFECT_SERVER_UI_STATIC_DIRECTORY, serving the rest; hack/ui-assets.sh prints a complete one",
			append([]any{"directory", dir}, missing...)...)
	}
	if len(h.bundles) > 0 {
		args := []any{"directory", dir}
		for _, v := range h.available() {
			args = append(args, string(v)+"_base_url", h.bundles[v].base)
		}
		log.Info("serving the UI", args...)
	}
}

// available lists the UIs found, V1 first, as Prefect lists them.
func (h *Handler) available() []version {
	out := []version{}
	for _, v := range []version{v1, v2} {
		if h.bundles[v] != nil {
			out = append(out, v)
		}
	}
	return out
}

// pickDefault is the configured UI if it was found, else the first found.
func (h *Handler) pickDefault(configured version) version {
	if h.bundles[configured] != nil {
		return configured
	}
	if av := h.available(); len(av) > 0 {
		return av[0]
	}
	return configured
}

func (h *Handler) baseURL(v version) *string {
	b := h.bundles[v]
	if b == nil {
		return nil
	}
	return &b.base
}

// uiSettings is the body of /ui-settings: Prefect's UISettings
// (server/schemas/ui.py), computed as create_ui_app does, once.
func (h *Handler) uiSettings(s settings.Settings, apiURL string) []byte {
	var auth *string
	if s.API.AuthString != "" {
		auth = new("BASIC")
	}
	body, _ := json.Marshal(struct { // nothing here fails to marshal
		APIURL       string    `json:"api_url"`
		CSRFEnabled  bool      `json:"csrf_enabled"`
		Auth         *string   `json:"auth"`
		Flags        []string  `json:"flags"`
		DefaultUI    version   `json:"default_ui"`
		AvailableUIs []version `json:"available_uis"`
		V1BaseURL    *string   `json:"v1_base_url"`
		V2BaseURL    *string   `json:"v2_base_url"`
	}{
		APIURL:       apiURL,
		CSRFEnabled:  s.API.CSRFProtectionEnabled,
		Auth:         auth,
		Flags:        []string{},
		DefaultUI:    h.defaultUI,
		AvailableUIs: h.available(),
		V1BaseURL:    h.baseURL(v1),
		V2BaseURL:    h.baseURL(v2),
	})
	return body
}

// ServeHTTP answers /ui-settings, then redirects a navigation to the
// preferred UI, then serves a bundle's file; as Prefect, none of it asks
// for credentials: the UI learns from /ui-settings whether to ask for them.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == h.settingsPath {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", http.MethodGet)
			writeDetail(w, http.StatusMethodNotAllowed, "Method Not Allowed")
			return
		}
		// Not gzipped: like every JSON body here, far below gzipMinSize.
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(h.settingsBody)))
		_, _ = w.Write(h.settingsBody)
		return
	}
	if loc, ok := h.preferredUI(r); ok {
		redirect(w, r, loc)
		return
	}
	// The most specific base wins: V2's lies under V1's.
	for _, v := range []version{v2, v1} {
		if b := h.bundles[v]; b != nil && under(r.URL.Path, b.base) {
			if h.csp != "" {
				// On every file: a worker's policy is its script's.
				w.Header().Set("Content-Security-Policy", h.csp)
			}
			b.serveHTTP(w, r)
			return
		}
	}
	writeDetail(w, http.StatusNotFound, "Not Found")
}

// preferredUI is where Prefect's redirect_to_preferred_ui middleware sends a
// page load: from the V1 root (the neutral entry point) to the UI of the
// cookie or else the default, and from a V2 path to V1 when there is no V2
// bundle. Other paths stay, so deep links open in the UI they name.
func (h *Handler) preferredUI(r *http.Request) (string, bool) {
	p := r.URL.Path
	if len(h.bundles) == 0 || !isNavigation(r) || strings.HasSuffix(p, "/ui-settings") {
		return "", false
	}
	var requested version
	var rel string
	switch {
	case under(p, h.v2Base):
		requested, rel = v2, relative(p, h.v2Base)
		if h.bundles[v2] != nil {
			return "", false
		}
	case under(p, h.v1Base):
		requested, rel = v1, relative(p, h.v1Base)
		if rel != "/" {
			return "", false
		}
	default:
		return "", false
	}
	preferred := h.defaultUI
	if c, err := r.Cookie(cookieName); err == nil && h.bundles[version(c.Value)] != nil {
		preferred = version(c.Value)
	}
	if preferred == requested {
		return "", false
	}
	return buildPath(h.bundles[preferred].base, rel), true
}

// isNavigation is Prefect's _is_html_navigation: a page load, by the fetch
// metadata browsers send or an Accept that names HTML.
func isNavigation(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	switch {
	case r.Header.Get("Sec-Fetch-Mode") == "navigate":
		return true
	case r.Header.Get("Sec-Fetch-Dest") == "document", r.Header.Get("Sec-Fetch-Dest") == "iframe":
		return true
	}
	return strings.Contains(strings.ToLower(r.Header.Get("Accept")), "text/html")
}

// acceptsHTML is FastAPI's test for the index.html fallback
// (_is_frontend_navigation_request): an Accept listing text/html or
// application/xhtml+xml with a quality other than 0.
func acceptsHTML(r *http.Request) bool {
	for part := range strings.SplitSeq(r.Header.Get("Accept"), ",") {
		media, params, _ := strings.Cut(part, ";")
		media = strings.ToLower(strings.TrimSpace(media))
		if media != "text/html" && media != "application/xhtml+xml" {
			continue
		}
		q := 1.0
		for param := range strings.SplitSeq(params, ";") {
			k, v, _ := strings.Cut(param, "=")
			if strings.EqualFold(strings.TrimSpace(k), "q") {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
					q = f
				}
			}
		}
		if q != 0 {
			return true
		}
	}
	return false
}

// serveHTTP serves a request under the bundle's base as FastAPI's frontend
// route does (fastapi/routing.py _FrontendStaticFiles): the file, a
// directory's index.html (redirecting to the slashed path first), or, for a
// browser asking for HTML, index.html, the SPA's router taking the path.
func (b *bundle) serveHTTP(w http.ResponseWriter, r *http.Request) {
	rel := strings.TrimPrefix(relative(r.URL.Path, b.base), "/")
	name := strings.TrimPrefix(path.Clean("/"+rel), "/")
	f := b.files[name]
	isDir := f == nil && b.dirs[name] && b.files[path.Join(name, "index.html")] != nil
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if f != nil || isDir {
			writeDetail(w, http.StatusMethodNotAllowed, "Method Not Allowed")
		} else {
			writeDetail(w, http.StatusNotFound, "Not Found")
		}
		return
	}
	switch {
	case f != nil:
		f.serve(w, r)
	case isDir && !strings.HasSuffix(r.URL.Path, "/"):
		redirect(w, r, r.URL.Path+"/")
	case isDir:
		b.files[path.Join(name, "index.html")].serve(w, r)
	case acceptsHTML(r):
		b.files["index.html"].serve(w, r)
	default:
		writeDetail(w, http.StatusNotFound, "Not Found")
	}
}

// redirect answers 307 to a path of this server, the query kept, with no
// body, as Starlette's RedirectResponse. The path is escaped, and leading
// slashes collapsed, so it can never name another host (//host, /\host).
func redirect(w http.ResponseWriter, r *http.Request, to string) {
	to = "/" + strings.TrimLeft(to, "/")
	loc := (&url.URL{Path: to}).EscapedPath()
	if r.URL.RawQuery != "" {
		loc += "?" + r.URL.RawQuery
	}
	w.Header().Set("Location", loc)
	w.WriteHeader(http.StatusTemporaryRedirect)
}

// writeDetail writes FastAPI's error body, {"detail": msg}.
func writeDetail(w http.ResponseWriter, status int, msg string) {
	body, _ := json.Marshal(map[string]string{"detail": msg}) // a string map always marshals
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
