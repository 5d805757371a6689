#!/usr/bin/env bash
# Quickstart, offline: install the packages berth needs, build berth, make a
# starter image from Debian's busybox-static (berth import), list it, and
# run a real container from it with berth's own OCI runtime (the image
# mounted read-only as the rootfs), then with `berth run`. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "quickstart: run as root (containers need namespaces and cgroups)" >&2; exit 1; }
bash hack/deps.sh
export PATH=/usr/local/go/bin:$PATH GOTOOLCHAIN=auto
CGO_ENABLED=0 go build -o bin/berth ./cmd/berth
ln -sf berth bin/berth-runtime

work=${BERTH_QUICKSTART_DIR:-/var/lib/berth/quickstart}
mkdir -p "$work"
say() { echo "+ $*"; "$@"; }

# 1. The starter image: busybox-static plus its applet links, imported.
if ! bin/berth image inspect --format '{{.Id}}' berth-quickstart/busybox:latest >/dev/null 2>&1; then
	rm -rf "$work/rootfs"
	hack/busybox-rootfs.sh "$work/rootfs"
	tar -C "$work/rootfs" -cf "$work/busybox.tar" .
	say bin/berth import -c 'CMD ["sh"]' -m "busybox-static from Debian" "$work/busybox.tar" berth-quickstart/busybox:latest
	rm -rf "$work/rootfs" "$work/busybox.tar"
fi
say bin/berth images

# 2. A container from it: the image's tree, mounted read-only, is the
#    bundle's rootfs; berth's runtime runs it.
rootfs=$(bin/berth image mount berth-quickstart/busybox:latest)
trap 'bin/berth image unmount berth-quickstart/busybox:latest >/dev/null 2>&1 || true' EXIT
rm -f "$work/config.json"
bin/berth runtime spec --bundle "$work"
sed -i 's/"terminal": true/"terminal": false/' "$work/config.json"
sed -i "s|\"path\": \"rootfs\"|\"path\": \"$rootfs\"|" "$work/config.json"
sed -i 's|^\t\t\t"sh"$|\t\t\t"sh", "-c", "echo hello from a berth container; echo pid $$ on $(hostname); id; cat /proc/self/cgroup \| head -3"|' "$work/config.json"
say bin/berth runtime run --bundle "$work" "quickstart-$$"

# 3. The same image the Docker way: `berth run`, no daemon (a `berth shim`
#    supervises the container and writes its log).
say bin/berth run --rm berth-quickstart/busybox:latest sh -c 'echo hello from berth run on $(hostname)'
