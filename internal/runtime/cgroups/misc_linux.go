package cgroups

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func (m *manager) setPids(r *specs.LinuxResources) error {
	if r.Pids == nil || r.Pids.Limit == nil {
		return nil
	}
	t, err := m.mustTarget("pids", "pids limit")
	if err != nil {
		return err
	}
	limit := "max" // 0 or negative: no limit
	if *r.Pids.Limit > 0 {
		limit = strconv.FormatInt(*r.Pids.Limit, 10)
	}
	return t.write("pids.max", limit)
}

// pageSizeRe matches the page size names the kernel gives hugetlb files
// ("2MB", "1GB", "64KB").
var pageSizeRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[1-9][0-9]*[KMG]B$`) })

// setHugetlb writes each page size's limit and, where the kernel has them
// (5.7+), the matching reservation limit, which is what the OCI spec asks
// for by default: without it a mapping can reserve pages it will never be
// allowed to fault in.
func (m *manager) setHugetlb(r *specs.LinuxResources) error {
	if len(r.HugepageLimits) == 0 {
		return nil
	}
	t, err := m.mustTarget("hugetlb", "hugepage limits")
	if err != nil {
		return err
	}
	limitFile, rsvdFile := "hugetlb.%s.limit_in_bytes", "hugetlb.%s.rsvd.limit_in_bytes"
	if t.v2 {
		limitFile, rsvdFile = "hugetlb.%s.max", "hugetlb.%s.rsvd.max"
	}
	for _, h := range r.HugepageLimits {
		if !pageSizeRe().MatchString(h.Pagesize) {
			return fmt.Errorf("cgroups: hugepage size %q: want a size such as 2MB or 1GB", h.Pagesize)
		}
		file := fmt.Sprintf(limitFile, h.Pagesize)
		if !exists(t.dir, file) {
			// With other hugetlb files there, it is the size that is wrong;
			// without, the controller is missing and write says so.
			if others, _ := filepath.Glob(filepath.Join(t.dir, "hugetlb.*")); len(others) > 0 {
				return fmt.Errorf("cgroups: hugepage size %s is not supported: no %s in %s", h.Pagesize, file, t.dir)
			}
		}
		v := strconv.FormatUint(h.Limit, 10)
		if err := t.write(file, v); err != nil {
			return err
		}
		if err := t.write(fmt.Sprintf(rsvdFile, h.Pagesize), v); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// setNetwork tags traffic through net_cls and net_prio. Those are v1-only
// controllers (cgroup2 matches sockets by cgroup path instead), so without
// their mounts the settings are ignored, as the OCI spec allows.
func (m *manager) setNetwork(r *specs.LinuxResources) error {
	n := r.Network
	if n == nil {
		return nil
	}
	// cgroup2 has no network controllers, and runc ignores these there; on
	// a host with v1 hierarchies a missing one is an error, as in runc,
	// rather than a limit silently not applied.
	if len(m.v1) > 0 {
		if _, ok := m.v1["net_cls"]; !ok && n.ClassID != nil {
			return fmt.Errorf("cgroups: network classID: the net_cls controller is not mounted")
		}
		if _, ok := m.v1["net_prio"]; !ok && len(n.Priorities) > 0 {
			return fmt.Errorf("cgroups: network priorities: the net_prio controller is not mounted")
		}
	}
	if dir, ok := m.v1["net_cls"]; ok && n.ClassID != nil {
		if err := writeFile(dir, "net_cls.classid", strconv.FormatUint(uint64(*n.ClassID), 10)); err != nil {
			return err
		}
	}
	if dir, ok := m.v1["net_prio"]; ok {
		for _, p := range n.Priorities {
			if err := writeFile(dir, "net_prio.ifpriomap", fmt.Sprintf("%s %d", p.Name, p.Priority)); err != nil {
				return err
			}
		}
	}
	return nil
}

// setRdma writes one rdma.max line per device; the file and its format
// are the same on both versions.
func (m *manager) setRdma(r *specs.LinuxResources) error {
	if len(r.Rdma) == 0 {
		return nil
	}
	t, err := m.mustTarget("rdma", "rdma limits")
	if err != nil {
		return err
	}
	for dev, lim := range r.Rdma {
		if dev == "" || strings.ContainsAny(dev, " \n") {
			return fmt.Errorf("cgroups: rdma device name %q", dev)
		}
		line := dev
		if lim.HcaHandles != nil {
			line += " hca_handle=" + strconv.FormatUint(uint64(*lim.HcaHandles), 10)
		}
		if lim.HcaObjects != nil {
			line += " hca_object=" + strconv.FormatUint(uint64(*lim.HcaObjects), 10)
		}
		if line == dev {
			continue
		}
		if err := t.write("rdma.max", line); err != nil {
			return err
		}
	}
	return nil
}
