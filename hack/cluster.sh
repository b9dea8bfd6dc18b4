#!/usr/bin/env bash
# A real single-node Kubernetes cluster for the e2e tests, as root, with no systemd and no
# Docker: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and
# kube-proxy (hack/kube-bin.sh, v1.37.2) on Debian's containerd and runc with a bridge CNI,
# and CoreDNS (hack/coredns-bin.sh) as the cluster DNS.
# The recipe and the four things this machine type needs are in the shared docs
# (local-cluster.md); each is marked "machine:" below.
#
#   hack/cluster.sh up              start it (after taking down any earlier one); prints nothing on stdout
#   hack/cluster.sh down            stop every daemon by PID and remove what it left; keeps logs/
#   hack/cluster.sh import FILE...  import image tarballs into the node's containerd
#   hack/cluster.sh env             print shell exports (KUBECONFIG, PATH with kubectl, NODE_IP, ...)
#
# With the cluster comes a PostgreSQL (hack/postgres.sh, port 55433, data under the same
# directory) that pods reach at the node's address with a password; 127.0.0.1 is trusted.
#
# Everything lives under $CLUSTER_DIR (default /var/tmp/prefectgo-cluster; the pods' non-root
# users must be able to reach the volumes under it). Daemon logs: $CLUSTER_DIR/logs.
# Some paths are always written outside it by the runtime: /run/containerd, /run/netns,
# /var/lib/kubelet (a few files), /var/log/pods and /var/log/containers; down cleans ours.
set -euo pipefail

HACK="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# ip, sysctl, iptables and modprobe live in sbin, which a non-login shell may not have.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
D="${CLUSTER_DIR:-/var/tmp/prefectgo-cluster}"
POD_CIDR=10.88.0.0/16
SERVICE_CIDR=10.96.0.0/16
API_SERVICE_IP=10.96.0.1
SOCK="$D/containerd/containerd.sock"
PAUSE_IMAGE=localhost/pause:e2e
# Static hostPath volumes stand in for a provisioner (the cluster has none): enough for
# each PersistentVolumeClaim the tests make.
PV_COUNT=4
PV_SIZE=10Gi
# A PostgreSQL of its own (hack/postgres.sh) that pods reach at the node's address.
PG_PORT=55433

log() { echo "cluster.sh: $*" >&2; }
die() { log "$*"; exit 1; }

[[ "$(id -u)" -eq 0 ]] || die "must run as root"

node_ip() {
	local ip
	ip=$(ip -4 route get 1.1.1.1 2>/dev/null | awk '{for (i = 1; i < NF; i++) if ($i == "src") { print $(i + 1); exit }}')
	[[ -n "$ip" ]] || ip=$(hostname -I 2>/dev/null | awk '{print $1}')
	[[ -n "$ip" ]] || die "cannot find this node's IPv4 address"
	echo "$ip"
}

NODE_NAME=$(hostname | tr '[:upper:]' '[:lower:]')

ctr_() { ctr --address "$SOCK" "$@"; }

# ---------------------------------------------------------------- packages and binaries

ensure_packages() {
	local missing=()
	command -v containerd >/dev/null || missing+=(containerd)
	command -v runc >/dev/null || missing+=(runc)
	[[ -x /usr/lib/cni/bridge ]] || missing+=(containernetworking-plugins)
	command -v iptables >/dev/null || missing+=(iptables)
	command -v socat >/dev/null || missing+=(socat)
	command -v conntrack >/dev/null || missing+=(conntrack)
	command -v openssl >/dev/null || missing+=(openssl)
	command -v ip >/dev/null || missing+=(iproute2)
	command -v pgrep >/dev/null || missing+=(procps)
	command -v modprobe >/dev/null || missing+=(kmod)
	((${#missing[@]} == 0)) && return 0
	log "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update >&2
	apt-get install -y --no-install-recommends "${missing[@]}" >&2
}

# ---------------------------------------------------------------- daemons

# start NAME CMD...: run CMD in the background, its own session, logs and PID under $D.
start() {
	local name=$1
	shift
	# setsid: our caller's signals (make's Ctrl-C) must not kill daemons that down stops in order.
	# 9>&-: no daemon may inherit a lock descriptor.
	setsid "$@" >"$D/logs/$name.log" 2>&1 </dev/null 9>&- &
	echo $! >"$D/pids/$name.pid"
}

port_open() { (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# running PID: the process exists and is not a zombie (this machine's init reaps them only
# every couple of seconds).
running() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[[ "${stat:0:1}" != Z ]]
}

alive() { [[ -f "$D/pids/$1.pid" ]] && running "$(cat "$D/pids/$1.pid")"; }

# stop NAME...: SIGTERM by PID to all at once (each takes a second or two to exit), then
# SIGKILL to those still running after a grace period.
stop() {
	local name pid i pids=()
	for name in "$@"; do
		[[ -f "$D/pids/$name.pid" ]] || continue
		pid=$(cat "$D/pids/$name.pid")
		rm -f "$D/pids/$name.pid"
		kill -TERM "$pid" 2>/dev/null && pids+=("$pid:$name")
	done
	for ((i = 0; i < 100; i++)); do
		local left=()
		for pid in "${pids[@]}"; do
			running "${pid%%:*}" && left+=("$pid")
		done
		pids=("${left[@]}")
		((${#pids[@]} == 0)) && return 0
		sleep 0.1
	done
	for pid in "${pids[@]}"; do
		log "${pid#*:} (${pid%%:*}) did not stop on SIGTERM; killing it"
		kill -KILL "${pid%%:*}" 2>/dev/null || true
	done
	sleep 0.5
}

# wait_for WHAT SECONDS CMD...: poll CMD until it succeeds.
wait_for() {
	local what=$1 secs=$2 i
	shift 2
	for ((i = 0; i < secs * 5; i++)); do
		if "$@" >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.2
	done
	log "timed out after ${secs}s waiting for $what; last log lines:"
	tail -n 20 "$D"/logs/*.log >&2 2>/dev/null || true
	return 1
}

# ---------------------------------------------------------------- configuration

pki() {
	local p="$D/pki" ip=$1
	mkdir -p "$p"
	openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=prefectgo-e2e-ca" \
		-keyout "$p/ca.key" -out "$p/ca.crt" 2>/dev/null
	# cert NAME SUBJECT [SANS]: a key and a certificate signed by the CA.
	cert() {
		local ext="$p/$1.ext"
		printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n' >"$ext"
		[[ -n "${3:-}" ]] && echo "subjectAltName=$3" >>"$ext"
		openssl req -newkey rsa:2048 -nodes -subj "$2" -keyout "$p/$1.key" -out "$p/$1.csr" 2>/dev/null
		openssl x509 -req -in "$p/$1.csr" -CA "$p/ca.crt" -CAkey "$p/ca.key" -CAcreateserial \
			-days 30 -extfile "$ext" -out "$p/$1.crt" 2>/dev/null
	}
	cert apiserver "/CN=kube-apiserver" \
		"DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,IP:127.0.0.1,IP:$API_SERVICE_IP,IP:$ip"
	cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
	openssl genrsa -out "$p/sa.key" 2048 2>/dev/null
	openssl rsa -in "$p/sa.key" -pubout -out "$p/sa.pub" 2>/dev/null
	# One admin token for every component and the tests: a throwaway test cluster.
	TOKEN=$(openssl rand -hex 16)
	echo "$TOKEN,admin,admin,system:masters" >"$p/tokens.csv"
	chmod 600 "$p"/*.key "$p/tokens.csv"
	cat >"$D/kubeconfig" <<-EOF
		apiVersion: v1
		kind: Config
		clusters:
		- name: e2e
		  cluster:
		    server: https://127.0.0.1:6443
		    certificate-authority: $p/ca.crt
		users:
		- name: admin
		  user:
		    token: $TOKEN
		contexts:
		- name: e2e
		  context: {cluster: e2e, user: admin}
		current-context: e2e
	EOF
	chmod 600 "$D/kubeconfig"
}

containerd_config() {
	mkdir -p "$D/containerd" "$D/cni/net.d"
	cat >"$D/containerd/config.toml" <<-EOF
		version = 2
		root = "$D/containerd/root"
		state = "$D/containerd/state"
		[grpc]
		  address = "$SOCK"
		[ttrpc]
		  address = "$SOCK.ttrpc"
		[plugins."io.containerd.internal.v1.opt"]
		  path = "$D/containerd/opt"
		[plugins."io.containerd.grpc.v1.cri"]
		  sandbox_image = "$PAUSE_IMAGE"
		  # machine: root lacks CAP_SYS_RESOURCE, so runc cannot lower oom_score_adj to -998.
		  restrict_oom_score_adj = true
		  [plugins."io.containerd.grpc.v1.cri".containerd]
		    snapshotter = "overlayfs"
		    default_runtime_name = "runc"
		    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
		      runtime_type = "io.containerd.runc.v2"
		      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
		        SystemdCgroup = false
		  [plugins."io.containerd.grpc.v1.cri".cni]
		    bin_dir = "/usr/lib/cni"
		    conf_dir = "$D/cni/net.d"
	EOF
	cat >"$D/cni/net.d/10-prefectgo.conflist" <<-EOF
		{
		  "cniVersion": "1.0.0",
		  "name": "prefectgo-e2e",
		  "plugins": [
		    {
		      "type": "bridge",
		      "bridge": "cni0",
		      "isGateway": true,
		      "ipMasq": true,
		      "hairpinMode": true,
		      "ipam": {
		        "type": "host-local",
		        "dataDir": "$D/cni/ipam",
		        "ranges": [[{"subnet": "$POD_CIDR"}]],
		        "routes": [{"dst": "0.0.0.0/0"}]
		      }
		    },
		    {"type": "portmap", "capabilities": {"portMappings": true}},
		    {"type": "loopback"}
		  ]
		}
	EOF
}

kubelet_config() {
	local ip=$1
	mkdir -p "$D/kubelet"
	cat >"$D/kubelet/config.yaml" <<-EOF
		apiVersion: kubelet.config.k8s.io/v1beta1
		kind: KubeletConfiguration
		# machine: cgroup v1 and no systemd.
		failCgroupV1: false
		cgroupDriver: cgroupfs
		containerRuntimeEndpoint: unix://$SOCK
		failSwapOn: false
		authentication:
		  anonymous: {enabled: false}
		  webhook: {enabled: true}
		  x509: {clientCAFile: $D/pki/ca.crt}
		authorization: {mode: Webhook}
		# Pods resolve Services (<name>.<namespace>.svc) through CoreDNS on the node's
		# address; it forwards other names to the node's resolvers, which pods with
		# dnsPolicy Default use directly.
		clusterDNS: [$ip]
		clusterDomain: cluster.local
		resolvConf: /etc/resolv.conf
		# Never collect the imported images (they cannot be pulled back).
		imageGCHighThresholdPercent: 100
		imageGCLowThresholdPercent: 99
		evictionHard: {memory.available: "1Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
		serializeImagePulls: false
		readOnlyPort: 0
	EOF
}

# coredns_config IP: CoreDNS answers for the cluster's Services and pods from the API (as
# a cluster's own DNS does) on the node's address, where every pod reaches it; a DaemonSet
# would need an image of it, which cannot be pulled here, for no difference a test sees.
coredns_config() {
	local ip=$1
	mkdir -p "$D/coredns"
	cat >"$D/coredns/Corefile" <<-EOF
		.:53 {
		    bind $ip
		    errors
		    ready 127.0.0.1:8181
		    kubernetes cluster.local in-addr.arpa ip6.arpa {
		        kubeconfig $D/kubeconfig
		        pods insecure
		        fallthrough in-addr.arpa ip6.arpa
		    }
		    forward . /etc/resolv.conf
		    cache 30
		}
	EOF
}

persistent_volumes() {
	local i
	for ((i = 0; i < PV_COUNT; i++)); do
		mkdir -p "$D/pv/pv$i"
		# The server runs as 65532 and hostPath volumes ignore fsGroup.
		chmod 0777 "$D/pv/pv$i"
		cat <<-EOF
			apiVersion: v1
			kind: PersistentVolume
			metadata:
			  name: e2e-pv$i
			spec:
			  capacity: {storage: $PV_SIZE}
			  accessModes: [ReadWriteOnce]
			  persistentVolumeReclaimPolicy: Retain
			  hostPath: {path: $D/pv/pv$i, type: Directory}
			---
		EOF
	done
}

# ---------------------------------------------------------------- up

up() {
	local t0=$SECONDS ip kube coredns
	ensure_packages
	kube=$("$HACK/kube-bin.sh")
	coredns=$("$HACK/coredns-bin.sh")
	if [[ -d "$D/pids" ]] && compgen -G "$D/pids/*.pid" >/dev/null; then
		log "an earlier cluster left daemons; taking it down first"
		down
	fi
	umount_under "$D"
	rm -rf "$D"
	mkdir -p "$D/logs" "$D/pids" "$D/etcd"
	chmod 755 "$D"
	echo "$kube" >"$D/kube-dir"
	ip=$(node_ip)

	# machine: pods reach Services only with forwarding on and bridged traffic through iptables.
	modprobe br_netfilter 2>/dev/null || true
	modprobe overlay 2>/dev/null || true
	sysctl -qw net.ipv4.ip_forward=1
	sysctl -qw net.bridge.bridge-nf-call-iptables=1 || log "warning: cannot set net.bridge.bridge-nf-call-iptables"

	pki "$ip"
	containerd_config
	kubelet_config "$ip"
	coredns_config "$ip"

	# machine: no systemd, so each daemon runs in the background with a PID file.
	start etcd "$kube/etcd" --name=e2e --data-dir="$D/etcd" \
		--listen-client-urls=http://127.0.0.1:2379 --advertise-client-urls=http://127.0.0.1:2379 \
		--listen-peer-urls=http://127.0.0.1:2380 --initial-advertise-peer-urls=http://127.0.0.1:2380 \
		--initial-cluster=e2e=http://127.0.0.1:2380 --listen-metrics-urls=http://127.0.0.1:2381 \
		--unsafe-no-fsync
	start containerd containerd --config "$D/containerd/config.toml"
	wait_for etcd 30 port_open 2379

	start kube-apiserver "$kube/kube-apiserver" \
		--etcd-servers=http://127.0.0.1:2379 --secure-port=6443 --advertise-address="$ip" \
		--tls-cert-file="$D/pki/apiserver.crt" --tls-private-key-file="$D/pki/apiserver.key" \
		--client-ca-file="$D/pki/ca.crt" --token-auth-file="$D/pki/tokens.csv" \
		--kubelet-client-certificate="$D/pki/apiserver-kubelet-client.crt" \
		--kubelet-client-key="$D/pki/apiserver-kubelet-client.key" \
		--service-cluster-ip-range="$SERVICE_CIDR" --authorization-mode=Node,RBAC \
		--service-account-key-file="$D/pki/sa.pub" --service-account-signing-key-file="$D/pki/sa.key" \
		--service-account-issuer=https://kubernetes.default.svc.cluster.local \
		--enable-priority-and-fairness=false
	wait_for containerd 30 ctr_ version
	# The sandbox image must be there before the kubelet asks for the first pod.
	pause_image
	import "$D/images/pause.tar"
	wait_for kube-apiserver 60 "$kube/kubectl" --kubeconfig "$D/kubeconfig" get --raw /readyz
	start coredns "$coredns" -conf "$D/coredns/Corefile"

	start kube-controller-manager "$kube/kube-controller-manager" \
		--kubeconfig="$D/kubeconfig" --authentication-kubeconfig="$D/kubeconfig" \
		--authorization-kubeconfig="$D/kubeconfig" --leader-elect=false \
		--service-account-private-key-file="$D/pki/sa.key" --root-ca-file="$D/pki/ca.crt" \
		--cluster-signing-cert-file="$D/pki/ca.crt" --cluster-signing-key-file="$D/pki/ca.key" \
		--use-service-account-credentials --service-cluster-ip-range="$SERVICE_CIDR" \
		--bind-address=127.0.0.1
	start kube-scheduler "$kube/kube-scheduler" --kubeconfig="$D/kubeconfig" \
		--authentication-kubeconfig="$D/kubeconfig" --authorization-kubeconfig="$D/kubeconfig" \
		--leader-elect=false --bind-address=127.0.0.1
	start kubelet "$kube/kubelet" --config="$D/kubelet/config.yaml" --kubeconfig="$D/kubeconfig" \
		--root-dir="$D/kubelet" --cert-dir="$D/kubelet/pki" --node-ip="$ip" \
		--hostname-override="$NODE_NAME"
	start kube-proxy "$kube/kube-proxy" --kubeconfig="$D/kubeconfig" --proxy-mode=iptables \
		--cluster-cidr="$POD_CIDR" --conntrack-max-per-core=0 --hostname-override="$NODE_NAME"

	local k=("$kube/kubectl" --kubeconfig "$D/kubeconfig")
	wait_for "node $NODE_NAME" 90 "${k[@]}" get node "$NODE_NAME"
	"${k[@]}" wait --for=condition=Ready "node/$NODE_NAME" --timeout=90s >&2 ||
		{ tail -n 30 "$D/logs/kubelet.log" >&2; die "the node did not become Ready"; }
	# Pods need their namespace's default ServiceAccount, made by the controller-manager.
	wait_for "the default ServiceAccount" 60 "${k[@]}" get serviceaccount default -n default
	persistent_volumes | "${k[@]}" apply -f - >&2
	# Ready once it has read the Services and endpoints from the API.
	wait_for coredns 30 curl -fsS -o /dev/null http://127.0.0.1:8181/ready
	pg start "$ip"
	log "up in $((SECONDS - t0))s: node $NODE_NAME ($ip); source <(hack/cluster.sh env)"
}

# ---------------------------------------------------------------- PostgreSQL

# pg start|stop|url [NODE_IP]: the cluster's PostgreSQL, under $D/postgres.
pg() {
	PREFECTGO_PG_DIR="$D/postgres" PREFECTGO_PG_PORT=$PG_PORT \
		PREFECTGO_PG_LISTEN="127.0.0.1${2:+,$2}" PREFECTGO_PG_PASSWORD_CIDR=$POD_CIDR \
		"$HACK/postgres.sh" "$1"
}

# ---------------------------------------------------------------- images, env

# pause_image: the sandbox image, a tiny static program (the usual one cannot be pulled).
pause_image() {
	mkdir -p "$D/images"
	(
		cd "$HACK/imagebuild"
		CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$D/images/pause" ./pause
		go run . -pause "$D/images/pause" -tag "$PAUSE_IMAGE" -o "$D/images/pause.tar"
	) >&2
}

import() {
	local f
	for f in "$@"; do
		ctr_ -n k8s.io images import "$f" >&2
	done
}

print_env() {
	local kube
	kube=$(cat "$D/kube-dir")
	cat <<-EOF
		export KUBECONFIG=$D/kubeconfig
		export PATH=$kube:\$PATH
		export NODE_IP=$(node_ip)
		export CLUSTER_DIR=$D
		export CONTAINERD_ADDRESS=$SOCK
		export PREFECTGO_E2E_PG_ADMIN_URL='postgres://postgres@127.0.0.1:$PG_PORT/postgres?sslmode=disable'
		export PREFECTGO_E2E_PG_HOST=$(node_ip)
		export PREFECTGO_E2E_PG_PORT=$PG_PORT
	EOF
}

# ---------------------------------------------------------------- down

umount_under() {
	local dir=$1 m
	# Deepest first; lazily, so a busy mount cannot stop the teardown.
	awk -v d="$dir/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do
		umount -l "$m" 2>/dev/null || true
	done
}

down() {
	local t0=$SECONDS kube="" k=()
	[[ -d "$D" ]] || { log "nothing to take down"; return 0; }
	mkdir -p "$D/pids"
	[[ -f "$D/kube-dir" ]] && kube=$(cat "$D/kube-dir")
	if [[ -n "$kube" ]] && alive kube-apiserver && alive kubelet; then
		k=("$kube/kubectl" --kubeconfig "$D/kubeconfig")
		# Controllers first, so nothing recreates the pods; then the kubelet stops them
		# cleanly (CNI teardown, volume unmounts) while it still runs.
		stop kube-controller-manager kube-scheduler
		"${k[@]}" delete pods --all --all-namespaces --grace-period=2 --timeout=60s --wait >/dev/null 2>&1 ||
			log "some pods did not stop in time; removing their containers directly"
	fi
	stop kube-controller-manager kube-scheduler kube-proxy kubelet coredns kube-apiserver
	stop etcd
	# Whatever the kubelet did not stop: kill and delete every task through containerd.
	if alive containerd; then
		local ns id
		for ns in $(ctr_ namespaces ls -q 2>/dev/null); do
			for id in $(ctr_ -n "$ns" tasks ls -q 2>/dev/null); do
				ctr_ -n "$ns" tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true
			done
			sleep 0.5
			for id in $(ctr_ -n "$ns" tasks ls -q 2>/dev/null); do
				ctr_ -n "$ns" tasks delete -f "$id" >/dev/null 2>&1 || true
			done
		done
	fi
	stop containerd
	if [[ -f "$D/postgres/pgdata/PG_VERSION" ]]; then
		pg stop || true
	fi
	# Shims outlive containerd by design; ours name our socket on their command line.
	local pid
	for pid in $(pgrep -f "containerd-shim.*-address $SOCK" || true); do
		kill -KILL "$pid" 2>/dev/null || true
	done
	if [[ -n "$kube" ]]; then
		"$kube/kube-proxy" --cleanup >/dev/null 2>&1 || true
	fi
	# What kube-proxy --cleanup leaves: the kubelet's KUBE-* chains, and the bridge CNI's CNI-*
	# NAT chains of pods the kubelet did not tear down. No one else on a test machine uses them.
	local cmd table chain
	for cmd in iptables ip6tables; do
		command -v "$cmd" >/dev/null || continue
		for table in filter nat mangle; do
			"$cmd" -t "$table" -S 2>/dev/null | awk '/^-A (INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING) .*-j (KUBE|CNI)-/' |
				sed 's/^-A/-D/' | while read -r rule; do
				# shellcheck disable=SC2086 # the rule is a list of words, as iptables -S printed it
				"$cmd" -t "$table" $rule 2>/dev/null || true
			done
			for chain in $("$cmd" -t "$table" -S 2>/dev/null | awk '/^-N (KUBE|CNI)-/ {print $2}'); do
				"$cmd" -t "$table" -F "$chain" 2>/dev/null || true
			done
			for chain in $("$cmd" -t "$table" -S 2>/dev/null | awk '/^-N (KUBE|CNI)-/ {print $2}'); do
				"$cmd" -t "$table" -X "$chain" 2>/dev/null || true
			done
		done
	done
	ip link delete cni0 2>/dev/null || true
	umount_under "$D"
	local n
	for n in /run/netns/cni-*; do
		[[ -e "$n" ]] || continue
		umount -l "$n" 2>/dev/null || true
		rm -f "$n"
	done
	# Keep the logs for a post-mortem; the rest goes.
	find "$D" -mindepth 1 -maxdepth 1 ! -name logs -exec rm -rf {} + 2>/dev/null || true
	rm -rf /var/log/pods /var/log/containers
	log "down in $((SECONDS - t0))s (logs kept in $D/logs)"
}

case "${1:-}" in
up) up ;;
down) down ;;
import)
	shift
	import "$@"
	;;
env) print_env ;;
*) die "usage: $0 up|down|import FILE...|env" ;;
esac
