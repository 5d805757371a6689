package oci

// LookupUser resolves "user[:group]" (names or numbers, "" for root)
// against rootfs's /etc/passwd and /etc/group as a container's user is
// resolved (symlinks kept inside rootfs), and returns its uid and primary
// gid: what a build's COPY --chown and WORKDIR need.
func LookupUser(rootfs, spec string) (uid, gid uint32, err error) {
	u, err := resolveUser(rootfs, spec, nil)
	return u.UID, u.GID, err
}
