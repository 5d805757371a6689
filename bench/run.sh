#!/usr/bin/env bash
# Usage: bash bench/run.sh [N] [--no-crun] [--gap DURATION] [--state-tmpfs] [--raw FILE]
#                          [--also NAME=BERTH_BINARY]...
#
# Times N (default 100) sequential runs of /bin/true in a busybox bundle with
# `berth runtime run`, `runc run`, `crun run` and, as a floor,
# `unshare --fork --pid --mount --uts --ipc --net chroot ROOTFS /bin/true`,
# interleaved round robin, and prints one table. Needs root. See
# bench/README.md for what it measures and what it changes on the host
# (crun on a hybrid cgroup host: hugetlb is moved off cgroup2, and left so).
set -euo pipefail

n=100
crun=1
extra=()
while [ $# -gt 0 ]; do
	case $1 in
	[0-9]*) n=$1 ;;
	--no-crun) crun=0 ;;
	--state-tmpfs) extra+=(-state-tmpfs) ;;
	--raw) extra+=(-raw "$(realpath -m "$2")"); shift ;;
	--gap) extra+=(-gap "$2"); shift ;;
	--also) extra+=(-also "${2%%=*}=$(realpath -m "${2#*=}")"); shift ;;
	-h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
	*) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
	esac
	shift
done

[ "$(id -u)" = 0 ] || { echo "run.sh: must run as root" >&2; exit 1; }
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin

# Packages: runc, crun, a static busybox for the rootfs, unshare and chroot.
need=()
command -v runc >/dev/null || need+=(runc)
[ $crun = 0 ] || command -v crun >/dev/null || need+=(crun)
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' || need+=(busybox-static)
command -v unshare >/dev/null || need+=(util-linux)
if [ ${#need[@]} -gt 0 ]; then
	echo "installing ${need[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

tmp=$(mktemp -d /tmp/berth-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
CGO_ENABLED=0 go build -o "$tmp/berth" ./cmd/berth
go build -o "$tmp/runtimebench" ./bench/runtimebench
rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- cmd internal go.mod go.sum 2>/dev/null || rev="$rev+dirty"

# crun 1.8 refuses a hybrid cgroup host whose cgroup2 mount has any
# controller ("cgroups in hybrid mode not supported"); on this kind of host
# that is hugetlb, which no v1 hierarchy claimed. The workaround is to mount
# it as a v1 hierarchy, which moves it off cgroup2. The kernel only lets it
# go once no cgroup2 cgroup enables it in cgroup.subtree_control, so those
# are turned off first, deepest first (berth, like runc, enables every
# available controller on the way down to a container's cgroup). This is
# not undone: the move back does not work while cgroups exist in the new
# hierarchy.
move_v2_controllers() {
	local v2 c
	v2=$(awk '$0 ~ / - cgroup2 / { print $5; exit }' /proc/self/mountinfo)
	[ -n "$v2" ] || return 0                                        # no cgroup2
	awk '$0 ~ / - cgroup / { f = 1 } END { exit !f }' /proc/self/mountinfo || return 0 # pure cgroup2
	for c in $(cat "$v2/cgroup.controllers"); do
		if awk -v c="$c" '$0 ~ / - cgroup / && $NF ~ "(^|,)" c "(,|$)" { f = 1 } END { exit !f }' /proc/self/mountinfo; then
			continue # already a v1 hierarchy
		fi
		echo "NOTE: crun needs $c off cgroup2 ($v2): mounting it as a v1 hierarchy at /sys/fs/cgroup/$c (left in place; --no-crun skips this)"
		moved=1
		find "$v2" -type d | sort -r | while read -r d; do
			if grep -qw "$c" "$d/cgroup.subtree_control" 2>/dev/null; then
				echo "-$c" >"$d/cgroup.subtree_control" || true
			fi
		done
		mkdir -p "/sys/fs/cgroup/$c"
		local i
		for i in $(seq 50); do # the kernel frees the cgroup2 side asynchronously
			mount -t cgroup -o "$c" cgroup "/sys/fs/cgroup/$c" 2>/dev/null && break
			sleep 0.1
		done
		if ! mountpoint -q "/sys/fs/cgroup/$c"; then
			echo "NOTE: could not move $c off cgroup2; skipping crun" >&2
			return 1
		fi
	done
	if [ -n "$(cat "$v2/cgroup.controllers")" ]; then
		echo "NOTE: cgroup2 still has controllers ($(cat "$v2/cgroup.controllers")); skipping crun" >&2
		return 1
	fi
	if [ -z "${moved:-}" ]; then
		echo "NOTE: hybrid cgroup host, cgroup2 ($v2) already has no controllers: crun runs, nothing moved"
	fi
}

args=(-n "$n" -berth "$tmp/berth" -commit "$rev" -tmp "$tmp" "${extra[@]}")
if [ $crun = 1 ]; then
	move_v2_controllers || args+=(-no-crun)
else
	args+=(-no-crun)
fi
"$tmp/runtimebench" "${args[@]}"
