#!/usr/bin/env bash
# Builds CoreDNS, the e2e cluster's DNS, from the Go module proxy (no release binary or
# image can be downloaded here) and caches it outside the repository. Prints the binary's
# path (and nothing else on stdout). The first build takes about 3 minutes on two cores;
# later runs return at once. Concurrent callers wait for one build (flock).
set -euo pipefail

COREDNS_VERSION=${COREDNS_VERSION:-1.15.0}
CACHE=${CACHE:-$HOME/.cache/prefectgo}
out="$CACHE/kube/coredns-$COREDNS_VERSION"

if [[ -x "$out/coredns" ]]; then
	echo "$out/coredns"
	exit 0
fi

mkdir -p "$CACHE/kube"
exec 9>"$CACHE/kube/.coredns.lock"
flock 9
if [[ -x "$out/coredns" ]]; then
	echo "$out/coredns"
	exit 0
fi

echo "building coredns v$COREDNS_VERSION" >&2
rm -rf "$out.partial"
# Installed into a partial directory, renamed when whole: an interrupted build leaves
# nothing that looks complete.
GOBIN="$out.partial" go install -trimpath -ldflags "-s -w" "github.com/coredns/coredns@v$COREDNS_VERSION" >&2
rm -rf "$out"
mv "$out.partial" "$out"
echo "$out/coredns"
