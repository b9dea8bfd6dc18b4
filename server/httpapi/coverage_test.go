package httpapi

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/taskworkers"
)

// coverageDoc lists the routes of Prefect's API this server does not serve,
// each with the reason.
const coverageDoc = "../../docs/api-coverage.md"

// TestAPICoverage holds the route table to Prefect's: every route of the
// pinned Prefect server (testdata/prefect_routes.txt) is either served here
// or listed in docs/api-coverage.md with a reason, and nothing listed there
// is served. With PREFECTGO_TEST_PYTHON (make test-go) it also checks that
// the list is the pinned prefect's, read again from the venv.
func TestAPICoverage(t *testing.T) {
	routes := readLines(t, "testdata/prefect_routes.txt")
	if python := os.Getenv("PREFECTGO_TEST_PYTHON"); python != "" {
		cmd := exec.Command(python, "testdata/prefect_routes.py")
		cmd.Env = append(os.Environ(), "PREFECT_HOME="+t.TempDir())
		out, err := cmd.Output()
		require.NoError(t, err)
		require.Equal(t, strings.Join(routes, "\n"), strings.TrimSpace(string(out)),
			"testdata/prefect_routes.txt is not the pinned prefect's: regenerate it with testdata/prefect_routes.py")
	}

	mux := http.NewServeMux()
	// The WebSockets and the task workers' routes are in the table when the
	// server wires them, as it always does.
	a := &API{eventsIn: http.NotFoundHandler(), eventsOut: http.NotFoundHandler(), workerChannel: http.NotFoundHandler(), logsOut: http.NotFoundHandler(),
		taskWorkers: taskworkers.New(taskworkers.Config{})}
	for _, r := range a.routeTable() {
		mux.Handle(r.pattern, r.handler)
	}
	listed := unservedRoutes(t)
	var missing, stale []string
	for _, route := range routes {
		method, path, _ := strings.Cut(route, " ")
		served := isServed(mux, method, path)
		_, isListed := listed[route]
		switch {
		case !served && !isListed:
			missing = append(missing, route)
		case served && isListed:
			stale = append(stale, route)
		}
		delete(listed, route)
	}
	for route := range listed {
		stale = append(stale, route+" (not a route of Prefect's)")
	}
	slices.Sort(stale)
	require.Empty(t, missing, "routes of Prefect's neither served nor listed in docs/api-coverage.md")
	require.Empty(t, stale, "routes listed in docs/api-coverage.md as not served that are served (or are not Prefect's)")
}

// isServed says whether the route table has a route for method and a
// concrete path made from Prefect's template.
func isServed(mux *http.ServeMux, method, template string) bool {
	path := strings.TrimSuffix(pathParam.ReplaceAllStringFunc(template, func(p string) string {
		if strings.Contains(p, "id") && !strings.Contains(p, "_or_") {
			return "01a2434b-9c91-760d-9524-76e15e154787"
		}
		return "x"
	}), "/")
	_, pattern := mux.Handler(httptest.NewRequest(method, path, nil))
	return pattern != ""
}

var pathParam = regexp.MustCompile(`\{[^}]+\}`)

// unservedRoutes reads the table of docs/api-coverage.md: rows whose first
// cell is a route in backquotes, with a reason in the second.
func unservedRoutes(t *testing.T) map[string]string {
	t.Helper()
	rows := map[string]string{}
	for _, line := range readLines(t, coverageDoc) {
		cells := strings.Split(line, "|")
		if len(cells) < 4 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			continue
		}
		route := strings.Trim(strings.TrimSpace(cells[1]), "`")
		reason := strings.TrimSpace(cells[2])
		require.NotEmpty(t, reason, "docs/api-coverage.md: %s has no reason", route)
		rows[route] = reason
	}
	return rows
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer func() { _ = f.Close() }()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			out = append(out, line)
		}
	}
	require.NoError(t, sc.Err())
	return out
}
