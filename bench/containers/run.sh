#!/usr/bin/env bash
# Usage: bash bench/containers/run.sh [--runs N] [--containers N] [--berth PATH]
#                                     [--no-docker] [--no-podman] [--warmup N] [--gap SECONDS]
#
# Imports one busybox image (hack/busybox-rootfs.sh) into berth, an isolated
# dockerd and podman (isolated roots); times `run --rm IMAGE true` N times
# per engine, round robin; then runs M idle containers per engine and sums
# RSS and PSS of the per-container supervisors (berth shim, containerd-shim,
# conmon), and what stays resident once they are removed. Prints one table.
# Needs root. See bench/README.md, "Containers benchmark".
#
#   --runs N          timed `run --rm` per engine (default 50)
#   --containers N    idle containers per engine for the memory part (default 10)
#   --berth PATH      berth binary (default: build ./cmd/berth into the run's temp dir)
#   --no-docker       skip docker
#   --no-podman       skip podman
#   --warmup N        untimed rounds first (default 2)
#   --gap SECONDS     pause before each timed run (default 0.2)
set -euo pipefail
export LC_ALL=C

runs=50
ctrs=10
berth=
docker=1
podman=1
warmup=2
gap=0.2
while [ $# -gt 0 ]; do
	case $1 in
	--runs) runs=$2; shift ;;
	--containers) ctrs=$2; shift ;;
	--berth) berth=$(realpath -m "$2"); shift ;;
	--no-docker) docker=0 ;;
	--no-podman) podman=0 ;;
	--warmup) warmup=$2; shift ;;
	--gap) gap=$2; shift ;;
	-h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
	*) echo "containers/run.sh: unknown argument $1" >&2; exit 2 ;;
	esac
	shift
done
case $runs$ctrs$warmup in *[!0-9]*) echo "containers/run.sh: --runs, --containers and --warmup take a number" >&2; exit 2 ;; esac
if [ "$runs" -lt 1 ] || [ "$ctrs" -lt 1 ]; then echo "containers/run.sh: --runs and --containers must be at least 1" >&2; exit 2; fi

[ "$(id -u)" = 0 ] || { echo "containers/run.sh: must run as root" >&2; exit 1; }
cd "$(dirname "$0")/../.."
export PATH=$PATH:/usr/local/go/bin:/usr/sbin:/sbin
# shellcheck source=bench/lib.sh
. bench/lib.sh

install_engines
dockercli=/usr/bin/docker

# Everything lives under $tmp and, for dockerd's sockets and exec root,
# $drun; docker's and podman's containers under the cgroup parent /$cg.
tmp=$(mktemp -d /tmp/berth-ctrbench.XXXXXX)
drun=/run/berth-ctrbench.${tmp##*.}
cg=berth-ctrbench.${tmp##*.}
broot=$tmp/berth-root
image=bench/busybox
dockerd_pid=
note_host_files

# berth processes of this run: the bench's binary; with --berth, one that
# also has a file open under $broot (a shim holds its container's lock).
berth_pids() { # [shim]: only `berth shim`
	local p
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/exe" 2>/dev/null)" = "$berth" ] || continue
		[ -z "${1:-}" ] || [ "$(tr '\0' '\n' <"$p/cmdline" 2>/dev/null | sed -n 2p)" = shim ] || continue
		[[ $berth == "$tmp"/* ]] || find "$p/fd" -mindepth 1 -lname "$broot/*" 2>/dev/null | grep -q . || continue
		echo "${p#/proc/}"
	done
	return 0
}
podman_run=(--runtime runc --ulimit nofile=1024:1024 --ulimit nproc=1000:1000 --network none --cgroup-parent "/$cg")
rm_all() { # engine: remove every container
	local ids
	case $1 in
	berth) mapfile -t ids < <("$berth" --root "$broot" ps -aq); [ ${#ids[@]} = 0 ] || "$berth" --root "$broot" rm -f "${ids[@]}" >/dev/null ;;
	docker) mapfile -t ids < <("$dockercli" ps -aq); [ ${#ids[@]} = 0 ] || "$dockercli" rm -f "${ids[@]}" >/dev/null ;;
	podman) podman_ rm -af -t 0 >/dev/null ;;
	esac
}
cleanup() {
	local m
	[ ! -x "$berth" ] || [ ! -d "$broot" ] || rm_all berth 2>/dev/null
	for m in $(berth_pids); do stop_pid "$m" 5; done
	[ $podman = 0 ] || [ ! -d "$tmp/podman" ] || rm_all podman 2>/dev/null
	alive "$dockerd_pid" && rm_all docker 2>/dev/null
	clean_run
}
on_exit cleanup

# ------------------------------------------------------- engines and image

declare -A fail
engines=(berth)
build_berth
[ -z "$berth_fail" ] || fail[berth]=$berth_fail

busybox_tar

# docker: its own dockerd as in bench/pull/run.sh: own data root, exec
# root, sockets, key and client config; no bridge, no iptables; its
# containers' cgroups under /$cg.
if [ $docker = 1 ]; then
	engines+=(docker)
	start_dockerd "$tmp" --cgroup-parent "/$cg" || fail[docker]="dockerd did not start: $(first_line "$tmp/dockerd.log" 1)"
fi
[ $podman = 0 ] || { engines+=(podman); mkdir -p "$tmp/podman"; }
for e in "${engines[@]}"; do
	[ -z "${fail[$e]:-}" ] || continue
	case $e in
	berth) "$berth" --root "$broot" import -c 'CMD ["sh"]' "$tmp/busybox.tar" "$image" ;;
	docker) "$dockercli" import -c 'CMD ["sh"]' "$tmp/busybox.tar" "$image" ;;
	podman) podman_ import -q -c 'CMD ["sh"]' "$tmp/busybox.tar" "$image" ;;
	esac >"$tmp/$e.out" 2>&1 || fail[$e]="import: $(first_line "$tmp/$e.out" 1)"
done
for e in "${engines[@]}"; do [ -z "${fail[$e]:-}" ] || say "$e: failed: ${fail[$e]}"; done

# ---------------------------------------------------------- run --rm timing

run_rm() { # engine: run --rm IMAGE true
	case $1 in
	berth) "$berth" --root "$broot" run --rm --network none "$image" true ;;
	docker) "$dockercli" run --rm --network none "$image" true ;;
	podman) podman_ run --rm "${podman_run[@]}" "$image" true ;;
	esac
}
us() { local t=${1/./}; echo $((10#$t)); } # EPOCHREALTIME -> microseconds
declare -A samples
total=$((warmup + runs))
say "run --rm: $warmup warm-up + $runs timed rounds, engines ${engines[*]}, ${gap}s pause before each run"
for ((r = 0; r < total; r++)); do
	k=${#engines[@]}
	for ((j = 0; j < k; j++)); do
		e=${engines[(r + j) % k]}
		[ -z "${fail[$e]:-}" ] || continue
		sleep "$gap"
		t0=$EPOCHREALTIME
		rc=0
		run_rm "$e" >"$tmp/$e.out" 2>&1 || rc=$?
		t1=$EPOCHREALTIME
		if [ $rc != 0 ]; then
			fail[$e]="run --rm: $(first_line "$tmp/$e.out" $rc)"
			say "$e: failed: ${fail[$e]}"
		elif [ "$r" -ge "$warmup" ]; then
			samples[$e]+="$(($(us "$t1") - $(us "$t0"))) "
		fi
	done
	[ $((r % 10)) != 9 ] || say "round $((r + 1))/$total done"
done

# ------------------------------------------------------------------ memory

supervisors() { # engine: pids of the per-container supervisors
	case $1 in
	berth) berth_pids shim ;;
	docker) pids_using "$drun" 'containerd-shim*' ;;
	podman) pids_using "$tmp/podman" conmon ;;
	esac
}
mem() { # pids... -> "RSS PSS" in kB, summed
	local p
	for p in "$@"; do cat "/proc/$p/smaps_rollup" 2>/dev/null; done |
		awk '$1 == "Rss:" { r += $2 } $1 == "Pss:" { p += $2 } END { printf "%d %d\n", r, p }'
}
mb() { awk -v k="$1" -v n="${2:-1}" 'BEGIN { printf "%.1f", k * 1024 / 1e6 / n }'; } # kB [divisor] -> MB
declare -A sup_name sup_n rss pss after
say "memory: $ctrs containers running sleep per engine"
for e in "${engines[@]}"; do
	[ -z "${fail[$e]:-}" ] || continue
	n=0
	for ((i = 0; i < ctrs; i++)); do
		case $e in
		berth) "$berth" --root "$broot" run -d --network none "$image" sleep 1000 ;;
		docker) "$dockercli" run -d --network none "$image" sleep 1000 ;;
		podman) podman_ run -d "${podman_run[@]}" "$image" sleep 1000 ;;
		esac >"$tmp/$e.out" 2>&1 || break
		n=$((n + 1))
	done
	if [ $n != "$ctrs" ]; then
		fail[$e]="run -d: $(first_line "$tmp/$e.out" 1)"
	else
		sleep 2
		mapfile -t sp < <(supervisors "$e")
		sup_n[$e]=${#sp[@]}
		sup_name[$e]=$(basename "$(readlink "/proc/${sp[0]:-0}/exe" 2>/dev/null || echo none)")
		[ "$e" != berth ] || sup_name[$e]="berth shim"
		read -r kr kp <<<"$(mem "${sp[@]}")"
		rss[$e]=$kr pss[$e]=$kp
		[ "${sup_n[$e]}" = "$ctrs" ] || say "$e: found ${sup_n[$e]} supervisors for $ctrs containers"
	fi
	rm_all "$e" >"$tmp/$e.out" 2>&1 || say "$e: could not remove the containers: $(first_line "$tmp/$e.out" 1)"
	sleep 1
	# What stays resident with no container.
	case $e in
	berth) n=$(berth_pids | wc -l); after[$e]="$n berth processes" ;;
	podman) n=$(supervisors podman | wc -l); after[$e]="$n conmon processes" ;;
	docker)
		read -r dr _ <<<"$(mem "$(cat "$drun/docker.pid" 2>/dev/null)")"
		read -r cr _ <<<"$(mem "$(cat "$drun/exec/containerd/containerd.pid" 2>/dev/null)")"
		after[$e]="dockerd $(mb "$dr") + containerd $(mb "$cr") MB RSS"
		;;
	esac
	[ "$e" = docker ] || [ "$n" = 0 ] || say "$e: $n processes left after removing all containers"
done

# ---------------------------------------------------------------- report

stats() { # µs samples -> "median p90" in ms (nearest-rank p90)
	tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{ v[NR] = $1 / 1e3 }
		END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		      p = int(NR * 0.9); if (p < NR * 0.9) p++
		      printf "%.6f %.6f\n", m, v[p] }'
}
declare -A med
for e in "${engines[@]}"; do
	[ -z "${samples[$e]:-}" ] || med[$e]=$(stats "${samples[$e]}" | cut -d' ' -f1)
done
ratio() { # engine -> "12.3×" against berth, right-aligned in 8 (× is 2 bytes)
	if [ -n "${med[$1]:-}" ] && [ -n "${med[berth]:-}" ]; then
		awk -v a="${med[$1]}" -v b="${med[berth]}" 'BEGIN { printf "%7.2f×", a / b }'
	else printf '%8s' -; fi
}
ver() { "$@" 2>/dev/null | head -1 || true; }

echo
echo "image: busybox $(ver busybox | awk '{ print $2 }') (Debian busybox-static), one layer, imported into each engine with CMD sh"
bv=
[ -n "${fail[berth]:-}" ] || bv=$(ver "$berth" --version)
echo "berth: $berth ($berth_from${bv:+; $bv}), --root in the temp dir"
[ $docker = 0 ] || echo "docker: $("$dockercli" version -f 'client {{.Client.Version}}, dockerd {{.Server.Version}}' 2>/dev/null), containerd $(ver containerd --version | awk '{ print $3 }'), runc $(ver runc --version | awk '{ print $3 }'), overlay2, --network none"
[ $podman = 0 ] || echo "podman: $(ver podman --version | awk '{ print $3 }'), conmon $(ver conmon --version | awk '{ print $3 }'), --runtime runc, overlay, cgroupfs, --network none"
echo "kernel: $(uname -sr), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); state on $(findmnt -no FSTYPE -T "$tmp"); $runs runs after $warmup warm-up, ${gap}s pause; $ctrs idle containers; MB = 10^6 bytes"
echo
printf '| %-6s | %4s | %9s | %6s | %8s | %-27s | %8s | %8s | %-37s |\n' engine runs "median ms" "p90 ms" "vs berth" "supervisors" "RSS MB/c" "PSS MB/c" "resident with no container"
printf '|%s|%s:|%s:|%s:|%s:|%s|%s:|%s:|%s|\n' -------- ----- ---------- ------- --------- ----------------------------- --------- --------- ---------------------------------------
for e in "${engines[@]}"; do
	if [ -n "${fail[$e]:-}" ] && [ -z "${samples[$e]:-}" ]; then
		printf '| %-6s | failed (%s) |\n' "$e" "${fail[$e]}"
		continue
	fi
	read -r m p <<<"$(stats "${samples[$e]}")"
	if [ -n "${rss[$e]:-}" ]; then
		# %-28s: the supervisors' column has one × (2 bytes, 1 column)
		printf '| %-6s | %4s | %9.1f | %6.1f | %s | %-28s | %8s | %8s | %-37s |\n' "$e" "$(wc -w <<<"${samples[$e]}")" "$m" "$p" "$(ratio "$e")" \
			"${sup_name[$e]} ×${sup_n[$e]}" "$(mb "${rss[$e]}" "$ctrs")" "$(mb "${pss[$e]}" "$ctrs")" "${after[$e]}"
	else
		printf '| %-6s | %4s | %9.1f | %6.1f | %s | failed (%s) |\n' "$e" "$(wc -w <<<"${samples[$e]}")" "$m" "$p" "$(ratio "$e")" "${fail[$e]:-}"
	fi
done
echo
for e in docker podman; do
	[ -n "${med[$e]:-}" ] || continue
	[ -n "${med[berth]:-}" ] || continue
	awk -v a="${med[$e]}" -v b="${med[berth]}" -v e="$e" 'BEGIN { r = a / b
		printf "%s/berth run --rm: %.1f×", e, r
		if (e == "docker") printf " (goal ≥ 10×: %s)", (r >= 10 ? "met" : "NOT met")
		printf "\n" }'
done
if [ -n "${pss[berth]:-}" ] && [ -n "${pss[docker]:-}" ]; then
	awk -v b="${pss[berth]}" -v d="${pss[docker]}" -v n="$ctrs" 'BEGIN {
		printf "berth shim PSS per container: %.2f MB vs containerd-shim %.2f MB (goal ≤ half: %s)\n",
			b * 1024 / 1e6 / n, d * 1024 / 1e6 / n, (b <= d / 2 ? "met" : "NOT met") }'
fi
if [ -n "${after[berth]:-}" ]; then
	n=${after[berth]%% *}
	echo "berth processes left after rm -f of all containers: $n (goal 0, nothing resident: $([ "$n" = 0 ] && echo met || echo NOT met))"
fi
