//go:build browser

package browser

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const fixture = "testdata/ui-api-calls.txt"

const fixtureHeader = `# Every /api call Prefect's web UIs (v1 at /, v2 at /v2) make in the browser suite (test/browser),
# one "METHOD /template" a line, relative to /api, named by the route of Prefect's API it matches
# (its routers' templates and parameter names; UUIDs and names become {id}, {name} and so on).
# WebSockets are listed as GET. Regenerate against Prefect's own server (it writes this file):
#
#   PREFECTGO_BROWSER_TARGET=python PREFECTGO_BROWSER_RECORD=1 make test-browser
`

// route is one of Prefect's API routes, split into segments; {x} segments match any one.
type route struct {
	method, path string
	segs         []string
	literals     int
}

func newRoute(method, path string) route {
	r := route{method: method, path: path, segs: segments(path)}
	for _, s := range r.segs {
		if !isParam(s) {
			r.literals++
		}
	}
	return r
}

// segments splits a path, ignoring a trailing slash: Prefect declares collections with one,
// and a request without it is redirected there.
func segments(path string) []string {
	return strings.Split(strings.Trim(path, "/"), "/")
}

func isParam(seg string) bool { return strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") }

func (r route) matches(method string, segs []string) bool {
	if r.method != method || len(r.segs) != len(segs) {
		return false
	}
	for i, s := range r.segs {
		if !isParam(s) && s != segs[i] {
			return false
		}
	}
	return true
}

var uuidSeg = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// templateOf names a call by the route it matches, the one with the most literal segments when
// several do (/work_queues/name/{name} over /work_queues/{id}/{x}), as the server's own routing
// would pick. A path no route matches keeps its shape, its UUIDs as {id}.
func templateOf(routes []route, method, path string) string {
	segs := segments(path)
	var best *route
	for i := range routes {
		if routes[i].matches(method, segs) && (best == nil || routes[i].literals > best.literals) {
			best = &routes[i]
		}
	}
	if best != nil {
		return method + " " + best.path
	}
	for i, s := range segs {
		if uuidSeg.MatchString(s) {
			segs[i] = "{id}"
		}
	}
	return method + " /" + strings.Join(segs, "/")
}

// apiTemplates names every /api call by its template, sorted and unique.
func apiTemplates(routes []route, origin string, calls []call) []string {
	seen := map[string]bool{}
	for _, c := range calls {
		if p := apiPath(origin, c.url); p != "" {
			seen[templateOf(routes, c.method, p)] = true
		}
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// writeCallLog leaves every request of the run in the artifacts, page by page.
func writeCallLog(t *testing.T, cfg config, origin string, calls []call) {
	t.Helper()
	var b strings.Builder
	outside := map[string]int{}
	for _, c := range calls {
		status := fmt.Sprint(c.status)
		switch {
		case c.failure != "":
			status += " " + c.failure
		case c.status == 0:
			status = "unanswered when the page closed"
		}
		fmt.Fprintf(&b, "%s\t%s\t%s\t%s\n", c.page, c.method, c.url, status)
		if !sameOrigin(origin, c.url) {
			outside[host(c.url)]++
		}
	}
	if err := os.WriteFile(filepath.Join(cfg.artifacts, "calls.tsv"), []byte(b.String()), 0o644); err != nil {
		t.Error(err)
	}
	for host, n := range outside {
		t.Logf("requests to another origin, blocked in the browser (not failures): %s (%d)", host, n)
	}
}

// checkFixture compares the templates the UIs called with the fixture, or rewrites the fixture
// when recording. A template missing from the fixture fails: the fixture is the list of what a
// server must serve for the UIs, so it must not fall behind them.
func checkFixture(t *testing.T, cfg config, routes []route, origin string, calls []call) {
	t.Helper()
	got := apiTemplates(routes, origin, calls)
	if err := os.WriteFile(filepath.Join(cfg.artifacts, "ui-api-calls.txt"), []byte(fixtureHeader+strings.Join(got, "\n")+"\n"), 0o644); err != nil {
		t.Error(err)
	}
	if cfg.record {
		if t.Failed() {
			t.Errorf("not rewriting %s: the run failed", fixture)
			return
		}
		if f := flag.Lookup("test.run"); f != nil && f.Value.String() != "" {
			t.Errorf("not rewriting %s from a run narrowed by -run", fixture)
			return
		}
		if err := os.WriteFile(fixture, []byte(fixtureHeader+strings.Join(got, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s: %d templates", fixture, len(got))
		return
	}
	raw, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for line := range strings.Lines(string(raw)) {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			listed[line] = true
		}
	}
	for _, g := range got {
		if !listed[g] {
			t.Errorf("the UIs called %s, which %s does not list (re-record it: PREFECTGO_BROWSER_RECORD=1)", g, fixture)
		}
		delete(listed, g)
	}
	for l := range listed {
		t.Logf("listed in %s but not called in this run: %s", fixture, l)
	}
}
