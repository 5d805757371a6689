// Package seccomp compiles the OCI seccomp configuration (linux.seccomp in
// config.json) into a classic BPF program and loads it. It is pure Go: the
// OCI syntax includes per-rule errno returns and masked 64-bit argument
// compares, which the pure-Go BPF libraries don't express. It must never
// import anything of berth outside this package.
//
// # Semantics
//
// The aim is that a container sees the same filter under berth as under
// runc (which uses libseccomp), so where the runtime spec is silent this
// package does what runc + libseccomp do:
//
//   - Architectures: the native ABI is always covered; a listed ABI is added
//     when the kernel can run it (x86 and x32 on amd64, arm on arm64);
//     other valid SCMP_ARCH_* names are ignored, unknown ones are errors. A
//     syscall from an ABI the filter does not cover gets SCMP_ACT_KILL
//     (KILL_THREAD), libseccomp's default bad-arch action. On x86_64 the
//     syscall numbers from __X32_SYSCALL_BIT up are x32's: bad-arch unless
//     x32 is listed, except -1, the number a tracer uses to skip a syscall.
//   - Syscall names the ABI does not have are skipped, not errors, so one
//     profile serves all ABIs and kernels (Docker's lists names of every
//     architecture).
//   - A rule whose action (with its errno) equals the default action is
//     dropped, as runc does.
//   - An unconditional rule for a syscall wins over all conditional rules
//     for it, in any order; among unconditional rules the first wins
//     (libseccomp's database behaves so).
//   - Conditional rules for a syscall are tried in config order and the
//     first whose conditions all hold decides; none holding means the
//     default action. libseccomp merges them into a tree ordered by
//     argument and value and may reject overlapping rules that have
//     different actions; the results differ only for such overlaps.
//   - The conditions of one entry are ANDed, except that when an entry
//     tests the same argument twice each condition becomes a rule of its
//     own (ORed), exactly as runc and crun do because libseccomp cannot
//     AND two tests of one argument.
//   - 64-bit ABIs compare all 64 bits of an argument, as two 32-bit halves;
//     32-bit ABIs (x86, arm, x32) compare only the low 32 bits of the
//     argument and of the rule's values, like libseccomp. SCMP_CMP_MASKED_EQ
//     tests (arg & value) == (valueTwo & value).
//   - ERRNO without errnoRet returns EPERM; TRACE without errnoRet passes
//     EPERM as its message (runc's choice). errnoRet on any other action
//     is an error, as the runtime spec requires. defaultErrnoRet likewise.
//   - SCMP_ACT_NOTIFY cannot be the default action (runc refuses it too: it
//     would also stop the runtime's own syscalls before execve).
//
// Not done: libseccomp's x86 socketcall/ipc multiplexing (a rule for
// "socket" on x86 matches the direct socket syscall only; profiles that
// care list "socketcall" too, as Docker's does), and runc's -ENOSYS stub
// for syscalls newer than the profile.
package seccomp
