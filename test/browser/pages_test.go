//go:build browser

package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// page is one page of both UIs: the same path under each UI's base, the texts that show its
// data loaded (checked in both UIs' dumps against the Python server), and what to do on it.
type page struct {
	name      string
	path      func(s seed) string
	expect    func(u ui, s seed) []string
	selectors []string // CSS that must match as well, for what has no text (the run graph's canvas)
	steps     []step
	// freeNameProbes are /api paths the UI asks about on purpose to learn that a name is free:
	// their 404 is the answer it wants.
	freeNameProbes func(u ui, s seed) []string
}

// step is an interaction on a page, after which the page settles again with its own texts.
type step struct {
	name   string // names its screenshot
	do     func(e *pageEnv) error
	expect func(u ui, s seed) []string
}

func texts(ts ...string) func(ui, seed) []string { return func(ui, seed) []string { return ts } }

// Values typed into the UIs' forms; the API must give them back.
const (
	typedSecret   = "typed in the browser"
	typedVariable = `{"from": "the browser"}`
)

func typedSecretName(u ui) string   { return "browser-ui-secret-" + u.name }
func typedVariableName(u ui) string { return "browser_ui_variable_" + u.name }

var pages = []page{
	{
		name:   "dashboard",
		path:   func(seed) string { return "/dashboard" },
		expect: func(_ ui, s seed) []string { return []string{"Active Work Pools", s.WorkPoolName} },
	},
	{
		name:   "runs",
		path:   func(seed) string { return "/runs" },
		expect: func(_ ui, s seed) []string { return []string{s.FlowRunName} },
	},
	{
		name:      "flow-run",
		path:      func(s seed) string { return "/runs/flow-run/" + s.FlowRunID },
		expect:    func(_ ui, s seed) []string { return []string{s.FlowRunName, "starting the browser ETL with n=5"} },
		selectors: []string{"canvas"}, // the run graph
		steps: []step{{
			name:   "task-runs",
			do:     clickTab("Task Runs"),
			expect: func(_ ui, s seed) []string { return []string{s.FailedTaskRunName} },
		}},
	},
	{
		name:   "task-run",
		path:   func(s seed) string { return "/runs/task-run/" + s.FailedTaskRunID },
		expect: func(_ ui, s seed) []string { return []string{s.FailedTaskRunName, "the flaky load is about to fail"} },
	},
	{
		name:   "flows",
		path:   func(seed) string { return "/flows" },
		expect: func(_ ui, s seed) []string { return []string{s.FlowName, "browser-subflow"} },
	},
	{
		name:   "flow",
		path:   func(s seed) string { return "/flows/flow/" + s.FlowID },
		expect: func(_ ui, s seed) []string { return []string{s.FlowName, s.FlowRunName} },
	},
	{
		name: "deployments",
		path: func(seed) string { return "/deployments" },
		expect: func(u ui, s seed) []string {
			// Each UI words the hourly schedule its own way.
			return []string{s.DeploymentName, map[string]string{"v1": "Hourly", "v2": "Every 1 hour"}[u.name]}
		},
	},
	{
		name: "deployment",
		path: func(s seed) string { return "/deployments/deployment/" + s.DeploymentID },
		expect: func(_ ui, s seed) []string {
			return []string{s.DeploymentName, s.WorkPoolName, s.WorkQueueName}
		},
		steps: []step{{name: "quick-run", do: quickRun, expect: texts()}},
	},
	{
		name:   "work-pools",
		path:   func(seed) string { return "/work-pools" },
		expect: func(_ ui, s seed) []string { return []string{s.WorkPoolName, "Process"} },
	},
	{
		// The worker types come from the collection view: no Kubernetes worker is installed.
		name:   "work-pool-create",
		path:   func(seed) string { return "/work-pools/create" },
		expect: texts("Kubernetes", "Process"),
	},
	{
		name:   "work-pool",
		path:   func(s seed) string { return "/work-pools/work-pool/" + s.WorkPoolName },
		expect: func(_ ui, s seed) []string { return []string{`prefect worker start --pool "` + s.WorkPoolName + `"`} },
		steps: []step{{
			name:   "queues",
			do:     clickTab("Work Queues"),
			expect: func(_ ui, s seed) []string { return []string{s.WorkQueueName} },
		}},
	},
	{
		name: "work-queue",
		path: func(s seed) string { return "/work-pools/work-pool/" + s.WorkPoolName + "/queue/" + s.WorkQueueName },
		expect: func(_ ui, s seed) []string {
			return []string{`--work-queue "` + s.WorkQueueName + `"`}
		},
	},
	{
		name:   "blocks",
		path:   func(seed) string { return "/blocks" },
		expect: func(_ ui, s seed) []string { return []string{s.SecretBlockName, s.JSONBlockName} },
	},
	{
		name: "block",
		path: func(s seed) string { return "/blocks/block/" + s.SecretBlockID },
		expect: func(_ ui, s seed) []string {
			return []string{s.SecretBlockName, "A block that represents a secret value"}
		},
	},
	{
		// Prefect's catalogue, registered at start: AWS Credentials is no block the seed saves.
		name:   "block-catalog",
		path:   func(seed) string { return "/blocks/catalog" },
		expect: texts("Secret", "A block that represents a secret value", "AWS Credentials"),
	},
	{
		name:   "block-create",
		path:   func(seed) string { return "/blocks/catalog/secret/create" },
		expect: texts("A value that should be kept secret."),
		steps: []step{
			{name: "filled", do: fillSecretForm, expect: texts()},
			{name: "created", do: submitSecretForm, expect: func(u ui, _ seed) []string { return []string{typedSecretName(u)} }},
		},
		freeNameProbes: func(u ui, _ seed) []string {
			return []string{"/block_types/slug/secret/block_documents/name/" + typedSecretName(u)}
		},
	},
	{
		name:   "variables",
		path:   func(seed) string { return "/variables" },
		expect: func(_ ui, s seed) []string { return []string{s.VariableName} },
		steps: []step{
			{name: "filled", do: fillVariableForm, expect: texts()},
			{name: "created", do: submitVariableForm, expect: func(u ui, _ seed) []string { return []string{typedVariableName(u)} }},
		},
		freeNameProbes: func(u ui, _ seed) []string { return []string{"/variables/name/" + typedVariableName(u)} },
	},
	{
		name:   "concurrency-limits",
		path:   func(seed) string { return "/concurrency-limits" },
		expect: func(_ ui, s seed) []string { return []string{s.GlobalLimitName} },
		steps: []step{{
			name:   "task-run-limits",
			do:     clickTab("Task Run"),
			expect: func(_ ui, s seed) []string { return []string{s.TagLimit} },
		}},
	},
	{
		name:   "artifacts",
		path:   func(seed) string { return "/artifacts" },
		expect: func(_ ui, s seed) []string { return []string{s.ArtifactKey, s.TableArtifactKey} },
	},
	{
		name:   "artifact",
		path:   func(s seed) string { return "/artifacts/artifact/" + s.ArtifactID },
		expect: texts("The run loaded 60 in total."), // the markdown, rendered
	},
	{
		name:   "artifact-key",
		path:   func(s seed) string { return "/artifacts/key/" + s.ArtifactKey },
		expect: func(_ ui, s seed) []string { return []string{s.ArtifactKey, "The report of the browser seed run"} },
	},
	{
		name:   "automations",
		path:   func(seed) string { return "/automations" },
		expect: func(_ ui, s seed) []string { return []string{s.AutomationName} },
	},
	{
		name: "automation",
		path: func(s seed) string { return "/automations/automation/" + s.AutomationID },
		expect: func(_ ui, s seed) []string {
			return []string{s.AutomationName, "Runs the browser deployment again when a flow run fails"}
		},
	},
	{
		// An automation made in the wizard, which then fires.
		name:   "automation-create",
		path:   func(seed) string { return "/automations/create" },
		expect: texts("Trigger Template"),
		steps: []step{
			{name: "filled", do: fillAutomationWizard, expect: texts()},
			{name: "created", do: saveAutomationWizard, expect: func(u ui, _ seed) []string { return []string{wizardAutomationName(u)} }},
			{name: "fired", do: fireWizardAutomation, expect: texts()},
		},
	},
	{
		name:   "events",
		path:   func(seed) string { return "/events" },
		expect: texts("browser.seed.finished", "prefect.flow-run.Completed"),
	},
	{
		name:   "settings",
		path:   func(seed) string { return "/settings" },
		expect: func(_ ui, s seed) []string { return []string{"Server Settings", s.PrefectVersion} },
	},
}

// pageEnv is what a step acts with: the tab, the server behind it and the seeded names.
type pageEnv struct {
	ctx  context.Context
	srv  *server
	seed seed
	ui   ui
	rec  *recorder
}

// visit opens one page in a tab of its own, lets it settle, takes its screenshots, runs its
// steps, and fails the test for each /api answer of 400 or more and each console error from
// the server's origin. It returns every request the tab made.
func visit(t *testing.T, browser context.Context, cfg config, srv *server, sd seed, u ui, p page) []call {
	name := u.name + "/" + p.name
	rec := newRecorder(name, srv.origin)
	tab, closeTab := chromedp.NewContext(browser, chromedp.WithListener(rec.handle))
	defer closeTab()
	ctx, cancel := context.WithTimeout(tab, pageTimeout)
	defer cancel()
	env := &pageEnv{ctx: ctx, srv: srv, seed: sd, ui: u, rec: rec}

	shoot := func(suffix string) {
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Errorf("screenshot: %v", err)
			return
		}
		file := filepath.Join(cfg.artifacts, u.name+"-"+p.name+suffix+".png")
		if err := os.WriteFile(file, png, 0o644); err != nil {
			t.Error(err)
		}
	}

	target := srv.origin + u.base + p.path(sd)
	if err := chromedp.Do(ctx, chromedp.Navigate(target)); err != nil {
		t.Errorf("opening %s: %v", target, err)
	} else if err := settle(ctx, rec, p.expect(u, sd), p.selectors); err != nil {
		t.Errorf("%s: %v", target, err)
		shoot("")
	} else {
		shoot("")
		for _, s := range p.steps {
			if err := s.do(env); err != nil {
				t.Errorf("step %s: %v", s.name, err)
				shoot("-" + s.name)
				break
			}
			err := settle(ctx, rec, s.expect(u, sd), nil)
			shoot("-" + s.name)
			if err != nil {
				t.Errorf("step %s: %v", s.name, err)
				break
			}
		}
	}

	calls, messages := rec.snapshot()
	var probes []string
	if p.freeNameProbes != nil {
		probes = p.freeNameProbes(u, sd)
	}
	report(t, rec, calls, messages, probes)
	return calls
}

// settle waits until every text is visible and every selector matches, then until the network
// has been quiet for a while; on failure it says what is missing.
func settle(ctx context.Context, rec *recorder, want, selectors []string) error {
	start := time.Now()
	wantJSON, _ := json.Marshal(append([]string{}, want...)) // [] rather than null
	selJSON, _ := json.Marshal(append([]string{}, selectors...))
	// innerText holds only rendered text, so hidden elements do not count.
	probe := fmt.Sprintf(`(() => {
		const text = document.body ? document.body.innerText : "";
		return %s.filter(t => !text.includes(t)).concat(%s.filter(s => !document.querySelector(s)).map(s => "element " + s));
	})()`, wantJSON, selJSON)
	ctx, cancel := context.WithTimeout(ctx, settleTimeout)
	defer cancel()
	var missing []string
	for {
		var err error
		missing, err = chromedp.Run(ctx, chromedp.Evaluate[[]string](probe))
		if err == nil && len(missing) == 0 {
			break
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return fmt.Errorf("reading the page: %w", err)
			}
			return fmt.Errorf("never showed %q", missing)
		case <-time.After(200 * time.Millisecond):
		}
	}
	return rec.waitQuiet(ctx, start)
}

// report fails the test for the page's /api answers of 400 or more (less the free-name probes),
// /api requests that failed, and console errors and exceptions from the server's origin; what
// came from other origins is only logged.
func report(t *testing.T, rec *recorder, calls []call, messages []message, probes []string) {
	t.Helper()
	outside := map[string]int{} // "requests|console messages to/from host"
	for _, c := range calls {
		path := apiPath(rec.origin, c.url)
		switch {
		case path == "" && !sameOrigin(rec.origin, c.url):
			outside["requests to "+host(c.url)]++
		case path == "":
			// The UI's own files: a missing one shows as a console error below.
		case c.status >= 400 && !(c.status == http.StatusNotFound && containsPath(probes, path)):
			t.Errorf("%s %s answered %d", c.method, pathAndQuery(c.url), c.status)
		case c.status == 0 && c.failure != "" && !c.canceled:
			t.Errorf("%s %s failed: %s", c.method, pathAndQuery(c.url), c.failure)
		}
	}
	for _, m := range messages {
		switch {
		case m.url != "" && !sameOrigin(rec.origin, m.url):
			outside[m.kind+" about "+host(m.url)]++
		case blockedByCSP(rec.origin, m.text) != "":
			// Our server's Content-Security-Policy (analytics off) refused the UI a call
			// to another host: what it is there for.
			outside[m.kind+" about "+blockedByCSP(rec.origin, m.text)+", blocked by the CSP"]++
		case m.kind == "log.network" && (apiPath(rec.origin, m.url) != "" || knownMiss(m.url)):
			// An /api answer is judged above; known misses are the UIs' own doing.
		default:
			t.Errorf("%s: %s (%s)", m.kind, m.text, m.url)
		}
	}
	if len(outside) > 0 {
		var parts []string
		for k, n := range outside {
			parts = append(parts, fmt.Sprintf("%d %s", n, k))
		}
		slices.Sort(parts)
		t.Logf("other origins (not failures): %s", strings.Join(parts, "; "))
	}
}

var cspURL = regexp.MustCompile(`https?://[^\s'"]+`)

// blockedByCSP is the other host a Content-Security-Policy refusal names, or "".
func blockedByCSP(origin, text string) string {
	if !strings.Contains(text, "Content Security Policy") {
		return ""
	}
	if u := cspURL.FindString(text); u != "" && !sameOrigin(origin, u) {
		return host(u)
	}
	return ""
}

func containsPath(paths []string, p string) bool {
	for _, q := range paths {
		if strings.TrimSuffix(q, "/") == strings.TrimSuffix(p, "/") {
			return true
		}
	}
	return false
}

func pathAndQuery(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	return p.RequestURI()
}

// tabXPath finds a tab by its label in either UI: the v2 UI's tabs have role=tab, the v1 UI's
// are the items of a role=tablist.
func tabXPath(label string) string {
	return fmt.Sprintf(`//*[@role="tab" or parent::*[@role="tablist"]][normalize-space(.)=%q]`, label)
}

func clickTab(label string) func(e *pageEnv) error {
	return func(e *pageEnv) error { return click(e, tabXPath(label)) }
}

// click clicks the first visible node that a CSS selector or an XPath finds, with real mouse
// events (the UIs' menus open on pointer events).
func click(e *pageEnv, sel string) error {
	return chromedp.Do(e.ctx, chromedp.Click(chromedp.Search(sel), chromedp.NodeVisible))
}

// typeInto types text into a field, key by key, as a person would.
func typeInto(e *pageEnv, sel, text string) error {
	return chromedp.Do(e.ctx, chromedp.SendKeys(chromedp.Search(sel), text, chromedp.NodeVisible))
}

// byUI picks the selector of the UI the page is in.
func byUI(e *pageEnv, v1, v2 string) string {
	if e.ui.name == "v1" {
		return v1
	}
	return v2
}

// quickRun runs the deployment from its Run menu and waits for the new run to exist in the API.
func quickRun(e *pageEnv) error {
	before, err := deploymentRuns(e)
	if err != nil {
		return err
	}
	if err := click(e, `//button[normalize-space(.)="Run"]`); err != nil {
		return fmt.Errorf("opening the Run menu: %w", err)
	}
	if err := click(e, `//*[self::button or @role="menuitem"][normalize-space(.)="Quick run"]`); err != nil {
		return fmt.Errorf("choosing Quick run: %w", err)
	}
	return eventually(e.ctx, "a new run of the deployment", func() (bool, error) {
		after, err := deploymentRuns(e)
		if err != nil {
			return false, err
		}
		for id, auto := range after {
			if _, old := before[id]; !old && !auto {
				return true, nil
			}
		}
		return false, nil
	})
}

// deploymentRuns maps the deployment's run ids to whether the scheduler made them.
func deploymentRuns(e *pageEnv) (map[string]bool, error) {
	body := map[string]any{"flow_runs": map[string]any{"deployment_id": map[string]any{"any_": []string{e.seed.DeploymentID}}}}
	status, out, err := e.srv.call(e.ctx, "POST", "/flow_runs/filter", body)
	if err != nil || status != http.StatusOK {
		return nil, fmt.Errorf("POST /api/flow_runs/filter: %d %s %v", status, truncate(string(out), 300), err)
	}
	var runs []struct {
		ID            string `json:"id"`
		AutoScheduled bool   `json:"auto_scheduled"`
	}
	if err := json.Unmarshal(out, &runs); err != nil {
		return nil, err
	}
	m := map[string]bool{}
	for _, r := range runs {
		m[r.ID] = r.AutoScheduled
	}
	return m, nil
}

func fillSecretForm(e *pageEnv) error {
	if err := typeInto(e, byUI(e, `form input[type=text]`, `input[name=blockName]`), typedSecretName(e.ui)); err != nil {
		return fmt.Errorf("typing the name: %w", err)
	}
	if err := typeInto(e, byUI(e, `form textarea`, `form [role=tabpanel] input[type=password]`), typedSecret); err != nil {
		return fmt.Errorf("typing the value: %w", err)
	}
	return nil
}

// submitSecretForm saves the block and checks the API has it, with the value typed.
func submitSecretForm(e *pageEnv) error {
	if err := click(e, `form button[type=submit]`); err != nil {
		return err
	}
	path := "/block_types/slug/secret/block_documents/name/" + typedSecretName(e.ui) + "?include_secrets=true"
	return eventually(e.ctx, "the Secret block in the API", func() (bool, error) {
		status, out, err := e.srv.call(e.ctx, "GET", path, nil)
		if err != nil || status == http.StatusNotFound {
			return false, err
		}
		var doc struct {
			Data struct {
				Value string `json:"value"`
			} `json:"data"`
		}
		if status != http.StatusOK || json.Unmarshal(out, &doc) != nil || doc.Data.Value != typedSecret {
			return false, fmt.Errorf("GET /api%s: %d %s", path, status, truncate(string(out), 300))
		}
		return true, nil
	})
}

func fillVariableForm(e *pageEnv) error {
	if err := click(e, byUI(e, `//header//button`, `button[aria-label="Add variable"]`)); err != nil {
		return fmt.Errorf("opening the dialog: %w", err)
	}
	if err := typeInto(e, byUI(e, `[role=dialog] input[type=text]`, `[role=dialog] input[name=name]`), typedVariableName(e.ui)); err != nil {
		return fmt.Errorf("typing the name: %w", err)
	}
	// v2's value is a code editor (contenteditable); v1's a textarea.
	if err := typeInto(e, byUI(e, `[role=dialog] textarea`, `[role=dialog] [contenteditable=true]`), typedVariable); err != nil {
		return fmt.Errorf("typing the value: %w", err)
	}
	if e.ui.name == "v1" {
		// v1 checks the name is free a moment after the typing, and ignores a submit before
		// its answer.
		path := "/variables/name/" + typedVariableName(e.ui)
		return eventually(e.ctx, "the form's check of the name", func() (bool, error) {
			return e.rec.answered("GET", path), nil
		})
	}
	return nil
}

// submitVariableForm creates the variable and checks the API has it, with the value typed.
func submitVariableForm(e *pageEnv) error {
	if err := click(e, `//*[@role="dialog"]//button[normalize-space(.)="Create"]`); err != nil {
		return err
	}
	path := "/variables/name/" + typedVariableName(e.ui)
	return eventually(e.ctx, "the variable in the API", func() (bool, error) {
		status, out, err := e.srv.call(e.ctx, "GET", path, nil)
		if err != nil || status == http.StatusNotFound {
			return false, err
		}
		var v struct {
			Value map[string]any `json:"value"`
		}
		if status != http.StatusOK || json.Unmarshal(out, &v) != nil || v.Value["from"] != "the browser" {
			return false, fmt.Errorf("GET /api%s: %d %s", path, status, truncate(string(out), 300))
		}
		return true, nil
	})
}

// eventually polls check until it holds, fails, or a bound against hangs passes.
func eventually(ctx context.Context, what string, check func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		ok, err := check()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("never saw %s", what)
		case <-time.After(250 * time.Millisecond):
		}
	}
}
