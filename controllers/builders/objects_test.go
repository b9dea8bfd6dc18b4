package builders

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"prefectgo.dev/prefectgo/api/v1alpha1"
)

var testInputs = Inputs{DefaultImage: "ghcr.io/prefectgo/prefectgo:v1"}

// children is everything the builders make of ps.
func children(ps *v1alpha1.PrefectServer, in Inputs) []metav1.Object {
	objs := []metav1.Object{Deployment(ps, in), Service(ps)}
	if pvc := PVC(ps); pvc != nil {
		objs = append(objs, pvc)
	}
	if job := MigrationJob(ps, in); job != nil {
		objs = append(objs, job)
	}
	for _, cj := range CronJobs(ps, in) {
		objs = append(objs, cj)
	}
	if ing := Ingress(ps); ing != nil {
		objs = append(objs, ing)
	}
	if route := HTTPRoute(ps); route != nil {
		objs = append(objs, route)
	}
	return objs
}

func TestChildrenPerStorage(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name         string
		edit         func(*v1alpha1.PrefectServerSpec)
		wantKinds    []string
		wantStrategy appsv1.DeploymentStrategyType
		wantVolumes  []string
		wantAffinity bool // CronJob pods must share the server pod's node
	}{{
		name:         "sqlite",
		wantKinds:    []string{"Deployment", "Service", "PersistentVolumeClaim", "CronJob", "CronJob"},
		wantStrategy: appsv1.RecreateDeploymentStrategyType,
		wantVolumes:  []string{"scratch", "data"},
		wantAffinity: true,
	}, {
		name:         "ephemeral",
		edit:         func(s *v1alpha1.PrefectServerSpec) { s.Storage.Ephemeral = &v1alpha1.EphemeralStorage{} },
		wantKinds:    []string{"Deployment", "Service"},
		wantStrategy: appsv1.RecreateDeploymentStrategyType,
		wantVolumes:  []string{"scratch"},
	}, {
		name: "sqlite, exposed both ways",
		edit: func(s *v1alpha1.PrefectServerSpec) {
			s.Ingress = &v1alpha1.IngressSpec{Host: "p.example"}
			s.HTTPRoute = &v1alpha1.HTTPRouteSpec{ParentRefs: []gatewayv1.ParentReference{{Name: "gw"}}}
		},
		wantKinds:    []string{"Deployment", "Service", "PersistentVolumeClaim", "CronJob", "CronJob", "Ingress", "HTTPRoute"},
		wantStrategy: appsv1.RecreateDeploymentStrategyType,
		wantVolumes:  []string{"scratch", "data"},
		wantAffinity: true,
	}, {
		name:         "postgres",
		edit:         postgresParts(&v1alpha1.PostgresStorage{Host: "h", User: "u"}),
		wantKinds:    []string{"Deployment", "Service", "Job", "CronJob", "CronJob"},
		wantStrategy: appsv1.RollingUpdateDeploymentStrategyType,
		wantVolumes:  []string{"scratch"},
	}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ps := newServer(t, c.edit)
			var kinds []string
			for _, obj := range children(ps, testInputs) {
				tm := obj.(runtime.Object).GetObjectKind().GroupVersionKind()
				require.NotEmpty(t, tm.Version, "%T has no apiVersion", obj)
				kinds = append(kinds, tm.Kind)
				require.Equal(t, "ns", obj.GetNamespace())
				require.Empty(t, obj.GetOwnerReferences(), "the reconciler sets owner references")
				require.Equal(t, "prefect", obj.GetLabels()["app.kubernetes.io/instance"])
				require.Equal(t, "prefectgo-operator", obj.GetLabels()["app.kubernetes.io/managed-by"])
			}
			require.Equal(t, c.wantKinds, kinds)

			dep := Deployment(ps, testInputs)
			require.Equal(t, c.wantStrategy, dep.Spec.Strategy.Type)
			var vols []string
			for _, v := range dep.Spec.Template.Spec.Volumes {
				vols = append(vols, v.Name)
			}
			require.Equal(t, c.wantVolumes, vols)

			for _, cj := range CronJobs(ps, testInputs) {
				pod := cj.Spec.JobTemplate.Spec.Template.Spec
				require.Equal(t, dep.Spec.Template.Spec.Volumes, pod.Volumes, "CronJob pods mount what the server mounts")
				require.Equal(t, dep.Spec.Template.Spec.Containers[0].VolumeMounts, pod.Containers[0].VolumeMounts)
				require.Equal(t, c.wantAffinity, pod.Affinity != nil)
			}
		})
	}
}

func TestDeployment(t *testing.T) {
	t.Parallel()
	ps := newServer(t, func(s *v1alpha1.PrefectServerSpec) {
		s.API.Port = new(int32(8080))
		s.Resources = corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")}}
		s.NodeSelector = map[string]string{"disk": "ssd"}
		s.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpExists}}
		s.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{}}
		s.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "registry"}}
		s.ServiceAccountName = "prefect"
	})
	in := Inputs{DefaultImage: "ghcr.io/prefectgo/prefectgo:v1", SecretData: map[string][]byte{"a/b": []byte("c")}}
	dep := Deployment(ps, in)

	require.Equal(t, metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"}, dep.TypeMeta)
	require.Equal(t, "prefect", dep.Name)
	require.Equal(t, int32(1), *dep.Spec.Replicas)
	require.Equal(t, SelectorLabels(ps), dep.Spec.Selector.MatchLabels)
	require.True(t, labels.SelectorFromSet(SelectorLabels(ps)).Matches(labels.Set(dep.Spec.Template.Labels)))
	require.Equal(t, ConfigHash(ps, in), dep.Spec.Template.Annotations[ConfigHashAnnotation])

	pod := dep.Spec.Template.Spec
	require.Len(t, pod.Containers, 1)
	c := pod.Containers[0]
	require.Equal(t, "prefect-server", c.Name)
	require.Equal(t, "ghcr.io/prefectgo/prefectgo:v1", c.Image)
	require.Equal(t, []string{"/prefect-server", "serve"}, c.Command)
	require.Empty(t, c.Args)
	require.Equal(t, ServerEnv(ps), c.Env)
	require.Equal(t, []corev1.ContainerPort{
		{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP},
		{Name: "probes", ContainerPort: 4201, Protocol: corev1.ProtocolTCP},
	}, c.Ports)
	require.Contains(t, c.Env, corev1.EnvVar{Name: "PREFECT_SERVER_API_PROBE_PORT", Value: "4201"})
	for probe, path := range map[*corev1.Probe]string{c.StartupProbe: "/api/ready", c.ReadinessProbe: "/api/ready", c.LivenessProbe: "/api/health"} {
		require.NotNil(t, probe)
		require.Equal(t, path, probe.HTTPGet.Path)
		require.Equal(t, intstr.FromString("probes"), probe.HTTPGet.Port, "probes never compete with API clients for connections")
	}
	require.Equal(t, ps.Spec.Resources, c.Resources)
	require.Equal(t, []corev1.VolumeMount{{Name: "scratch", MountPath: "/tmp"}, {Name: "data", MountPath: "/data"}}, c.VolumeMounts)
	require.Equal(t, "prefect-data", pod.Volumes[1].PersistentVolumeClaim.ClaimName)
	require.NotNil(t, pod.Volumes[0].EmptyDir)

	require.Equal(t, map[string]string{"disk": "ssd"}, pod.NodeSelector)
	require.Equal(t, ps.Spec.Tolerations, pod.Tolerations)
	require.Equal(t, ps.Spec.Affinity, pod.Affinity)
	require.Equal(t, ps.Spec.ImagePullSecrets, pod.ImagePullSecrets)
	require.Equal(t, "prefect", pod.ServiceAccountName)
	require.False(t, *pod.EnableServiceLinks)
	require.False(t, *pod.AutomountServiceAccountToken)

	// Restricted security by default.
	require.True(t, *pod.SecurityContext.RunAsNonRoot)
	require.Equal(t, int64(65532), *pod.SecurityContext.RunAsUser)
	require.Equal(t, int64(65532), *pod.SecurityContext.RunAsGroup)
	require.Equal(t, int64(65532), *pod.SecurityContext.FSGroup)
	require.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, pod.SecurityContext.SeccompProfile.Type)
	require.False(t, *c.SecurityContext.AllowPrivilegeEscalation)
	require.Equal(t, []corev1.Capability{"ALL"}, c.SecurityContext.Capabilities.Drop)
	require.True(t, *c.SecurityContext.ReadOnlyRootFilesystem)

	// The builder copies: editing the object leaves the spec alone.
	pod.NodeSelector["disk"] = "hdd"
	pod.Affinity.PodAffinity = &corev1.PodAffinity{}
	require.Equal(t, "ssd", ps.Spec.NodeSelector["disk"])
	require.Nil(t, ps.Spec.Affinity.PodAffinity)
}

func TestDeploymentOverrides(t *testing.T) {
	t.Parallel()
	podSC := &corev1.PodSecurityContext{RunAsUser: new(int64(1000))}
	sc := &corev1.SecurityContext{Privileged: new(false)}
	ps := newServer(t, func(s *v1alpha1.PrefectServerSpec) {
		s.Image = "mine:2"
		s.Replicas = new(int32(3))
		s.Storage.Postgres = &v1alpha1.PostgresStorage{Host: "h", User: "u"}
		s.PodSecurityContext = podSC
		s.SecurityContext = sc
	})
	dep := Deployment(ps, testInputs)
	pod := dep.Spec.Template.Spec
	require.Equal(t, "mine:2", pod.Containers[0].Image)
	require.Equal(t, int32(3), *dep.Spec.Replicas)
	require.Equal(t, podSC, pod.SecurityContext, "replaced wholesale")
	require.Equal(t, sc, pod.Containers[0].SecurityContext, "replaced wholesale")
	require.Equal(t, appsv1.RollingUpdateDeploymentStrategyType, dep.Spec.Strategy.Type)
	require.Equal(t, intstr.FromInt32(0), *dep.Spec.Strategy.RollingUpdate.MaxUnavailable)

	for _, cj := range CronJobs(ps, testInputs) {
		jobPod := cj.Spec.JobTemplate.Spec.Template.Spec
		require.Equal(t, "mine:2", jobPod.Containers[0].Image)
		require.Equal(t, podSC, jobPod.SecurityContext)
		require.Equal(t, sc, jobPod.Containers[0].SecurityContext)
	}
	require.Equal(t, "mine:2", MigrationJob(ps, testInputs).Spec.Template.Spec.Containers[0].Image)
}

func TestService(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name     string
		edit     func(*v1alpha1.PrefectServerSpec)
		wantType corev1.ServiceType
		wantPort int32
		wantURL  string
	}{
		{"defaults", nil, corev1.ServiceTypeClusterIP, 4200, "http://prefect.ns.svc:4200/api"},
		{"load balancer on 80", func(s *v1alpha1.PrefectServerSpec) {
			s.Service.Type = corev1.ServiceTypeLoadBalancer
			s.Service.Port = new(int32(80))
			s.Service.Annotations = map[string]string{"lb": "internal"}
			s.API.Port = new(int32(8080))
		}, corev1.ServiceTypeLoadBalancer, 80, "http://prefect.ns.svc:80/api"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ps := newServer(t, c.edit)
			svc := Service(ps)
			require.Equal(t, metav1.TypeMeta{APIVersion: "v1", Kind: "Service"}, svc.TypeMeta)
			require.Equal(t, "prefect", svc.Name)
			require.Equal(t, c.wantType, svc.Spec.Type)
			require.Equal(t, SelectorLabels(ps), svc.Spec.Selector)
			require.Equal(t, []corev1.ServicePort{{
				Name: "http", Port: c.wantPort, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP,
			}}, svc.Spec.Ports)
			require.Equal(t, ps.Spec.Service.Annotations, svc.Annotations)
			require.Equal(t, c.wantURL, APIURL(ps))
		})
	}
}

func TestPVC(t *testing.T) {
	t.Parallel()
	require.Nil(t, PVC(newServer(t, func(s *v1alpha1.PrefectServerSpec) { s.Storage.Ephemeral = &v1alpha1.EphemeralStorage{} })))
	require.Nil(t, PVC(newServer(t, postgresParts(&v1alpha1.PostgresStorage{Host: "h", User: "u"}))))

	pvc := PVC(newServer(t, nil))
	require.Equal(t, metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"}, pvc.TypeMeta)
	require.Equal(t, "prefect-data", pvc.Name)
	require.Equal(t, []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, pvc.Spec.AccessModes)
	require.Nil(t, pvc.Spec.StorageClassName, "the cluster's default class")
	require.Equal(t, "1Gi", pvc.Spec.Resources.Requests.Storage().String())

	pvc = PVC(newServer(t, func(s *v1alpha1.PrefectServerSpec) {
		s.Storage.SQLite = &v1alpha1.SQLiteStorage{Size: resource.MustParse("5Gi"), StorageClassName: new("fast")}
	}))
	require.Equal(t, "fast", *pvc.Spec.StorageClassName)
	require.Equal(t, "5Gi", pvc.Spec.Resources.Requests.Storage().String())
}

func TestMigrationJob(t *testing.T) {
	t.Parallel()
	require.Nil(t, MigrationJob(newServer(t, nil), testInputs))
	require.Nil(t, MigrationJob(newServer(t, func(s *v1alpha1.PrefectServerSpec) {
		s.Storage.Ephemeral = &v1alpha1.EphemeralStorage{}
	}), testInputs))

	ps := newServer(t, postgresParts(&v1alpha1.PostgresStorage{Host: "h", User: "u"}))
	job := MigrationJob(ps, testInputs)
	require.Equal(t, metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"}, job.TypeMeta)
	require.Equal(t, "prefect-migrate-"+ConfigHash(ps, testInputs)[:8], job.Name)
	require.Equal(t, int32(2), *job.Spec.BackoffLimit)
	require.Nil(t, job.Spec.TTLSecondsAfterFinished)
	pod := job.Spec.Template.Spec
	require.Equal(t, corev1.RestartPolicyNever, pod.RestartPolicy)
	require.Equal(t, []string{"/prefect-server", "migrate"}, pod.Containers[0].Command)
	require.Equal(t, ServerEnv(ps), pod.Containers[0].Env)
	require.Equal(t, "migration", job.Spec.Template.Labels["app.kubernetes.io/component"])
	require.False(t, labels.SelectorFromSet(SelectorLabels(ps)).Matches(labels.Set(job.Spec.Template.Labels)),
		"the Service must not select a Job's pod")
}

func TestCronJobs(t *testing.T) {
	t.Parallel()
	require.Empty(t, CronJobs(newServer(t, func(s *v1alpha1.PrefectServerSpec) {
		s.Storage.Ephemeral = &v1alpha1.EphemeralStorage{}
	}), testInputs))

	for _, c := range []struct {
		name string
		edit func(*v1alpha1.PrefectServerSpec)
		want []batchv1.CronJobSpec // the fields the spec sets
	}{{
		name: "defaults",
		want: []batchv1.CronJobSpec{
			{Schedule: "17 * * * *", Suspend: new(false), SuccessfulJobsHistoryLimit: new(int32(3)), FailedJobsHistoryLimit: new(int32(1))},
			{Schedule: "* * * * *", Suspend: new(false), SuccessfulJobsHistoryLimit: new(int32(3)), FailedJobsHistoryLimit: new(int32(1))},
		},
	}, {
		name: "tuned",
		edit: func(s *v1alpha1.PrefectServerSpec) {
			s.Retention = v1alpha1.CronJobSettings{Schedule: "0 3 * * *", Suspend: true,
				SuccessfulJobsHistoryLimit: new(int32(0)), FailedJobsHistoryLimit: new(int32(5))}
			// Only suspend: the object was given, so the API server does
			// not default its schedule; the builder falls back.
			s.Scheduling = v1alpha1.CronJobSettings{Suspend: true}
		},
		want: []batchv1.CronJobSpec{
			{Schedule: "0 3 * * *", Suspend: new(true), SuccessfulJobsHistoryLimit: new(int32(0)), FailedJobsHistoryLimit: new(int32(5))},
			{Schedule: "* * * * *", Suspend: new(true), SuccessfulJobsHistoryLimit: new(int32(3)), FailedJobsHistoryLimit: new(int32(1))},
		},
	}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ps := newServer(t, c.edit)
			cjs := CronJobs(ps, testInputs)
			require.Len(t, cjs, 2)
			for i, want := range []struct{ name, component, subcommand string }{
				{"prefect-retention", "retention", "retention"},
				{"prefect-scheduler", "scheduler", "schedule"},
			} {
				cj := cjs[i]
				require.Equal(t, metav1.TypeMeta{APIVersion: "batch/v1", Kind: "CronJob"}, cj.TypeMeta)
				require.Equal(t, want.name, cj.Name)
				require.Equal(t, c.want[i].Schedule, cj.Spec.Schedule)
				require.Equal(t, c.want[i].Suspend, cj.Spec.Suspend)
				require.Equal(t, c.want[i].SuccessfulJobsHistoryLimit, cj.Spec.SuccessfulJobsHistoryLimit)
				require.Equal(t, c.want[i].FailedJobsHistoryLimit, cj.Spec.FailedJobsHistoryLimit)
				require.Equal(t, batchv1.ForbidConcurrent, cj.Spec.ConcurrencyPolicy)
				job := cj.Spec.JobTemplate.Spec
				require.Equal(t, int32(2), *job.BackoffLimit)
				pod := job.Template.Spec
				require.Equal(t, corev1.RestartPolicyNever, pod.RestartPolicy)
				require.Equal(t, []string{"/prefect-server", want.subcommand}, pod.Containers[0].Command)
				require.Equal(t, ServerEnv(ps), pod.Containers[0].Env)
				require.Equal(t, "ghcr.io/prefectgo/prefectgo:v1", pod.Containers[0].Image)
				require.Equal(t, want.component, job.Template.Labels["app.kubernetes.io/component"])
				require.False(t, labels.SelectorFromSet(SelectorLabels(ps)).Matches(labels.Set(job.Template.Labels)))
				require.Equal(t, Deployment(ps, testInputs).Spec.Template.Spec.SecurityContext, pod.SecurityContext)
				require.Equal(t, Deployment(ps, testInputs).Spec.Template.Spec.Containers[0].SecurityContext, pod.Containers[0].SecurityContext)
			}
		})
	}
}

func TestCronJobAffinityKeepsTheSpecs(t *testing.T) {
	t.Parallel()
	own := corev1.PodAffinityTerm{TopologyKey: "zone", LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}}}
	ps := newServer(t, func(s *v1alpha1.PrefectServerSpec) {
		s.Affinity = &corev1.Affinity{
			NodeAffinity: &corev1.NodeAffinity{},
			PodAffinity:  &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{own}},
		}
	})
	for _, cj := range CronJobs(ps, testInputs) {
		a := cj.Spec.JobTemplate.Spec.Template.Spec.Affinity
		require.NotNil(t, a.NodeAffinity)
		require.Equal(t, []corev1.PodAffinityTerm{own, {
			LabelSelector: &metav1.LabelSelector{MatchLabels: SelectorLabels(ps)},
			TopologyKey:   "kubernetes.io/hostname",
		}}, a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution)
	}
	require.Len(t, ps.Spec.Affinity.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution, 1, "the spec is not modified")
	require.Equal(t, ps.Spec.Affinity, Deployment(ps, testInputs).Spec.Template.Spec.Affinity, "the server pods keep the spec's")
}

// TestNoSecretValueInObjects renders every object of specs that reference
// Secrets in every way, and looks for the values in the JSON.
func TestNoSecretValueInObjects(t *testing.T) {
	t.Parallel()
	secrets := map[string][]byte{
		"auth/basic":  []byte("admin:AUTH-SECRET-VALUE"),
		"pg/password": []byte("PG-PASSWORD-VALUE"),
		"pg/url":      []byte("postgresql://u:PG-URL-VALUE@h/db"),
		"extra/token": []byte("EXTRA-SECRET-VALUE"),
	}
	in := Inputs{DefaultImage: "img", SecretData: secrets}
	withRefs := func(pg *v1alpha1.PostgresStorage) func(*v1alpha1.PrefectServerSpec) {
		return func(s *v1alpha1.PrefectServerSpec) {
			s.Storage.Postgres = pg
			s.API.AuthSecretRef = secretRef("auth", "basic")
			s.ExtraEnv = []corev1.EnvVar{{Name: "TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: secretRef("extra", "token")}}}
		}
	}
	for _, ps := range []*v1alpha1.PrefectServer{
		newServer(t, withRefs(&v1alpha1.PostgresStorage{Host: "h", User: "u", PasswordSecretRef: secretRef("pg", "password")})),
		newServer(t, withRefs(&v1alpha1.PostgresStorage{ConnectionURLSecretRef: secretRef("pg", "url")})),
		loadSample(t, "prefectgo_v1alpha1_prefectserver_postgres.yaml").server,
	} {
		objs := children(ps, in)
		require.NotEmpty(t, objs)
		b, err := json.Marshal(objs)
		require.NoError(t, err)
		for key, v := range secrets {
			require.NotContains(t, string(b), string(v), key)
			_, secretPart, _ := strings.Cut(string(v), ":")
			if secretPart != "" {
				require.NotContains(t, string(b), secretPart, key)
			}
		}
		for _, sample := range []string{"change-me"} {
			require.NotContains(t, string(b), sample)
		}
	}
}
