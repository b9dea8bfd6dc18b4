package builders

import (
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"prefectgo.dev/prefectgo/api/v1alpha1"
)

// CronJobs run `prefect-server retention` and `prefect-server schedule`,
// in that order; none for ephemeral storage, whose database only the server
// pod can reach (its in-process services do the work instead). With SQLite
// the Jobs mount the server's volume, which is ReadWriteOnce, so their pods
// must run on the server pod's node.
func CronJobs(ps *v1alpha1.PrefectServer, in Inputs) []*batchv1.CronJob {
	if !hasCronJobs(ps) {
		return nil
	}
	return []*batchv1.CronJob{
		cronJob(ps, in, RetentionCronJobName(ps), ComponentRetention, "retention", ps.Spec.Retention, defaultRetentionSchedule),
		cronJob(ps, in, SchedulerCronJobName(ps), ComponentScheduler, "schedule", ps.Spec.Scheduling, defaultSchedulingSchedule),
	}
}

func cronJob(ps *v1alpha1.PrefectServer, in Inputs, name, component, subcommand string,
	s v1alpha1.CronJobSettings, defaultSchedule string) *batchv1.CronJob {
	labels := componentLabels(ps, component)
	job := jobSpec(ps, in, labels, subcommand)
	if StorageKind(ps) == StorageSQLite {
		job.Template.Spec.Affinity = withServerNodeAffinity(ps, job.Template.Spec.Affinity)
	}
	return &batchv1.CronJob{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "CronJob"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ps.Namespace, Labels: labels},
		Spec: batchv1.CronJobSpec{
			Schedule:                   cmpOr(s.Schedule, defaultSchedule),
			Suspend:                    new(s.Suspend || Suspended(ps)),
			ConcurrencyPolicy:          batchv1.ForbidConcurrent,
			SuccessfulJobsHistoryLimit: new(orDefault(s.SuccessfulJobsHistoryLimit, defaultSuccessfulJobs)),
			FailedJobsHistoryLimit:     new(orDefault(s.FailedJobsHistoryLimit, defaultFailedJobs)),
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       job,
			},
		},
	}
}

// withServerNodeAffinity adds, to the spec's affinity, the requirement to
// run beside a server pod: on the node that has the SQLite volume attached.
func withServerNodeAffinity(ps *v1alpha1.PrefectServer, a *corev1.Affinity) *corev1.Affinity {
	if a == nil {
		a = &corev1.Affinity{}
	}
	if a.PodAffinity == nil {
		a.PodAffinity = &corev1.PodAffinity{}
	}
	a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution = append(
		a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution,
		corev1.PodAffinityTerm{
			LabelSelector: &metav1.LabelSelector{MatchLabels: SelectorLabels(ps)},
			TopologyKey:   corev1.LabelHostname,
		})
	return a
}
