package controllers

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/equality"

	"prefectgo.dev/prefectgo/api/v1alpha1"
	"prefectgo.dev/prefectgo/controllers/prefectapi"
	"prefectgo.dev/prefectgo/server/settings"
)

// What a PrefectAutomation asks of the server, and how that compares with
// what the server has: pure functions. Every write of an automation (a PUT)
// gives its trigger new ids, which starts the trigger's windows afresh (a
// proactive trigger waiting out its `within` forgets what it saw), so a
// pass that finds the automation as the spec says writes nothing. The
// server answers the trigger and the actions with its defaults filled in:
// what the spec leaves out reads as equal to those.

// deploymentNameKey is the key by which an action of the spec names its
// deployment instead of deployment_id.
const deploymentNameKey = "deploymentName"

// defaultNotificationSubject is Prefect's subject of a send-notification
// action that gives none.
const defaultNotificationSubject = "Prefect automated notification"

// deploymentActions are the actions that act on one deployment.
var deploymentActions = []string{"run-deployment", "pause-deployment", "resume-deployment"}

// AutomationName is the automation's name: spec.name, or the resource's.
func AutomationName(a *v1alpha1.PrefectAutomation) string {
	if a.Spec.Name != "" {
		return a.Spec.Name
	}
	return a.Name
}

// actionLists are the spec's three lists of actions, by their keys.
func actionLists(a *v1alpha1.PrefectAutomation) []struct {
	key  string
	list []json.RawMessage
} {
	raws := func(l []apiextensionsv1.JSON) []json.RawMessage {
		out := make([]json.RawMessage, len(l))
		for i, v := range l {
			out[i] = v.Raw
		}
		return out
	}
	return []struct {
		key  string
		list []json.RawMessage
	}{
		{"actions", raws(a.Spec.Actions)},
		{"actionsOnTrigger", raws(a.Spec.ActionsOnTrigger)},
		{"actionsOnResolve", raws(a.Spec.ActionsOnResolve)},
	}
}

// DeploymentNames lists the deployments the actions name by deploymentName
// ("<flow>/<deployment>"), each once, checking each action that names one:
// only an action on a deployment may, with no deployment_id beside it and
// on the deployment it selects (not one inferred from the event).
func DeploymentNames(a *v1alpha1.PrefectAutomation) ([]string, error) {
	var out []string
	for _, l := range actionLists(a) {
		for i, raw := range l.list {
			var obj map[string]json.RawMessage
			if err := json.Unmarshal(raw, &obj); err != nil {
				return nil, fmt.Errorf("%s[%d] is not a JSON object: %w", l.key, i, err)
			}
			nameRaw, ok := obj[deploymentNameKey]
			if !ok {
				continue
			}
			at := fmt.Sprintf("%s[%d]", l.key, i)
			var typ, source, name string
			_ = json.Unmarshal(obj["type"], &typ)
			_ = json.Unmarshal(obj["source"], &source)
			switch {
			case !slices.Contains(deploymentActions, typ):
				return nil, fmt.Errorf("%s: deploymentName applies to %s actions, not %q", at, strings.Join(deploymentActions, ", "), typ)
			case obj["deployment_id"] != nil:
				return nil, fmt.Errorf("%s: give deploymentName or deployment_id, not both", at)
			case source != "" && source != "selected":
				return nil, fmt.Errorf("%s: deploymentName selects a deployment: source must be selected, not %q", at, source)
			case json.Unmarshal(nameRaw, &name) != nil:
				return nil, fmt.Errorf("%s: deploymentName must be a string, <flow>/<deployment>", at)
			}
			if _, _, ok := splitDeploymentName(name); !ok {
				return nil, fmt.Errorf("%s: deploymentName %q is not <flow>/<deployment>", at, name)
			}
			if !slices.Contains(out, name) {
				out = append(out, name)
			}
		}
	}
	return out, nil
}

// splitDeploymentName reads "<flow>/<deployment>".
func splitDeploymentName(full string) (flow, name string, ok bool) {
	flow, name, ok = strings.Cut(full, "/")
	return flow, name, ok && flow != "" && name != "" && !strings.Contains(name, "/")
}

// automationWrite is what the spec sets of the automation, the
// deploymentNames of its actions replaced, in a copy, by the ids given
// (full name to id; DeploymentNames lists those needed). Unset fields are
// sent empty, so the server clears them.
func automationWrite(a *v1alpha1.PrefectAutomation, ids map[string]string) (prefectapi.AutomationWrite, error) {
	s := a.Spec
	w := prefectapi.AutomationWrite{
		Name:        AutomationName(a),
		Description: s.Description,
		Enabled:     s.Enabled == nil || *s.Enabled,
		Tags:        append([]string{}, s.Tags...),
		Trigger:     s.Trigger.Raw,
	}
	lists := actionLists(a)
	dst := []*[]json.RawMessage{&w.Actions, &w.ActionsOnTrigger, &w.ActionsOnResolve}
	for i, l := range lists {
		out := make([]json.RawMessage, 0, len(l.list))
		for j, raw := range l.list {
			resolved, err := resolveDeploymentName(raw, ids)
			if err != nil {
				return w, fmt.Errorf("%s[%d]: %w", l.key, j, err)
			}
			out = append(out, resolved)
		}
		*dst[i] = out
	}
	return w, nil
}

// resolveDeploymentName returns the action with its deploymentName, if
// any, replaced by deployment_id; the action is left as it is otherwise.
func resolveDeploymentName(raw json.RawMessage, ids map[string]string) (json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, err
	}
	nameRaw, ok := obj[deploymentNameKey]
	if !ok {
		return raw, nil
	}
	var name string
	_ = json.Unmarshal(nameRaw, &name)
	id, ok := ids[name]
	if !ok {
		return nil, fmt.Errorf("deployment %s not resolved", name)
	}
	delete(obj, deploymentNameKey)
	obj["deployment_id"], _ = json.Marshal(id)
	return json.Marshal(obj)
}

// automationDrift names the fields of the automation on the server that
// differ from what the spec sets.
func automationDrift(have prefectapi.Automation, want prefectapi.AutomationWrite) []string {
	var out []string
	check := func(name string, same bool) {
		if !same {
			out = append(out, name)
		}
	}
	check("name", have.Name == want.Name)
	check("description", have.Description == want.Description)
	check("enabled", have.Enabled == want.Enabled)
	check("tags", sameStrings(anySlice(have.Tags), anySlice(want.Tags)))
	check("trigger", triggerMatches(decodeJSON(want.Trigger), decodeJSON(have.Trigger)))
	check("actions", actionsMatch(want.Actions, have.Actions))
	check("actionsOnTrigger", actionsMatch(want.ActionsOnTrigger, have.ActionsOnTrigger))
	check("actionsOnResolve", actionsMatch(want.ActionsOnResolve, have.ActionsOnResolve))
	return out
}

// triggerDefaults are Prefect's values of what a trigger leaves out, by
// type (a trigger without a type is an event trigger). A proactive event
// trigger's window is at least 10 seconds, 10 when left out or 0.
var triggerDefaults = map[string]map[string]any{
	"event": {"type": "event", "match": map[string]any{}, "match_related": []any{}, "after": []any{}, "expect": []any{},
		"for_each": []any{}, "threshold": 1.0, "within": 0.0},
	"compound": {"within": nil},
	"sequence": {"within": nil},
}

// triggerMatches says whether the server's trigger (have) is the spec's
// (want), reading what the spec leaves out as Prefect's defaults. The
// server's trigger ids are its own.
func triggerMatches(want, have any) bool {
	w, ok1 := want.(map[string]any)
	h, ok2 := have.(map[string]any)
	if !ok1 || !ok2 {
		return equality.Semantic.DeepEqual(want, have)
	}
	typ, _ := h["type"].(string)
	if _, ok := w["type"]; !ok && typ != "event" {
		return false
	}
	if typ == "event" && w["posture"] == "Proactive" {
		if s, ok := seconds(w["within"]); !ok || s == 0 {
			w = maps.Clone(w)
			w["within"] = 10.0
		}
	}
	return objectMatches(w, h, triggerDefaults[typ], []string{"id"}, func(key string, wv, hv any) bool {
		switch key {
		case "after", "expect", "for_each":
			return sameStrings(wv, hv)
		case "within":
			return sameSeconds(wv, hv)
		case "match_related":
			return equality.Semantic.DeepEqual(specList(wv), specList(hv))
		case "triggers":
			wl, ok1 := wv.([]any)
			hl, ok2 := hv.([]any)
			if !ok1 || !ok2 || len(wl) != len(hl) {
				return false
			}
			for i := range wl {
				if !triggerMatches(wl[i], hl[i]) {
					return false
				}
			}
			return true
		}
		return equality.Semantic.DeepEqual(wv, hv)
	})
}

// actionDefaults are Prefect's values of what an action leaves out that
// are not empty: an action on one object acts on the one it selects, and
// a notification has a subject.
var actionDefaults = map[string]any{"source": "selected", "subject": defaultNotificationSubject}

// actionsMatch says whether the server's actions are the spec's, in order.
func actionsMatch(want, have []json.RawMessage) bool {
	if len(want) != len(have) {
		return false
	}
	for i := range want {
		w, ok1 := decodeJSON(want[i]).(map[string]any)
		h, ok2 := decodeJSON(have[i]).(map[string]any)
		if !ok1 || !ok2 {
			return false
		}
		same := objectMatches(w, h, actionDefaults, nil, func(key string, wv, hv any) bool {
			switch key {
			case "schedule_after":
				return sameSeconds(wv, hv)
			case "payload":
				// A webhook's payload given as an object is kept as its
				// JSON text.
				if s, ok := hv.(string); ok {
					if _, isText := wv.(string); !isText && wv != nil {
						return equality.Semantic.DeepEqual(wv, decodeJSON(json.RawMessage(s)))
					}
				}
			}
			return equality.Semantic.DeepEqual(wv, hv)
		})
		if !same {
			return false
		}
	}
	return true
}

// objectMatches compares the server's object with the spec's key by key.
// A key the spec leaves out must hold its default there, or an empty value
// (null, "", 0, false, {}, []) when it has none listed; a key the server
// does not answer is one it does not keep, and is not compared.
func objectMatches(want, have, defaults map[string]any, ignore []string, same func(key string, w, h any) bool) bool {
	for k, hv := range have {
		if slices.Contains(ignore, k) {
			continue
		}
		wv, ok := want[k]
		if !ok {
			d, listed := defaults[k]
			if !listed {
				if isEmptyJSON(hv) {
					continue
				}
				return false
			}
			wv = d
		}
		if !same(k, wv, hv) {
			return false
		}
	}
	return true
}

func isEmptyJSON(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case bool:
		return !x
	case float64:
		return x == 0
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	}
	return false
}

// sameStrings compares two lists of strings as sets (Prefect's sets keep
// no order, and the server drops repeats).
func sameStrings(a, b any) bool {
	set := func(v any) ([]string, bool) {
		l, ok := v.([]any)
		if !ok && v != nil {
			return nil, false
		}
		var out []string
		for _, e := range l {
			s, ok := e.(string)
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
		slices.Sort(out)
		return slices.Compact(out), true
	}
	sa, ok1 := set(a)
	sb, ok2 := set(b)
	return ok1 && ok2 && slices.Equal(sa, sb)
}

func anySlice(l []string) any {
	out := make([]any, len(l))
	for i, s := range l {
		out[i] = s
	}
	return out
}

// specList reads match_related, one resource specification or a list of
// them, as a list; an empty specification is none.
func specList(v any) []any {
	switch x := v.(type) {
	case nil:
		return []any{}
	case map[string]any:
		if len(x) == 0 {
			return []any{}
		}
		return []any{x}
	case []any:
		return x
	}
	return []any{v}
}

// seconds reads a window: a number of seconds, or a duration as Prefect
// takes it (ISO 8601, "PT10M", or a number in a string).
func seconds(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case string:
		d, err := settings.ParseDuration(x)
		return d.Seconds(), err == nil
	}
	return 0, false
}

func sameSeconds(w, h any) bool {
	if w == nil || h == nil {
		return w == nil && h == nil
	}
	ws, ok1 := seconds(w)
	hs, ok2 := seconds(h)
	return ok1 && ok2 && ws == hs
}

// decodeJSON reads a JSON value; what does not parse is its text.
func decodeJSON(raw json.RawMessage) any {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return string(raw)
	}
	return v
}
