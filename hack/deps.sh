#!/usr/bin/env bash
# Installs what building and testing berth needs, from Debian's packages and
# the Go module proxy; quick when everything is already there. Needs root.
#   busybox-static      the test and quickstart root filesystem
#   util-linux procps   unshare and ps, used by tests
#   iproute2 git        tests and the build
#   nftables            container networking (berth runs `nft -f -`) and its tests
#   nodejs npm          the TAP consumer of the OCI conformance suite
#   runc crun           reference runtimes for the conformance comparison and bench/
#   docker-registry     a real registry on 127.0.0.1 for pull/push tests
#   skopeo umoci        reference image tools: test fixtures and interop checks
set -euo pipefail
pkgs=(busybox-static util-linux procps iproute2 nftables git ca-certificates runc crun docker-registry skopeo umoci)
missing=()
for p in "${pkgs[@]}"; do
	dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
# A machine may have Node.js from elsewhere, with npm inside it.
command -v npm >/dev/null || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Go: the machine's toolchain in /usr/local/go, else Debian's; GOTOOLCHAIN
# lets the go command fetch the version go.mod asks for from the Go proxy.
export PATH=/usr/local/go/bin:$PATH
if ! command -v go >/dev/null; then
	apt-get install -y -qq --no-install-recommends golang-go >/dev/null
fi
