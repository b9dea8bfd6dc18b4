package controllers

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"prefectgo.dev/prefectgo/api/v1alpha1"
	"prefectgo.dev/prefectgo/controllers/builders"
	"prefectgo.dev/prefectgo/server/settings"
)

// TestSamples applies each config/samples manifest and checks the children
// its server's storage kind calls for. A PostgreSQL server gets its Deployment only
// once the migration Job has succeeded (marked so here: envtest runs no Job
// controller).
func TestSamples(t *testing.T) {
	t.Parallel()

	files, err := filepath.Glob(filepath.Join("..", "config", "samples", "prefectgo_*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no samples in config/samples")

	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			t.Parallel()
			b := setup(t)

			var name string
			for _, u := range readManifests(t, file) {
				u.SetNamespace(b.ns)
				require.NoError(t, b.c.Create(b.ctx, u), "create %s %s", u.GetKind(), u.GetName())
				if u.GetKind() == "PrefectServer" {
					name = u.GetName()
				}
			}
			if name == "" {
				// The queue and deployment samples use the work-pool sample's
				// server (kubectl apply -k applies them together): the CRDs
				// accepting them is what is checked here.
				return
			}
			ps := b.server(t, name)
			kind := builders.StorageKind(ps)

			b.waitFor(t, builders.ServiceName(ps), &corev1.Service{})
			if kind == builders.StoragePostgres {
				job := b.waitForMigrationJob(t, ps)
				b.requireAbsent(t, builders.DeploymentName(ps), &appsv1.Deployment{})
				b.completeJob(t, job)
			}
			dep := b.waitFor(t, builders.DeploymentName(ps), &appsv1.Deployment{}).(*appsv1.Deployment)
			require.Equal(t, testImage, dep.Spec.Template.Spec.Containers[0].Image)
			require.NotEmpty(t, dep.Spec.Template.Annotations[builders.ConfigHashAnnotation])
			require.True(t, metav1.IsControlledBy(dep, ps))

			pvc := &corev1.PersistentVolumeClaim{}
			if kind == builders.StorageSQLite {
				b.waitFor(t, builders.PVCName(ps), pvc)
			} else {
				b.requireAbsent(t, builders.PVCName(ps), pvc)
			}
			cronJobs := []string{builders.RetentionCronJobName(ps), builders.SchedulerCronJobName(ps)}
			for _, n := range cronJobs {
				if kind == builders.StorageEphemeral {
					b.requireAbsent(t, n, &batchv1.CronJob{})
				} else {
					b.waitFor(t, n, &batchv1.CronJob{})
				}
			}

			background := ReasonCronJobs
			if kind == builders.StorageEphemeral {
				background = ReasonInProcess
			}
			if ps.Spec.Ingress != nil {
				ing := b.waitFor(t, builders.IngressName(ps), &networkingv1.Ingress{}).(*networkingv1.Ingress)
				require.True(t, metav1.IsControlledBy(ing, ps))
				require.Equal(t, ps.Spec.Ingress.Host, ing.Spec.Rules[0].Host)
				b.waitForCondition(t, name, v1alpha1.ConditionExposed, metav1.ConditionTrue, ReasonRoutesApplied)
			} else {
				b.requireAbsent(t, builders.IngressName(ps), &networkingv1.Ingress{})
			}

			ps = b.waitForCondition(t, name, v1alpha1.ConditionBackgroundJobs, metav1.ConditionTrue, background)
			require.Equal(t, kind, ps.Status.Storage)
			require.Equal(t, builders.APIURL(ps), ps.Status.URL)
			require.Equal(t, builders.UIURL(ps), ps.Status.UIURL)
			require.Equal(t, "v0.1.0-test", ps.Status.Version)
		})
	}
}

// TestValidation shows the CRD's rules reject bad specs with their messages.
func TestValidation(t *testing.T) {
	t.Parallel()
	b := setup(t)

	for _, tc := range []struct {
		name    string
		spec    string
		message string
	}{
		{"TwoReplicasOnSQLite", `{"replicas": 2}`,
			"more than one replica needs PostgreSQL storage"},
		{"TwoStorageKinds", `{"storage": {"sqlite": {}, "ephemeral": {}}}`,
			"set exactly one of storage.ephemeral, storage.sqlite or storage.postgres"},
		{"NegativePoolSize", `{"database": {"poolSize": -1}}`,
			"spec.database.poolSize: Invalid value: -1: spec.database.poolSize in body should be greater than or equal to 1"},
		{"MalformedDuration", `{"events": {"retentionPeriod": "7 days"}}`,
			"must be an ISO 8601 duration such as PT15S or P7D, or a number of seconds"},
		{"ProbePortIsTheAPIPort", `{"api": {"port": 8080, "probePort": 8080}}`, "probePort must differ from port"},
		{"APIPortIsTheDefaultProbePort", `{"api": {"port": 4201}}`, "probePort must differ from port"},
		{"PostgresWithoutHost", `{"storage": {"postgres": {"user": "prefect"}}}`,
			"set connectionURLSecretRef, or host and user (with passwordSecretRef)"},
		{"IngressWithoutHost", `{"ingress": {"className": "nginx"}}`, "spec.ingress.host: Required value"},
		{"IngressHostWithUppercase", `{"ingress": {"host": "Prefect.example.com"}}`, "host must be a DNS name such as prefect.example.com"},
		{"IngressHostWildcard", `{"ingress": {"host": "*.example.com"}}`, "host must be a DNS name such as prefect.example.com"},
		{"IngressHostWithPort", `{"ingress": {"host": "prefect.example.com:443"}}`, "host must be a DNS name such as prefect.example.com"},
		{"IngressHostURL", `{"ingress": {"host": "https://prefect.example.com/"}}`, "host must be a DNS name such as prefect.example.com"},
		{"IngressHostLongLabel", `{"ingress": {"host": "` + strings.Repeat("a", 64) + `.example.com"}}`,
			"host must be a DNS name such as prefect.example.com"},
		{"IngressEmptyClassName", `{"ingress": {"host": "p.example", "className": ""}}`,
			"spec.ingress.className: Invalid value"},
		{"HTTPRouteWithoutParents", `{"httpRoute": {"hostnames": ["p.example"]}}`, "spec.httpRoute.parentRefs: Required value"},
		{"HTTPRouteNoParents", `{"httpRoute": {"parentRefs": []}}`, "spec.httpRoute.parentRefs: Invalid value"},
		{"HTTPRouteHostnameWithUppercase", `{"httpRoute": {"parentRefs": [{"name": "gw"}], "hostnames": ["P.example"]}}`,
			"spec.httpRoute.hostnames[0]: Invalid value"},
		{"BackupOnPostgres", `{"storage": {"postgres": {"host": "pg", "user": "prefect"}}, "backup": {}}`,
			"spec.backup backs up SQLite storage only: back PostgreSQL up with its own tools, CloudNativePG's backups or pg_dump"},
		{"BackupOnEphemeral", `{"storage": {"ephemeral": {}}, "backup": {}}`, "spec.backup needs SQLite storage"},
		{"RestoreFromWithoutBackup", `{"storage": {"sqlite": {"restoreFrom": "p/prefect-20250301T120000Z.db"}}}`,
			"storage.sqlite.restoreFrom names a file on the backup claim: set spec.backup"},
		{"RestoreFromOutsideTheClaim", `{"storage": {"sqlite": {"restoreFrom": "../data/prefect.db"}}, "backup": {}}`,
			"spec.storage.sqlite.restoreFrom: Invalid value"},
		{"RestoreFromAbsolute", `{"storage": {"sqlite": {"restoreFrom": "/data/prefect.db"}}, "backup": {}}`,
			"spec.storage.sqlite.restoreFrom: Invalid value"},
		{"BackupKeepZero", `{"backup": {"keep": 0}}`, "spec.backup.keep: Invalid value"},
		{"CanaryIntervalNotADuration", `{"canary": {"interval": "5 minutes"}}`, "spec.canary.interval"},
		{"CanaryIntervalTooShort", `{"canary": {"interval": "100ms"}}`, "canary.interval must be a duration of at least 1s"},
		{"CanaryTimeoutTooShort", `{"canary": {"timeout": "0s"}}`, "canary.timeout must be a duration of at least 1s"},
		{"HTTPRouteHostnameIP", `{"httpRoute": {"parentRefs": [{"name": "gw"}], "hostnames": ["10.0.0.1:80"]}}`,
			"spec.httpRoute.hostnames[0]: Invalid value"},
		{"MonitoringWithoutEnabled", `{"monitoring": {"podMonitor": true}}`, "spec.monitoring.enabled: Required value"},
		{"MonitoringBehindAuthWithoutCredentials",
			`{"api": {"authSecretRef": {"name": "s", "key": "auth"}}, "monitoring": {"enabled": true}}`,
			"set monitoring.basicAuth so Prometheus can scrape it"},
		{"MonitoringIntervalInWords", `{"monitoring": {"enabled": true, "interval": "30 seconds"}}`,
			"spec.monitoring.interval: Invalid value"},
		{"MonitoringISODuration", `{"monitoring": {"enabled": true, "alerts": {"lateRunsAfter": "PT10M"}}}`,
			"spec.monitoring.alerts.lateRunsAfter: Invalid value"},
		{"RunbookBaseURLWithoutSlash", `{"monitoring": {"enabled": true, "alerts": {"runbookBaseURL": "https://wiki.example/runbooks"}}}`,
			"runbookBaseURL must be an http(s) URL ending in /"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u := &unstructured.Unstructured{}
			u.SetAPIVersion(v1alpha1.GroupVersion.String())
			u.SetKind("PrefectServer")
			u.SetNamespace(b.ns)
			u.SetGenerateName("invalid-")
			var spec map[string]any
			require.NoError(t, utilyaml.Unmarshal([]byte(tc.spec), &spec))
			u.Object["spec"] = spec
			err := b.c.Create(b.ctx, u)
			require.True(t, apierrors.IsInvalid(err), "want Invalid, got %v", err)
			require.ErrorContains(t, err, tc.message)
		})
	}
}

// TestSettingChangeRollsPods edits settings and watches them reach the pod
// template's environment and its configuration-hash annotation.
func TestSettingChangeRollsPods(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ps := b.create(t, "prefect", nil)

	retention := settingEnv(t, "events.retention_period")
	poolSize := settingEnv(t, "database.pool_size")

	dep := b.waitForDeployment(t, ps, func(d *appsv1.Deployment) bool { return envValue(d, retention) == "P7D" })
	hash := dep.Spec.Template.Annotations[builders.ConfigHashAnnotation]
	require.NotEmpty(t, hash)

	b.update(t, ps.Name, func(ps *v1alpha1.PrefectServer) { ps.Spec.Events.RetentionPeriod = "P1D" })
	dep = b.waitForDeployment(t, ps, func(d *appsv1.Deployment) bool { return envValue(d, retention) == "P1D" })
	require.NotEqual(t, hash, dep.Spec.Template.Annotations[builders.ConfigHashAnnotation])
	hash = dep.Spec.Template.Annotations[builders.ConfigHashAnnotation]

	// The CronJobs run with the same settings.
	cj := b.waitFor(t, builders.RetentionCronJobName(ps), &batchv1.CronJob{}).(*batchv1.CronJob)
	require.Eventually(t, func() bool {
		require.NoError(t, b.c.Get(b.ctx, client.ObjectKeyFromObject(cj), cj))
		return envOf(cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Env, retention) == "P1D"
	}, wait, tick)

	b.update(t, ps.Name, func(ps *v1alpha1.PrefectServer) { ps.Spec.Database.PoolSize = new(int32(17)) })
	dep = b.waitForDeployment(t, ps, func(d *appsv1.Deployment) bool { return envValue(d, poolSize) == "17" })
	require.NotEqual(t, hash, dep.Spec.Template.Annotations[builders.ConfigHashAnnotation])
}

// TestSecrets: a missing Secret degrades the server and creates nothing
// until it appears; a change in its data changes the configuration hash.
func TestSecrets(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ps := b.create(t, "prefect", func(ps *v1alpha1.PrefectServer) {
		ps.Spec.API.AuthSecretRef = &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "auth"}, Key: "auth",
		}
	})

	got := b.waitForCondition(t, ps.Name, v1alpha1.ConditionDegraded, metav1.ConditionTrue, ReasonSecretNotFound)
	require.Contains(t, meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionDegraded).Message, "auth")
	b.requireAbsent(t, builders.DeploymentName(ps), &appsv1.Deployment{})
	b.requireAbsent(t, builders.ServiceName(ps), &corev1.Service{})
	b.waitForEvent(t, ps, ReasonSecretNotFound)

	// The Secret appears, without the key: still nothing to run.
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "auth", Namespace: b.ns},
		Data:       map[string][]byte{"other": []byte("x")},
	}
	require.NoError(t, b.c.Create(b.ctx, secret))
	b.waitForCondition(t, ps.Name, v1alpha1.ConditionDegraded, metav1.ConditionTrue, ReasonSecretKeyNotFound)
	b.requireAbsent(t, builders.DeploymentName(ps), &appsv1.Deployment{})

	secret.Data = map[string][]byte{"auth": []byte("admin:one")}
	require.NoError(t, b.c.Update(b.ctx, secret))
	b.waitForCondition(t, ps.Name, v1alpha1.ConditionDegraded, metav1.ConditionFalse, ReasonAsExpected)
	dep := b.waitForDeployment(t, ps, nil)
	hash := dep.Spec.Template.Annotations[builders.ConfigHashAnnotation]
	// The value is referenced, never copied into the Deployment.
	ref := envSource(dep, settingEnv(t, "api.auth_string"))
	require.NotNil(t, ref)
	require.Equal(t, "auth", ref.SecretKeyRef.Name)

	secret.Data["auth"] = []byte("admin:two")
	require.NoError(t, b.c.Update(b.ctx, secret))
	b.waitForDeployment(t, ps, func(d *appsv1.Deployment) bool {
		return d.Spec.Template.Annotations[builders.ConfigHashAnnotation] != hash
	})
}

// TestDeletedChildComesBack deletes children and sees them re-created, and
// edits one and sees the edit undone.
func TestDeletedChildComesBack(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ps := b.create(t, "prefect", nil)

	for _, obj := range []client.Object{
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: builders.ServiceName(ps)}},
		&batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: builders.SchedulerCronJobName(ps)}},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: builders.DeploymentName(ps)}},
	} {
		old := b.waitFor(t, obj.GetName(), obj)
		uid := old.GetUID()
		require.NoError(t, b.c.Delete(b.ctx, obj))
		require.Eventually(t, func() bool {
			err := b.c.Get(b.ctx, client.ObjectKey{Namespace: b.ns, Name: obj.GetName()}, obj)
			return err == nil && obj.GetUID() != uid
		}, wait, tick, "%T %s not re-created", obj, obj.GetName())
	}

	// A hand edit of a field the operator owns is undone, too.
	cj := b.waitFor(t, builders.RetentionCronJobName(ps), &batchv1.CronJob{}).(*batchv1.CronJob)
	want := cj.Spec.Schedule
	cj.Spec.Schedule = "0 0 1 1 *"
	require.NoError(t, b.c.Update(b.ctx, cj))
	require.Eventually(t, func() bool {
		require.NoError(t, b.c.Get(b.ctx, client.ObjectKeyFromObject(cj), cj))
		return cj.Spec.Schedule == want
	}, wait, tick, "the CronJob's schedule was not restored")
}

// TestVolumeRetention: with retainOnDelete (the default) the SQLite PVC has
// no owner reference, so deleting the PrefectServer keeps it; without it the
// PVC is owned and goes with the PrefectServer. (envtest runs no garbage
// collector, so the owner references are what the test can check.)
func TestVolumeRetention(t *testing.T) {
	t.Parallel()
	b := setup(t)

	retained := b.create(t, "retained", nil)
	pvc := b.waitFor(t, builders.PVCName(retained), &corev1.PersistentVolumeClaim{}).(*corev1.PersistentVolumeClaim)
	require.Empty(t, pvc.OwnerReferences)

	owned := b.create(t, "owned", func(ps *v1alpha1.PrefectServer) {
		ps.Spec.Storage.SQLite = &v1alpha1.SQLiteStorage{RetainOnDelete: new(false)}
	})
	pvc = b.waitFor(t, builders.PVCName(owned), &corev1.PersistentVolumeClaim{}).(*corev1.PersistentVolumeClaim)
	require.True(t, metav1.IsControlledBy(pvc, owned), "owner references: %v", pvc.OwnerReferences)

	// Turning retention on drops the owner reference again.
	b.update(t, owned.Name, func(ps *v1alpha1.PrefectServer) { ps.Spec.Storage.SQLite.RetainOnDelete = new(true) })
	require.Eventually(t, func() bool {
		require.NoError(t, b.c.Get(b.ctx, client.ObjectKeyFromObject(pvc), pvc))
		return len(pvc.OwnerReferences) == 0
	}, wait, tick)

	// A retained volume deleted under a running server comes back, though
	// no owner reference leads to it. (envtest has no controller to release
	// the pvc-protection finalizer: the test does.)
	pvc = b.waitFor(t, builders.PVCName(retained), &corev1.PersistentVolumeClaim{}).(*corev1.PersistentVolumeClaim)
	uid := pvc.UID
	require.NoError(t, b.c.Delete(b.ctx, pvc))
	require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := b.c.Get(b.ctx, client.ObjectKeyFromObject(pvc), pvc); err != nil {
			return client.IgnoreNotFound(err)
		}
		pvc.Finalizers = nil
		return b.c.Update(b.ctx, pvc)
	}))
	require.Eventually(t, func() bool {
		err := b.c.Get(b.ctx, client.ObjectKeyFromObject(pvc), pvc)
		return err == nil && pvc.UID != uid
	}, wait, tick, "the retained volume was not re-created")

	require.NoError(t, b.c.Delete(b.ctx, retained))
	require.Eventually(t, func() bool {
		return apierrors.IsNotFound(b.c.Get(b.ctx, client.ObjectKeyFromObject(retained), &v1alpha1.PrefectServer{}))
	}, wait, tick)
	require.NoError(t, b.c.Get(b.ctx, client.ObjectKey{Namespace: b.ns, Name: builders.PVCName(retained)}, pvc))
	require.Empty(t, pvc.OwnerReferences)
}

// TestMigrationGate: with PostgreSQL, a migration Job runs before every
// rollout. A failed Job blocks the rollout and degrades the server with the
// Job's reason; a succeeded one lets the Deployment through and retires the
// Jobs of earlier configurations.
func TestMigrationGate(t *testing.T) {
	t.Parallel()
	b := setup(t)
	require.NoError(t, b.c.Create(b.ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "pg", Namespace: b.ns},
		Data:       map[string][]byte{"password": []byte("secret")},
	}))
	ps := b.create(t, "prefect", func(ps *v1alpha1.PrefectServer) {
		ps.Spec.Replicas = new(int32(2))
		ps.Spec.Storage = v1alpha1.Storage{Postgres: &v1alpha1.PostgresStorage{
			Host: "postgres", User: "prefect",
			PasswordSecretRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "pg"}, Key: "password"},
		}}
	})

	// The first Job runs: no Deployment yet.
	job := b.waitForMigrationJob(t, ps)
	got := b.waitForCondition(t, ps.Name, v1alpha1.ConditionDatabaseMigrated, metav1.ConditionFalse, ReasonMigrationRunning)
	requireCondition(t, got, v1alpha1.ConditionProgressing, metav1.ConditionTrue, ReasonMigrationRunning)
	b.requireAbsent(t, builders.DeploymentName(ps), &appsv1.Deployment{})

	// It fails: Degraded with the Job's reason, and still no Deployment.
	b.failJob(t, job, "BackoffLimitExceeded", "Job has reached the specified backoff limit")
	got = b.waitForCondition(t, ps.Name, v1alpha1.ConditionDegraded, metav1.ConditionTrue, "BackoffLimitExceeded")
	require.Contains(t, meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionDegraded).Message, "backoff limit")
	requireCondition(t, got, v1alpha1.ConditionDatabaseMigrated, metav1.ConditionFalse, ReasonMigrationFailed)
	requireCondition(t, got, v1alpha1.ConditionProgressing, metav1.ConditionFalse, ReasonMigrationFailed)
	b.requireAbsent(t, builders.DeploymentName(ps), &appsv1.Deployment{})
	b.requireAbsent(t, builders.RetentionCronJobName(ps), &batchv1.CronJob{})
	b.waitForEvent(t, ps, ReasonMigrationFailed)

	// Deleting the failed Job retries it; this time it succeeds.
	require.NoError(t, b.c.Delete(b.ctx, job, client.PropagationPolicy(metav1.DeletePropagationBackground)))
	retry := b.waitForMigrationJob(t, ps, func(j *batchv1.Job) bool { return j.UID != job.UID })
	b.completeJob(t, retry)
	dep := b.waitForDeployment(t, ps, nil)
	hash := dep.Spec.Template.Annotations[builders.ConfigHashAnnotation]
	got = b.waitForCondition(t, ps.Name, v1alpha1.ConditionDatabaseMigrated, metav1.ConditionTrue, ReasonMigrationSucceeded)
	requireCondition(t, got, v1alpha1.ConditionDegraded, metav1.ConditionFalse, ReasonAsExpected)
	b.waitFor(t, builders.RetentionCronJobName(ps), &batchv1.CronJob{})
	b.waitForEvent(t, ps, ReasonMigrationSucceeded)

	// A new setting means a new Job; while it fails, the Deployment keeps
	// its template.
	b.update(t, ps.Name, func(ps *v1alpha1.PrefectServer) { ps.Spec.Database.PoolSize = new(int32(20)) })
	next := b.waitForMigrationJob(t, ps, func(j *batchv1.Job) bool { return j.Name != retry.Name })
	b.failJob(t, next, "DeadlineExceeded", "Job was active longer than specified deadline")
	b.waitForCondition(t, ps.Name, v1alpha1.ConditionDegraded, metav1.ConditionTrue, "DeadlineExceeded")
	dep = b.waitForDeployment(t, ps, nil)
	require.Equal(t, hash, dep.Spec.Template.Annotations[builders.ConfigHashAnnotation], "the Deployment rolled despite a failed migration")
	require.NotEqual(t, "20", envValue(dep, settingEnv(t, "database.pool_size")))

	// Retried and succeeded: the Deployment rolls, the old Job goes.
	require.NoError(t, b.c.Delete(b.ctx, next, client.PropagationPolicy(metav1.DeletePropagationBackground)))
	next = b.waitForMigrationJob(t, ps, func(j *batchv1.Job) bool { return j.Name != retry.Name && j.UID != next.UID })
	b.completeJob(t, next)
	b.waitForDeployment(t, ps, func(d *appsv1.Deployment) bool {
		return d.Spec.Template.Annotations[builders.ConfigHashAnnotation] != hash
	})
	require.Eventually(t, func() bool {
		return apierrors.IsNotFound(b.c.Get(b.ctx, client.ObjectKeyFromObject(retry), &batchv1.Job{}))
	}, wait, tick, "the Job of the earlier configuration was not deleted")
	b.waitForCondition(t, ps.Name, v1alpha1.ConditionDegraded, metav1.ConditionFalse, ReasonAsExpected)
}

// TestStatus follows the status through a spec change and a rollout the
// test plays the Deployment controller for.
func TestStatus(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ps := b.create(t, "prefect", func(ps *v1alpha1.PrefectServer) { ps.Spec.Image = "example.org/prefect:3.9.1" })

	got := b.waitForCondition(t, ps.Name, v1alpha1.ConditionReady, metav1.ConditionFalse, ReasonNoReplicasReady)
	require.Equal(t, got.Generation, got.Status.ObservedGeneration)
	require.Equal(t, "sqlite", got.Status.Storage)
	require.Equal(t, "http://prefect."+b.ns+".svc:4200/api", got.Status.URL)
	require.Equal(t, "http://prefect."+b.ns+".svc:4200/", got.Status.UIURL)
	require.Equal(t, "3.9.1", got.Status.Version)
	require.Zero(t, got.Status.ReadyReplicas)
	requireCondition(t, got, v1alpha1.ConditionProgressing, metav1.ConditionTrue, ReasonRollingOut)
	requireCondition(t, got, v1alpha1.ConditionDegraded, metav1.ConditionFalse, ReasonAsExpected)
	requireCondition(t, got, v1alpha1.ConditionDatabaseMigrated, metav1.ConditionTrue, ReasonMigratesOnStart)
	requireCondition(t, got, v1alpha1.ConditionBackgroundJobs, metav1.ConditionTrue, ReasonCronJobs)
	for _, c := range got.Status.Conditions {
		require.Equal(t, got.Generation, c.ObservedGeneration, c.Type)
	}

	// The pods come up.
	dep := b.waitForDeployment(t, ps, nil)
	dep.Status = appsv1.DeploymentStatus{
		ObservedGeneration: dep.Generation, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1,
	}
	require.NoError(t, b.c.Status().Update(b.ctx, dep))
	got = b.waitForCondition(t, ps.Name, v1alpha1.ConditionReady, metav1.ConditionTrue, ReasonReplicasReady)
	require.EqualValues(t, 1, got.Status.ReadyReplicas)
	requireCondition(t, got, v1alpha1.ConditionProgressing, metav1.ConditionFalse, ReasonRolloutComplete)

	// A new generation is observed, and a new image reported.
	b.update(t, ps.Name, func(ps *v1alpha1.PrefectServer) { ps.Spec.Image = "example.org/prefect:3.9.2" })
	require.Eventually(t, func() bool {
		got = b.server(t, ps.Name)
		return got.Status.ObservedGeneration == got.Generation && got.Status.Version == "3.9.2"
	}, wait, tick)
	for _, c := range got.Status.Conditions {
		require.Equal(t, got.Generation, c.ObservedGeneration, c.Type)
	}
	// The Deployment's generation moved past what its (absent) controller observed.
	requireCondition(t, got, v1alpha1.ConditionProgressing, metav1.ConditionTrue, ReasonRollingOut)
}

// TestEphemeral: no volume and no CronJobs; switching to it from SQLite
// deletes the CronJobs, and the in-process services take over.
func TestEphemeral(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ps := b.create(t, "prefect", nil)
	b.waitFor(t, builders.RetentionCronJobName(ps), &batchv1.CronJob{})

	b.update(t, ps.Name, func(ps *v1alpha1.PrefectServer) {
		ps.Spec.Storage = v1alpha1.Storage{Ephemeral: &v1alpha1.EphemeralStorage{}}
	})
	got := b.waitForCondition(t, ps.Name, v1alpha1.ConditionBackgroundJobs, metav1.ConditionTrue, ReasonInProcess)
	require.Equal(t, "ephemeral", got.Status.Storage)
	b.waitForAbsent(t, builders.RetentionCronJobName(ps), &batchv1.CronJob{})
	b.waitForAbsent(t, builders.SchedulerCronJobName(ps), &batchv1.CronJob{})
	dep := b.waitForDeployment(t, ps, func(d *appsv1.Deployment) bool {
		return !slices.ContainsFunc(d.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool { return v.PersistentVolumeClaim != nil })
	})
	require.Equal(t, "true", envValue(dep, settingEnv(t, "services.retention.enabled")))
}

// TestSteadyStateDoesNotLoop: once a server has settled, nothing changing
// means no reconcile at all.
func TestSteadyStateDoesNotLoop(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ps := b.create(t, "prefect", nil)
	b.waitForCondition(t, ps.Name, v1alpha1.ConditionBackgroundJobs, metav1.ConditionTrue, ReasonCronJobs)

	// Settled: a full second without a pass.
	require.Eventually(t, func() bool {
		before := b.env.calls.count(b.ns)
		time.Sleep(time.Second)
		return b.env.calls.count(b.ns) == before
	}, wait, tick)
	before := b.env.calls.count(b.ns)
	time.Sleep(3 * time.Second)
	require.Equal(t, before, b.env.calls.count(b.ns), "the reconciler kept running with nothing changing")

	// Events are transitions, not a log of passes: none from the operator for
	// this healthy server. The API server's own controllers may report on its
	// objects (ipallocator-repair on a new Service's ClusterIP, under load).
	var events eventsv1.EventList
	require.NoError(t, b.c.List(b.ctx, &events, client.InNamespace(b.ns)))
	ours := slices.DeleteFunc(events.Items, func(e eventsv1.Event) bool { return e.ReportingController != FieldOwner })
	require.Empty(t, ours)
}

// --- helpers ---

// create creates a PrefectServer (with no storage set: SQLite, the CRD's
// default) and returns it as stored.
func (b *testBundle) create(t *testing.T, name string, mutate func(*v1alpha1.PrefectServer)) *v1alpha1.PrefectServer {
	t.Helper()
	ps := &v1alpha1.PrefectServer{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: b.ns}}
	if mutate != nil {
		mutate(ps)
	}
	require.NoError(t, b.c.Create(b.ctx, ps))
	return ps
}

// server reads a PrefectServer.
func (b *testBundle) server(t *testing.T, name string) *v1alpha1.PrefectServer {
	t.Helper()
	ps := &v1alpha1.PrefectServer{}
	require.NoError(t, b.c.Get(b.ctx, client.ObjectKey{Namespace: b.ns, Name: name}, ps))
	return ps
}

// update changes a PrefectServer's spec, retrying on conflicts.
func (b *testBundle) update(t *testing.T, name string, mutate func(*v1alpha1.PrefectServer)) {
	t.Helper()
	require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		ps := &v1alpha1.PrefectServer{}
		if err := b.c.Get(b.ctx, client.ObjectKey{Namespace: b.ns, Name: name}, ps); err != nil {
			return err
		}
		mutate(ps)
		return b.c.Update(b.ctx, ps)
	}))
}

// waitFor polls until the named object exists and returns it in obj.
func (b *testBundle) waitFor(t *testing.T, name string, obj client.Object) client.Object {
	t.Helper()
	require.Eventually(t, func() bool {
		return b.c.Get(b.ctx, client.ObjectKey{Namespace: b.ns, Name: name}, obj) == nil
	}, wait, tick, "%T %s never appeared", obj, name)
	return obj
}

// waitForAbsent polls until the named object is gone.
func (b *testBundle) waitForAbsent(t *testing.T, name string, obj client.Object) {
	t.Helper()
	require.Eventually(t, func() bool {
		return apierrors.IsNotFound(b.c.Get(b.ctx, client.ObjectKey{Namespace: b.ns, Name: name}, obj))
	}, wait, tick, "%T %s is still there", obj, name)
}

// requireAbsent checks, now, that the named object does not exist.
func (b *testBundle) requireAbsent(t *testing.T, name string, obj client.Object) {
	t.Helper()
	err := b.c.Get(b.ctx, client.ObjectKey{Namespace: b.ns, Name: name}, obj)
	require.True(t, apierrors.IsNotFound(err), "%T %s exists (err %v)", obj, name, err)
}

// waitForDeployment polls until the server Deployment exists and satisfies ok.
func (b *testBundle) waitForDeployment(t *testing.T, ps *v1alpha1.PrefectServer, ok func(*appsv1.Deployment) bool) *appsv1.Deployment {
	t.Helper()
	dep := &appsv1.Deployment{}
	require.Eventually(t, func() bool {
		err := b.c.Get(b.ctx, client.ObjectKey{Namespace: b.ns, Name: builders.DeploymentName(ps)}, dep)
		return err == nil && (ok == nil || ok(dep))
	}, wait, tick, "the Deployment never got there")
	return dep
}

// waitForMigrationJob polls until a migration Job of ps exists that satisfies
// every ok, and returns it.
func (b *testBundle) waitForMigrationJob(t *testing.T, ps *v1alpha1.PrefectServer, ok ...func(*batchv1.Job) bool) *batchv1.Job {
	t.Helper()
	var found *batchv1.Job
	require.Eventually(t, func() bool {
		var jobs batchv1.JobList
		require.NoError(t, b.c.List(b.ctx, &jobs, client.InNamespace(b.ns),
			client.MatchingLabels{"app.kubernetes.io/instance": ps.Name, "app.kubernetes.io/component": builders.ComponentMigration}))
	next:
		for i := range jobs.Items {
			for _, f := range ok {
				if !f(&jobs.Items[i]) {
					continue next
				}
			}
			found = &jobs.Items[i]
			return true
		}
		return false
	}, wait, tick, "no migration Job")
	return found
}

// waitForCondition polls until the condition has the status and reason, and
// returns the PrefectServer then.
func (b *testBundle) waitForCondition(t *testing.T, name, typ string, status metav1.ConditionStatus, reason string) *v1alpha1.PrefectServer {
	t.Helper()
	var ps *v1alpha1.PrefectServer
	var last *metav1.Condition
	require.Eventually(t, func() bool {
		ps = b.server(t, name)
		last = meta.FindStatusCondition(ps.Status.Conditions, typ)
		return last != nil && last.Status == status && last.Reason == reason
	}, wait, tick, "condition %s never became %s/%s", typ, status, reason)
	return ps
}

// waitForEvent polls until an Event with the reason regards ps.
func (b *testBundle) waitForEvent(t *testing.T, ps *v1alpha1.PrefectServer, reason string) {
	t.Helper()
	require.Eventually(t, func() bool {
		var events eventsv1.EventList
		require.NoError(t, b.c.List(b.ctx, &events, client.InNamespace(b.ns)))
		return slices.ContainsFunc(events.Items, func(e eventsv1.Event) bool {
			return e.Reason == reason && e.Regarding.Kind == "PrefectServer" && e.Regarding.Name == ps.Name
		})
	}, wait, tick, "no %s Event", reason)
}

// completeJob and failJob play the Job controller, which envtest lacks,
// with the status transitions the API server accepts.
func (b *testBundle) completeJob(t *testing.T, job *batchv1.Job) {
	t.Helper()
	now := metav1.Now()
	b.setJobStatus(t, job, batchv1.JobStatus{
		StartTime: &now, CompletionTime: &now, Succeeded: 1,
		Conditions: []batchv1.JobCondition{
			{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, Reason: "CompletionsReached", LastTransitionTime: now},
			{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, Reason: "CompletionsReached", LastTransitionTime: now},
		},
	})
}

func (b *testBundle) failJob(t *testing.T, job *batchv1.Job, reason, message string) {
	t.Helper()
	now := metav1.Now()
	b.setJobStatus(t, job, batchv1.JobStatus{
		StartTime: &now, Failed: 3,
		Conditions: []batchv1.JobCondition{
			{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: reason, Message: message, LastTransitionTime: now},
			{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: reason, Message: message, LastTransitionTime: now},
		},
	})
}

func (b *testBundle) setJobStatus(t *testing.T, job *batchv1.Job, status batchv1.JobStatus) {
	t.Helper()
	require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := b.c.Get(b.ctx, client.ObjectKeyFromObject(job), job); err != nil {
			return err
		}
		job.Status = status
		return b.c.Status().Update(b.ctx, job)
	}))
}

func requireCondition(t *testing.T, ps *v1alpha1.PrefectServer, typ string, status metav1.ConditionStatus, reason string) {
	t.Helper()
	c := meta.FindStatusCondition(ps.Status.Conditions, typ)
	require.NotNil(t, c, "no %s condition", typ)
	require.Equal(t, status, c.Status, "%s: %s", typ, c.Message)
	require.Equal(t, reason, c.Reason, "%s: %s", typ, c.Message)
}

// settingEnv is the environment variable of a settings-table row.
func settingEnv(t *testing.T, name string) string {
	t.Helper()
	i := slices.IndexFunc(settings.Table(), func(s settings.Setting) bool { return s.Name == name })
	require.GreaterOrEqual(t, i, 0, "no setting %s", name)
	return settings.Table()[i].Env
}

// envValue is the value of the server container's variable name.
func envValue(dep *appsv1.Deployment, name string) string {
	return envOf(dep.Spec.Template.Spec.Containers[0].Env, name)
}

func envOf(env []corev1.EnvVar, name string) string {
	for _, e := range env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

func envSource(dep *appsv1.Deployment, name string) *corev1.EnvVarSource {
	for _, e := range dep.Spec.Template.Spec.Containers[0].Env {
		if e.Name == name {
			return e.ValueFrom
		}
	}
	return nil
}

// readManifests decodes every document of a YAML file.
func readManifests(t *testing.T, file string) []*unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		err := dec.Decode(&u.Object)
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err, file)
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
}

// TestPostgresTLS: the certificates' Secrets hold back the migration until every key is there,
// are mounted where the TLS settings say in the migration Job and the server's pods, and a new
// certificate rolls the pods.
func TestPostgresTLS(t *testing.T) {
	t.Parallel()
	b := setup(t)
	require.NoError(t, b.c.Create(b.ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "pg-ca", Namespace: b.ns},
		Data:       map[string][]byte{"ca.crt": []byte("CA")},
	}))
	cert := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "pg-client", Namespace: b.ns},
		Type:       corev1.SecretTypeOpaque, // no tls.key yet
		Data:       map[string][]byte{corev1.TLSCertKey: []byte("CERT")},
	}
	require.NoError(t, b.c.Create(b.ctx, cert))
	ps := b.create(t, "prefect", func(ps *v1alpha1.PrefectServer) {
		ps.Spec.Storage = v1alpha1.Storage{Postgres: &v1alpha1.PostgresStorage{
			Host: "postgres", User: "prefect",
			TLS: &v1alpha1.PostgresTLS{
				CASecretRef:          &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "pg-ca"}, Key: "ca.crt"},
				ClientCertSecretName: "pg-client",
			},
		}}
	})
	b.waitForCondition(t, ps.Name, v1alpha1.ConditionDegraded, metav1.ConditionTrue, ReasonSecretKeyNotFound)
	b.requireAbsent(t, builders.DeploymentName(ps), &appsv1.Deployment{})

	cert.Data[corev1.TLSPrivateKeyKey] = []byte("KEY")
	require.NoError(t, b.c.Update(b.ctx, cert))
	job := b.waitForMigrationJob(t, ps)
	requireTLSFiles(t, job.Spec.Template.Spec)
	b.completeJob(t, job)
	dep := b.waitForDeployment(t, ps, nil)
	requireTLSFiles(t, dep.Spec.Template.Spec)
	require.Equal(t, "true", envValue(dep, settingEnv(t, "database.tls.check_hostname")), "the CRD's default")

	hash := dep.Spec.Template.Annotations[builders.ConfigHashAnnotation]
	cert.Data[corev1.TLSCertKey] = []byte("RENEWED")
	require.NoError(t, b.c.Update(b.ctx, cert))
	next := b.waitForMigrationJob(t, ps, func(j *batchv1.Job) bool { return j.Name != job.Name })
	b.completeJob(t, next)
	b.waitForDeployment(t, ps, func(d *appsv1.Deployment) bool {
		return d.Spec.Template.Annotations[builders.ConfigHashAnnotation] != hash
	})
}

// requireTLSFiles checks that the files the TLS settings name come from the Secrets' keys.
func requireTLSFiles(t *testing.T, pod corev1.PodSpec) {
	t.Helper()
	c := pod.Containers[0]
	files := map[string]string{}
	for _, m := range c.VolumeMounts {
		for _, v := range pod.Volumes {
			if v.Name == m.Name && v.Secret != nil {
				for _, item := range v.Secret.Items {
					files[m.MountPath+"/"+item.Path] = v.Secret.SecretName + "/" + item.Key
				}
			}
		}
	}
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	require.Equal(t, "true", env[settingEnv(t, "database.tls.enabled")])
	require.Equal(t, map[string]string{
		env[settingEnv(t, "database.tls.ca_file")]:   "pg-ca/ca.crt",
		env[settingEnv(t, "database.tls.cert_file")]: "pg-client/tls.crt",
		env[settingEnv(t, "database.tls.key_file")]:  "pg-client/tls.key",
	}, files)
}
