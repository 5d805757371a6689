// Command berth is the one binary: the docker-compatible CLI, and (as
// `berth runtime` or through a `berth-runtime` link) a runc-compatible OCI
// runtime, and (as `berth shim`, started by berth itself) a container's supervisor.
package main

import (
	"os"

	"github.com/berth-dev/berth/internal/cli"
	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/pid1"
	// The container init is this same binary re-executed by the runtime:
	// it takes over in that package's init(), before main and before the
	// packages it does not need start up (see runtime/init_linux.go).
	_ "github.com/berth-dev/berth/internal/runtime"
	"github.com/berth-dev/berth/internal/shim"
)

func main() {
	// --init: berth bind-mounted into a container as /sbin/docker-init.
	if pid1.Is(os.Args) {
		os.Exit(pid1.Main(os.Args))
	}
	// The shim, like the init, is berth re-executed by berth: no command
	// line to parse, and nothing of cobra's in its memory.
	if len(os.Args) == 2 && os.Args[1] == "shim" {
		os.Exit(shim.Main(engine.RemoveExited))
	}
	// So is the exec shim, the parent of a process `berth exec` runs.
	if engine.IsExecShim(os.Args) {
		os.Exit(engine.ExecShimMain())
	}
	os.Exit(cli.Main(os.Args))
}
