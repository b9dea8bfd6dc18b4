//go:build browser

// Package browser drives Prefect's own web UIs, the Vue UI at / (v1) and the React UI at /v2,
// in headless Chromium against a server it starts and seeds with the real prefect client. Every
// page must settle with its expected texts visible, with no /api response of 400 or more and no
// console error or uncaught exception from the server's origin; each page leaves a screenshot,
// and every /api call the UIs make is recorded and checked against testdata/ui-api-calls.txt.
// `make test-browser` runs it:
//
//	PREFECTGO_SERVER_BIN=$PWD/bin/prefect-server        our server (the default target)
//	PREFECTGO_BROWSER_TARGET=python                     Prefect's own server from the venv instead
//	PREFECTGO_BROWSER_ARTIFACTS=DIR                     screenshots and call logs (default: a new temp dir)
//	PREFECTGO_BROWSER_RECORD=1                          rewrite testdata/ui-api-calls.txt from this run
//	PREFECTGO_BROWSER_CHROMIUM=PATH                     the browser (default: chromium on PATH; hack/chromium.sh)
//	PREFECTGO_BROWSER_PYTHON=PATH                       the venv's python (default: $VENV/bin/python)
//
// Against the Python server is how the suite itself is validated, and how the fixture is recorded.
package browser

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Bounds against hangs, never assertions on speed.
const (
	pageTimeout   = 2 * time.Minute  // one page with its steps
	settleTimeout = 45 * time.Second // until a page shows its texts and its network is quiet
)

type config struct {
	target    string // "go" (our server) or "python" (Prefect's)
	serverBin string // our server's binary, for the go target
	python    string // the venv's python: the seeding client, and Prefect's server for the python target
	chromium  string
	artifacts string
	record    bool
}

func loadConfig(t *testing.T) config {
	t.Helper()
	cfg := config{
		target:    envOr("PREFECTGO_BROWSER_TARGET", "go"),
		serverBin: os.Getenv("PREFECTGO_SERVER_BIN"),
		python:    os.Getenv("PREFECTGO_BROWSER_PYTHON"),
		chromium:  os.Getenv("PREFECTGO_BROWSER_CHROMIUM"),
		artifacts: os.Getenv("PREFECTGO_BROWSER_ARTIFACTS"),
		record:    os.Getenv("PREFECTGO_BROWSER_RECORD") == "1",
	}
	if cfg.python == "" {
		venv := os.Getenv("VENV")
		if venv == "" {
			home, _ := os.UserHomeDir()
			venv = filepath.Join(home, ".cache", "prefectgo", "venv-3.9.1")
		}
		cfg.python = filepath.Join(venv, "bin", "python")
	}
	if _, err := os.Stat(cfg.python); err != nil {
		t.Fatalf("no venv python at %s (hack/python-env.sh makes it; or set PREFECTGO_BROWSER_PYTHON)", cfg.python)
	}
	switch cfg.target {
	case "go":
		if cfg.serverBin == "" {
			t.Fatal("PREFECTGO_SERVER_BIN must name the built server (make build), or set PREFECTGO_BROWSER_TARGET=python")
		}
	case "python":
	default:
		t.Fatalf("PREFECTGO_BROWSER_TARGET=%q: want go or python", cfg.target)
	}
	if cfg.chromium == "" {
		path, err := exec.LookPath("chromium")
		if err != nil {
			t.Fatal("no chromium on PATH: hack/chromium.sh installs Debian's, or set PREFECTGO_BROWSER_CHROMIUM")
		}
		cfg.chromium = path
	}
	if cfg.artifacts == "" {
		// Not t.TempDir: the screenshots are for looking at after the run.
		dir, err := os.MkdirTemp("", "prefectgo-browser-")
		if err != nil {
			t.Fatal(err)
		}
		cfg.artifacts = dir
	}
	if err := os.MkdirAll(cfg.artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// The two UIs, by the base path each is served under.
var uis = []ui{{name: "v1", base: ""}, {name: "v2", base: "/v2"}}

type ui struct{ name, base string }

func TestUI(t *testing.T) {
	cfg := loadConfig(t)
	t.Logf("artifacts (screenshots, calls): %s", cfg.artifacts)

	srv := startServer(t, cfg)
	sd := seedWorkspace(t, cfg, srv)
	routes := prefectRoutes(t)
	for _, u := range uis {
		srv.requireUI(t, u)
	}
	browser := startBrowser(t, cfg)

	var calls []call
	for _, u := range uis {
		for _, p := range pages {
			t.Run(u.name+"/"+p.name, func(t *testing.T) {
				calls = append(calls, visit(t, browser, cfg, srv, sd, u, p)...)
			})
		}
	}
	writeCallLog(t, cfg, srv.origin, calls)
	checkFixture(t, cfg, routes, srv.origin, calls)
}

// startBrowser starts one headless Chromium for the whole run; each page gets a tab of its own.
func startBrowser(t *testing.T, cfg config) context.Context {
	t.Helper()
	logFile, err := os.Create(filepath.Join(cfg.artifacts, "chromium.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = logFile.Close() })
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(cfg.chromium),
		chromedp.WindowSize(1440, 900),
		chromedp.Flag("lang", "en-US"),
		// No name resolves, so nothing the UIs ask of other hosts (analytics, block logos) leaves
		// the machine; those requests still show in the log, as failed.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		// The run graph draws with WebGL, which headless Chromium without a GPU has only through
		// SwiftShader (no longer a silent fallback).
		chromedp.Flag("enable-unsafe-swiftshader", true),
		chromedp.CombinedOutput(logFile),
	)
	// Chromium's sandbox refuses to run as root (CI runs as root).
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("starting %s: %v", cfg.chromium, err)
	}
	return ctx
}
