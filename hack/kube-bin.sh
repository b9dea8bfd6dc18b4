#!/usr/bin/env bash
# Builds the Kubernetes control plane and node binaries from the Go module proxy (prebuilt
# release binaries cannot be downloaded here) and caches them outside the repository:
#
#   kube            ONE multi-call binary: kube-apiserver, kube-controller-manager,
#                   kube-scheduler, kubelet, kube-proxy and kubectl, picked by the name it is
#                   called by (symlinks below) or by its first argument; compiling Kubernetes
#                   once serves both the envtest control plane and the e2e cluster, and the
#                   e2e's kubectl matches the server's version
#   kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy, kubectl -> kube
#   etcd            go.etcd.io/etcd/server/v3/etcdmain
#
# Prints the directory (and nothing else on stdout). The first build takes about 15 minutes
# on two cores; later runs return at once. Concurrent callers wait for one build (flock).
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-1.37.2}
ETCD_VERSION=${ETCD_VERSION:-3.6.16}
CACHE=${CACHE:-$HOME/.cache/prefectgo}
out="$CACHE/kube/k8s-$K8S_VERSION-etcd-$ETCD_VERSION"
components=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)

complete() { [[ -x "$out/kube" && -x "$out/etcd" && -f "$out/.complete" ]]; }

if complete; then
	echo "$out"
	exit 0
fi

mkdir -p "$CACHE/kube"
exec 9>"$CACHE/kube/.lock"
flock 9 # one build at a time; a second caller waits and then finds the result
if complete; then
	echo "$out"
	exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rm -rf "$out.partial"
mkdir -p "$work/kube" "$work/etcd" "$out.partial"
minor=${K8S_VERSION#*.}
minor=${minor%%.*}
staging="0.${K8S_VERSION#*.}"

# k8s.io/kubernetes with every staging module replaced by its published v0.x.y twin, as its
# own go.mod points them at ./staging.
echo "building kube (multi-call) v$K8S_VERSION (slow the first time)" >&2
(
	cd "$work/kube"
	go mod init prefectgo.dev/kube >/dev/null 2>&1
	go mod edit -require="k8s.io/kubernetes@v$K8S_VERSION"
	gomod=$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
	grep -E '^\s*k8s.io/[^ ]+ => ./staging/' "$gomod" | awk '{print $1}' | while read -r m; do
		go mod edit -replace="$m=$m@v$staging"
	done
	# The blank imports are the ones the real mains have (time zones for CronJobs, JSON logs,
	# client-go and version metrics).
	cat >main.go <<'GO'
// Command kube is kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy
// and kubectl in one binary: the component is the name it was called by, or its first argument.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"k8s.io/component-base/cli"
	"k8s.io/component-base/logs"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	kubectl "k8s.io/kubectl/pkg/cmd"
	kubectlutil "k8s.io/kubectl/pkg/cmd/util"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"
	_ "time/tzdata"
)

var commands = map[string]func() *cobra.Command{
	"kube-apiserver":          apiserver.NewAPIServerCommand,
	"kube-controller-manager": controllermanager.NewControllerManagerCommand,
	"kube-scheduler":          func() *cobra.Command { return scheduler.NewSchedulerCommand() },
	"kubelet":                 func() *cobra.Command { return kubelet.NewKubeletCommand(context.Background()) },
	"kube-proxy":              proxy.NewProxyCommand,
}

func main() {
	name, args := filepath.Base(os.Args[0]), os.Args[1:]
	if _, ok := commands[name]; !ok && name != "kubectl" && len(args) > 0 {
		name, args = args[0], args[1:]
	}
	// Each command reads os.Args itself (cobra, kubectl's plugin lookup): make it look
	// like the real binary was called.
	os.Args = append([]string{name}, args...)
	if name == "kubectl" {
		logs.GlogSetter(kubectl.GetLogVerbosity(os.Args)) // nolint:errcheck
		if err := cli.RunNoErrOutput(kubectl.NewDefaultKubectlCommand()); err != nil {
			kubectlutil.CheckErr(err)
		}
		return
	}
	newCommand, ok := commands[name]
	if !ok {
		fmt.Fprintln(os.Stderr, "usage: kube kube-apiserver|kube-controller-manager|kube-scheduler|kubelet|kube-proxy|kubectl [flags]")
		os.Exit(2)
	}
	os.Exit(cli.Run(newCommand()))
}
GO
	go mod tidy >&2
	go build -trimpath -ldflags "-s -w \
		-X k8s.io/component-base/version.gitVersion=v$K8S_VERSION \
		-X k8s.io/component-base/version.gitMajor=1 \
		-X k8s.io/component-base/version.gitMinor=$minor" \
		-o "$out.partial/kube" .
)
for c in "${components[@]}"; do
	ln -s kube "$out.partial/$c"
done

echo "building etcd v$ETCD_VERSION" >&2
(
	cd "$work/etcd"
	go mod init prefectgo.dev/etcd >/dev/null 2>&1
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

touch "$out.partial/.complete"
rm -rf "$out"
mv "$out.partial" "$out"
echo "$out"
