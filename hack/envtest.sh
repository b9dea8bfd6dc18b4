#!/usr/bin/env bash
# The envtest control plane (kube-apiserver and etcd) for the controller tests: the
# directory hack/kube-bin.sh builds from the Go module proxy (prebuilt envtest binaries
# cannot be downloaded here), whose kube-apiserver is a name of the same multi-call binary
# the e2e cluster runs, so Kubernetes is compiled once. Prints the directory to use as
# KUBEBUILDER_ASSETS (and nothing else on stdout); the first build takes about 15 minutes on
# two cores, later runs return at once; concurrent callers wait for one build.
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/kube-bin.sh"
