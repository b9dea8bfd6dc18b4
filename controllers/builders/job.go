package builders

import (
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"prefectgo.dev/prefectgo/api/v1alpha1"
)

// jobBackoffLimit is how often a failed migration, retention or scheduling
// pod is retried; failed pods stay for their logs (restartPolicy Never).
const jobBackoffLimit int32 = 2

// MigrationJob runs `prefect-server migrate` against PostgreSQL; nil for
// SQLite and ephemeral storage, where the server migrates at start. Its name
// carries the configuration hash, so a new image or database gets a new Job
// (a Job's pod template is immutable), and it has no TTL: the reconciler
// reads its outcome before rolling the Deployment.
func MigrationJob(ps *v1alpha1.PrefectServer, in Inputs) *batchv1.Job {
	if StorageKind(ps) != StoragePostgres {
		return nil
	}
	labels := componentLabels(ps, ComponentMigration)
	return &batchv1.Job{
		TypeMeta: metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{
			Name: ps.Name + "-migrate-" + ConfigHash(ps, in)[:8], Namespace: ps.Namespace, Labels: labels,
		},
		Spec: jobSpec(ps, in, labels, "migrate"),
	}
}

// jobSpec runs one prefect-server subcommand to completion.
func jobSpec(ps *v1alpha1.PrefectServer, in Inputs, labels map[string]string, subcommand string) batchv1.JobSpec {
	spec := podSpec(ps, container(ps, in, subcommand, subcommand))
	spec.RestartPolicy = corev1.RestartPolicyNever
	return batchv1.JobSpec{
		BackoffLimit: new(jobBackoffLimit),
		Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: labels},
			Spec:       spec,
		},
	}
}
