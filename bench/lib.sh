# Helpers the benchmark scripts share (sourced, not run): stopping what a
# run started by pid, finding its processes and mounts by its own paths,
# its isolated dockerd, building berth. A script that sources it sets
# $tmp (its temp dir) and $drun (dockerd's /run directory) first, and
# $berth ("" to build one).

say() { printf '%s\n' "$*" >&2; }
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
# Live (not zombie) processes whose command line mentions $1 [and whose
# comm matches the pattern $2]: containerd and the shims dockerd started
# under $drun, conmon under a podman root. Bash builtins only: a busy
# host has hundreds of processes.
pids_using() {
	local p st comm args
	for p in /proc/[0-9]*; do
		[ "${p#/proc/}" != $$ ] || continue
		{ read -r st <"$p/stat"; } 2>/dev/null || continue
		comm=${st#*(} comm=${comm%)*} st=${st##*) } st=${st%% *}
		[ "$st" != Z ] || continue
		# shellcheck disable=SC2254 # $2 is a pattern
		[ -z "${2:-}" ] || case $comm in $2) ;; *) continue ;; esac
		{ mapfile -d '' args <"$p/cmdline"; } 2>/dev/null || continue
		[[ " ${args[*]} " == *"$1"* ]] && echo "${p#/proc/}"
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
stop_docker() {
	local pid
	[ -d "$drun" ] || return 0
	pid=$(cat "$drun/docker.pid" 2>/dev/null || echo "$dockerd_pid")
	stop_pid "$pid" 20
	alive "$dockerd_pid" && stop_pid "$dockerd_pid" 5
	# dockerd stops the containerd it started; make sure, by its pid file and
	# by path (containerd and shims all carry $drun in their command lines).
	stop_pid "$(cat "$drun/exec/containerd/containerd.pid" 2>/dev/null || true)" 10
	for pid in $(pids_using "$drun"); do stop_pid "$pid" 5; done
	dockerd_pid=
}
# start_dockerd DIR [dockerd flags…]: a dockerd isolated from anything else
# on the host: data root DIR/dockerd, exec root, socket and pid file under
# $drun, its own key file and client config (DOCKER_CONFIG, DOCKER_HOST
# are exported), no bridge, no iptables. Sets $dockerd_pid; waits until it
# answers (1 when it does not: its log is DIR/dockerd.log).
start_dockerd() {
	local dir=$1 i
	shift
	export DOCKER_CONFIG=$dir/docker-client DOCKER_HOST=unix://$drun/docker.sock
	mkdir -p "$DOCKER_CONFIG" "$drun" "$dir/dockerd"
	echo '{"auths":{}}' >"$DOCKER_CONFIG/config.json"
	echo "{\"deprecated-key-path\": \"$dir/docker-key.json\"}" >"$dir/daemon.json"
	dockerd --config-file "$dir/daemon.json" -H "$DOCKER_HOST" \
		--data-root "$dir/dockerd" --exec-root "$drun/exec" --pidfile "$drun/docker.pid" \
		--storage-driver overlay2 --bridge none --iptables=false --ip-masq=false \
		--log-level warn "$@" >"$dir/dockerd.log" 2>&1 &
	dockerd_pid=$!
	for ((i = 0; i < 300; i++)); do
		/usr/bin/docker version >/dev/null 2>&1 && return 0
		alive "$dockerd_pid" || return 1
		sleep 0.1
	done
	return 1
}
first_line() { grep -m1 -v '^[[:space:]]*$' "$1" | cut -c1-120 || echo "exit status $2"; }
# build_berth: unless $berth names one, builds berth from the work tree
# into $tmp/berth (static). Sets berth, berth_from (what it is, for the
# report) and, when that fails, berth_fail (why).
build_berth() {
	local rev
	berth_fail=
	berth_from="given with --berth"
	if [ -z "$berth" ]; then
		rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
		git diff --quiet HEAD -- cmd internal go.mod go.sum 2>/dev/null || rev="$rev+dirty"
		berth=$tmp/berth
		berth_from="the work tree at $rev"
		CGO_ENABLED=0 go build -o "$berth" ./cmd/berth >"$tmp/berth-build.log" 2>&1 ||
			berth_fail="go build: $(grep -v '^#' "$tmp/berth-build.log" | first_line /dev/stdin 1)"
	fi
	[ -n "$berth_fail" ] || [ -x "$berth" ] || berth_fail="no executable $berth"
}
# remove_run_dirs: unmounts what is left under $tmp and $drun, removes
# them and says what could not be cleaned up.
remove_run_dirs() {
	local m
	umount_under "$tmp"
	umount_under "$drun"
	# --one-file-system: never into anything that failed to unmount
	rm -rf --one-file-system "$tmp" "$drun"
	for m in $(mounts_under "$tmp") $(mounts_under "$drun"); do say "cleanup: still mounted: $m"; done
	for m in $(pids_using "$tmp") $(pids_using "$drun"); do say "cleanup: still running: pid $m"; done
}
# podman_ ARGS…: podman with every path under $tmp/podman.
podman_() {
	podman --root "$tmp/podman/root" --runroot "$tmp/podman/run" --tmpdir "$tmp/podman/tmp" \
		--storage-driver overlay --cgroup-manager cgroupfs --events-backend none "$@"
}
# podman, as root, writes these whatever its paths: note_host_files
# remembers which are missing, remove_host_files removes those again.
podman_host_files=(/var/lib/containers/cache/blob-info-cache-v1.boltdb /var/lib/containers/cache /var/lib/containers
	/dev/shm/libpod_lock /run/containers/networks /run/containers)
note_host_files() {
	local f
	host_new=()
	for f in "${podman_host_files[@]}"; do [ -e "$f" ] || host_new+=("$f"); done
}
remove_host_files() {
	local f
	for f in "${host_new[@]}"; do rm -f "$f" 2>/dev/null || rmdir "$f" 2>/dev/null; done
}
# remove_cgroup NAME: removes /NAME and everything below it in every
# hierarchy.
remove_cgroup() {
	local d
	for d in /sys/fs/cgroup/*/"$1" /sys/fs/cgroup/"$1"; do
		[ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
		[ ! -d "$d" ] || say "cleanup: cgroup $d left"
	done
}
# busybox_tar: $tmp/busybox.tar, a tar of hack/busybox-rootfs.sh's tree.
busybox_tar() {
	say "image: busybox-static rootfs (hack/busybox-rootfs.sh)"
	hack/busybox-rootfs.sh "$tmp/rootfs"
	tar -C "$tmp/rootfs" --numeric-owner -cf "$tmp/busybox.tar" .
}
# install_engines: installs from Debian what is missing of busybox-static
# and, unless $docker or $podman is 0, docker.io and podman with runc.
# /usr/bin/docker is the CLI that comes with docker.io.
install_engines() {
	local need=()
	dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' || need+=(busybox-static)
	[ "${docker:-1}" = 0 ] || { [ -x /usr/bin/docker ] && command -v dockerd >/dev/null; } || need+=(docker.io)
	[ "${podman:-1}" = 0 ] || { command -v podman >/dev/null && command -v runc >/dev/null; } || need+=(podman runc)
	if [ ${#need[@]} -gt 0 ]; then
		say "installing ${need[*]}"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
	fi
}
# on_exit FUNC: FUNC runs (without set -e) when the script ends, also on
# ctrl-c or SIGTERM; the script exits with the status it had.
on_exit() {
	trap "_on_exit $1" EXIT
	trap 'say "interrupted, cleaning up"; exit 130' INT
	trap 'say "terminated, cleaning up"; exit 143' TERM
}
_on_exit() {
	local rc=$?
	set +e
	trap - EXIT INT TERM
	"$1"
	exit $rc
}
# clean_run: stops the run's conmon processes and dockerd, unmounts and
# removes $tmp and $drun, removes the cgroup $cg and the host files
# podman made.
clean_run() {
	local m
	for m in $(pids_using "$tmp/podman" conmon); do stop_pid "$m" 5; done
	stop_docker
	remove_run_dirs
	remove_cgroup "$cg"
	remove_host_files
}
