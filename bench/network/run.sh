#!/usr/bin/env bash
# Usage: bash bench/network/run.sh [--rounds N] [--time SECONDS] [--ports N] [--berth PATH]
#                                  [--no-docker] [--no-podman]
#
# iperf3 throughput with berth, Docker (an isolated dockerd, userland proxy
# on, as it comes) and Podman (netavark), all in the same run:
# container-to-container on one user-defined network, and from the host to
# a container through a published port on 127.0.0.1, against the loopback
# as the ceiling; then the time to publish a range of N host ports
# (-p 20000-20999:20000-20999) and the extra processes it costs. Every
# engine runs in a network namespace of its own, made for the run, so none
# touches the host's (or another engine's) bridges and firewall rules.
# Prints one table. Needs root. See bench/README.md, "Network benchmark".
#
#   --rounds N      timed rounds of every iperf3 test (default 3; the median is reported)
#   --time SECONDS  length of each iperf3 test (default 5)
#   --ports N       size of the published range (default 1000)
#   --berth PATH    berth binary (default: build ./cmd/berth into the run's temp dir)
#   --no-docker     skip docker
#   --no-podman     skip podman
set -euo pipefail
export LC_ALL=C

rounds=3
secs=5
nports=1000
berth=
docker=1
podman=1
while [ $# -gt 0 ]; do
	case $1 in
	--rounds) rounds=$2; shift ;;
	--time) secs=$2; shift ;;
	--ports) nports=$2; shift ;;
	--berth) berth=$(realpath -m "$2"); shift ;;
	--no-docker) docker=0 ;;
	--no-podman) podman=0 ;;
	-h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
	*) echo "network/run.sh: unknown argument $1" >&2; exit 2 ;;
	esac
	shift
done
case $rounds$secs$nports in *[!0-9]*) echo "network/run.sh: --rounds, --time and --ports take a number" >&2; exit 2 ;; esac
if [ "$rounds" -lt 1 ] || [ "$secs" -lt 1 ] || [ "$nports" -lt 1 ] || [ "$nports" -gt 10000 ]; then
	echo "network/run.sh: --rounds and --time at least 1, --ports 1 to 10000" >&2
	exit 2
fi

[ "$(id -u)" = 0 ] || { echo "network/run.sh: must run as root" >&2; exit 1; }
cd "$(dirname "$0")/../.."
export PATH=$PATH:/usr/local/go/bin:/usr/sbin:/sbin
say() { printf '%s\n' "$*" >&2; }

# Packages, from Debian. /usr/bin/docker is the CLI that comes with docker.io.
need=()
command -v iperf3 >/dev/null || need+=(iperf3)
command -v nft >/dev/null || need+=(nftables)
command -v nsenter >/dev/null || need+=(util-linux)
command -v ip >/dev/null || need+=(iproute2)
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' || need+=(busybox-static)
[ $docker = 0 ] || { [ -x /usr/bin/docker ] && command -v dockerd >/dev/null; } || need+=(docker.io)
[ $podman = 0 ] || { command -v podman >/dev/null && command -v runc >/dev/null; } || need+=(podman runc)
if [ ${#need[@]} -gt 0 ]; then
	say "installing ${need[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
dockercli=/usr/bin/docker

# Everything lives under $tmp and, for dockerd's sockets and exec root,
# $drun; each engine (and the loopback) in the network namespace
# $ns-ENGINE; docker's and podman's container cgroups under /$cg.
tmp=$(mktemp -d /tmp/berth-netbench.XXXXXX)
sfx=${tmp##*.}
drun=/run/berth-netbench.$sfx
cg=berth-netbench.$sfx
ns=nbench-$sfx
broot=$tmp/berth-root
image=bench/iperf3
dockerd_pid=
# Written by podman as root whatever its paths; removed if this run made them.
host_new=()
for f in /var/lib/containers/cache/blob-info-cache-v1.boltdb /var/lib/containers/cache /var/lib/containers \
	/dev/shm/libpod_lock /run/containers/networks /run/containers; do [ -e "$f" ] || host_new+=("$f"); done

alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }
stop_pid() { # pid [seconds]: SIGTERM, then SIGKILL after the timeout
	local pid=$1 i
	alive "$pid" || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < ${2:-10} * 10; i++)); do
		alive "$pid" || return 0
		sleep 0.1
	done
	say "cleanup: pid $pid did not exit after SIGTERM, killing it"
	kill -KILL "$pid" 2>/dev/null || true
	sleep 0.2
}
# Live (not zombie) processes whose command line mentions $1.
pids_using() {
	local p
	for p in /proc/[0-9]*; do
		[ "${p#/proc/}" != $$ ] || continue
		[ "$(awk '{ print $3 }' "$p/stat" 2>/dev/null)" != Z ] || continue
		tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -qF -- "$1" && echo "${p#/proc/}"
	done
	return 0
}
# Processes in network namespace $1 (a name under /run/netns).
pids_in_ns() {
	local want p
	want=$(stat -L -c %i "/run/netns/$1" 2>/dev/null) || return 0
	for p in /proc/[0-9]*; do
		[ "$(stat -L -c %i "$p/ns/net" 2>/dev/null)" = "$want" ] || continue
		[ "$(awk '{ print $3 }' "$p/stat" 2>/dev/null)" != Z ] || continue
		echo "${p#/proc/}"
	done
	return 0
}
mounts_under() { # mount points at or below $1, deepest first
	awk -v d="$1" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r
}
umount_under() {
	local m
	for m in $(mounts_under "$1"); do
		umount -R "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || say "cleanup: cannot unmount $m"
	done
}
in_ns() { local n=$1; shift; nsenter --net="/run/netns/$n" "$@"; }
# in_cg CGROUP CMD ARGS...: CMD in the cpu and cpuacct cgroups
# /$cg/CGROUP. Every iperf3 runs in a cgroup of its own under /$cg, the
# containers' (of every engine) as well as the host side's, so that on a
# busy machine each gets the same CPU share (a cgroup is one scheduling
# entity against the tasks outside it, however many tasks it has), and
# the CPU time of a test is /$cg's (dockerd and its docker-proxy are there
# too; with no IRQ time accounting, softirq work is charged to the task
# it interrupts: the network stack's work is in it).
in_cg() {
	local c=$1 d
	shift
	for d in /sys/fs/cgroup/cpu/$cg/$c /sys/fs/cgroup/cpuacct/$cg/$c; do mkdir -p "$d"; done
	sh -c 'echo $$ >"$0/cgroup.procs" && echo $$ >"$1/cgroup.procs" && shift && exec "$@"' \
		"/sys/fs/cgroup/cpu/$cg/$c" "/sys/fs/cgroup/cpuacct/$cg/$c" "$@"
}
cpu_ns() { cat "/sys/fs/cgroup/cpuacct/$cg/cpuacct.usage" 2>/dev/null || echo 0; }
# host_iperf3 CGROUP NS ARGS...: iperf3 in namespace $ns-NS and cgroup /$cg/CGROUP.
host_iperf3() {
	local c=$1 n=$2
	shift 2
	in_cg "$c" nsenter --net="/run/netns/$ns-$n" iperf3 "$@"
}
berth_() { in_ns "$ns-berth" "$berth" --root "$broot" "$@"; }
docker_() { "$dockercli" "$@"; }
podman_() {
	in_ns "$ns-podman" podman --root "$tmp/podman/root" --runroot "$tmp/podman/run" --tmpdir "$tmp/podman/tmp" \
		--network-config-dir "$tmp/podman/networks" --storage-driver overlay --cgroup-manager cgroupfs \
		--events-backend none "$@"
}
podman_run=(--runtime runc --ulimit nofile=1024:1024 --ulimit nproc=1000:1000 --cgroup-parent "/$cg")
eng() { # engine args...: the engine's CLI
	local e=$1
	shift
	case $e in
	berth) berth_ "$@" ;;
	docker) docker_ "$@" ;;
	podman) podman_ "$@" ;;
	esac
}
run_() { # engine args...: `run` with the engine's own options
	local e=$1
	shift
	case $e in
	podman) podman_ run "${podman_run[@]}" "$@" ;;
	*) eng "$e" run --cgroup-parent "/$cg" "$@" ;;
	esac
}
rm_all() { # engine: remove every container and the bench network
	local ids
	case $1 in
	berth) mapfile -t ids < <(berth_ ps -aq); [ ${#ids[@]} = 0 ] || berth_ rm -f "${ids[@]}" >/dev/null ;;
	docker) mapfile -t ids < <(docker_ ps -aq); [ ${#ids[@]} = 0 ] || docker_ rm -f "${ids[@]}" >/dev/null ;;
	podman) podman_ rm -af -t 0 >/dev/null ;;
	esac
	eng "$1" network rm nbench >/dev/null 2>&1 || true
}
stop_docker() {
	local pid
	[ -d "$drun" ] || return 0
	pid=$(cat "$drun/docker.pid" 2>/dev/null || echo "$dockerd_pid")
	stop_pid "$pid" 20
	alive "$dockerd_pid" && stop_pid "$dockerd_pid" 5
	stop_pid "$(cat "$drun/exec/containerd/containerd.pid" 2>/dev/null || true)" 10
	for pid in $(pids_using "$drun"); do stop_pid "$pid" 5; done
	dockerd_pid=
}
cleanup() {
	local rc=$? m d e
	set +e
	trap - EXIT INT TERM
	[ ! -x "$berth" ] || [ ! -d "$broot" ] || rm_all berth 2>/dev/null
	[ $podman = 0 ] || [ ! -d "$tmp/podman" ] || rm_all podman 2>/dev/null
	alive "$dockerd_pid" && rm_all docker 2>/dev/null
	stop_docker
	# Whatever still runs in the run's namespaces (berth shims, conmon,
	# docker-proxy, aardvark-dns, iperf3 servers) is the run's.
	for e in lo berth docker podman; do
		for m in $(pids_in_ns "$ns-$e"); do stop_pid "$m" 5; done
		[ ! -e "/run/netns/$ns-$e" ] || ip netns del "$ns-$e" || say "cleanup: cannot delete netns $ns-$e"
	done
	umount_under "$tmp"
	umount_under "$drun"
	rm -rf --one-file-system "$tmp" "$drun"
	for d in /sys/fs/cgroup/*/"$cg" /sys/fs/cgroup/"$cg"; do
		[ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
		[ ! -d "$d" ] || say "cleanup: cgroup $d left"
	done
	for m in "${host_new[@]}"; do rm -f "$m" 2>/dev/null || rmdir "$m" 2>/dev/null; done
	for m in $(mounts_under "$tmp") $(mounts_under "$drun"); do say "cleanup: still mounted: $m"; done
	for m in $(pids_using "$tmp") $(pids_using "$drun"); do say "cleanup: still running: pid $m"; done
	for m in $(ip netns list | awk -v p="$ns-" 'index($1, p) == 1 { print $1 }'); do say "cleanup: netns $m left"; done
	exit $rc
}
trap cleanup EXIT
trap 'say "interrupted, cleaning up"; exit 130' INT
trap 'say "terminated, cleaning up"; exit 143' TERM

# ------------------------------------------------- namespaces, engines, image

first_line() { grep -m1 -v '^[[:space:]]*$' "$1" | cut -c1-120 || echo "exit status $2"; }
declare -A fail
engines=(berth)
[ $docker = 0 ] || engines+=(docker)
[ $podman = 0 ] || engines+=(podman)
for e in lo "${engines[@]}"; do
	ip netns add "$ns-$e"
	ip -n "$ns-$e" link set lo up
done

rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- cmd internal go.mod go.sum 2>/dev/null || rev="$rev+dirty"
berth_from="given with --berth"
if [ -z "$berth" ]; then
	berth=$tmp/berth
	berth_from="the work tree at $rev"
	CGO_ENABLED=0 go build -o "$berth" ./cmd/berth >"$tmp/berth-build.log" 2>&1 ||
		fail[berth]="go build: $(grep -v '^#' "$tmp/berth-build.log" | first_line /dev/stdin 1)"
fi
[ -n "${fail[berth]:-}" ] || [ -x "$berth" ] || fail[berth]="no executable $berth"

# The image: hack/busybox-rootfs.sh's tree plus Debian's iperf3 and the
# libraries it links (ldd), imported into each engine from one tar.
say "image: busybox-static rootfs + $(command -v iperf3) and its libraries"
hack/busybox-rootfs.sh "$tmp/rootfs"
cp /usr/bin/iperf3 "$tmp/rootfs/usr/bin/"
for l in $(ldd /usr/bin/iperf3 | grep -o '/[^ ]*'); do
	mkdir -p "$tmp/rootfs$(dirname "$l")"
	cp -L "$l" "$tmp/rootfs$l"
done
tar -C "$tmp/rootfs" --numeric-owner -cf "$tmp/iperf3.tar" .

# docker: its own dockerd in its own namespace, with its own data root,
# exec root, sockets, key and client config; everything else as it comes
# (the default bridge, iptables, the userland proxy).
if [ $docker = 1 ]; then
	export DOCKER_CONFIG=$tmp/docker-client DOCKER_HOST=unix://$drun/docker.sock
	mkdir -p "$DOCKER_CONFIG" "$drun" "$tmp/dockerd"
	echo '{"auths":{}}' >"$DOCKER_CONFIG/config.json"
	echo "{\"deprecated-key-path\": \"$tmp/docker-key.json\"}" >"$tmp/daemon.json"
	in_cg dockerd nsenter --net="/run/netns/$ns-docker" dockerd --config-file "$tmp/daemon.json" -H "$DOCKER_HOST" \
		--data-root "$tmp/dockerd" --exec-root "$drun/exec" --pidfile "$drun/docker.pid" \
		--storage-driver overlay2 --cgroup-parent "/$cg" --log-level warn >"$tmp/dockerd.log" 2>&1 &
	dockerd_pid=$!
	for ((i = 0; i < 300; i++)); do
		docker_ version >/dev/null 2>&1 && break
		alive "$dockerd_pid" || break
		sleep 0.1
	done
	docker_ version >/dev/null 2>&1 || fail[docker]="dockerd did not start: $(first_line "$tmp/dockerd.log" 1)"
fi
[ $podman = 0 ] || mkdir -p "$tmp/podman/networks"

# Per engine: the image, a network nbench (10.201.0.0/24 in every
# namespace: they never see each other) and the server, iperf3 -s on it
# with 5201 published on 15201.
declare -A srv_ip
for e in "${engines[@]}"; do
	[ -z "${fail[$e]:-}" ] || continue
	{
		case $e in
		podman) podman_ import -q -c 'CMD ["sh"]' "$tmp/iperf3.tar" "$image" ;;
		*) eng "$e" import -c 'CMD ["sh"]' "$tmp/iperf3.tar" "$image" ;;
		esac || { fail[$e]=import; continue; }
		case $e in
		podman) podman_ network create --disable-dns --subnet 10.201.0.0/24 nbench ;;
		*) eng "$e" network create --subnet 10.201.0.0/24 nbench ;;
		esac || { fail[$e]="network create"; continue; }
		run_ "$e" -d --name srv --network nbench -p 15201:5201 "$image" iperf3 -s || { fail[$e]="run iperf3 -s"; continue; }
		srv_ip[$e]=$(eng "$e" inspect -f '{{(index .NetworkSettings.Networks "nbench").IPAddress}}' srv)
	} >"$tmp/$e.out" 2>&1
	[ -z "${fail[$e]:-}" ] || fail[$e]="${fail[$e]}: $(first_line "$tmp/$e.out" 1)"
done
host_iperf3 lo-server lo -s -D -p 5201 --pidfile "$tmp/lo-iperf3.pid"
for e in "${engines[@]}"; do [ -z "${fail[$e]:-}" ] || say "$e: failed: ${fail[$e]}"; done

# ------------------------------------------------------------------ iperf3

# One test: what to run, printing iperf3's report (-f m).
iperf() { # test
	local e=${1#*-}
	case $1 in
	loopback) host_iperf3 lo-client lo -c 127.0.0.1 -p 5201 -t "$secs" -f m ;;
	c2c-*) run_ "$e" --rm --network nbench "$image" iperf3 -c "${srv_ip[$e]}" -t "$secs" -f m ;;
	pub-*) host_iperf3 pub-client "$e" -c 127.0.0.1 -p 15201 -t "$secs" -f m ;;
	esac
}
tests=(loopback)
for e in "${engines[@]}"; do [ -n "${fail[$e]:-}" ] || tests+=("c2c-$e"); done
for e in "${engines[@]}"; do [ -n "${fail[$e]:-}" ] || tests+=("pub-$e"); done
declare -A samples tfail cpu
say "iperf3: ${#tests[@]} tests × $rounds rounds of ${secs}s, in turns"
for ((r = 0; r < rounds; r++)); do
	k=${#tests[@]}
	for ((j = 0; j < k; j++)); do
		t=${tests[(r + j) % k]}
		[ -z "${tfail[$t]:-}" ] || continue
		rc=0
		c0=$(cpu_ns)
		iperf "$t" >"$tmp/iperf.out" 2>&1 || rc=$?
		c1=$(cpu_ns)
		mbps=$(awk '/receiver$/ { print $7 }' "$tmp/iperf.out")
		gbytes=$(awk '/receiver$/ { v = $5; if ($6 == "MBytes") v /= 1024; print v }' "$tmp/iperf.out")
		if [ $rc != 0 ] || [ -z "$mbps" ]; then
			tfail[$t]=$(first_line "$tmp/iperf.out" $rc)
			say "$t: failed: ${tfail[$t]}"
		else
			samples[$t]+="$mbps "
			[ "$c1" = 0 ] || cpu[$t]+="$(awk -v c=$((c1 - c0)) -v g="$gbytes" 'BEGIN { printf "%.4f", c / 1e9 / (g * 1.073741824) }') "
		fi
	done
	say "round $((r + 1))/$rounds done"
done

# ------------------------------------------------------------- port range

# Per engine: `run -d` of a container without ports, then of one that
# publishes the range (answering on its middle port with nc), each timed;
# the processes in the engine's namespace are counted after each, and the
# middle port is dialled from the namespace.
lo_port=20000
hi_port=$((lo_port + nports - 1))
mid=$((lo_port + nports / 2))
ms() { local t=${1/./}; echo $((10#$t / 1000)); } # EPOCHREALTIME -> ms
declare -A t_plain t_range extra works
say "port range: -p $lo_port-$hi_port:$lo_port-$hi_port"
for e in "${engines[@]}"; do
	[ -z "${fail[$e]:-}" ] || continue
	n0=$(pids_in_ns "$ns-$e" | wc -l)
	t0=$EPOCHREALTIME
	run_ "$e" -d --name plain "$image" sleep 1000 >"$tmp/$e.out" 2>&1 || { t_range[$e]="failed: $(first_line "$tmp/$e.out" 1)"; continue; }
	t1=$EPOCHREALTIME
	n1=$(pids_in_ns "$ns-$e" | wc -l)
	t_plain[$e]=$(($(ms "$t1") - $(ms "$t0")))
	t0=$EPOCHREALTIME
	run_ "$e" -d --name range -p "$lo_port-$hi_port:$lo_port-$hi_port" "$image" \
		sh -c "while true; do echo range | nc -l -p $mid; done" >"$tmp/$e.out" 2>&1 ||
		{ t_range[$e]="failed: $(first_line "$tmp/$e.out" 1)"; continue; }
	t1=$EPOCHREALTIME
	n2=$(pids_in_ns "$ns-$e" | wc -l)
	t_range[$e]=$(($(ms "$t1") - $(ms "$t0")))
	extra[$e]=$(((n2 - n1) - (n1 - n0)))
	works[$e]=no
	for ((i = 0; i < 50; i++)); do
		if [ "$(in_ns "$ns-$e" timeout 2 busybox nc 127.0.0.1 "$mid" </dev/null 2>/dev/null)" = range ]; then
			works[$e]=yes
			break
		fi
		sleep 0.1
	done
	eng "$e" rm -f plain range >/dev/null 2>&1 || true
done

# ---------------------------------------------------------------- report

median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{ v[NR] = $1 } END { printf "%.6f\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
minmax() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk 'NR == 1 { a = $1 } { b = $1 } END { printf "%.1f-%.1f\n", a / 1000, b / 1000 }'; }
ver() { "$@" 2>/dev/null | head -1 || true; }
declare -A med
for t in "${tests[@]}"; do [ -z "${samples[$t]:-}" ] || med[$t]=$(median "${samples[$t]}"); done

echo
echo "image: busybox-static + iperf3 $(ver iperf3 --version | awk '{ print $2 }') (Debian) and its libraries, one layer, imported into each engine"
bv=
[ -n "${fail[berth]:-}" ] || bv=$(ver "$berth" --version)
echo "berth: $berth ($berth_from${bv:+; $bv})"
[ $docker = 0 ] || echo "docker: $(docker_ version -f 'client {{.Client.Version}}, dockerd {{.Server.Version}}' 2>/dev/null), bridge driver, iptables, userland proxy on (as it comes)"
[ $podman = 0 ] || echo "podman: $(ver podman --version | awk '{ print $3 }'), netavark $(ver "$(command -v netavark || echo /usr/lib/podman/netavark)" --version | awk '{ print $2 }'), --runtime runc"
echo "kernel: $(uname -sr), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); each engine in a network namespace of its own; $rounds rounds of ${secs}s per test, in turns"
echo
printf '| %-40s | %-6s | %6s | %9s | %11s | %8s |\n' path engine "Gbit/s" "min-max" "vs loopback" "CPU s/GB"
printf '|%s|%s|%s:|%s:|%s:|%s:|\n' ------------------------------------------ -------- ------- ---------- ------------ ---------
row() { # test path engine
	local m r c=-
	if [ -z "${med[$1]:-}" ]; then
		printf '| %-40s | %-6s | failed (%s) |\n' "$2" "$3" "${tfail[$1]:-${fail[$3]:-not run}}"
		return
	fi
	m=$(awk -v m="${med[$1]}" 'BEGIN { printf "%.1f", m / 1000 }')
	r=-
	[ -z "${med[loopback]:-}" ] || r=$(awk -v a="${med[$1]}" -v b="${med[loopback]}" 'BEGIN { printf "%.2f×", a / b }')
	[ -z "${cpu[$1]:-}" ] || c=$(median "${cpu[$1]}" | awk '{ printf "%.2f", $1 }')
	# a path with → (3 bytes, 1 column) is 2 bytes wider, the ratio's × 1
	local w=40
	[ "$1" = loopback ] || w=42
	printf "| %-${w}s | %-6s | %6s | %9s | %12s | %8s |\n" "$2" "$3" "$m" "$(minmax "${samples[$1]}")" "$r" "$c"
}
row loopback "loopback (127.0.0.1, the ceiling)" -
for e in "${engines[@]}"; do row "c2c-$e" "container → container, one user network" "$e"; done
for e in "${engines[@]}"; do row "pub-$e" "host → container, 127.0.0.1 published" "$e"; done
echo
printf '| %-6s | %9s | %26s | %15s | %-11s |\n' engine "run -d ms" "run -d -p $nports ports ms" "extra processes" "range works"
printf '|%s|%s:|%s:|%s:|%s|\n' -------- ---------- --------------------------- ---------------- -------------
for e in "${engines[@]}"; do
	if [ -z "${t_plain[$e]:-}" ] || [[ ${t_range[$e]:-} == failed* ]] || [ -z "${t_range[$e]:-}" ]; then
		printf '| %-6s | %s |\n' "$e" "${t_range[$e]:-failed (${fail[$e]:-})}"
		continue
	fi
	printf '| %-6s | %9s | %26s | %15s | %-11s |\n' "$e" "${t_plain[$e]}" "${t_range[$e]}" "${extra[$e]}" "${works[$e]}"
done
echo
goal() { # test what factor
	[ -n "${med[$1]:-}" ] && [ -n "${med[loopback]:-}" ] || return 0
	awk -v a="${med[$1]}" -v b="${med[loopback]}" -v w="$2" -v g="$3" 'BEGIN { r = a / b
		printf "berth %s: %.3f× loopback (goal ≥ %.2f×: %s)\n", w, r, g, (r >= g ? "met" : "NOT met") }'
}
goal c2c-berth "container → container" 0.90
goal pub-berth "through a published port" 0.85
if [ -n "${t_plain[berth]:-}" ] && [[ ${t_range[berth]:-} != failed* ]]; then
	d=$((t_range[berth] - t_plain[berth]))
	ok=NOT
	[ "${t_range[berth]}" -lt 1000 ] && [ "${extra[berth]}" -le 0 ] && [ "${works[berth]}" = yes ] && ok=
	echo "berth publishes $nports ports: run -d ${t_range[berth]} ms (${d} ms over a plain run -d), ${extra[berth]} extra processes, range works: ${works[berth]} (goal < 1 s, none: ${ok:+$ok }met)"
fi
