// Command berth is the one binary: the docker-compatible CLI, and (as
// `berth runtime` or through a `berth-runtime` link) a runc-compatible OCI runtime.
package main

import (
	"os"

	"github.com/berth-dev/berth/internal/cli"
	"github.com/berth-dev/berth/internal/runtime"
)

func main() {
	// The container init is this same binary re-executed by the runtime; it must
	// take over before cobra or anything else runs (see runtime/init_linux.go).
	if runtime.IsInitProcess() {
		runtime.InitMain() // never returns
	}
	os.Exit(cli.Main(os.Args))
}
