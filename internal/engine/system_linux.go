package engine

import (
	"bufio"
	"context"
	"os"
	goruntime "runtime"
	"strings"
	"time"

	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/api/types/system"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/container"
)

// APIVersion is the Docker Engine API version berth speaks of itself.
const APIVersion = "1.52"

// Info is `docker info`'s server part for this root; serverVersion is
// berth's version (the CLI's, as they are one binary).
func (e *Engine) Info(ctx context.Context, serverVersion string) (*system.Info, error) {
	cs, err := e.Containers(ctx)
	if err != nil {
		return nil, err
	}
	imgs, err := e.Images.List(ctx)
	if err != nil {
		return nil, err
	}
	info := &system.Info{
		Containers: len(cs), Images: len(imgs),
		Driver: e.DriverName(), DriverStatus: [][2]string{{"Backing Filesystem", backingFS(e.cfg.Root)}},
		MemoryLimit: true, SwapLimit: true, CPUCfsPeriod: true, CPUCfsQuota: true, CPUShares: true, CPUSet: true, PidsLimit: true,
		OomKillDisable: true, NGoroutines: goruntime.NumGoroutine(), SystemTime: time.Now().Format(time.RFC3339Nano),
		LoggingDriver: "json-file", CgroupDriver: "cgroupfs", CgroupVersion: CgroupVersion(),
		OSType: "linux", IndexServerAddress: "https://index.docker.io/v1/",
		NCPU: goruntime.NumCPU(), MemTotal: memTotal(), DockerRootDir: e.cfg.Root,
		ServerVersion: serverVersion, DefaultRuntime: "berth", InitBinary: "",
		Runtimes:        map[string]system.RuntimeWithStatus{"berth": {}},
		SecurityOptions: []string{"name=seccomp,profile=builtin"},
		RegistryConfig: &registry.ServiceConfig{
			IndexConfigs: map[string]*registry.IndexInfo{},
		},
	}
	if info.CgroupVersion == "2" {
		info.SecurityOptions = append(info.SecurityOptions, "name=cgroupns")
	}
	for _, r := range e.cfg.InsecureRegistries {
		info.RegistryConfig.IndexConfigs[r] = &registry.IndexInfo{Name: r, Secure: false}
	}
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		info.NFd = len(fds)
	}
	for _, c := range cs {
		switch {
		case c.Status == container.Running && c.Paused:
			info.ContainersPaused++
		case c.Status == container.Running:
			info.ContainersRunning++
		default:
			info.ContainersStopped++
		}
	}
	info.KernelVersion, info.Architecture = uname()
	info.Name, _ = os.Hostname()
	info.OperatingSystem, info.OSVersion = osRelease()
	if info.ID, err = e.db.SetSettingOnce(ctx, "id", NewEngineID()); err != nil {
		return nil, err
	}
	return info, nil
}

// KernelVersion is the host kernel's release, as uname -r prints it.
func KernelVersion() string {
	r, _ := uname()
	return r
}

func uname() (release, machine string) {
	var uts unix.Utsname
	if unix.Uname(&uts) != nil {
		return "", ""
	}
	return unix.ByteSliceToString(uts.Release[:]), unix.ByteSliceToString(uts.Machine[:])
}

// NewEngineID is a random ID for a root, a UUID as Docker's daemon ID is.
func NewEngineID() string {
	id := container.NewID()
	return id[0:8] + "-" + id[8:12] + "-" + id[12:16] + "-" + id[16:20] + "-" + id[20:32]
}

// CgroupVersion is "2" on a host with the unified hierarchy at
// /sys/fs/cgroup, else "1".
func CgroupVersion() string {
	var st unix.Statfs_t
	if unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		return "2"
	}
	return "1"
}

func memTotal() int64 {
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) != nil {
		return 0
	}
	return int64(si.Totalram) * int64(si.Unit)
}

// osRelease reads the host's PRETTY_NAME and VERSION_ID.
func osRelease() (name, version string) {
	f, err := os.Open("/etc/os-release")
	if err != nil {
		if f, err = os.Open("/usr/lib/os-release"); err != nil {
			return "Linux", ""
		}
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), "=")
		v = strings.Trim(v, `"'`)
		switch k {
		case "PRETTY_NAME":
			name = v
		case "VERSION_ID":
			version = v
		}
	}
	if name == "" {
		name = "Linux"
	}
	return name, version
}

// backingFS names the filesystem dir is on, as Docker's driver status does.
func backingFS(dir string) string {
	var st unix.Statfs_t
	if unix.Statfs(dir, &st) != nil {
		return "unknown"
	}
	switch st.Type {
	case unix.EXT4_SUPER_MAGIC:
		return "extfs"
	case unix.XFS_SUPER_MAGIC:
		return "xfs"
	case unix.BTRFS_SUPER_MAGIC:
		return "btrfs"
	case unix.TMPFS_MAGIC:
		return "tmpfs"
	case unix.OVERLAYFS_SUPER_MAGIC:
		return "overlayfs"
	}
	return "unknown"
}
