// Package nsenter holds berth's namespace trampoline: a tiny static program
// (776 bytes on amd64, no libc) that joins a user namespace and then
// executes the container init.
//
// Why it exists: the kernel lets only a single-threaded process join a user
// namespace (setns(CLONE_NEWUSER)), and a Go process is never single
// threaded, not even in its first instruction of main. runc solves this with
// a C constructor linked into its binary (nsexec), which needs cgo; berth
// stays CGO_ENABLED=0 and instead runs this trampoline first, from a sealed
// memfd, when a container joins an existing user namespace (exec into a
// container that has its own, or a config with a user namespace path).
//
// The source is trampoline_amd64.c.src (not .c, which would make the go
// command want cgo); gen.sh rebuilds the committed binary.
// Other architectures have no trampoline yet: Binary reports false there.
package nsenter

// Binary returns the trampoline for this architecture, if there is one.
func Binary() ([]byte, bool) { return binary, binary != nil }
