#!/usr/bin/env bash
# Usage: bash bench/pull/run.sh [--rounds N] [--berth PATH] [--no-docker] [--no-podman]
#                               [--gap SECONDS] [--warmup N] [--state-tmpfs] [--raw FILE]
#                               [--keep-cache] [--rebuild]
#
# Cold pull benchmark. Pushes a Debian bookworm minbase image (debootstrap,
# split into 4 gzipped layers, built once and cached under
# ~/.cache/berth-bench/pull) to a local `docker-registry` on 127.0.0.1, then
# times, round robin, a cold pull of it with `berth pull`, `docker pull` (an
# isolated dockerd), `podman pull` and `skopeo copy` to an OCI dir (download
# only: the floor for the network part) and, as the floor for the unpack
# part, `tar -xzf` of the layers from the cache, each into fresh empty state;
# then a warm pull (image already present, median of 10). Prints one table
# with medians, MB/s and ratios. Needs root. See bench/README.md, "Pull
# benchmark".
#
#   --rounds N      timed rounds per engine (default 5)
#   --berth PATH    berth binary to time (default: build ./cmd/berth into bench/pull/.bin)
#   --no-docker     skip docker
#   --no-podman     skip podman
#   --gap SECONDS   pause between the previous pull's cleanup and the next timed pull (default 3)
#   --warmup N      untimed rounds first (default 1)
#   --keep-cache    also keep the debootstrap rootfs (rootfs.tar, ~210 MB) in the cache, so a
#                   changed layer split needs no new debootstrap; by default only the finished
#                   OCI image stays there
#   --rebuild       build the cached image again (new debootstrap unless rootfs.tar is cached)
#   --raw FILE      also write every timed pull as CSV (engine,kind,round,seconds)
#   --state-tmpfs   put the engines' state (and dockerd's data root) on a tmpfs instead of the disk
set -euo pipefail
export LC_ALL=C

rounds=5
berth=
docker=1
podman=1
gap=3
warmup=1
keep_cache=0
rebuild=0
warm_n=10
raw=
state_tmpfs=0
while [ $# -gt 0 ]; do
	case $1 in
	--rounds) rounds=$2; shift ;;
	--berth) berth=$(realpath -m "$2"); shift ;;
	--no-docker) docker=0 ;;
	--no-podman) podman=0 ;;
	--gap) gap=$2; shift ;;
	--warmup) warmup=$2; shift ;;
	--keep-cache) keep_cache=1 ;;
	--rebuild) rebuild=1 ;;
	--raw) raw=$(realpath -m "$2"); shift ;;
	--state-tmpfs) state_tmpfs=1 ;;
	-h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
	*) echo "pull/run.sh: unknown argument $1" >&2; exit 2 ;;
	esac
	shift
done
case $rounds$warmup in *[!0-9]*) echo "pull/run.sh: --rounds and --warmup take a number" >&2; exit 2 ;; esac
[ "$rounds" -gt 0 ] || { echo "pull/run.sh: --rounds must be at least 1" >&2; exit 2; }

[ "$(id -u)" = 0 ] || { echo "pull/run.sh: must run as root" >&2; exit 1; }
cd "$(dirname "$0")/../.."
export PATH=$PATH:/usr/local/go/bin:/usr/sbin:/sbin

suite=bookworm
recipe="recipe=1 suite=$suite variant=minbase layers=rest,usr-lib,usr-share,etc-var gzip=6"
cache=${XDG_CACHE_HOME:-$HOME/.cache}/berth-bench/pull
repo=bench/debian
# shellcheck source=bench/lib.sh
. bench/lib.sh

# Packages, from Debian. /usr/bin/docker is the CLI that comes with docker.io's
# dockerd; another docker earlier in PATH may be a different version.
need=()
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v skopeo >/dev/null || need+=(skopeo)
command -v docker-registry >/dev/null || need+=(docker-registry)
[ $docker = 0 ] || { [ -x /usr/bin/docker ] && command -v dockerd >/dev/null; } || need+=(docker.io)
[ $podman = 0 ] || command -v podman >/dev/null || need+=(podman)
if [ ${#need[@]} -gt 0 ]; then
	say "installing ${need[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
dockercli=/usr/bin/docker

# Everything the run creates lives under $tmp (on the disk, like the engines'
# default roots) and, for dockerd's sockets and exec root, under $drun.
tmp=$(mktemp -d /tmp/berth-pullbench.XXXXXX)
drun=/run/berth-pullbench.${tmp##*.}
registry_pid=
dockerd_pid=
# podman and skopeo (as root) keep a blob-info cache here, whatever their
# other paths; a run that creates it removes it again.
bic=/var/lib/containers/cache/blob-info-cache-v1.boltdb
bic_new=0
[ -e $bic ] || bic_new=1

cleanup() {
	stop_pid "$registry_pid" 5
	stop_docker
	remove_run_dirs
	if [ $bic_new = 1 ]; then
		rm -f $bic
		rmdir "${bic%/*}" /var/lib/containers 2>/dev/null
	fi
}
on_exit cleanup

# ---------------------------------------------------------------- the image

# The bookworm mirror apt uses (deb822 .sources first, then one-line .list).
apt_mirror() {
	local f u
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		u=$(awk -v s="$suite" 'BEGIN { RS = ""; FS = "\n" }
			{ uri = ""; ok = 0; deb = 0
			  for (i = 1; i <= NF; i++) {
				n = split($i, w, /[ \t]+/)
				if (w[1] == "URIs:") uri = w[2]
				if (w[1] == "Types:") for (j = 2; j <= n; j++) if (w[j] == "deb") deb = 1
				if (w[1] == "Suites:") for (j = 2; j <= n; j++) if (w[j] == s) ok = 1
			  }
			  if (ok && deb && uri != "") { print uri; exit } }' "$f")
		[ -z "$u" ] || { echo "$u"; return; }
	done
	u=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
		sed -e 's/\[[^]]*\]//' | awk -v s="$suite" '$1 == "deb" && $3 == s { print $2; exit }')
	echo "${u:-http://deb.debian.org/debian}"
}

# Writes $cache/oci (an OCI layout, tag "bench") and $cache/image.info.
# Layers, in order: everything but the next three; usr/lib; usr/share;
# etc and var. /dev, /proc, /sys and /run are left empty, as in images built
# by docker. Tars are GNU tar with numeric owners, sorted, gzip -6 -n.
build_image() {
	local b=$tmp/build root mirror l n top rest diff dig size usize cfg man
	root=$b/rootfs
	mkdir -p "$b" "$cache"
	mkdir "$root"
	if [ -f "$cache/rootfs.tar" ]; then
		say "image: unpacking the cached debootstrap rootfs"
		tar -C "$root" --numeric-owner -xpf "$cache/rootfs.tar"
	else
		mirror=$(apt_mirror)
		say "image: debootstrap --variant=minbase $suite from $mirror (about a minute)"
		if ! debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$b/debootstrap.log" 2>&1; then
			tail -20 "$b/debootstrap.log" >&2
			say "pull/run.sh: debootstrap failed"
			return 1
		fi
		find "$root/dev" "$root/proc" "$root/sys" "$root/run" -mindepth 1 -delete
		rm -rf "$root"/var/cache/apt/*.bin "$root"/var/log/bootstrap.log "$root"/debootstrap
		if [ $keep_cache = 1 ]; then
			tar -C "$root" --numeric-owner -cf "$cache/rootfs.tar.new" . && mv "$cache/rootfs.tar.new" "$cache/rootfs.tar"
		fi
	fi
	[ $keep_cache = 1 ] || rm -f "$cache/rootfs.tar"

	top=()
	for l in "$root"/* "$root"/.[!.]*; do [ -e "$l" ] || [ -L "$l" ] && top+=("${l#"$root"/}"); done
	rest=()
	for l in "${top[@]}"; do case $l in etc | var) ;; *) rest+=("$l") ;; esac; done
	mktar() { tar -C "$root" --numeric-owner --sort=name --format=posix --pax-option=delete=atime,delete=ctime,delete=mtime -cf "$b/$1.tar" "${@:2}"; }
	mktar 1-rest --anchored --exclude='usr/lib/*' --exclude='usr/share/*' "${rest[@]}"
	mktar 2-usr-lib usr/lib
	mktar 3-usr-share usr/share
	mktar 4-etc-var etc var
	say "image: compressing 4 layers"
	for l in "$b"/[0-9]-*.tar; do gzip -6 -n -c "$l" >"$l.gz" & done
	wait

	local o=$b/oci diffs="" layers="" hist="" created=2025-01-01T00:00:00Z
	mkdir -p "$o/blobs/sha256"
	n=0 size=0 usize=0
	for l in "$b"/[0-9]-*.tar; do
		diff=$(sha256sum <"$l" | cut -d' ' -f1)
		dig=$(sha256sum <"$l.gz" | cut -d' ' -f1)
		mv "$l.gz" "$o/blobs/sha256/$dig"
		diffs+="${diffs:+,}\"sha256:$diff\""
		layers+="${layers:+,}{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$dig\",\"size\":$(stat -c %s "$o/blobs/sha256/$dig")}"
		l=${l##*/}
		hist+="${hist:+,}{\"created\":\"$created\",\"created_by\":\"bench/pull/run.sh: debootstrap --variant=minbase $suite, layer ${l%.tar}\"}"
		size=$((size + $(stat -c %s "$o/blobs/sha256/$dig")))
		usize=$((usize + $(stat -c %s "$b/$l")))
		n=$((n + 1))
	done
	printf '{"created":"%s","architecture":"%s","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["bash"]},"rootfs":{"type":"layers","diff_ids":[%s]},"history":[%s]}' \
		"$created" "$(dpkg --print-architecture)" "$diffs" "$hist" >"$b/config.json"
	cfg=$(sha256sum <"$b/config.json" | cut -d' ' -f1)
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[%s]}' \
		"$cfg" "$(stat -c %s "$b/config.json")" "$layers" >"$b/manifest.json"
	man=$(sha256sum <"$b/manifest.json" | cut -d' ' -f1)
	mv "$b/config.json" "$o/blobs/sha256/$cfg"
	printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"bench"}}]}' \
		"$man" "$(stat -c %s "$b/manifest.json")" >"$o/index.json"
	mv "$b/manifest.json" "$o/blobs/sha256/$man"
	printf '{"imageLayoutVersion":"1.0.0"}' >"$o/oci-layout"

	rm -rf "$cache/oci" "$cache/image.info"
	mv "$o" "$cache/oci"
	printf 'layers=%s\ncompressed=%s\nuncompressed=%s\nrecipe=%s\n' "$n" "$size" "$usize" "$recipe" >"$cache/image.info"
	rm -rf "$b"
}

info() { sed -n "s/^$1=//p" "$cache/image.info" 2>/dev/null; }
if [ $rebuild = 1 ] || [ ! -d "$cache/oci" ] || [ "$(info recipe)" != "$recipe" ]; then
	build_image
fi
layers=$(info layers)
blob() { echo "$cache/oci/blobs/sha256/${1#sha256:}"; }
# The manifest's digests: the config first, then the layers in order.
mapfile -t layer_blobs < <(grep -o '"digest":"sha256:[0-9a-f]*"' "$(blob "$(grep -o 'sha256:[0-9a-f]*' "$cache/oci/index.json")")" |
	tail -n +2 | cut -d'"' -f4 | while read -r d; do blob "$d"; done)
csize=$(info compressed)
usize=$(info uncompressed)

# ------------------------------------------------------------- the registry

free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 30000))
		[ -z "$(ss -Htln "sport = :$p")" ] && { echo $p; return; }
	done
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

mkdir -p "$tmp/registry" "$tmp/tmp" "$tmp/state"
[ $state_tmpfs = 0 ] || mount -t tmpfs -o size=8g,mode=0755 berth-pullbench "$tmp/state"
export TMPDIR=$tmp/tmp # skopeo's and podman's temporary blob copies
port=$(free_port)
cat >"$tmp/registry.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $tmp/registry
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
EOF
docker-registry serve "$tmp/registry.yml" >"$tmp/registry.log" 2>&1 &
registry_pid=$!
for ((i = 0; i < 100; i++)); do
	port_open "$port" && break
	alive "$registry_pid" || break
	sleep 0.1
done
if ! alive "$registry_pid" || ! port_open "$port"; then
	cat "$tmp/registry.log" >&2
	say "pull/run.sh: docker-registry did not start on 127.0.0.1:$port"
	exit 1
fi
image=127.0.0.1:$port/$repo:latest
say "registry: docker-registry on 127.0.0.1:$port, pushing the image"
skopeo copy --quiet --dest-tls-verify=false "oci:$cache/oci:bench" "docker://$image" >&2

# ---------------------------------------------------------------- engines

# berth: the given binary, or a static build of the work tree.
rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- cmd internal go.mod go.sum 2>/dev/null || rev="$rev+dirty"
berth_fail=
berth_from="given with --berth"
if [ -z "$berth" ]; then
	berth=$PWD/bench/pull/.bin/berth
	berth_from="the work tree at $rev"
	if ! CGO_ENABLED=0 go build -o "$berth" ./cmd/berth >"$tmp/berth-build.log" 2>&1; then
		berth_fail="go build: $(grep -v '^#' "$tmp/berth-build.log" | first_line /dev/stdin 1)"
	fi
fi
[ -n "$berth_fail" ] || [ -x "$berth" ] || berth_fail="no executable $berth"

# docker: its own dockerd, isolated: own data root, exec root, sockets, an
# empty daemon.json, its key (not /etc/docker/key.json), client config, no
# bridge and no iptables rules. The client config (no credentials) also
# serves podman and skopeo, which read $DOCKER_CONFIG/config.json.
export DOCKER_CONFIG=$tmp/docker-client
mkdir -p "$DOCKER_CONFIG"
echo '{"auths":{}}' >"$DOCKER_CONFIG/config.json"
if [ $docker = 1 ]; then
	mkdir -p "$drun" "$tmp/state/.dockerd"
	echo "{\"deprecated-key-path\": \"$tmp/docker-key.json\"}" >"$tmp/daemon.json"
	dockerd --config-file "$tmp/daemon.json" -H "unix://$drun/docker.sock" \
		--data-root "$tmp/state/.dockerd" --exec-root "$drun/exec" --pidfile "$drun/docker.pid" \
		--storage-driver overlay2 --bridge none --iptables=false --ip-masq=false \
		--insecure-registry "127.0.0.1:$port" --log-level warn >"$tmp/dockerd.log" 2>&1 &
	dockerd_pid=$!
	export DOCKER_HOST=unix://$drun/docker.sock
	for ((i = 0; i < 300; i++)); do
		"$dockercli" version >/dev/null 2>&1 && break
		alive "$dockerd_pid" || break
		sleep 0.1
	done
	if ! "$dockercli" version >/dev/null 2>&1; then
		tail -20 "$tmp/dockerd.log" >&2
		say "pull/run.sh: dockerd did not start"
		exit 1
	fi
fi
podman_() { # round dir, podman args...
	podman --root "$1/root" --runroot "$1/run" --tmpdir "$1/tmp" --storage-driver overlay \
		--cgroup-manager cgroupfs --events-backend none "${@:2}"
}

# Per engine: fresh STATE, the pull command, a check, and the cleanup that
# runs right after the pull (before the next pause, see the README).
state() { echo "$tmp/state/$1"; }
fresh() {
	mkdir -p "$(state "$1")"
	case $1 in
	docker)
		"$dockercli" image prune -af >/dev/null
		[ -z "$("$dockercli" images -aq)" ] || { say "docker: images left after prune"; return 1; }
		;;
	esac
}
pull() {
	local s
	s=$(state "$1")
	case $1 in
	berth) "$berth" --root "$s" pull -q "$image" ;;
	docker) "$dockercli" pull -q "$image" ;;
	podman) podman_ "$s" pull -q --tls-verify=false "$image" ;;
	skopeo) skopeo copy --quiet --src-tls-verify=false "docker://$image" "oci:$s/oci:latest" ;;
	untar) for l in "${layer_blobs[@]}"; do tar -C "$s" --numeric-owner -xzf "$l" || return; done ;;
	esac
}
check() { # the pull left the image: layer count, or at least its size on disk
	local s n
	s=$(state "$1")
	case $1 in
	docker) n=$("$dockercli" image inspect -f '{{len .RootFS.Layers}}' "$image") ;;
	podman) n=$(podman_ "$s" image inspect -f '{{len .RootFS.Layers}}' "$image") ;;
	skopeo) n=$(find "$s/oci/blobs/sha256" -type f -size +1k | wc -l) ;;
	untar) [ -x "$s/usr/bin/dpkg" ] && n=$layers || n="no usr/bin/dpkg" ;;
	berth) n=$("$berth" --root "$s" image inspect -f '{{len .RootFS.Layers}}' "$image") ;;
	esac
	[ "$n" = "$layers" ] || { say "$1: pulled image has $n layers, want $layers"; return 1; }
}
remove() {
	local s
	s=$(state "$1")
	case $1 in
	docker) "$dockercli" rmi -f "$image" >/dev/null ;;
	esac
	umount_under "$s"
	rm -rf --one-file-system "$s"
}

engines=(berth)
[ $docker = 0 ] || engines+=(docker)
[ $podman = 0 ] || engines+=(podman)
engines+=(skopeo untar)
declare -A samples fail warm
if [ -n "$berth_fail" ]; then
	fail[berth]=$berth_fail
	say "berth: failed: $berth_fail"
fi

us() { local t=${1/./}; echo $((10#$t)); } # EPOCHREALTIME -> microseconds
secs() { printf '%d.%06d' $(($1 / 1000000)) $(($1 % 1000000)); }
timed_pull() { # engine -> sets $took (µs); returns the pull's status
	local t0 t1 rc=0
	t0=$EPOCHREALTIME
	pull "$1" >"$tmp/$1.out" 2>&1 || rc=$?
	t1=$EPOCHREALTIME
	took=$(($(us "$t1") - $(us "$t0")))
	return $rc
}

total=$((warmup + rounds))
[ -z "$raw" ] || echo "engine,kind,round,seconds" >"$raw"
say "rounds: $warmup warm-up + $rounds timed, engines ${engines[*]}, ${gap}s pause before each pull"
for ((r = 0; r < total; r++)); do
	k=${#engines[@]}
	for ((j = 0; j < k; j++)); do
		e=${engines[(r + j) % k]}
		[ -z "${fail[$e]:-}" ] || continue
		if ! fresh "$e"; then
			fail[$e]="could not empty its state before the pull"
			continue
		fi
		sync
		sleep "$gap"
		rc=0
		timed_pull "$e" || rc=$?
		if [ $rc != 0 ]; then
			fail[$e]=$(first_line "$tmp/$e.out" $rc)
			say "$e: failed: ${fail[$e]}"
		elif ! check "$e"; then
			fail[$e]="pulled image incomplete"
		elif [ "$r" -ge "$warmup" ]; then
			samples[$e]+="$took "
			[ -z "$raw" ] || echo "$e,cold,$((r - warmup + 1)),$(secs "$took")" >>"$raw"
		fi
		remove "$e" || say "$e: could not remove the pulled image"
	done
	say "round $((r + 1))/$total done"
done

# Warm: pull the image again while it is present (berth's goal: < 50 ms).
for e in berth docker podman; do
	case " ${engines[*]} " in *" $e "*) ;; *) continue ;; esac
	[ -z "${fail[$e]:-}" ] || continue
	fresh "$e" || continue
	if ! pull "$e" >"$tmp/$e.out" 2>&1; then
		say "$e: pull before the warm pulls failed: $(first_line "$tmp/$e.out" 1)"
	else
		sync
		sleep 1
		for ((i = 0; i < warm_n; i++)); do
			if timed_pull "$e"; then
				warm[$e]+="$took "
				[ -z "$raw" ] || echo "$e,warm,$((i + 1)),$(secs "$took")" >>"$raw"
			else
				say "$e: warm pull failed: $(first_line "$tmp/$e.out" 1)"
				warm[$e]=
				break
			fi
		done
	fi
	remove "$e" || say "$e: could not remove the pulled image"
done

# ---------------------------------------------------------------- report

stats() { # µs samples -> "median p95 max" in seconds (nearest-rank p95)
	tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{ v[NR] = $1 / 1e6 }
		END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		      p = int(NR * 0.95); if (p < NR * 0.95) p++
		      printf "%.6f %.6f %.6f\n", m, v[p], v[NR] }'
}
declare -A med
for e in "${engines[@]}"; do
	[ -z "${fail[$e]:-}" ] && [ -n "${samples[$e]:-}" ] && med[$e]=$(stats "${samples[$e]}" | cut -d' ' -f1)
done
ratio() { # engine base width -> "1.23×" or "-", right-aligned (× is 2 bytes)
	if [ -n "${med[$1]:-}" ] && [ -n "${med[$2]:-}" ]; then
		awk -v a="${med[$1]}" -v b="${med[$2]}" -v w="$3" 'BEGIN { printf "%*.2f×", w - 1, a / b }'
	else printf '%*s' "$3" -; fi
}
ver() { "$@" 2>/dev/null | head -1 || true; }

echo
printf 'image: Debian %s minbase (debootstrap), %s layers, %.1f MB compressed, %.1f MB uncompressed (MB = 10^6 bytes)\n' \
	"$suite" "$layers" "$(awk -v s="$csize" 'BEGIN { print s / 1e6 }')" "$(awk -v s="$usize" 'BEGIN { print s / 1e6 }')"
echo "registry: $(ver docker-registry --version | awk '{ print $1, $3 }') on 127.0.0.1, filesystem storage on the same disk"
bv=
[ -n "$berth_fail" ] || bv=$(ver "$berth" --version)
echo "berth: $berth ($berth_from${bv:+; $bv})"
[ $docker = 0 ] || echo "docker: $("$dockercli" version -f 'client {{.Client.Version}}, dockerd {{.Server.Version}}' 2>/dev/null), containerd $(ver containerd --version | awk '{ print $3 }'), overlay2"
[ $podman = 0 ] || echo "podman: $(ver podman --version | awk '{ print $3 }'), overlay"
echo "skopeo: $(ver skopeo --version | awk '{ print $3 }'), to an OCI layout (download only: the floor for the network part)"
echo "untar: tar -xzf of the $layers layers from the local cache, in order, no network (the floor for the unpack part)"
echo "kernel: $(uname -sr), $(nproc) CPUs; state on $(findmnt -no FSTYPE -T "$tmp/state")$(findmnt -no OPTIONS -T "$tmp/state" | grep -qw discard && echo ' with discard'); $rounds rounds after $warmup warm-up, ${gap}s pause"
echo
printf '| %-6s | %6s | %8s | %6s | %6s | %6s | %8s | %9s |\n' engine rounds "median s" "p95 s" "max s" "MB/s" "vs berth" "vs skopeo"
printf '|%s|%s:|%s:|%s:|%s:|%s:|%s:|%s:|\n' -------- ------- --------- ------- ------- ------- --------- ----------
for e in "${engines[@]}"; do
	if [ -n "${fail[$e]:-}" ]; then
		printf '| %-6s | failed (%s) |\n' "$e" "${fail[$e]}"
		continue
	fi
	read -r m p x <<<"$(stats "${samples[$e]}")"
	printf '| %-6s | %6s | %8.3f | %6.3f | %6.3f | %6.1f | %s | %s |\n' "$e" "$(wc -w <<<"${samples[$e]}")" "$m" "$p" "$x" \
		"$(awk -v s="$csize" -v t="$m" 'BEGIN { print s / 1e6 / t }')" "$(ratio "$e" berth 8)" "$(ratio "$e" skopeo 9)"
done
echo
if [ -n "${med[podman]:-}" ] && [ -n "${med[berth]:-}" ]; then
	awk -v p="${med[podman]}" -v b="${med[berth]}" 'BEGIN { r = p / b
		printf "podman/berth cold pull: %.2f× (goal ≥ 1.50×: %s)\n", r, (r >= 1.5 ? "met" : "NOT met") }'
else
	echo "podman/berth cold pull: - (goal ≥ 1.50×: no data)"
fi
line="warm pull (image present, median of $warm_n):"
for e in berth docker podman; do
	case " ${engines[*]} " in *" $e "*) ;; *) continue ;; esac
	if [ -n "${warm[$e]:-}" ]; then
		w=$(stats "${warm[$e]}" | awk '{ printf "%.1f", $1 * 1000 }')
		line+=" $e $w ms"
		[ $e != berth ] || line+=" (goal < 50 ms: $(awk -v w="$w" 'BEGIN { print (w < 50 ? "met" : "NOT met") }'))"
		line+=","
	else
		line+=" $e -,"
	fi
done
echo "${line%,}"
