#!/bin/sh
# Usage: hack/busybox-rootfs.sh DIR
# Makes a minimal root filesystem in DIR (which must not exist) from Debian's
# busybox-static: the static busybox, a link in /bin for each applet, and an
# /etc with passwd, group and hosts. Tests (internal/testutil), benchmarks
# and the quickstart all build their rootfs with this script.
set -eu
dir=$1
bb=${BUSYBOX:-/bin/busybox}
[ -x "$bb" ] || { echo "busybox-rootfs: $bb missing (apt-get install busybox-static)" >&2; exit 1; }
[ ! -e "$dir" ] || { echo "busybox-rootfs: $dir already exists" >&2; exit 1; }
mkdir -p "$dir"
cd "$dir"
mkdir -p bin sbin etc dev proc sys tmp root home var usr/bin usr/sbin
chmod 1777 tmp
cp "$bb" bin/busybox
for applet in $("$bb" --list); do
	[ "$applet" = busybox ] || ln -s busybox "bin/$applet"
done
cat > etc/passwd <<'E'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
E
cat > etc/group <<'E'
root:x:0:
daemon:x:1:
tty:x:5:
wheel:x:10:root
audio:x:29:nobody
nogroup:x:65534:
E
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' > etc/hosts
