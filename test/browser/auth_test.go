//go:build browser

package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// authString is what the server requires and what the user types into the UIs' login.
const authString = "browser-admin:not-a-real-password"

// TestUIAuth runs both UIs against a server with basic auth and CSRF protection on: each shows
// its login, works once the credentials are typed in, and its writes carry CSRF tokens (a
// variable created through the form reaches the API).
func TestUIAuth(t *testing.T) {
	cfg := loadConfig(t)
	cfg.artifacts = filepath.Join(cfg.artifacts, "auth")
	if err := os.MkdirAll(cfg.artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("artifacts (screenshots, calls): %s", cfg.artifacts)

	srv := startServer(t, cfg,
		"PREFECT_SERVER_API_AUTH_STRING="+authString,
		"PREFECT_SERVER_API_CSRF_PROTECTION_ENABLED=true",
	)
	requireAuth(t, srv)
	seedVariable(t, srv)
	browser := startBrowser(t, cfg)
	for _, u := range uis {
		t.Run(u.name, func(t *testing.T) { loginAndWrite(t, browser, cfg, srv, u) })
	}
}

// requireAuth checks the server refuses the API without the credentials, so the UIs' login is
// not tested against a server that would have let them in anyway.
func requireAuth(t *testing.T, srv *server) {
	t.Helper()
	open := *srv
	open.auth = ""
	status, body, err := open.call(context.Background(), "GET", "/admin/version", nil)
	if err != nil || status != http.StatusUnauthorized {
		t.Fatalf("GET /api/admin/version without credentials: %d %s %v, want 401", status, truncate(string(body), 200), err)
	}
}

// seededVariable is made through the API before the UIs log in; each must list it after.
const seededVariable = "browser_ui_seeded"

// seedVariable creates seededVariable as a client does with CSRF protection on: a token for
// its client id first, then both in the headers of the write.
func seedVariable(t *testing.T, srv *server) {
	t.Helper()
	ctx := context.Background()
	const client = "browser-suite"
	status, out, err := srv.call(ctx, "GET", "/csrf-token?client="+client, nil)
	var tok struct {
		Token string `json:"token"`
	}
	if err != nil || status != http.StatusOK || json.Unmarshal(out, &tok) != nil {
		t.Fatalf("GET /api/csrf-token: %d %s %v", status, truncate(string(out), 200), err)
	}
	body := map[string]any{"name": seededVariable, "value": 1}
	headers := map[string]string{"Prefect-Csrf-Token": tok.Token, "Prefect-Csrf-Client": client}
	status, out, err = srv.callWith(ctx, "POST", "/variables", body, headers)
	if err != nil || status != http.StatusCreated {
		t.Fatalf("POST /api/variables: %d %s %v", status, truncate(string(out), 200), err)
	}
}

// loginAndWrite opens the variables page, which shows the login first; types the credentials;
// then creates a variable through the form. Only calls the UI sends without credentials may
// be refused (401); every other /api answer must succeed.
func loginAndWrite(t *testing.T, browser context.Context, cfg config, srv *server, u ui) {
	rec := newRecorder(u.name+"/auth", srv.origin)
	// A browser context of its own: the UIs keep the credentials in the origin's localStorage.
	tab, closeTab := chromedp.NewContext(browser, chromedp.WithNewBrowserContext(), chromedp.WithListener(rec.handle))
	defer closeTab()
	ctx, cancel := context.WithTimeout(tab, pageTimeout)
	defer cancel()
	env := &pageEnv{ctx: ctx, srv: srv, ui: u, rec: rec}
	shoot := func(name string) {
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err == nil {
			err = os.WriteFile(filepath.Join(cfg.artifacts, u.name+"-"+name+".png"), png, 0o644)
		}
		if err != nil {
			t.Errorf("screenshot: %v", err)
		}
	}

	var login mark // console errors before it are the UI's reaction to the refusals
	err := func() error {
		target := srv.origin + u.base + "/variables"
		if err := chromedp.Do(ctx, chromedp.Navigate(target)); err != nil {
			return fmt.Errorf("opening %s: %w", target, err)
		}
		if err := settle(ctx, rec, nil, []string{"input[type=password]"}); err != nil {
			return fmt.Errorf("the login: %w", err)
		}
		shoot("login")
		login = rec.mark()
		if err := typeInto(env, "input[type=password]", authString+kb.Enter); err != nil {
			return fmt.Errorf("typing the credentials: %w", err)
		}
		if err := settle(ctx, rec, []string{seededVariable}, nil); err != nil {
			return fmt.Errorf("after the login: %w", err)
		}
		// Again, without the toasts the refusals before the login left (v1 shows them over
		// the form's buttons).
		if err := chromedp.Do(ctx, chromedp.Navigate(target)); err != nil {
			return fmt.Errorf("reopening %s: %w", target, err)
		}
		if err := settle(ctx, rec, []string{seededVariable}, nil); err != nil {
			return fmt.Errorf("reopening %s: %w", target, err)
		}
		shoot("variables")
		if err := fillVariableForm(env); err != nil {
			return err
		}
		if err := submitVariableForm(env); err != nil {
			return err
		}
		if err := settle(ctx, rec, []string{typedVariableName(u)}, nil); err != nil {
			return fmt.Errorf("after creating the variable: %w", err)
		}
		shoot("created")
		return nil
	}()
	if err != nil {
		t.Error(err)
		shoot("failed")
	}

	// The UI asks before the login too; refusing a call without credentials is the point.
	calls, messages := rec.snapshot()
	var judged []call
	for _, c := range calls {
		if c.status != http.StatusUnauthorized || c.basic {
			judged = append(judged, c)
		}
	}
	report(t, rec, judged, messages[login.messages:], []string{"/variables/name/" + typedVariableName(u)})
}
