#!/usr/bin/env bash
# The test command (README): static checks, every Go test (as root they
# start real containers), then the OCI runtime conformance suite.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "hack/test.sh: run as root: the tests start real containers" >&2; exit 1; }
bash hack/deps.sh
# CGO_ENABLED=0: berth is one static binary; the tests build it that way.
export PATH=/usr/local/go/bin:$PATH GOTOOLCHAIN=auto CGO_ENABLED=0
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change: $unformatted" >&2
	exit 1
fi
go vet ./...
go test -count=1 -timeout 20m ./...
if [ -f tests/conformance/run.sh ] && [ "${BERTH_SKIP_CONFORMANCE:-}" != 1 ]; then
	bash tests/conformance/run.sh --ci
fi
