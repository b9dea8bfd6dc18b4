package controllers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	jsonpatch "github.com/evanphx/json-patch/v5"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"prefectgo.dev/prefectgo/api/v1alpha1"
	"prefectgo.dev/prefectgo/controllers/builders"
	"prefectgo.dev/prefectgo/controllers/prefectapi"
)

// Reasons of Synced for a base job template that cannot be made.
const (
	ReasonConfigMapNotFound    = "ConfigMapNotFound"
	ReasonConfigMapKeyNotFound = "ConfigMapKeyNotFound"
	ReasonInvalidTemplate      = "InvalidTemplate"
	ReasonNoDefaultTemplate    = "NoDefaultTemplate"
)

// templateError is a base job template the spec cannot make: its Synced
// condition, and whether to retry with backoff. A ConfigMap or a patch
// waits for the spec or the ConfigMap to change (both are watched); a
// server without the type's default may list it later (or answered while
// still starting), and nothing watched tells when.
type templateError struct {
	cond  metav1.Condition
	retry bool
}

func (e *templateError) Error() string { return e.cond.Message }

// baseJobTemplate is the template the spec asks for: inline, from its
// ConfigMap, or the server's default for the pool's type when only patches
// are given or the pool is a kubernetes one, with the patches applied and,
// for kubernetes, the defaults its Jobs need (withJobDefaults). Nil leaves the pool's
// template as the server has it.
func (r *PrefectWorkPoolReconciler) baseJobTemplate(ctx context.Context, wp *v1alpha1.PrefectWorkPool, api *prefectapi.Client) (json.RawMessage, error) {
	spec := wp.Spec
	var base json.RawMessage
	switch {
	case spec.BaseJobTemplate != nil:
		base = spec.BaseJobTemplate.Raw
	case spec.BaseJobTemplateFrom != nil:
		sel := spec.BaseJobTemplateFrom
		var cm corev1.ConfigMap
		if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: wp.Namespace, Name: sel.Name}, &cm); err != nil {
			return nil, &templateError{cond: notSynced(ReasonConfigMapNotFound, "ConfigMap %s: %v", sel.Name, err)}
		}
		v, ok := cm.Data[sel.Key]
		if !ok {
			return nil, &templateError{cond: notSynced(ReasonConfigMapKeyNotFound, "ConfigMap %s has no key %q", sel.Name, sel.Key)}
		}
		base = json.RawMessage(v)
	case len(spec.BaseJobTemplatePatches) > 0 || builders.PoolType(wp) == builders.WorkerTypeKubernetes:
		// The type's default: to patch, or so that a kubernetes pool's Jobs
		// get what they need (withJobDefaults).
		var err error
		base, err = api.DefaultBaseJobTemplate(ctx, builders.PoolType(wp))
		switch {
		case errors.Is(err, prefectapi.ErrNoDefaultTemplate) && len(spec.BaseJobTemplatePatches) == 0:
			return nil, nil // the worker fills the pool's template with its own
		case errors.Is(err, prefectapi.ErrNoDefaultTemplate):
			return nil, &templateError{cond: notSynced(ReasonNoDefaultTemplate,
				"the server lists no default base job template for type %q to patch: give baseJobTemplate", builders.PoolType(wp)), retry: true}
		case err != nil:
			return nil, err
		}
	default:
		return nil, nil
	}
	out, err := patchTemplate(base, spec.BaseJobTemplatePatches)
	if err != nil {
		return nil, &templateError{cond: notSynced(ReasonInvalidTemplate, "base job template: %v", err)}
	}
	if builders.PoolType(wp) == builders.WorkerTypeKubernetes {
		out = withJobDefaults(out, wp)
	}
	return out, nil
}

// withJobDefaults sets what a kubernetes pool's Jobs need of its template's
// variables, where the template leaves them: service_account_name
// defaults to the flow runs' ServiceAccount when it has no default, and
// namespace to the first job namespace when its default is not one of
// them (Prefect's default is "default", where the workers may do nothing).
// A template without those variables is left as it is.
func withJobDefaults(template json.RawMessage, wp *v1alpha1.PrefectWorkPool) json.RawMessage {
	var t struct {
		Variables struct {
			Properties map[string]map[string]json.RawMessage `json:"properties"`
		} `json:"variables"`
	}
	if json.Unmarshal(template, &t) != nil {
		return template
	}
	var ops []v1alpha1.JSONPatchOperation
	set := func(variable, value string) {
		raw, _ := json.Marshal(value) // a string always marshals
		ops = append(ops, v1alpha1.JSONPatchOperation{Op: "add",
			Path: "/variables/properties/" + variable + "/default", Value: &apiextensionsv1.JSON{Raw: raw}})
	}
	if v, ok := t.Variables.Properties["service_account_name"]; ok && v["default"] == nil {
		set("service_account_name", builders.FlowRunServiceAccountName(wp))
	}
	if v, ok := t.Variables.Properties["namespace"]; ok {
		var ns string
		if json.Unmarshal(v["default"], &ns) != nil || !slices.Contains(builders.JobNamespaces(wp), ns) {
			set("namespace", builders.JobNamespaces(wp)[0])
		}
	}
	out, err := patchTemplate(template, ops)
	if err != nil {
		return template
	}
	return out
}

// patchTemplate applies JSON Patch operations to a base job template, which
// must be a JSON object, as must the result.
func patchTemplate(base json.RawMessage, ops []v1alpha1.JSONPatchOperation) (json.RawMessage, error) {
	if err := jsonObject(base); err != nil {
		return nil, err
	}
	if len(ops) == 0 {
		return base, nil
	}
	raw, err := json.Marshal(ops)
	if err != nil {
		return nil, err
	}
	patch, err := jsonpatch.DecodePatch(raw)
	if err != nil {
		return nil, fmt.Errorf("patch: %w", err)
	}
	out, err := patch.Apply(base)
	if err != nil {
		return nil, fmt.Errorf("patch: %w", err)
	}
	if err := jsonObject(out); err != nil {
		return nil, fmt.Errorf("patched: %w", err)
	}
	return out, nil
}

func jsonObject(raw json.RawMessage) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return errors.New("not a JSON object")
	}
	return nil
}
