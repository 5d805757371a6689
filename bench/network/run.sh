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
# shellcheck source=bench/lib.sh
. bench/lib.sh

# Packages, from Debian: the engines (install_engines) and iperf3, nft,
# nsenter and ip.
need=()
command -v iperf3 >/dev/null || need+=(iperf3)
command -v nft >/dev/null || need+=(nftables)
command -v nsenter >/dev/null || need+=(util-linux)
command -v ip >/dev/null || need+=(iproute2)
if [ ${#need[@]} -gt 0 ]; then
	say "installing ${need[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
install_engines
dockercli=/usr/bin/docker

# Everything lives under $tmp and, for dockerd's sockets and exec root,
# $drun; each engine (and the loopback) in the network namespace
# $ns-ENGINE; every engine's containers under the cgroup /$cg.
tmp=$(mktemp -d /tmp/berth-netbench.XXXXXX)
sfx=${tmp##*.}
drun=/run/berth-netbench.$sfx
cg=berth-netbench.$sfx
ns=nbench-$sfx
broot=$tmp/berth-root
image=bench/iperf3
dockerd_pid=
note_host_files

# Live (not zombie) processes in network namespace $ns-$1.
pids_in_ns() {
	local want p st
	want=$(stat -L -c %i "/run/netns/$ns-$1" 2>/dev/null) || return 0
	for p in /proc/[0-9]*; do
		[ "$(stat -L -c %i "$p/ns/net" 2>/dev/null)" = "$want" ] || continue
		{ read -r st <"$p/stat"; } 2>/dev/null || continue
		st=${st##*) } st=${st%% *}
		[ "$st" != Z ] && echo "${p#/proc/}"
	done
	return 0
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
# lib.sh's podman_ and start_dockerd run these: podman and dockerd in
# their engine's namespace (dockerd in the cgroup /$cg/dockerd).
podman() { nsenter --net="/run/netns/$ns-podman" "$(type -P podman)" "$@"; }
dockerd() { in_cg dockerd nsenter --net="/run/netns/$ns-docker" "$(type -P dockerd)" "$@"; }
berth_() { in_ns "$ns-berth" "$berth" --root "$broot" "$@"; }
eng() { # engine args...: the engine's CLI
	local e=$1
	shift
	case $e in
	berth) berth_ "$@" ;;
	docker) "$dockercli" "$@" ;;
	podman) podman_ --network-config-dir "$tmp/podman/networks" "$@" ;;
	esac
}
run_() { # engine args...: `run` with the engine's own options
	local e=$1
	shift
	case $e in
	podman) eng podman run --runtime runc --ulimit nofile=1024:1024 --ulimit nproc=1000:1000 --cgroup-parent "/$cg" "$@" ;;
	*) eng "$e" run --cgroup-parent "/$cg" "$@" ;;
	esac
}
rm_all() { # engine: remove every container and the bench network
	local ids
	case $1 in
	podman) eng podman rm -af -t 0 >/dev/null ;;
	*) mapfile -t ids < <(eng "$1" ps -aq); [ ${#ids[@]} = 0 ] || eng "$1" rm -f "${ids[@]}" >/dev/null ;;
	esac
	eng "$1" network rm nbench >/dev/null 2>&1 || true
}
declare -A fail
engines=(berth)
[ $docker = 0 ] || engines+=(docker)
[ $podman = 0 ] || engines+=(podman)
cleanup() {
	local m e
	[ ! -x "$berth" ] || [ ! -d "$broot" ] || rm_all berth 2>/dev/null
	[ $podman = 0 ] || [ ! -d "$tmp/podman" ] || rm_all podman 2>/dev/null
	[ ! -e "$drun/docker.pid" ] || rm_all docker 2>/dev/null
	stop_docker
	# Whatever still runs in the run's namespaces (berth shims, conmon,
	# docker-proxy, iperf3 servers) is the run's.
	for e in lo "${engines[@]}"; do
		for m in $(pids_in_ns "$e"); do stop_pid "$m" 5; done
		[ ! -e "/run/netns/$ns-$e" ] || ip netns del "$ns-$e" || say "cleanup: cannot delete netns $ns-$e"
	done
	clean_run
	for m in $(ip netns list | awk -v p="$ns-" 'index($1, p) == 1 { print $1 }'); do say "cleanup: netns $m left"; done
}
on_exit cleanup

# ------------------------------------------------- namespaces, engines, image

for e in lo "${engines[@]}"; do
	ip netns add "$ns-$e"
	ip -n "$ns-$e" link set lo up
done
build_berth
[ -z "$berth_fail" ] || fail[berth]=$berth_fail

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

# docker: its own dockerd in its own namespace (lib.sh's start_dockerd:
# its own data root, exec root, socket, key and client config), with
# iptables and the userland proxy on, as they come; no default bridge.
if [ $docker = 1 ]; then
	start_dockerd "$tmp" --iptables=true --ip-masq=true --cgroup-parent "/$cg" ||
		fail[docker]="dockerd did not start: $(first_line "$tmp/dockerd.log" 1)"
fi
[ $podman = 0 ] || mkdir -p "$tmp/podman/networks"

# Per engine: the image, a network nbench (10.201.0.0/24 in every
# namespace: they never see each other) and the server, iperf3 -s on it
# with 5201 published on 15201.
declare -A srv_ip
for e in "${engines[@]}"; do
	[ -z "${fail[$e]:-}" ] || continue
	{
		eng "$e" import -c 'CMD ["sh"]' "$tmp/iperf3.tar" "$image" || { fail[$e]=import; continue; }
		dns=()
		[ "$e" != podman ] || dns=(--disable-dns)
		eng "$e" network create "${dns[@]}" --subnet 10.201.0.0/24 nbench || { fail[$e]="network create"; continue; }
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
	n0=$(pids_in_ns "$e" | wc -l)
	t0=$EPOCHREALTIME
	run_ "$e" -d --name plain --network nbench "$image" sleep 1000 >"$tmp/$e.out" 2>&1 || { t_range[$e]="failed: $(first_line "$tmp/$e.out" 1)"; continue; }
	t1=$EPOCHREALTIME
	n1=$(pids_in_ns "$e" | wc -l)
	t_plain[$e]=$(($(ms "$t1") - $(ms "$t0")))
	t0=$EPOCHREALTIME
	run_ "$e" -d --name range --network nbench -p "$lo_port-$hi_port:$lo_port-$hi_port" "$image" \
		sh -c "while true; do echo range | nc -l -p $mid; done" >"$tmp/$e.out" 2>&1 ||
		{ t_range[$e]="failed: $(first_line "$tmp/$e.out" 1)"; continue; }
	t1=$EPOCHREALTIME
	n2=$(pids_in_ns "$e" | wc -l)
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
[ $docker = 0 ] || echo "docker: $("$dockercli" version -f 'client {{.Client.Version}}, dockerd {{.Server.Version}}' 2>/dev/null), bridge driver, iptables, userland proxy on (as they come)"
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
