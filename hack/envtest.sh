#!/usr/bin/env bash
# Builds the envtest control plane (kube-apiserver and etcd) from the Go module proxy,
# because prebuilt envtest binaries cannot be downloaded here, and caches it outside the
# repository. Prints the directory to use as KUBEBUILDER_ASSETS (and nothing else on
# stdout). The first build takes 10-15 minutes on two cores; later runs return at once.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-1.37.2}
ETCD_VERSION=${ETCD_VERSION:-3.6.16}
CACHE=${CACHE:-$HOME/.cache/prefectgo}
out="$CACHE/envtest/k8s-$K8S_VERSION-etcd-$ETCD_VERSION"

if [[ -x "$out/kube-apiserver" && -x "$out/etcd" ]]; then
	echo "$out"
	exit 0
fi

mkdir -p "$CACHE/envtest"
exec 9>"$CACHE/envtest/.lock"
flock 9 # one build at a time; a second caller waits and then finds the result
if [[ -x "$out/kube-apiserver" && -x "$out/etcd" ]]; then
	echo "$out"
	exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/kube" "$work/etcd" "$out.partial"
minor=${K8S_VERSION#*.}
minor=${minor%%.*}
staging="0.${K8S_VERSION#*.}"

# kube-apiserver: k8s.io/kubernetes with every staging module replaced by its
# published v0.x.y twin, as its own go.mod points them at ./staging.
echo "building kube-apiserver v$K8S_VERSION (slow the first time)" >&2
(
	cd "$work/kube"
	go mod init envtest/kube >/dev/null 2>&1
	go mod edit -require="k8s.io/kubernetes@v$K8S_VERSION"
	gomod=$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
	grep -E '^\s*k8s.io/[^ ]+ => ./staging/' "$gomod" | awk '{print $1}' | while read -r m; do
		go mod edit -replace="$m=$m@v$staging"
	done
	cat >main.go <<'GO'
package main

import _ "k8s.io/kubernetes/cmd/kube-apiserver/app"

func main() {}
GO
	go mod tidy >&2
	go build -trimpath -ldflags "-s -w \
		-X k8s.io/component-base/version.gitVersion=v$K8S_VERSION \
		-X k8s.io/component-base/version.gitMajor=1 \
		-X k8s.io/component-base/version.gitMinor=$minor" \
		-o "$out.partial/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
)

echo "building etcd v$ETCD_VERSION" >&2
(
	cd "$work/etcd"
	go mod init envtest/etcd >/dev/null 2>&1
	cat >main.go <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
	go get "go.etcd.io/etcd/server/v3@v$ETCD_VERSION" >&2
	go mod tidy >&2
	go build -trimpath -ldflags "-s -w" -o "$out.partial/etcd" .
)

rm -rf "$out"
mv "$out.partial" "$out"
echo "$out"
