#!/usr/bin/env bash
# Usage: bash bench/trace.sh [--min MS] COMMAND...
#
# Runs COMMAND once (e.g. `berth runtime --root /tmp/st run -b BUNDLE id`)
# under the kernel's ftrace events, following its children, and prints a
# timeline in milliseconds since the start: every fork, exec and exit, and
# every traced syscall that took at least MS (default 0.3) ms, with a
# per-syscall total at the end. This is how bench/README.md's breakdown of
# berth's time was found: the 10 ms cgroup.procs write, the memfd sendfile,
# the waits. Needs root and tracefs (mounted on /sys/kernel/tracing if it
# isn't, and unmounted again).
set -euo pipefail

min=0.3
if [ "${1:-}" = --min ]; then
	min=$2
	shift 2
fi
[ $# -gt 0 ] || { echo "usage: bash bench/trace.sh [--min MS] COMMAND..." >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "trace.sh: must run as root" >&2; exit 1; }

T=/sys/kernel/tracing
mounted=
if [ ! -e $T/trace ]; then
	mount -t tracefs nodev $T
	mounted=1
fi
out=$(mktemp)
cleanup() {
	echo 0 >$T/tracing_on
	echo >$T/set_event
	echo >$T/set_event_pid
	echo 0 >$T/options/event-fork
	echo >$T/trace
	rm -f "$out" "$out.totals"
	[ -z "$mounted" ] || umount $T
}
trap cleanup EXIT

echo 0 >$T/tracing_on
echo >$T/trace
echo >$T/set_event
echo 8192 >$T/buffer_size_kb
for e in sched_process_fork sched_process_exec sched_process_exit; do
	echo sched:$e >>$T/set_event
done
for s in execve clone clone3 memfd_create sendfile64 write read fsync mount umount pivot_root \
	waitid wait4 mkdir mkdirat rmdir unshare setns rename renameat renameat2 openat poll ppoll \
	mknodat unlink unlinkat; do
	for d in enter exit; do
		echo syscalls:sys_${d}_$s >>$T/set_event 2>/dev/null || true
	done
done
echo 1 >$T/options/event-fork
sh -c 'echo $$ > '$T'/set_event_pid; echo 1 > '$T'/tracing_on; exec "$@"' sh "$@"
echo 0 >$T/tracing_on
cat $T/trace >"$out"

awk -v min="$min" '
/^#/ { next }
{
	# "comm-pid [cpu] flags ts: event..."; comm may contain spaces or dashes.
	i = index($0, "["); head = substr($0, 1, i - 1); sub(/ +$/, "", head); sub(/^ +/, "", head)
	n = split(head, parts, "-"); pid = parts[n]; task = head
	rest = substr($0, i); j = index(rest, ": "); pre = substr(rest, 1, j - 1); ev = substr(rest, j + 2)
	m = split(pre, f, " "); ts = f[m] * 1000
	if (t0 == "") t0 = ts
	t = ts - t0
	if (ev ~ /^sched_process_(fork|exec|exit)/) {
		if (ev ~ /^sched_process_exit/ && ev !~ /group_dead=true/) next
		printf "%9.3f  %-22s %s\n", t, task, ev
		next
	}
	if (ev ~ /^sys_[a-z0-9_]+\(/) { # enter
		name = ev; sub(/\(.*/, "", name); sub(/^sys_/, "", name)
		start[pid] = t; call[pid] = name; args[pid] = ev
		if (name == "execve") printf "%9.3f  %-22s execve\n", t, task
		next
	}
	if (ev ~ /^sys_[a-z0-9_]+ -> /) { # exit
		name = ev; sub(/ ->.*/, "", name); sub(/^sys_/, "", name)
		if (!(pid in start) || call[pid] != name) next
		d = t - start[pid]; total[name] += d; count[name]++
		if (d >= min) {
			a = args[pid]; if (length(a) > 90) a = substr(a, 1, 87) "..."
			printf "%9.3f  %-22s %-12s %8.3f ms  %s\n", start[pid], task, name, d, a
		}
		delete start[pid]
	}
}
END {
	for (k in total) printf "  %-14s %5d calls %9.3f ms\n", k, count[k], total[k] > totals
}' totals="$out.totals" "$out" | sort -s -n -k1,1
echo
echo "syscall totals (all traced processes, wall time inside the calls):"
sort -k4,4 -n -r "$out.totals"
