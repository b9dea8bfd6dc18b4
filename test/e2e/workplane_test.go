//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"prefectgo.dev/prefectgo/api/v1alpha1"
)

// workerImage runs the workers and the flow-run Jobs: Debian's python with the pinned
// prefect and prefect-kubernetes, and test/e2e/testdata/flows (hack/worker-image.sh).
var workerImage = envOr("PREFECTGO_E2E_WORKER_IMAGE", "localhost/prefect-worker:e2e")

// The work plane on a server behind basic auth: a kubernetes work pool with one worker, a
// deployment with a schedule and a parameter, and the flow runs of it as Kubernetes Jobs.
const workPlaneManifest = `apiVersion: v1
kind: Secret
metadata:
  name: api-auth
stringData:
  auth: "admin:e2e-work"
  wrong: "admin:not-it"
---
apiVersion: prefectgo.dev/v1alpha1
kind: PrefectServer
metadata:
  name: prefect
spec:
  storage:
    ephemeral: {}
  api:
    authSecretRef: {name: api-auth, key: auth}
  services:
    scheduler:
      loopSeconds: "5"
---
apiVersion: prefectgo.dev/v1alpha1
kind: PrefectWorkPool
metadata:
  name: k8s
spec:
  server: {name: prefect}
  type: kubernetes
  workers:
    image: %[1]s
    imagePullPolicy: Never
  baseJobTemplatePatches:
  - {op: add, path: /variables/properties/image/default, value: %[1]s}
  - {op: add, path: /variables/properties/image_pull_policy/default, value: Never}
  - {op: add, path: /variables/properties/finished_job_ttl/default, value: 600}
---
apiVersion: prefectgo.dev/v1alpha1
kind: PrefectDeployment
metadata:
  name: hello
spec:
  server: {name: prefect}
  flowName: e2e-k8s
  entrypoint: e2e_flows.py:hello
  pullSteps:
  - prefect.deployments.steps.set_working_directory: {directory: /opt/prefect/flows}
  parameters: {name: from-the-spec}
  parameterOpenAPISchema:
    type: object
    properties:
      name: {type: string}
      sleep: {type: number}
      fail: {type: boolean}
  workPool: k8s
  schedules:
  - slug: hourly
    cron: "0 * * * *"
`

// TestWorkPlane: flow runs of a PrefectDeployment run as Kubernetes Jobs through a
// PrefectWorkPool's worker, to Completed, Failed, Crashed or Cancelled as the run goes (a
// pod deleted mid-run reschedules it, as Prefect's kubernetes worker asks); a
// schedule edited in the resource is neither duplicated nor lost; deleting the resource
// deletes the deployment; wrong credentials are reported.
func TestWorkPlane(t *testing.T) {
	ns := namespace(t, "e2e-work")
	mustKubectl(t, []byte(fmt.Sprintf(workPlaneManifest, workerImage)), "-n", ns, "apply", "-f", "-")
	waitReady(t, ns, "prefect", 1)
	api := prefectAPI{base: apiURL(t, ns, "prefect"), auth: "admin:e2e-work"}

	var dep v1alpha1.PrefectDeployment
	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.FailNow()
		}
	}
	step("PoolWorkerAndDeploymentReady", func(t *testing.T) {
		waitSynced(t, ns, "prefectworkpool", "k8s", "Ready", metav1.ConditionTrue)
		waitSynced(t, ns, "prefectdeployment", "hello", "Synced", metav1.ConditionTrue)
		if err := getJSON(&dep, "-n", ns, "prefectdeployment", "hello"); err != nil {
			t.Fatal(err)
		}
	})

	step("RunCompletesAsAJob", func(t *testing.T) {
		id := api.createRun(t, dep.Status.DeploymentID, nil)
		run := api.waitState(t, id, "COMPLETED")
		job := jobOf(t, ns, id)
		if job == nil {
			t.Fatalf("no Job of flow run %s", id)
		}
		// The flow's logs reach the server in batches, the last as its process exits.
		eventually(t, time.Minute, "the flow's log line in the server", func() error {
			if logs := api.logs(t, id); !strings.Contains(logs, "hello from a Kubernetes Job: from-the-spec (attempt 1)") {
				return fmt.Errorf("logs:\n%s", tail(logs, 2000))
			}
			return nil
		})
		t.Logf("flow run %s COMPLETED by Job %s (%v)", id, job.Name, run["total_run_time"])
	})

	step("FailingFlowFails", func(t *testing.T) {
		id := api.createRun(t, dep.Status.DeploymentID, map[string]any{"fail": true})
		api.waitState(t, id, "FAILED")
	})

	step("PodDeletedMidRunIsRescheduled", func(t *testing.T) {
		// Prefect's kubernetes worker runs Jobs without retries and has the flow's
		// process reschedule its run on SIGTERM: a pod deleted (evicted, drained) hands
		// the run back, and the worker runs it again in a new Job.
		id := api.createRun(t, dep.Status.DeploymentID, map[string]any{"sleep": 300})
		api.waitState(t, id, "RUNNING")
		mustKubectl(t, nil, "-n", ns, "delete", "pod", podOf(t, ns, id), "--wait=false")
		api.waitState(t, id, "COMPLETED")
		eventually(t, time.Minute, "the second attempt's log line", func() error {
			if logs := api.logs(t, id); !strings.Contains(logs, "from-the-spec (attempt 2)") {
				return fmt.Errorf("logs:\n%s", tail(logs, 2000))
			}
			return nil
		})
		if jobs := jobsOf(t, ns, id); len(jobs) < 2 {
			t.Fatalf("the run had %d Jobs, want a second after the first pod went", len(jobs))
		}
	})

	step("PodDeletedMidRunCrashesWithoutReschedule", func(t *testing.T) {
		// With the SIGTERM behaviour set to crash (per run, through its job variables), the
		// same deletion leaves the run Crashed.
		id := api.createRunWith(t, dep.Status.DeploymentID, map[string]any{"sleep": 300},
			map[string]any{"env": map[string]string{"PREFECT_FLOW_RUN_EXECUTE_SIGTERM_BEHAVIOR": "crash"}})
		api.waitState(t, id, "RUNNING")
		mustKubectl(t, nil, "-n", ns, "delete", "pod", podOf(t, ns, id), "--wait=false")
		api.waitState(t, id, "CRASHED")
	})

	step("CancellingStopsTheJob", func(t *testing.T) {
		// The run's process hears the cancellation and stops (Prefect 3.9's runner does
		// it from inside the pod; older workers delete the Job): either way nothing of
		// the run is left running, long before its five minutes of sleep are up.
		id := api.createRun(t, dep.Status.DeploymentID, map[string]any{"sleep": 300})
		api.waitState(t, id, "RUNNING")
		if jobOf(t, ns, id) == nil {
			t.Fatalf("no Job of flow run %s", id)
		}
		api.do(t, http.MethodPost, "/flow_runs/"+id+"/set_state",
			map[string]any{"state": map[string]any{"type": "CANCELLING", "name": "Cancelling"}, "force": true}, nil)
		api.waitState(t, id, "CANCELLED")
		eventually(t, 2*time.Minute, "the Job of the cancelled run stopped", func() error {
			if j := jobOf(t, ns, id); j != nil && j.DeletionTimestamp == nil && j.Status.Active > 0 {
				return fmt.Errorf("Job %s has %d pods running", j.Name, j.Status.Active)
			}
			return nil
		})
	})

	step("ScheduleEditedInPlace", func(t *testing.T) {
		// The hourly schedule's runs, made by the scheduler, every hour on the hour.
		api.waitSchedule(t, dep.Status.DeploymentID, 0)
		mustKubectl(t, nil, "-n", ns, "patch", "prefectdeployment", "hello", "--type=json",
			"-p", `[{"op": "replace", "path": "/spec/schedules/0/cron", "value": "30 * * * *"}]`)
		// Every run to come is at half past, one per hour from the next half past on:
		// none left at the old times, none twice, none missing.
		api.waitSchedule(t, dep.Status.DeploymentID, 30)
	})

	step("DeletingTheResourceDeletesTheDeployment", func(t *testing.T) {
		mustKubectl(t, nil, "-n", ns, "delete", "prefectdeployment", "hello", "--timeout=120s")
		eventually(t, time.Minute, "the deployment gone from the server", func() error {
			status, body := api.try(http.MethodGet, "/deployments/"+dep.Status.DeploymentID, nil)
			if status != http.StatusNotFound {
				return fmt.Errorf("GET the deployment: %d %s", status, body)
			}
			return nil
		})
	})

	step("WrongCredentialsReported", func(t *testing.T) {
		manifest := fmt.Sprintf(`apiVersion: prefectgo.dev/v1alpha1
kind: PrefectWorkPool
metadata:
  name: locked
spec:
  server:
    url: http://prefect.%s.svc:4200/api
    authSecretRef: {name: api-auth, key: wrong}
  workers: {replicas: 0}
`, ns)
		mustKubectl(t, []byte(manifest), "-n", ns, "apply", "-f", "-")
		c := waitSynced(t, ns, "prefectworkpool", "locked", "Synced", metav1.ConditionFalse)
		if c.Reason != "Unauthorized" || strings.Contains(c.Message, "not-it") {
			t.Fatalf("Synced: %+v", c)
		}
	})
}

// waitSynced waits for a work-plane resource's condition and returns it.
func waitSynced(t *testing.T, ns, kind, name, typ string, status metav1.ConditionStatus) metav1.Condition {
	t.Helper()
	var got metav1.Condition
	eventually(t, 5*time.Minute, kind+" "+name+" "+typ+"="+string(status), func() error {
		var obj struct {
			Metadata metav1.ObjectMeta `json:"metadata"`
			Status   v1alpha1.SyncStatus
		}
		if err := getJSON(&obj, "-n", ns, kind, name); err != nil {
			return err
		}
		c := meta.FindStatusCondition(obj.Status.Conditions, typ)
		if c == nil || c.Status != status || obj.Status.ObservedGeneration != obj.Metadata.Generation {
			return fmt.Errorf("%s: %+v", typ, c)
		}
		got = *c
		return nil
	})
	return got
}

// jobsOf are the Jobs of a flow run (Prefect's worker labels them with the run's id),
// oldest first.
func jobsOf(t *testing.T, ns, flowRunID string) []batchv1.Job {
	t.Helper()
	var jobs batchv1.JobList
	if err := getJSON(&jobs, "-n", ns, "jobs", "-l", "prefect.io/flow-run-id="+flowRunID, "--sort-by=.metadata.creationTimestamp"); err != nil {
		t.Fatal(err)
	}
	return jobs.Items
}

// jobOf is the newest Job of a flow run, or nil.
func jobOf(t *testing.T, ns, flowRunID string) *batchv1.Job {
	t.Helper()
	jobs := jobsOf(t, ns, flowRunID)
	if len(jobs) == 0 {
		return nil
	}
	return &jobs[len(jobs)-1]
}

// podOf is the running pod of a flow run's Job.
func podOf(t *testing.T, ns, flowRunID string) string {
	t.Helper()
	var name string
	eventually(t, 2*time.Minute, "the pod of flow run "+flowRunID, func() error {
		job := jobOf(t, ns, flowRunID)
		if job == nil {
			return fmt.Errorf("no Job")
		}
		var pods corev1.PodList
		if err := getJSON(&pods, "-n", ns, "pods", "-l", "batch.kubernetes.io/job-name="+job.Name); err != nil {
			return err
		}
		for _, p := range pods.Items {
			if p.Status.Phase == corev1.PodRunning {
				name = p.Name
				return nil
			}
		}
		return fmt.Errorf("no running pod among %d", len(pods.Items))
	})
	return name
}

// prefectAPI calls a server's REST API from the host, through its Service.
type prefectAPI struct{ base, auth string }

func (a prefectAPI) try(method, path string, body any) (int, []byte) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.base+path, rd)
	if err != nil {
		return 0, []byte(err.Error())
	}
	req.Header.Set("Content-Type", "application/json")
	user, pass, _ := strings.Cut(a.auth, ":")
	req.SetBasicAuth(user, pass)
	resp, err := (&http.Client{Timeout: 15 * time.Second}).Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// do calls the API, requires a success and decodes the answer into out.
func (a prefectAPI) do(t *testing.T, method, path string, body, out any) {
	t.Helper()
	status, raw := a.try(method, path, body)
	if status < 200 || status >= 300 {
		t.Fatalf("%s %s: %d %s", method, path, status, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, raw)
		}
	}
}

// createRun creates a flow run of the deployment with parameters over its own.
func (a prefectAPI) createRun(t *testing.T, deploymentID string, params map[string]any) string {
	t.Helper()
	return a.createRunWith(t, deploymentID, params, nil)
}

// createRunWith creates a flow run with parameters and job variables over the deployment's.
func (a prefectAPI) createRunWith(t *testing.T, deploymentID string, params, jobVariables map[string]any) string {
	t.Helper()
	body := map[string]any{}
	if params != nil {
		body["parameters"] = params
	}
	if jobVariables != nil {
		body["job_variables"] = jobVariables
	}
	var run struct{ ID string }
	a.do(t, http.MethodPost, "/deployments/"+deploymentID+"/create_flow_run", body, &run)
	return run.ID
}

// waitState waits for a flow run's state type and returns the run; a final state other
// than the one awaited ends the wait at once.
func (a prefectAPI) waitState(t *testing.T, id, want string) map[string]any {
	t.Helper()
	var run map[string]any
	final := []string{"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
	eventually(t, 6*time.Minute, "flow run "+id+" "+want, func() error {
		a.do(t, http.MethodGet, "/flow_runs/"+id, nil, &run)
		got, _ := run["state_type"].(string)
		if got != want && slices.Contains(final, got) {
			t.Fatalf("flow run %s ended %s, not %s: %v\nlogs:\n%s", id, got, want, run["state"], tail(a.logs(t, id), 3000))
		}
		if got != want {
			return fmt.Errorf("state %s", got)
		}
		return nil
	})
	return run
}

// logs are a flow run's log lines in the server.
func (a prefectAPI) logs(t *testing.T, id string) string {
	t.Helper()
	var logs []struct{ Message string }
	a.do(t, http.MethodPost, "/logs/filter", map[string]any{
		"logs": map[string]any{"flow_run_id": map[string]any{"any_": []string{id}}}, "limit": 200}, &logs)
	var b strings.Builder
	for _, l := range logs {
		b.WriteString(l.Message + "\n")
	}
	return b.String()
}

// waitSchedule waits until the deployment's runs to come are exactly one per hour at
// minute past the hour, from the first such time after now on: none at another minute,
// none twice, none skipped.
func (a prefectAPI) waitSchedule(t *testing.T, deploymentID string, minute int) {
	t.Helper()
	eventually(t, 3*time.Minute, fmt.Sprintf("scheduled runs at minute %d", minute), func() error {
		var runs []struct {
			ExpectedStartTime time.Time `json:"expected_start_time"`
		}
		a.do(t, http.MethodPost, "/flow_runs/filter", map[string]any{
			"flow_runs": map[string]any{
				"deployment_id": map[string]any{"any_": []string{deploymentID}},
				"state":         map[string]any{"type": map[string]any{"any_": []string{"SCHEDULED"}}},
			},
			"sort": "EXPECTED_START_TIME_ASC", "limit": 200,
		}, &runs)
		if len(runs) < 3 {
			return fmt.Errorf("%d scheduled runs", len(runs))
		}
		first := time.Now().UTC().Truncate(time.Hour).Add(time.Duration(minute) * time.Minute)
		if !first.After(time.Now()) {
			first = first.Add(time.Hour)
		}
		for i, r := range runs {
			if want := first.Add(time.Duration(i) * time.Hour); !r.ExpectedStartTime.Equal(want) {
				return fmt.Errorf("run %d of %d at %s, want %s", i, len(runs), r.ExpectedStartTime.UTC(), want)
			}
		}
		return nil
	})
}
