package controllers

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"prefectgo.dev/prefectgo/api/v1alpha1"
	"prefectgo.dev/prefectgo/controllers/prefectapi"
)

func value(v string) *apiextensionsv1.JSON { return &apiextensionsv1.JSON{Raw: []byte(v)} }

func TestPatchTemplate(t *testing.T) {
	t.Parallel()
	base := json.RawMessage(`{"job_configuration":{"image":"{{ image }}"},"variables":{"properties":{"image":{"type":"string"}}}}`)
	for name, tc := range map[string]struct {
		base json.RawMessage
		ops  []v1alpha1.JSONPatchOperation
		want string // JSON, or the error's text
		err  bool
	}{
		"none": {base: base, want: string(base)},
		"add and remove": {base: base, ops: []v1alpha1.JSONPatchOperation{
			{Op: "add", Path: "/variables/properties/image/default", Value: value(`"my/image:1"`)},
			{Op: "remove", Path: "/job_configuration/image"},
		}, want: `{"job_configuration":{},"variables":{"properties":{"image":{"type":"string","default":"my/image:1"}}}}`},
		"copy": {base: base, ops: []v1alpha1.JSONPatchOperation{{Op: "copy", From: "/job_configuration", Path: "/copied"}},
			want: `{"job_configuration":{"image":"{{ image }}"},"copied":{"image":"{{ image }}"},"variables":{"properties":{"image":{"type":"string"}}}}`},
		"a test that fails": {base: base, ops: []v1alpha1.JSONPatchOperation{{Op: "test", Path: "/job_configuration/image", Value: value(`"other"`)}},
			err: true, want: "patch: "},
		"a path that is not there": {base: base, ops: []v1alpha1.JSONPatchOperation{{Op: "replace", Path: "/nope/deeper", Value: value(`1`)}},
			err: true, want: "patch: "},
		"add without a value":   {base: base, ops: []v1alpha1.JSONPatchOperation{{Op: "add", Path: "/x"}}, err: true, want: "patch: "},
		"not an object":         {base: json.RawMessage(`[1]`), err: true, want: "not a JSON object"},
		"not JSON":              {base: json.RawMessage(`{`), err: true, want: "not a JSON object"},
		"patched into a scalar": {base: base, ops: []v1alpha1.JSONPatchOperation{{Op: "replace", Path: "", Value: value(`3`)}}, err: true, want: "patch: "},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := patchTemplate(tc.base, tc.ops)
			if tc.err {
				require.ErrorContains(t, err, tc.want)
				return
			}
			require.NoError(t, err)
			require.JSONEq(t, tc.want, string(got))
		})
	}
}

func TestWithJobDefaults(t *testing.T) {
	t.Parallel()
	wp := &v1alpha1.PrefectWorkPool{ObjectMeta: metav1.ObjectMeta{Name: "pool", Namespace: "flows"}}
	for name, tc := range map[string]struct{ in, want string }{
		"Prefect's defaults": {
			`{"variables":{"properties":{"service_account_name":{"type":"string"},"namespace":{"type":"string","default":"default"}}}}`,
			`{"variables":{"properties":{"service_account_name":{"type":"string","default":"pool-flow-run"},"namespace":{"type":"string","default":"flows"}}}}`},
		"given ones stay": {
			`{"variables":{"properties":{"service_account_name":{"default":"theirs"},"namespace":{"default":"flows"}}}}`,
			`{"variables":{"properties":{"service_account_name":{"default":"theirs"},"namespace":{"default":"flows"}}}}`},
		"no such variables": {`{"job_configuration":{},"variables":{"properties":{}}}`, `{"job_configuration":{},"variables":{"properties":{}}}`},
	} {
		require.JSONEq(t, tc.want, string(withJobDefaults(json.RawMessage(tc.in), wp)), name)
	}
	wp.Spec.Workers.FlowRunServiceAccountName = "mine"
	wp.Spec.Workers.JobNamespaces = []string{"b", "a"}
	require.JSONEq(t, `{"variables":{"properties":{"service_account_name":{"default":"mine"},"namespace":{"default":"a"}}}}`,
		string(withJobDefaults(json.RawMessage(`{"variables":{"properties":{"service_account_name":{},"namespace":{"default":"c"}}}}`), wp)))
}

// TestWorkPoolTemplateFromConfigMap: the template comes from a ConfigMap key,
// patched; a missing ConfigMap is said and waited for, and an edit of it
// reaches the pool.
func TestWorkPoolTemplateFromConfigMap(t *testing.T) {
	t.Parallel()
	b := setup(t)
	url := prefectServer(t, "")
	api := prefectapi.New(url, "")

	wp := b.createPool(t, "from-cm", func(wp *v1alpha1.PrefectWorkPool) {
		wp.Spec.Server.URL = url
		wp.Spec.Type = "process"
		wp.Spec.Workers.Replicas = new(int32(0))
		wp.Spec.BaseJobTemplateFrom = &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "templates"}, Key: "process.json"}
		wp.Spec.BaseJobTemplatePatches = []v1alpha1.JSONPatchOperation{{Op: "add", Path: "/variables/properties/command/default", Value: value(`"echo hi"`)}}
	})
	b.waitForPoolCondition(t, wp.Name, v1alpha1.ConditionSynced, metav1.ConditionFalse, ReasonConfigMapNotFound)

	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "templates", Namespace: b.ns}, Data: map[string]string{
		"process.json": `{"job_configuration":{"command":"{{ command }}"},"variables":{"type":"object","properties":{"command":{"type":"string"}}}}`,
	}}
	require.NoError(t, b.c.Create(b.ctx, cm))
	b.waitForPoolCondition(t, wp.Name, v1alpha1.ConditionSynced, metav1.ConditionTrue, ReasonSynced)
	pool, err := api.ReadWorkPool(b.ctx, "from-cm")
	require.NoError(t, err)
	require.JSONEq(t, `{"job_configuration":{"command":"{{ command }}"},"variables":{"type":"object","properties":{"command":{"type":"string","default":"echo hi"}}}}`,
		string(pool.BaseJobTemplate))

	// The ConfigMap edited: the pool follows.
	cm.Data["process.json"] = `{"job_configuration":{"command":"{{ command }}","env":"{{ env }}"},"variables":{"type":"object","properties":{"command":{"type":"string"},"env":{"type":"object"}}}}`
	require.NoError(t, b.c.Update(b.ctx, cm))
	require.Eventually(t, func() bool {
		p, err := api.ReadWorkPool(b.ctx, "from-cm")
		return err == nil && jsonEqual(p.BaseJobTemplate,
			json.RawMessage(`{"job_configuration":{"command":"{{ command }}","env":"{{ env }}"},"variables":{"type":"object","properties":{"command":{"type":"string","default":"echo hi"},"env":{"type":"object"}}}}`), `{}`)
	}, wait, tick, "the ConfigMap's edit reached the pool")

	// A patch that does not apply: said, and the pool stays as it was.
	require.NoError(t, update(b, &v1alpha1.PrefectWorkPool{}, wp.Name, func(wp *v1alpha1.PrefectWorkPool) {
		wp.Spec.BaseJobTemplatePatches = []v1alpha1.JSONPatchOperation{{Op: "remove", Path: "/variables/nope"}}
	}))
	got := b.waitForPoolCondition(t, wp.Name, v1alpha1.ConditionSynced, metav1.ConditionFalse, ReasonInvalidTemplate)
	require.Contains(t, meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionSynced).Message, "base job template: patch")
	same, err := api.ReadWorkPool(b.ctx, "from-cm")
	require.NoError(t, err)
	require.Contains(t, string(same.BaseJobTemplate), "echo hi")
}

// TestWorkPoolTemplatePatchesTheDefault: with only patches, they apply to
// the default the server lists for the type (Prefect's own, from the pinned
// wheel's collection views).
func TestWorkPoolTemplatePatchesTheDefault(t *testing.T) {
	t.Parallel()
	dir := os.Getenv("PREFECTGO_TEST_CATALOGUE")
	if dir == "" {
		t.Skip("PREFECTGO_TEST_CATALOGUE is not set; `make test-go` sets it to the directory hack/catalogue-assets.sh prints")
	}
	b := setup(t)
	srv := startServer(t, "", "PREFECT_SERVER_CATALOGUE_DIRECTORY="+dir)
	api := srv.api()
	def, err := api.DefaultBaseJobTemplate(b.ctx, "kubernetes")
	require.NoError(t, err)

	wp := b.createPool(t, "patched", func(wp *v1alpha1.PrefectWorkPool) {
		wp.Spec.Server.URL = srv.url
		wp.Spec.Workers.Replicas = new(int32(0))
		wp.Spec.BaseJobTemplatePatches = []v1alpha1.JSONPatchOperation{
			{Op: "add", Path: "/variables/properties/image/default", Value: value(`"localhost/flows:1"`)},
		}
	})
	b.waitForPoolCondition(t, wp.Name, v1alpha1.ConditionSynced, metav1.ConditionTrue, ReasonSynced)
	pool, err := api.ReadWorkPool(b.ctx, "patched")
	require.NoError(t, err)
	want, err := patchTemplate(def, wp.Spec.BaseJobTemplatePatches)
	require.NoError(t, err)
	// The flow runs run as the ServiceAccount made for them.
	want = withJobDefaults(want, wp)
	require.Contains(t, string(want), `"default":"patched-flow-run"`)
	require.Contains(t, string(want), fmt.Sprintf(`"default":%q`, b.ns), "Jobs in the pool's namespace, where its workers may make them")
	require.JSONEq(t, string(want), string(pool.BaseJobTemplate))
	sa := &corev1.ServiceAccount{}
	require.Eventually(t, func() bool {
		return b.c.Get(b.ctx, client.ObjectKey{Namespace: b.ns, Name: "patched-flow-run"}, sa) == nil
	}, wait, tick)
	require.False(t, *sa.AutomountServiceAccountToken)

	// A ServiceAccount of the user's named instead: the template's default,
	// and the operator's own goes.
	require.NoError(t, update(b, &v1alpha1.PrefectWorkPool{}, wp.Name, func(wp *v1alpha1.PrefectWorkPool) {
		wp.Spec.Workers.FlowRunServiceAccountName = "mine"
	}))
	require.Eventually(t, func() bool {
		p, err := api.ReadWorkPool(b.ctx, "patched")
		return err == nil && strings.Contains(string(p.BaseJobTemplate), `"default":"mine"`)
	}, wait, tick, "the named ServiceAccount in the template")
	require.Eventually(t, func() bool {
		return apierrors.IsNotFound(b.c.Get(b.ctx, client.ObjectKey{Namespace: b.ns, Name: "patched-flow-run"}, &corev1.ServiceAccount{}))
	}, wait, tick, "the operator's flow-run ServiceAccount deleted")
	var tmpl struct {
		JobConfiguration struct {
			JobManifest struct{ Kind string } `json:"job_manifest"`
		} `json:"job_configuration"`
	}
	require.NoError(t, json.Unmarshal(pool.BaseJobTemplate, &tmpl))
	require.Equal(t, "Job", tmpl.JobConfiguration.JobManifest.Kind, "Prefect's kubernetes default")

	// A type the server has no default for: said.
	other := b.createPool(t, "unknown-type", func(wp *v1alpha1.PrefectWorkPool) {
		wp.Spec.Server.URL = srv.url
		wp.Spec.Type = "no-such-worker"
		wp.Spec.Workers.Replicas = new(int32(0))
		wp.Spec.BaseJobTemplatePatches = []v1alpha1.JSONPatchOperation{{Op: "remove", Path: "/variables"}}
	})
	b.waitForPoolCondition(t, other.Name, v1alpha1.ConditionSynced, metav1.ConditionFalse, ReasonNoDefaultTemplate)
}
