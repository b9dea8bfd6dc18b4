#!/usr/bin/env bash
# The Python image the e2e's Prefect workers and flow-run Jobs run: Debian's python3.11 from
# Debian's packages and a venv with the pinned prefect and prefect-kubernetes from PyPI,
# built without Docker or a registry (the cluster imports the tarball). Users get Prefect's
# official images; this one exists because none can be pulled here.
#
#   hack/worker-image.sh FLOWS_DIR OUT.tar   writes localhost/prefect-worker:e2e with FLOWS_DIR
#                                            in /opt/prefect/flows ("" for none) to OUT.tar,
#                                            and prints OUT.tar's path
#
# The image runs as uid 65532 (nonroot, HOME /home/nonroot) in /opt/prefect with the venv
# first on PATH and no entrypoint, so a Job's args (`prefect flow-run execute`) run as they
# are; hack/imagebuild's worker spec says so. The tree (the packages unpacked, the venv
# installed in a chroot of it) is cached under $CACHE/worker-rootfs-<pins>, marked complete
# by a stamp written last; a warm run only writes the tarball. The first run needs root
# (chroot); concurrent callers wait for one build (flock).
set -euo pipefail

PREFECT_VERSION="${PREFECT_VERSION:-3.9.1}"
PREFECT_KUBERNETES_VERSION="0.8.0"
CACHE="${CACHE:-$HOME/.cache/prefectgo}"
TAG="${WORKER_IMAGE:-localhost/prefect-worker:e2e}"
HACK="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
flows=${1?usage: hack/worker-image.sh FLOWS_DIR OUT.tar}
out=${2:?usage: hack/worker-image.sh FLOWS_DIR OUT.tar}
pins="prefect==$PREFECT_VERSION prefect-kubernetes==$PREFECT_KUBERNETES_VERSION"
root="$CACHE/worker-rootfs-$PREFECT_VERSION-$PREFECT_KUBERNETES_VERSION"
stamp="$root.complete"
nonroot=65532 # the image's user (hack/imagebuild's worker spec)
# Debian's python3.11 and what it needs at run time; left out: the package tools (dpkg,
# debconf, perl), tar and openssl's command, and ca-certificates, whose bundle is made from
# its certificates below rather than by its scripts.
# libstdc++6: greenlet (SQLAlchemy's asyncio, which prefect imports) is C++.
packages=(python3.11 python3.11-venv libstdc++6)
# What the stamp holds: a tree made from other pins, packages or steps is rebuilt. Bump
# recipe when the steps change.
want="recipe=2 $pins ${packages[*]}"
leave_out='^(ca-certificates|cdebconf|debconf|dpkg|install-info|libdebian-installer4|libnewt0.52|libslang2|libtextwrap1|perl|perl-base|perl-modules-.*|libperl.*|libgdbm-compat4|tar|openssl|mailcap|mime-support)$'

log() { echo "worker-image.sh: $*" >&2; }

build_rootfs() {
	local work debs
	work=$(mktemp -d)
	trap "rm -rf '$work'" EXIT
	# Nothing is ever mounted into the tree (it gets device nodes of its own), and it is
	# removed without crossing into another file system all the same.
	rm -rf --one-file-system "$root.partial"
	mkdir -p "$root.partial" "$work/debs"
	# apt downloads as its own user where it can.
	chmod 755 "$work" && chown _apt "$work/debs" 2>/dev/null || true

	log "downloading Debian's python3.11 and its dependencies"
	apt-get update -qq >&2
	mapfile -t debs < <(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
		--no-breaks --no-replaces --no-enhances --no-pre-depends "${packages[@]}" |
		grep -v '^[ <]' | sort -u | grep -Ev "$leave_out")
	(cd "$work/debs" && apt-get download -qq "${debs[@]}" >&2)
	for deb in "$work"/debs/*.deb; do
		dpkg-deb -x "$deb" "$root.partial"
	done
	rm -rf "$root.partial"/usr/share/{doc,man,info,lintian}
	# The CA bundle as update-ca-certificates writes it by default: every certificate of
	# Debian's ca-certificates, each ending in a newline. Not the host's bundle, which may
	# trust authorities of this machine only.
	mkdir "$work/ca"
	(cd "$work/debs" && apt-get download -qq ca-certificates >&2)
	dpkg-deb -x "$work"/debs/ca-certificates_*.deb "$work/ca"
	awk 1 "$work"/ca/usr/share/ca-certificates/mozilla/*.crt >"$work/ca-certificates.crt"

	log "installing $pins from PyPI into a venv at /opt/prefect, in a chroot of the tree"
	# pip runs under the image's own python, so environment markers are judged as they
	# will be at run time; copies of the host's resolver files and CA bundle serve the
	# downloads (the host may reach PyPI through a proxy only it trusts), and the few device
	# nodes python uses are made, not mounted. Nothing of the host's environment goes in.
	mkdir -p "$root.partial"/{dev,tmp,etc/ssl/certs}
	chmod 1777 "$root.partial/tmp"
	mknod -m 666 "$root.partial/dev/null" c 1 3
	mknod -m 666 "$root.partial/dev/zero" c 1 5
	mknod -m 666 "$root.partial/dev/random" c 1 8
	mknod -m 666 "$root.partial/dev/urandom" c 1 9
	cp /etc/resolv.conf /etc/hosts "$root.partial/etc/"
	cp /etc/ssl/certs/ca-certificates.crt "$root.partial/etc/ssl/certs/"
	in_tree() {
		env -i PATH=/usr/bin:/bin HOME=/tmp PIP_DISABLE_PIP_VERSION_CHECK=1 \
			PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_DEFAULT_TIMEOUT=180 \
			"$(command -v chroot)" "$root.partial" "$@" >&2
	}
	in_tree /usr/bin/python3.11 -m venv /opt/prefect
	in_tree /opt/prefect/bin/pip install -q --no-cache-dir $pins
	rm -f "$root.partial"/etc/{resolv.conf,hosts}
	cp "$work/ca-certificates.crt" "$root.partial/etc/ssl/certs/ca-certificates.crt"

	# As the image runs: its user, the venv on PATH, a HOME it can write (the image's is
	# /home/nonroot, in the base layer).
	log "checking prefect and prefect_kubernetes as uid $nonroot"
	as_image_user() {
		env -i PATH=/opt/prefect/bin:/usr/bin:/bin HOME=/tmp SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
			"$(command -v chroot)" --userspec=$nonroot:$nonroot "$root.partial" "$@" >&2
	}
	as_image_user prefect version
	as_image_user python -c 'import prefect_kubernetes.worker'
	# The base layer's /tmp (1777) stands; the device nodes go.
	rm -rf --one-file-system "$root.partial"/{dev,tmp}
	rm -rf --one-file-system "$root"
	mv "$root.partial" "$root"
	echo "$want" >"$stamp"
}

if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
	[[ "$(id -u)" -eq 0 ]] || { log "must run as root (chroot) the first time"; exit 1; }
	mkdir -p "$CACHE"
	exec 9>"$root.lock"
	flock -w 1800 9 || { log "timed out waiting for another worker-image.sh"; exit 1; }
	if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
		build_rootfs
	fi
	exec 9>&-
fi
out=$(realpath -m "$out")
mkdir -p "$(dirname "$out")"
args=(-rootfs "$root" -tag "$TAG" -o "$out")
# The base layer takes the tree's bundle too (imagebuild's default is the host's), so both
# layers hold Debian's and no file of this machine goes into the image.
args+=(-ca-certs "$root/etc/ssl/certs/ca-certificates.crt")
if [[ -n "$flows" ]]; then
	args+=(-flows "$(cd "$flows" && pwd)")
fi
go run -C "$HACK/imagebuild" . "${args[@]}"
echo "$out"
