{{/* The chart name, or nameOverride. */}}
{{- define "prefectgo.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The prefix of every object's name: the release name, with the chart name unless it is in there already. */}}
{{- define "prefectgo.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "prefectgo.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "prefectgo.labels" -}}
helm.sh/chart: {{ include "prefectgo.chart" . }}
{{ include "prefectgo.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: prefectgo
{{- end }}

{{/* The manager pods' labels that selectors match; never change them in an upgrade. */}}
{{- define "prefectgo.selectorLabels" -}}
app.kubernetes.io/name: {{ include "prefectgo.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
control-plane: controller-manager
{{- end }}

{{- define "prefectgo.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "prefectgo.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The operator image: repository and tag, the tag defaulting to the chart's appVersion. */}}
{{- define "prefectgo.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* Checks across values that the schema cannot express; fails the render with a message. */}}
{{- define "prefectgo.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.leaderElection.enabled) }}
{{- fail "replicaCount > 1 needs leaderElection.enabled: true, or the replicas reconcile the same PrefectServers at once" }}
{{- end }}
{{- if and .Values.metrics.service.enabled (eq (int .Values.metrics.port) 0) }}
{{- fail "metrics.service.enabled needs a metrics.port other than 0" }}
{{- end }}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.service.enabled) }}
{{- fail "metrics.serviceMonitor.enabled needs metrics.service.enabled: true (the ServiceMonitor scrapes that Service)" }}
{{- end }}
{{- end }}
