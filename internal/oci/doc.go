// Package oci turns an image config and `docker run` options into the OCI
// runtime spec (config.json) of a container, the way Docker does: the same
// defaults (moby's oci/defaults.go), the same merge of image and run
// options (daemon/commit.go, daemon/create.go) and the same spec options
// (daemon/oci_linux.go). One file per concern: command and environment,
// user, capabilities, security options and seccomp, mounts, namespaces,
// sysctls, cgroups and devices.
//
// What Spec learns from the host (the capabilities the engine holds, which
// sysctls exist, the host name) it asks through one value, host, so tests
// can pin it. It reads the container's rootfs only to resolve the user and
// to create the working directory, and never follows a symlink out of it.
//
// It imports no other berth package: the engine calls it, the runtime only
// ever sees its output.
package oci
