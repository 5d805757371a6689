#!/usr/bin/env bash
# Usage: bash bench/build/run.sh [--rounds N] [--cold N] [--berth PATH] [--also NAME=PATH]
#                                [--no-docker] [--no-podman] [--gap SECONDS]
#
# Builds one multi-stage Dockerfile (a stage writing 2,000 small files and
# a 50 MB file; a final stage copying them and a 500-file context
# directory) with berth, docker (BuildKit, an isolated dockerd) and podman
# (isolated roots), in the same run: cold builds, no-op rebuilds, and
# rebuilds after changing one context file, the engines taking turns.
# Prints one table. Needs root. See bench/README.md, "Build benchmark".
#
#   --rounds N      timed rebuilds of each kind per engine (default 7)
#   --cold N        cold builds per engine (default 3)
#   --berth PATH    berth binary (default: build ./cmd/berth into the run's temp dir)
#   --also NAME=PATH  time another berth binary as engine NAME too (repeatable): an
#                   A/B of a change to berth against the work tree's, in the same run
#   --no-docker     leave docker out
#   --no-podman     leave podman out
#   --gap SECONDS   pause before each timed build (default 0.5)
set -euo pipefail
export LC_ALL=C

rounds=7
colds=3
berth=
also=()
docker=1
podman=1
gap=0.5
while [ $# -gt 0 ]; do
	case $1 in
	--rounds) rounds=$2; shift ;;
	--cold) colds=$2; shift ;;
	--berth) berth=$(realpath -m "$2"); shift ;;
	--also)
		case $2 in [a-z]*=?*) ;; *) echo "build/run.sh: --also takes NAME=PATH" >&2; exit 2 ;; esac
		also+=("${2%%=*}=$(realpath -m "${2#*=}")")
		shift
		;;
	--no-docker) docker=0 ;;
	--no-podman) podman=0 ;;
	--gap) gap=$2; shift ;;
	-h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
	*) echo "build/run.sh: unknown argument $1" >&2; exit 2 ;;
	esac
	shift
done
case $rounds$colds in *[!0-9]*) echo "build/run.sh: --rounds and --cold take a number" >&2; exit 2 ;; esac
if [ "$rounds" -lt 1 ] || [ "$colds" -lt 1 ]; then echo "build/run.sh: --rounds and --cold must be at least 1" >&2; exit 2; fi

[ "$(id -u)" = 0 ] || { echo "build/run.sh: must run as root" >&2; exit 1; }
cd "$(dirname "$0")/../.."
export PATH=$PATH:/usr/local/go/bin:/usr/sbin:/sbin
# shellcheck source=bench/lib.sh
. bench/lib.sh

install_engines
dockercli=/usr/bin/docker
# Debian's docker CLI builds with the daemon's BuildKit when asked to.
export DOCKER_BUILDKIT=1

# Everything lives under $tmp and, for dockerd's sockets and exec root,
# $drun; docker's and podman's RUN containers under the cgroup /$cg.
tmp=$(mktemp -d /tmp/berth-buildbench.XXXXXX)
drun=/run/berth-buildbench.${tmp##*.}
cg=berth-buildbench.${tmp##*.}
ctx=$tmp/context
base=bench/busybox
out=bench/out
dockerd_pid=
note_host_files

# The berth binaries: berth's and --also's, by engine name; each has its
# own --root. berth_ ENGINE ARGS… runs one.
declare -A bins
berth_() { "${bins[$1]}" --root "$tmp/root-$1" "${@:2}"; }
on_exit clean_run

# ------------------------------------------------- engines, image, context

declare -A fail
engines=(berth)
build_berth
[ -z "$berth_fail" ] || fail[berth]=$berth_fail
bins[berth]=$berth
for a in "${also[@]}"; do
	n=${a%%=*}
	bins[$n]=${a#*=}
	engines+=("$n")
	[ -x "${bins[$n]}" ] || fail[$n]="no executable ${bins[$n]}"
done

busybox_tar

# The context: the Dockerfile and src/ with 500 small files. The first stage
# writes 2,000 small files and 50 MB of random data; the final stage copies
# them and src/.
mkdir -p "$ctx/src"
for ((i = 1; i <= 500; i++)); do printf 'context file %d\n' "$i" >"$ctx/src/f$i.txt"; done
cat >"$ctx/Dockerfile" <<EOF
FROM $base AS gen
RUN mkdir -p /out/small && cd /out/small && i=0 && while [ \$i -lt 2000 ]; do echo "generated file \$i" > f\$i.txt; i=\$((i+1)); done && dd if=/dev/urandom of=/out/big.bin bs=1M count=50 2>/dev/null

FROM $base
COPY --from=gen /out /data
COPY src/ /app/src/
CMD ["sh"]
EOF

if [ $docker = 1 ]; then
	engines+=(docker)
	start_dockerd "$tmp" --cgroup-parent "/$cg" || fail[docker]="dockerd did not start: $(first_line "$tmp/dockerd.log" 1)"
fi
[ $podman = 0 ] || { engines+=(podman); mkdir -p "$tmp/podman"; }

# fresh ENGINE: empty build cache and state but for the base image.
fresh() {
	case $1 in
	docker)
		"$dockercli" rmi -f "$out" 2>/dev/null || true
		"$dockercli" builder prune -af
		"$dockercli" image inspect "$base" >/dev/null 2>&1 || "$dockercli" import -c 'CMD ["sh"]' "$tmp/busybox.tar" "$base"
		;;
	podman)
		podman_ rmi -af 2>/dev/null || true
		podman_ import -q -c 'CMD ["sh"]' "$tmp/busybox.tar" "$base"
		;;
	*)
		rm -rf "$tmp/root-$1"
		berth_ "$1" import -c 'CMD ["sh"]' "$tmp/busybox.tar" "$base"
		;;
	esac
}
# RUN shares the host's network: berth's default, as BuildKit's with the
# docker driver; dockerd here has no bridge. buildah puts RUN itself in
# the --cgroup-parent (not below it), so podman gets one docker's
# containers are not in.
build() { # engine
	case $1 in
	docker) "$dockercli" build -q --network host -t "$out" "$ctx" ;;
	podman)
		podman_ build -q --layers --network host --runtime runc --cgroup-parent "/$cg/podman" \
			--ulimit nofile=1024:1024 --ulimit nproc=1000:1000 -t "$out" "$ctx"
		;;
	*) berth_ "$1" build -q -t "$out" "$ctx" ;;
	esac
}
# check ENGINE WANT: the image has the 2,000 files, the 50 MB file and
# src/f1.txt as WANT.
check() {
	local got cmd=(sh -c 'ls /data/small | wc -l; wc -c </data/big.bin; ls /app/src | wc -l; cat /app/src/f1.txt')
	case $1 in
	docker) got=$("$dockercli" run --rm --network none "$out" "${cmd[@]}") ;;
	podman) got=$(podman_ run --rm --runtime runc --network none --cgroup-parent "/$cg/podman" \
		--ulimit nofile=1024:1024 --ulimit nproc=1000:1000 "$out" "${cmd[@]}") ;;
	*) got=$(berth_ "$1" run --rm --network none "$out" "${cmd[@]}") ;;
	esac
	got=$(tr -s ' \n' ' ' <<<"$got")
	[ "$got" = "2000 52428800 500 $2 " ] || { echo "the built image has: $got; want: 2000 52428800 500 $2"; return 1; }
}

us() { local t=${1/./}; echo $((10#$t)); } # EPOCHREALTIME -> microseconds
declare -A samples
# timed KIND ENGINE: one timed build after a pause; a failure marks the engine.
timed() {
	local kind=$1 e=$2 t0 t1 rc=0
	sleep "$gap"
	t0=$EPOCHREALTIME
	build "$e" >"$tmp/$e.out" 2>&1 || rc=$?
	t1=$EPOCHREALTIME
	if [ $rc != 0 ]; then
		fail[$e]="$kind build: $(grep -i error "$tmp/$e.out" | tail -1 | cut -c1-160 || first_line "$tmp/$e.out" $rc)"
		say "$e: failed: ${fail[$e]}; its output:"
		tail -20 "$tmp/$e.out" >&2
		return
	fi
	samples[$kind.$e]+="$(($(us "$t1") - $(us "$t0"))) "
}
# each FUNC ROUND: FUNC ENGINE for every engine still going, the one that
# goes first rotating with ROUND.
each() {
	local k=${#engines[@]} j e
	for ((j = 0; j < k; j++)); do
		e=${engines[($2 + j) % k]}
		[ -z "${fail[$e]:-}" ] || continue
		"$1" "$e"
	done
}

cold() {
	fresh "$1" >"$tmp/$1.out" 2>&1 || { fail[$1]="setup: $(first_line "$tmp/$1.out" 1)"; return; }
	sync
	timed cold "$1"
}
noop() { timed noop "$1"; }
onefile() { timed onefile "$1"; }

say "cold: $colds builds per engine (${engines[*]}), each from an empty build cache"
for ((r = 0; r < colds; r++)); do each cold "$r"; done
say "no-op: $rounds rebuilds per engine"
for ((r = 0; r < rounds; r++)); do each noop "$r"; done
say "one file changed: $rounds rebuilds per engine"
for ((r = 0; r < rounds; r++)); do
	printf 'changed in round %d\n' "$r" >>"$ctx/src/f1.txt"
	each onefile "$r"
done
want=$(tr -s ' \n' ' ' <"$ctx/src/f1.txt")
for e in "${engines[@]}"; do
	[ -z "${fail[$e]:-}" ] || continue
	msg=$(check "$e" "${want% }" 2>&1) || { fail[$e]="check: $(head -1 <<<"$msg")"; say "$e: ${fail[$e]}"; }
done

# ---------------------------------------------------------------- report

median() { # µs samples -> ms
	tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{ v[NR] = $1 / 1e3 }
		END { if (NR) printf "%.1f\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
declare -A med
for k in "${!samples[@]}"; do med[$k]=$(median "${samples[$k]}"); done
cell() { # kind engine -> "1234.5" or "-"
	echo "${med[$1.$2]:--}"
}
vs() { # kind engine -> the docker median over the engine's, "3.2×"
	local a=${med[$1.docker]:-} b=${med[$1.$2]:-}
	if [ -n "$a" ] && [ -n "$b" ]; then awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f×", a / b }'; else echo -; fi
}
ver() { "$@" 2>/dev/null | head -1 || true; }

echo
bv=
[ -n "${fail[berth]:-}" ] || bv=$(ver "$berth" --version)
echo "berth: $berth ($berth_from${bv:+; $bv}), --root in the temp dir"
for a in "${also[@]}"; do echo "${a%%=*}: ${a#*=} (--also)"; done
[ $docker = 0 ] || echo "docker: $("$dockercli" version -f 'client {{.Client.Version}}, dockerd {{.Server.Version}}' 2>/dev/null), BuildKit (DOCKER_BUILDKIT=1), overlay2"
[ $podman = 0 ] || echo "podman: $(ver podman --version | awk '{ print $3 }') (buildah $(ver buildah --version | awk '{ print $3 }')), --layers, --runtime runc, overlay"
echo "kernel: $(uname -sr), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); state on $(findmnt -no FSTYPE -T "$tmp"); medians of $colds cold builds and $rounds rebuilds, ${gap}s pause"
echo
printf '| %-6s | %9s | %8s | %11s | %17s | %17s | %20s |\n' engine "cold ms" "no-op ms" "one-file ms" "BuildKit/e cold" "BuildKit/e no-op" "BuildKit/e one-file"
printf '|%s|%s:|%s:|%s:|%s:|%s:|%s:|\n' -------- ---------- --------- ------------ ------------------ ------------------ ---------------------
for e in "${engines[@]}"; do
	if [ -z "${med[cold.$e]:-}" ]; then
		printf '| %-6s | failed (%s) |\n' "$e" "${fail[$e]:-}"
		continue
	fi
	# the × is 2 bytes and 1 column: one more in the width
	printf '| %-6s | %9s | %8s | %11s | %18s | %18s | %21s |' "$e" "$(cell cold "$e")" "$(cell noop "$e")" "$(cell onefile "$e")" \
		"$(vs cold "$e")" "$(vs noop "$e")" "$(vs onefile "$e")"
	[ -z "${fail[$e]:-}" ] || printf ' failed (%s)' "${fail[$e]}"
	echo
done
echo
if [ -n "${med[noop.docker]:-}" ] && [ -n "${med[noop.berth]:-}" ]; then
	awk -v dc="${med[cold.docker]}" -v bc="${med[cold.berth]}" -v dn="${med[noop.docker]}" -v bn="${med[noop.berth]}" \
		-v d1="${med[onefile.docker]:-0}" -v b1="${med[onefile.berth]:-1}" 'BEGIN {
		printf "no-op rebuild: BuildKit/berth %.1f× (goal ≥ 3×: %s)\n", dn / bn, (dn / bn >= 3 ? "met" : "NOT met")
		printf "one-file rebuild: BuildKit/berth %.1f× (goal ≥ 2×: %s)\n", d1 / b1, (d1 / b1 >= 2 ? "met" : "NOT met")
		printf "cold build: berth/BuildKit %.2f× (goal ≤ 1×: %s)\n", bc / dc, (bc <= dc ? "met" : "NOT met") }'
fi
