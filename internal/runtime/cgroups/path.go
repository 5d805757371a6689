package cgroups

import (
	"fmt"
	"path"
	"path/filepath"
	"strings"
)

// defaultParent is where containers without a cgroupsPath live.
const defaultParent = "/berth"

// cgroupPath is a container's cgroup path before it is tied to a hierarchy.
type cgroupPath struct {
	// inner is a cleaned slash path with no ".." in it.
	inner string
	// relative paths hang under the calling process's own cgroup in each
	// hierarchy, as runc does; absolute ones under the hierarchy root.
	relative bool
}

// parseCgroupsPath interprets an OCI linux.cgroupsPath. Empty means
// /berth/<id>. "slice:prefix:name" (the systemd driver's syntax) becomes the
// cgroupfs path systemd would use, /<expanded slice>/prefix-name.scope, so a
// spec written for runc --systemd-cgroup lands where an operator expects;
// berth never talks to systemd itself.
func parseCgroupsPath(p, id string) (cgroupPath, error) {
	switch {
	case p == "":
		if id == "" || strings.Contains(id, "/") || id == "." || id == ".." {
			return cgroupPath{}, fmt.Errorf("cgroups: container id %q cannot name a cgroup", id)
		}
		return cgroupPath{inner: defaultParent + "/" + id}, nil
	case !strings.HasPrefix(p, "/") && strings.Count(p, ":") == 2:
		inner, err := systemdPath(p)
		if err != nil {
			return cgroupPath{}, err
		}
		return cgroupPath{inner: inner}, nil
	}
	for _, elem := range strings.Split(p, "/") {
		if elem == ".." {
			return cgroupPath{}, fmt.Errorf("cgroups: cgroupsPath %q must not contain \"..\"", p)
		}
	}
	if strings.HasPrefix(p, "/") {
		inner := path.Clean(p)
		if inner == "/" {
			// Owning the root cgroup would make Destroy try to remove it and
			// Set limit the whole host.
			return cgroupPath{}, fmt.Errorf("cgroups: cgroupsPath %q names the root cgroup", p)
		}
		return cgroupPath{inner: inner}, nil
	}
	inner := path.Clean(p)
	if inner == "." {
		return cgroupPath{}, fmt.Errorf("cgroups: cgroupsPath %q names the caller's own cgroup", p)
	}
	return cgroupPath{inner: inner, relative: true}, nil
}

// systemdPath converts "slice:prefix:name" the way runc's systemd driver
// names units: a scope "prefix-name.scope" (or "name.scope" without a
// prefix) under the expanded slice, which defaults to system.slice; a name
// that is itself a slice is used as is.
func systemdPath(p string) (string, error) {
	parts := strings.Split(p, ":")
	slice, prefix, name := parts[0], parts[1], parts[2]
	if name == "" || strings.Contains(name, "/") || strings.Contains(prefix, "/") {
		return "", fmt.Errorf("cgroups: invalid systemd cgroupsPath %q: want slice:prefix:name", p)
	}
	if slice == "" {
		slice = "system.slice"
	}
	dir, err := expandSlice(slice)
	if err != nil {
		return "", fmt.Errorf("cgroups: invalid systemd cgroupsPath %q: %w", p, err)
	}
	unit := name
	if !strings.HasSuffix(name, ".slice") {
		unit = name + ".scope"
		if prefix != "" {
			unit = prefix + "-" + name + ".scope"
		}
	}
	return path.Join(dir, unit), nil
}

// expandSlice turns a systemd slice name into its cgroup path: each dash
// opens a nested slice, so "a-b-c.slice" is /a.slice/a-b.slice/a-b-c.slice
// and "-.slice" is the root.
func expandSlice(slice string) (string, error) {
	const suffix = ".slice"
	if len(slice) <= len(suffix) || !strings.HasSuffix(slice, suffix) || strings.Contains(slice, "/") {
		return "", fmt.Errorf("invalid slice name %q", slice)
	}
	name := strings.TrimSuffix(slice, suffix)
	if name == "-" {
		return "/", nil
	}
	var b strings.Builder
	prefix := ""
	for _, c := range strings.Split(name, "-") {
		if c == "" {
			return "", fmt.Errorf("invalid slice name %q", slice)
		}
		b.WriteString("/" + prefix + c + suffix)
		prefix += c + "-"
	}
	return b.String(), nil
}

// dirIn returns the directory of cp in hierarchy h. own is the caller's
// cgroup in that hierarchy (from /proc/self/cgroup), used by relative paths.
func (cp cgroupPath) dirIn(h *hierarchy, own string) (string, error) {
	if !cp.relative {
		return filepath.Join(h.mountpoint, filepath.FromSlash(cp.inner)), nil
	}
	// /proc/self/cgroup paths are relative to the hierarchy root, and the
	// mount shows h.root, so strip it; a cgroup outside the mounted
	// sub-tree has no directory we could reach.
	rel := own
	if h.root != "/" {
		if own != h.root && !strings.HasPrefix(own, h.root+"/") {
			return "", fmt.Errorf("cgroups: own cgroup %q is outside the mount of %s (root %q)", own, h.mountpoint, h.root)
		}
		rel = strings.TrimPrefix(own, h.root)
	}
	// Under a cgroup namespace the kernel shows cgroups outside it as
	// "/../x"; joining that would climb out of the mount.
	if !strings.HasPrefix(own, "/") || strings.Contains(own+"/", "/../") {
		return "", fmt.Errorf("cgroups: own cgroup %q is not reachable below %s", own, h.mountpoint)
	}
	return filepath.Join(h.mountpoint, filepath.FromSlash(rel), filepath.FromSlash(cp.inner)), nil
}
