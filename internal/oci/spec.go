package oci

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	containertypes "github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Options are the `docker run` flags that shape the spec. Flags that do not
// reach config.json (labels, stop signal, -i, restart policy) are not here.
type Options struct {
	// ContainerID is the container's full ID. Required: the default
	// hostname is its first 12 characters and it ends the cgroups path.
	ContainerID string

	// Cmd is the command after the image name; Entrypoint is --entrypoint,
	// and EntrypointSet says it was given, even as "" (which clears the
	// image's ENTRYPOINT and CMD alike, as Docker's CLI does).
	Cmd           []string
	Entrypoint    []string
	EntrypointSet bool

	Env        []string // -e and --env-file, already read: KEY=VALUE, or KEY to drop KEY
	WorkingDir string   // -w; absolute. Created in the rootfs when missing, as Docker does.
	// MakeWritable, when set, is called before the working directory is
	// created: for a rootfs mounted read-only until something must be
	// written to it.
	MakeWritable func() error
	User         string   // -u user[:group], names or numbers
	GroupAdd     []string // --group-add, names or numbers
	Hostname     string   // -h; default: the ID's first 12 characters (the host's name with NetNS "host")
	Domainname   string   // --domainname
	Tty          bool     // -t
	ReadOnly     bool     // --read-only

	// Init runs InitPath (default DefaultInitPath) as pid 1 with "--" and
	// the command, as --init does; the caller bind-mounts the binary there.
	Init     bool
	InitPath string

	Privileged      bool
	CapAdd, CapDrop []string // with or without CAP_, any case, or ALL

	// SecurityOpt is --security-opt in the Engine API's form:
	// no-new-privileges[=true|false], seccomp=unconfined|builtin|<profile
	// JSON> (the CLI sends a profile file's content, not its name),
	// systempaths=unconfined, writable-cgroups[=bool]; label=… and
	// apparmor=… are accepted and have no effect here.
	SecurityOpt []string

	Sysctls     map[string]string   // --sysctl
	Tmpfs       map[string]string   // --tmpfs: destination → options ("" for the defaults)
	ShmSize     int64               // --shm-size in bytes; 0 means DefaultShmSize
	Ulimits     []specs.POSIXRlimit // --ulimit
	OomScoreAdj int                 // --oom-score-adj

	// Resources are the cgroup limits (-m, --cpus, --pids-limit, the
	// blkio flags…) and --ulimit in the Engine API's form; Spec checks
	// them (PrepareResources) and a ulimit here replaces one of the same
	// name in Ulimits. CgroupParent, Devices and DeviceCgroupRules are
	// not read from here.
	Resources containertypes.Resources

	// CgroupParent is --cgroup-parent (cgroupfs style); the container's
	// cgroups path is CgroupParent/ID, or DefaultCgroupParent/ID.
	CgroupParent string

	// NetNS is the network namespace: "" for a new one, "host" for the
	// host's, or the path of one to join (another container's; Docker
	// then gives the container that one's Hostname and Domainname).
	// Docker's network sysctls are only set in a new one.
	NetNS string

	// IpcNS and PidNS are like NetNS: "" for a new namespace, "host" for
	// the host's, or the path of another container's to join. With the
	// host's IPC namespace /dev/shm is the host's too; NoShm (--ipc none)
	// leaves /dev/shm unmounted. UTSHost shares the host's UTS namespace
	// (and so its host name: -h is refused).
	IpcNS, PidNS string
	NoShm        bool
	// ShmSource, when set, is bound at /dev/shm in place of a tmpfs of
	// the container's own: the /dev/shm of the container whose IPC
	// namespace it joins, so POSIX shared memory is shared too.
	ShmSource string
	UTSHost   bool

	// UIDMappings and GIDMappings give the container a user namespace of
	// its own with these mappings (user-namespace remapping); none when
	// empty.
	UIDMappings, GIDMappings []specs.LinuxIDMapping

	// Devices are --device, DeviceCgroupRules --device-cgroup-rule
	// ("c 1:3 rwm").
	Devices           []DeviceMapping
	DeviceCgroupRules []string

	// Mounts are the binds and volumes, already resolved by the caller
	// (with the init binary's bind for Init). They come after the default
	// mounts and replace any default at the same destination.
	Mounts []specs.Mount

	Annotations map[string]string // --annotation; copied to the spec
}

const (
	// DefaultShmSize is the size of /dev/shm when ShmSize is 0 (Docker's).
	DefaultShmSize = 64 << 20
	// DefaultInitPath is where Docker puts docker-init in a container.
	DefaultInitPath = "/sbin/docker-init"
	// DefaultCgroupParent holds the containers' cgroups, as /docker does Docker's.
	DefaultCgroupParent = "/berth"
	// NetNSHost is the Options.NetNS value for the host's network namespace.
	NetNSHost = "host"
)

// ErrInvalid is the class of errors caused by the options or the image
// config rather than the host (Docker's InvalidParameter: HTTP 400, exit
// 125): errors.Is(err, ErrInvalid). The messages are Docker's.
var ErrInvalid = errors.New("invalid container configuration")

// ErrNoCommand is returned when neither the options nor the image give a
// command. It is also ErrInvalid.
var ErrNoCommand = invalid{errors.New("no command specified")}

type invalid struct{ error }

func (e invalid) Is(target error) bool { return target == ErrInvalid }
func (e invalid) Unwrap() error        { return e.error }

func invalidf(format string, args ...any) error { return invalid{fmt.Errorf(format, args...)} }

// Spec builds a container's config.json from its image config (nil for
// none) and options. rootfs is the container's root directory on the host
// (the mounted snapshot); Spec reads /etc/passwd and /etc/group inside it to
// resolve the user and creates the working directory there when missing,
// never following a symlink out of it. Errors from bad options or image
// config are ErrInvalid.
func Spec(img *dockerspec.DockerOCIImage, rootfs string, o Options) (*specs.Spec, error) {
	if o.ContainerID == "" {
		return nil, errors.New("oci: a container ID is required")
	}
	if rootfs == "" {
		return nil, errors.New("oci: a rootfs is required")
	}
	var ic dockerspec.DockerOCIImageConfig
	if img != nil {
		ic = img.Config
	}
	sec, err := parseSecurityOpt(o.SecurityOpt)
	if err != nil {
		return nil, err
	}
	if err := checkLimits(&o); err != nil {
		return nil, err
	}

	s := defaultSpec()
	s.Root = &specs.Root{Path: rootfs, Readonly: o.ReadOnly}
	s.Annotations = maps.Clone(o.Annotations)

	// Roughly daemon/oci_linux.go createSpec's order; what matters is
	// that seccomp comes after the capabilities it depends on.
	steps := []func(*specs.Spec) error{
		func(s *specs.Spec) error { return setProcess(s, ic, &o) },
		func(s *specs.Spec) error { return setSysctls(s, &o) },
		func(s *specs.Spec) error { setCgroups(s, &o); return nil },
		func(s *specs.Spec) error { return setResources(s, &o) },
		func(s *specs.Spec) error { return setDevices(s, &o) },
		func(s *specs.Spec) error { return setNamespaces(s, &o) },
		func(s *specs.Spec) error { return setCapabilities(s, &o) },
		func(s *specs.Spec) error { return setSeccomp(s, &o, sec) },
		func(s *specs.Spec) error { return setMounts(s, &o, sec) },
		func(s *specs.Spec) error { return setUser(s, ic, rootfs, &o) },
		// Last, once every check has passed: the one write to rootfs.
		func(s *specs.Spec) error { return makeWorkingDir(rootfs, s.Process.Cwd, o.MakeWritable) },
	}
	for _, step := range steps {
		if err := step(s); err != nil {
			return nil, err
		}
	}
	s.Process.NoNewPrivileges = sec.noNewPrivileges
	s.Process.Rlimits = slices.Clone(o.Ulimits)
	score := o.OomScoreAdj
	s.Process.OOMScoreAdj = &score
	return s, nil
}

// checkLimits refuses the numbers Docker refuses (daemon_unix.go,
// verifyPlatformContainerSettings) and fills the defaults it fills.
func checkLimits(o *Options) error {
	if o.ShmSize < 0 {
		return invalidf("SHM size can not be less than 0")
	}
	if o.ShmSize == 0 {
		o.ShmSize = DefaultShmSize
	}
	if o.OomScoreAdj < -1000 || o.OomScoreAdj > 1000 {
		return invalidf("Invalid value %d, range for oom score adj is [-1000, 1000]", o.OomScoreAdj)
	}
	return nil
}
