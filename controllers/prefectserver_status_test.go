package controllers

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"prefectgo.dev/prefectgo/api/v1alpha1"
)

// These tests need no API server: conditions are a pure function of what a
// pass saw.

func TestConditions(t *testing.T) {
	t.Parallel()

	sqlite := &v1alpha1.PrefectServer{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"},
		Spec:       v1alpha1.PrefectServerSpec{Storage: v1alpha1.Storage{SQLite: &v1alpha1.SQLiteStorage{}}},
	}
	postgres := sqlite.DeepCopy()
	postgres.Spec.Storage = v1alpha1.Storage{Postgres: &v1alpha1.PostgresStorage{Host: "h", User: "u"}}
	exposed := sqlite.DeepCopy()
	exposed.Spec.Ingress = &v1alpha1.IngressSpec{Host: "p.example"}
	exposed.Spec.HTTPRoute = &v1alpha1.HTTPRouteSpec{}
	ephemeral := sqlite.DeepCopy()
	ephemeral.Spec.Storage = v1alpha1.Storage{Ephemeral: &v1alpha1.EphemeralStorage{}}

	job := func(conds ...batchv1.JobCondition) *batchv1.Job {
		return &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "p-migrate-1234abcd"}, Status: batchv1.JobStatus{Conditions: conds}}
	}
	failed := batchv1.JobCondition{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "too many"}
	complete := batchv1.JobCondition{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}
	dep := func(replicas, ready, updated int32, generation, observed int64) *appsv1.Deployment {
		return &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Generation: generation},
			Spec:       appsv1.DeploymentSpec{Replicas: &replicas},
			Status: appsv1.DeploymentStatus{
				ObservedGeneration: observed, Replicas: replicas, UpdatedReplicas: updated,
				ReadyReplicas: ready, AvailableReplicas: ready,
			},
		}
	}

	type want map[string]string // condition type -> "Status/Reason"
	for _, tc := range []struct {
		name string
		pass pass
		dep  *appsv1.Deployment
		err  error
		want want
	}{
		{
			name: "SQLiteRolledOut",
			pass: pass{ps: sqlite, cronJobsDone: true, cronJobs: []string{"a", "b"}},
			dep:  dep(1, 1, 1, 2, 2),
			want: want{
				"Ready": "True/ReplicasReady", "Progressing": "False/RolloutComplete", "Degraded": "False/AsExpected",
				"DatabaseMigrated": "True/MigratesOnStart", "BackgroundJobs": "True/CronJobs",
			},
		},
		{
			name: "RollingOut",
			pass: pass{ps: sqlite, cronJobsDone: true},
			dep:  dep(1, 1, 1, 3, 2),
			want: want{"Ready": "True/ReplicasReady", "Progressing": "True/RollingOut"},
		},
		{
			name: "NoPodsReady",
			pass: pass{ps: sqlite},
			dep:  dep(1, 0, 0, 1, 1),
			want: want{"Ready": "False/NoReplicasReady", "Progressing": "True/RollingOut"},
		},
		{
			name: "ScaledToZero",
			pass: pass{ps: sqlite},
			dep:  dep(0, 0, 0, 1, 1),
			want: want{"Ready": "False/ScaledToZero", "Progressing": "False/RolloutComplete"},
		},
		{
			name: "SecretMissing",
			pass: pass{ps: sqlite, missingSecret: "db"},
			want: want{"Degraded": "True/SecretNotFound", "Progressing": "False/SecretNotFound", "Ready": "False/DeploymentNotFound"},
		},
		{
			name: "SecretKeyMissing",
			pass: pass{ps: sqlite, missingSecret: "db", missingKey: "password"},
			dep:  dep(1, 1, 1, 1, 1),
			want: want{"Degraded": "True/SecretKeyNotFound", "Progressing": "False/SecretKeyNotFound", "Ready": "True/ReplicasReady"},
		},
		{
			name: "MigrationRunning",
			pass: pass{ps: postgres, migration: job()},
			want: want{
				"DatabaseMigrated": "False/MigrationRunning", "Progressing": "True/MigrationRunning",
				"Degraded": "False/AsExpected", "BackgroundJobs": "False/WaitingForMigration",
			},
		},
		{
			name: "MigrationFailedKeepsOldPods",
			pass: pass{ps: postgres, migration: job(failed)},
			dep:  dep(2, 2, 2, 1, 1),
			want: want{
				"DatabaseMigrated": "False/MigrationFailed", "Progressing": "False/MigrationFailed",
				"Degraded": "True/BackoffLimitExceeded", "Ready": "True/ReplicasReady",
			},
		},
		{
			name: "MigrationFailedWithOddReason",
			pass: pass{ps: postgres, migration: job(batchv1.JobCondition{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "not a reason!"})},
			want: want{"Degraded": "True/MigrationFailed"},
		},
		{
			name: "MigrationSucceeded",
			pass: pass{ps: postgres, migration: job(complete), cronJobsDone: true},
			dep:  dep(2, 0, 0, 1, 0),
			want: want{"DatabaseMigrated": "True/MigrationSucceeded", "Progressing": "True/RollingOut", "BackgroundJobs": "True/CronJobs"},
		},
		{
			name: "Ephemeral",
			pass: pass{ps: ephemeral, cronJobsDone: true},
			dep:  dep(1, 1, 1, 1, 1),
			want: want{"BackgroundJobs": "True/InProcess", "DatabaseMigrated": "True/MigratesOnStart"},
		},
		{
			name: "NotExposed",
			pass: pass{ps: sqlite, exposureDone: true},
			dep:  dep(1, 1, 1, 1, 1),
			want: want{"Exposed": "", "Degraded": "False/AsExpected"},
		},
		{
			name: "Exposed",
			pass: pass{ps: exposed, exposureDone: true, exposedBy: []string{"Ingress p", "HTTPRoute p"}},
			dep:  dep(1, 1, 1, 1, 1),
			want: want{"Exposed": "True/RoutesApplied", "Degraded": "False/AsExpected"},
		},
		{
			name: "GatewayAPIMissing",
			pass: pass{ps: exposed, exposureDone: true, exposedBy: []string{"Ingress p"}, gatewayAPIMissing: true},
			dep:  dep(1, 1, 1, 1, 1),
			want: want{"Exposed": "False/GatewayAPINotInstalled", "Degraded": "True/GatewayAPINotInstalled", "Ready": "True/ReplicasReady"},
		},
		{
			name: "ExposureNotReachedYet",
			pass: pass{ps: exposed, missingSecret: "auth"},
			want: want{"Exposed": "Unknown/Pending", "Degraded": "True/SecretNotFound"},
		},
		{
			name: "ApplyFailed",
			pass: pass{ps: sqlite},
			dep:  dep(1, 1, 1, 1, 1),
			err:  errors.New("deployment: apply Deployment p: forbidden"),
			want: want{"Degraded": "True/ReconcileError"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := map[string]string{}
			for _, c := range conditions(&tc.pass, tc.dep, tc.err) {
				require.NotContains(t, got, c.Type, "condition set twice")
				got[c.Type] = string(c.Status) + "/" + c.Reason
				require.Regexp(t, reasonPattern, c.Reason)
			}
			for typ, w := range tc.want {
				require.Equal(t, w, got[typ], typ)
			}
		})
	}
}

// A condition the pass could not judge keeps its earlier value.
func TestConditionsKeepWhatThePassDidNotSee(t *testing.T) {
	t.Parallel()
	ps := &v1alpha1.PrefectServer{Spec: v1alpha1.PrefectServerSpec{
		Storage: v1alpha1.Storage{Postgres: &v1alpha1.PostgresStorage{Host: "h", User: "u"}},
	}}
	first := conditions(&pass{ps: ps, missingSecret: "db"}, nil, nil)
	typesOf := func(cs []metav1.Condition) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Type)
		}
		return out
	}
	require.Contains(t, typesOf(first), v1alpha1.ConditionDatabaseMigrated, "a first status has every condition")
	require.Contains(t, typesOf(first), v1alpha1.ConditionBackgroundJobs)

	ps.Status.Conditions = []metav1.Condition{
		{Type: v1alpha1.ConditionDatabaseMigrated, Status: metav1.ConditionTrue, Reason: ReasonMigrationSucceeded},
		{Type: v1alpha1.ConditionBackgroundJobs, Status: metav1.ConditionTrue, Reason: ReasonCronJobs},
	}
	later := conditions(&pass{ps: ps, missingSecret: "db"}, nil, nil)
	require.NotContains(t, typesOf(later), v1alpha1.ConditionDatabaseMigrated)
	require.NotContains(t, typesOf(later), v1alpha1.ConditionBackgroundJobs)
}

func TestImageVersion(t *testing.T) {
	t.Parallel()
	for image, want := range map[string]string{
		"ghcr.io/prefectgo/prefectgo:v0.3.1":            "v0.3.1",
		"localhost:5000/prefectgo:3.9.1":                "3.9.1",
		"localhost:5000/prefectgo":                      "latest",
		"prefectgo":                                     "latest",
		"prefectgo:1.0@sha256:0123456789abcdef":         "1.0",
		"ghcr.io/prefectgo/prefectgo@sha256:0123456789": "",
		"": "",
	} {
		require.Equal(t, want, imageVersion(image), image)
	}
}

func TestVolumeServer(t *testing.T) {
	t.Parallel()
	owner := metav1.OwnerReference{
		APIVersion: v1alpha1.GroupVersion.String(), Kind: "PrefectServer", Name: "p", UID: "u", Controller: new(true),
	}
	other := metav1.OwnerReference{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "s", UID: "v", Controller: new(true)}
	pvc := func(name string, labels map[string]string, refs ...metav1.OwnerReference) *corev1.PersistentVolumeClaim {
		return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: "ns", Labels: labels, OwnerReferences: refs,
		}}
	}
	want := []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: "ns", Name: "p"}}}
	instance := map[string]string{"app.kubernetes.io/instance": "p"}

	require.Equal(t, want, volumeServer(t.Context(), pvc("p-data", nil, owner)), "owned")
	require.Equal(t, want, volumeServer(t.Context(), pvc("p-data", instance)), "retained")
	require.Empty(t, volumeServer(t.Context(), pvc("p-data", instance, other)), "another controller's")
	require.Empty(t, volumeServer(t.Context(), pvc("data-p-0", instance)), "not named like ours")
	require.Empty(t, volumeServer(t.Context(), pvc("p-data", nil)), "unlabelled")
}
