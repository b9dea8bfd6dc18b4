//go:build browser

package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
)

// The automation each UI's wizard makes: when any flow run enters Running, cancel it. No run of
// the seed enters Running after the seed, so only the run fireWizardAutomation starts does.
func wizardAutomationName(u ui) string { return "browser-wizard-" + u.name }

// fillAutomationWizard goes through the wizard's three steps as a person would: the flow run
// state template entered Running, the cancel action, the name.
func fillAutomationWizard(e *pageEnv) error {
	next := `//button[normalize-space(.)="Next"]`
	if e.ui.name == "v1" {
		// v1's selects are native <select>s here; a person picks an option, which is a change.
		if err := pickNative(e, ".automation-trigger-template-select select", "flow-run-state"); err != nil {
			return err
		}
		if err := pickNative(e, ".state-name-select select", "Running"); err != nil {
			return err
		}
		if err := click(e, next); err != nil {
			return fmt.Errorf("to the actions: %w", err)
		}
		if err := pickNative(e, ".automation-action-type-select select", "cancel-flow-run"); err != nil {
			return err
		}
	} else {
		if err := pickOption(e, `#automations-trigger-template-select`, `normalize-space(.)="Flow run state"`); err != nil {
			return err
		}
		// The states are a searchable multi-select, longer than the window, whose list stays
		// open until Escape.
		search := `input[placeholder="Search states..."]`
		if err := open(e, `//*[@role="combobox" or self::button][normalize-space(.)="Any state"]`, search); err != nil {
			return fmt.Errorf("opening the states: %w", err)
		}
		if err := typeInto(e, search, "Running"); err != nil {
			return fmt.Errorf("searching the states: %w", err)
		}
		if err := click(e, `//*[@role="option"][@data-value="Running"]`); err != nil {
			return fmt.Errorf("choosing Running: %w", err)
		}
		if err := chromedp.Do(e.ctx, chromedp.KeyEvent("\u001b")); err != nil {
			return err
		}
		if err := closed(e); err != nil {
			return err
		}
		if err := click(e, next); err != nil {
			return fmt.Errorf("to the actions: %w", err)
		}
		if err := pickOption(e, `//button[@role="combobox"][normalize-space(.)="Select action"]`, `normalize-space(.)="Cancel a flow run"`); err != nil {
			return err
		}
	}
	if err := click(e, next); err != nil {
		return fmt.Errorf("to the details: %w", err)
	}
	if err := typeInto(e, `//label[normalize-space(.)="Automation Name"]/following::input[1]`, wizardAutomationName(e.ui)); err != nil {
		return fmt.Errorf("typing the name: %w", err)
	}
	return nil
}

// pickNative chooses an option of a native <select> by value, with the change event a choice
// makes.
func pickNative(e *pageEnv, css, value string) error {
	script := fmt.Sprintf(`(() => {
		const s = document.querySelector(%q);
		if (!s) return false;
		for (const o of s.options) o.selected = o.value === %q;
		s.dispatchEvent(new Event("change", {bubbles: true}));
		return s.value === %[2]q;
	})()`, css, value)
	ok, err := chromedp.Run(e.ctx, chromedp.Evaluate[bool](script))
	if err == nil && !ok {
		err = fmt.Errorf("no option %q in %s", value, css)
	}
	return err
}

// open clicks what opens a popup until the popup shows what it holds: a click while the
// previous popup is closing (and handing focus back) opens nothing.
func open(e *pageEnv, opener, content string) error {
	for {
		if err := click(e, opener); err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(e.ctx, 2*time.Second)
		err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.Search(content)))
		cancel()
		if err == nil || e.ctx.Err() != nil {
			return err
		}
	}
}

// pickOption opens a listbox and clicks the option the XPath predicate names.
func pickOption(e *pageEnv, opener, option string) error {
	if err := open(e, opener, `[role="option"]`); err != nil {
		return fmt.Errorf("opening %s: %w", opener, err)
	}
	if err := click(e, `//*[@role="option"][`+option+`]`); err != nil {
		return fmt.Errorf("choosing %s: %w", option, err)
	}
	return closed(e)
}

// closed waits until no list is open and the page takes clicks again: while a v2 select is
// open, or closing, the body ignores the pointer and a click is lost.
func closed(e *pageEnv) error {
	return eventually(e.ctx, "the list closed", func() (bool, error) {
		return chromedp.Run(e.ctx, chromedp.Evaluate[bool](
			`!document.querySelector('[role="listbox"]') && getComputedStyle(document.body).pointerEvents !== "none"`))
	})
}

// saveAutomationWizard saves, and checks the API has the automation as the wizard described it.
func saveAutomationWizard(e *pageEnv) error {
	if err := click(e, `//button[normalize-space(.)="Save"]`); err != nil {
		return err
	}
	return eventually(e.ctx, "the wizard's automation in the API", func() (bool, error) {
		a, err := wizardAutomation(e)
		if a == nil || err != nil {
			return false, err
		}
		trigger, _ := json.Marshal(a["trigger"])
		actions, _ := json.Marshal(a["actions"])
		if !strings.Contains(string(trigger), `"expect":["prefect.flow-run.Running"]`) || !strings.Contains(string(actions), `"cancel-flow-run"`) {
			return false, fmt.Errorf("the wizard saved trigger %s, actions %s", trigger, actions)
		}
		return true, nil
	})
}

// fireWizardAutomation starts a run (a new flow run set Running through the API) and waits
// for the wizard's automation to cancel it, naming itself in the state's message; then it
// deletes the automation, so the other UI's is the only one to answer its run. A new
// automation is loaded a moment after it is saved, so each try is a new run.
func fireWizardAutomation(e *pageEnv) error {
	a, err := wizardAutomation(e)
	if err != nil || a == nil {
		return fmt.Errorf("the wizard's automation is gone: %v", err)
	}
	id, _ := a["id"].(string)
	flow, err := apiCreate(e, "/flows/", map[string]any{"name": "browser-wizard-target"})
	if err != nil {
		return err
	}
	var runs []string
	var started time.Time
	err = eventually(e.ctx, "the wizard's automation cancel a run that entered Running", func() (bool, error) {
		for _, run := range runs {
			state, err := runState(e, run)
			if err != nil {
				return false, err
			}
			if state.Type == "CANCELLING" || state.Type == "CANCELLED" {
				if state.Message != "Cancelled by Automation "+id {
					return false, fmt.Errorf("run %s was cancelled, not by the wizard's automation: %q", run, state.Message)
				}
				return true, nil
			}
		}
		if time.Since(started) < 2*time.Second {
			return false, nil
		}
		run, err := apiCreate(e, "/flow_runs/", map[string]any{"flow_id": flow})
		if err != nil {
			return false, err
		}
		status, out, err := e.srv.call(e.ctx, "POST", "/flow_runs/"+run+"/set_state", map[string]any{"state": map[string]any{"type": "RUNNING"}})
		if err != nil || status != http.StatusCreated {
			return false, fmt.Errorf("setting run %s Running: %d %s %v", run, status, truncate(string(out), 300), err)
		}
		runs, started = append(runs, run), time.Now()
		return false, nil
	})
	if err != nil {
		return err
	}
	if status, out, err := e.srv.call(e.ctx, "DELETE", "/automations/"+id, nil); err != nil || status != http.StatusNoContent {
		return fmt.Errorf("DELETE /api/automations/%s: %d %s %v", id, status, truncate(string(out), 300), err)
	}
	return nil
}

type runStateOf struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

func runState(e *pageEnv, run string) (runStateOf, error) {
	var r struct {
		State runStateOf `json:"state"`
	}
	status, out, err := e.srv.call(e.ctx, "GET", "/flow_runs/"+run, nil)
	if err != nil || status != http.StatusOK {
		return r.State, fmt.Errorf("GET /api/flow_runs/%s: %d %s %v", run, status, truncate(string(out), 300), err)
	}
	return r.State, json.Unmarshal(out, &r)
}

// wizardAutomation reads the automation the page's UI made (nil until it exists).
func wizardAutomation(e *pageEnv) (map[string]any, error) {
	status, out, err := e.srv.call(e.ctx, "POST", "/automations/filter", map[string]any{})
	if err != nil || status != http.StatusOK {
		return nil, fmt.Errorf("POST /api/automations/filter: %d %s %v", status, truncate(string(out), 300), err)
	}
	var all []map[string]any
	if err := json.Unmarshal(out, &all); err != nil {
		return nil, err
	}
	for _, a := range all {
		if a["name"] == wizardAutomationName(e.ui) {
			return a, nil
		}
	}
	return nil, nil
}

// apiCreate posts a new object and gives its id.
func apiCreate(e *pageEnv, path string, body map[string]any) (string, error) {
	status, out, err := e.srv.call(e.ctx, "POST", path, body)
	if err != nil || (status != http.StatusCreated && status != http.StatusOK) {
		return "", fmt.Errorf("POST /api%s: %d %s %v", path, status, truncate(string(out), 300), err)
	}
	var obj struct {
		ID string `json:"id"`
	}
	return obj.ID, json.Unmarshal(out, &obj)
}
