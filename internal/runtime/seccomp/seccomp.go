// Package seccomp compiles the OCI seccomp configuration (linux.seccomp in
// config.json) into a classic BPF program and loads it. It is pure Go: the
// OCI syntax includes per-rule errno returns and masked 64-bit argument
// compares, which the pure-Go BPF libraries don't express. It must never
// import anything of berth outside this package.
package seccomp
