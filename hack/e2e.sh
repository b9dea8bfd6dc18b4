#!/usr/bin/env bash
# make test-e2e: the operator on a real single-node cluster, end to end. Brings the cluster
# up (hack/cluster.sh), builds the image without Docker (hack/imagebuild) and imports it,
# runs the scenarios in test/e2e (go test -tags e2e) with the real prefect client, and takes
# the cluster down again, on failure and interruption too. Prints how long each part took.
#
#   E2E_KEEP=1 hack/e2e.sh   leave the cluster up afterwards, to look around or rerun one test
#                            (see test/e2e); hack/cluster.sh down when done
#   E2E_RUN=TestSQLite       only the tests matching this go test -run pattern
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
CACHE=${CACHE:-$HOME/.cache/prefectgo}
PREFECT_VERSION=${PREFECT_VERSION:-3.9.1}
VENV=${VENV:-$CACHE/venv-$PREFECT_VERSION}
IMAGE=${E2E_IMAGE:-localhost/prefectgo:e2e}
export CACHE PREFECT_VERSION VENV

timings=()
t_all=$SECONDS
phase_start=$SECONDS
phase() { timings+=("$1: $((SECONDS - phase_start))s"); phase_start=$SECONDS; }

finish() {
	local rc=$?
	trap - EXIT INT TERM
	if [[ -z "${E2E_KEEP:-}" ]]; then
		phase_start=$SECONDS
		hack/cluster.sh down || rc=1
		phase "cluster down"
	else
		echo "e2e: E2E_KEEP set: the cluster stays up; source <(hack/cluster.sh env); hack/cluster.sh down when done" >&2
	fi
	timings+=("whole e2e: $((SECONDS - t_all))s")
	printf 'e2e timing: %s\n' "${timings[@]}" >&2
	exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT TERM

# The slow, cached parts first, outside the timed cluster start: Kubernetes (15 minutes the
# first time) and CoreDNS (3), the prefect virtualenv, and the UIs and block catalogue from
# its package.
hack/kube-bin.sh >/dev/null
hack/coredns-bin.sh >/dev/null
hack/python-env.sh
ui=$(hack/ui-assets.sh)
catalogue=$(hack/catalogue-assets.sh)
phase "binaries, venv, UI and catalogue (cached after the first run)"

hack/cluster.sh up
phase "cluster up"

img="$PWD/bin/image"
mkdir -p "$img"
# SERVER_GOEXPERIMENT: the Makefile's (make test-e2e), as make build uses.
GOEXPERIMENT="${SERVER_GOEXPERIMENT:-}" CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$img/" ./cmd/manager ./cmd/prefect-server
go run -C hack/imagebuild . -bin "$img" -ui "$ui" -catalogue "$catalogue" -tag "$IMAGE" -o "$img/prefectgo.tar"
hack/cluster.sh import "$img/prefectgo.tar"
# The workers' and flow runs' image: Debian's python and the pinned prefect (about a minute
# the first time, then cached), with the e2e's flows.
hack/worker-image.sh test/e2e/testdata/flows "$img/worker.tar"
hack/cluster.sh import "$img/worker.tar"
phase "image build and import"

# shellcheck source=/dev/null
source <(hack/cluster.sh env)
PREFECTGO_E2E_IMAGE=$IMAGE PREFECTGO_E2E_WORKER_IMAGE=localhost/prefect-worker:e2e PREFECTGO_E2E_PYTHON="$VENV/bin/python" \
	go test -tags e2e -count=1 -v -timeout 30m ${E2E_RUN:+-run "$E2E_RUN"} ./test/e2e
phase "tests"
