// Package runtime is berth's OCI runtime: given a bundle directory (config.json
// and a root filesystem) it creates, starts, signals, inspects and deletes
// containers, built directly from the kernel's parts — namespaces, mounts,
// pivot_root, cgroups, capabilities, rlimits and seccomp.
//
// Its input is a bundle and nothing else: it must never import anything that
// knows about images, names, networks or the engine. The runc-compatible
// command line in internal/cli is a thin layer over the methods of Runtime.
//
// A container is two processes over its life: the `create` command (the
// parent) and the container init (the child), which is this same binary
// re-executed through a read-only handle (exe_linux.go) and which becomes the
// container's process with execve. sync_linux.go draws the protocol between
// them; init_linux.go is the child's straight list of steps.
package runtime
