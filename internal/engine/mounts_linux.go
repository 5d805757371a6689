package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	containertypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/oci"
	"github.com/berth-dev/berth/internal/snapshot"
	"github.com/berth-dev/berth/internal/volume"
)

// A container's mounts go through four steps, as dockerd's:
//
//  1. planMounts (before the record exists): -v, --mount, --tmpfs,
//     --volumes-from and the image's VOLUMEs become cfg.MountPoints, with
//     Docker's errors; nothing is created but the missing host
//     directories of -v binds, once every value has passed.
//  2. createVolumes (once the record holds the mount points, so that a
//     concurrent `volume rm` sees them in use): the volumes that don't
//     exist are made; the returned undo removes them.
//  3. volumeSpecMounts (with the container's tree mounted): an empty
//     volume is seeded from the image (copy-up), and the mount points
//     become the spec's binds and tmpfs mounts. Destinations stay paths
//     inside the container: the runtime resolves each inside the rootfs
//     (openat2 RESOLVE_IN_ROOT), so a symlink in the image can't lead a
//     mount out of it.
//  4. mountVolumes (at each start by a user): volumes whose driver mounts
//     a filesystem (-o type=tmpfs, …) get it mounted at their _data.

// planMounts resolves cfg's mount requests into cfg.MountPoints.
func (e *Engine) planMounts(ctx context.Context, cfg *container.Config, img *dockerspec.DockerOCIImage) error {
	var points []container.MountPoint
	at := map[string]int{} // destination → index in points
	put := func(mp container.MountPoint) {
		if i, ok := at[mp.Destination]; ok {
			points[i] = mp
			return
		}
		at[mp.Destination] = len(points)
		points = append(points, mp)
	}

	for _, spec := range cfg.VolumesFrom {
		id, mode, err := parseVolumesFrom(spec)
		if err != nil {
			return err
		}
		src, err := e.containers.Get(ctx, id)
		if err != nil {
			return err
		}
		_, ro := modeHas(mode, func(o string) bool { return o == "ro" })
		for _, mp := range src.Config.MountPoints {
			mp.RW = mp.RW && !ro
			mp.CopyData = false
			mp.Mode = ""
			put(mp)
		}
	}

	user := map[string]bool{} // destinations of -v and --mount
	var mkdirs []string
	for _, raw := range cfg.Binds {
		mp, err := parseVolumeSpec(raw)
		if err != nil {
			return err
		}
		if user[mp.Destination] {
			return invalidMount("Duplicate mount point: %s", mp.Destination)
		}
		user[mp.Destination] = true
		if mp.Type == mount.TypeVolume {
			if err := volume.CheckName(mp.Name); err != nil {
				return err
			}
			mp.Source = e.volumes.Mountpoint(mp.Name)
		} else if _, err := os.Lstat(mp.Source); errors.Is(err, os.ErrNotExist) {
			mkdirs = append(mkdirs, mp.Source) // as dockerd does for -v (not --mount)
		}
		put(mp)
	}
	for _, m := range cfg.Mounts {
		mp, err := parseMount(m)
		if err != nil {
			return err
		}
		if user[mp.Destination] {
			return invalidMount("Duplicate mount point: %s", mp.Destination)
		}
		user[mp.Destination] = true
		if mp.Type == mount.TypeVolume && mp.Name != "" {
			if err := volume.CheckName(mp.Name); err != nil {
				return err
			}
			mp.Source = e.volumes.Mountpoint(mp.Name)
		}
		if m.Type == mount.TypeBind && m.BindOptions != nil && m.BindOptions.CreateMountpoint {
			if _, err := os.Lstat(mp.Source); errors.Is(err, os.ErrNotExist) {
				mkdirs = append(mkdirs, mp.Source)
			}
		}
		put(mp)
	}

	for dest := range cfg.Tmpfs {
		if err := checkDestination(dest); err != nil {
			return invalidError{err}
		}
	}

	// Anonymous volumes for -v /path and the image's VOLUMEs, where
	// nothing else is mounted.
	var anon []string
	for _, raw := range cfg.Volumes {
		mp, err := parseVolumeSpec(raw)
		if err != nil {
			return err
		}
		anon = append(anon, mp.Destination)
	}
	if img != nil {
		var imgVols []string
		for v := range img.Config.Volumes {
			imgVols = append(imgVols, path.Clean("/"+v))
		}
		slices.Sort(imgVols)
		anon = append(anon, imgVols...)
	}
	for _, dest := range anon {
		if _, ok := at[dest]; ok || dest == "/" {
			continue
		}
		put(container.MountPoint{Type: mount.TypeVolume, Destination: dest, Driver: volume.DriverLocal,
			RW: true, CopyData: true, Anonymous: true})
	}

	// --tmpfs wins over any other mount at its destination, as dockerd.
	points = slices.DeleteFunc(points, func(mp container.MountPoint) bool {
		_, ok := cfg.Tmpfs[mp.Destination]
		return ok
	})
	for i := range points {
		mp := &points[i]
		if mp.Type == mount.TypeVolume && mp.Name == "" {
			mp.Name = container.NewID() // 64 hex characters, as Docker's anonymous volumes
			mp.Source = e.volumes.Mountpoint(mp.Name)
		}
	}
	for _, dir := range mkdirs {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("error while creating mount source path '%s': %w", dir, err)
		}
	}
	cfg.MountPoints = points
	return nil
}

// volumeCreateOptions returns the options of --mount's volume-opt and
// volume-label for the volume named name, if one asks for them.
func volumeCreateOptions(cfg *container.Config, name string) (map[string]string, map[string]string) {
	for _, m := range cfg.Mounts {
		if m.Type == mount.TypeVolume && m.Source == name && m.VolumeOptions != nil {
			var opts map[string]string
			if m.VolumeOptions.DriverConfig != nil {
				opts = m.VolumeOptions.DriverConfig.Options
			}
			return opts, m.VolumeOptions.Labels
		}
	}
	return nil, nil
}

// createVolumes makes the volumes c mounts that don't exist yet.
func (e *Engine) createVolumes(ctx context.Context, c *container.Container) (undo func(), err error) {
	var made []string
	// Another container may have taken a volume this one made meanwhile.
	othersUse := func(ctx context.Context, name string) ([]string, error) {
		ids, err := e.containers.UsingVolume(ctx, name)
		return slices.DeleteFunc(ids, func(id string) bool { return id == c.ID }), err
	}
	undo = func() {
		for _, name := range made {
			if e.volumes.Remove(context.Background(), name, volume.RemoveOptions{InUse: othersUse}) == nil {
				e.emit(context.Background(), volumeEvent(name, "destroy", nil))
			}
		}
	}
	done := map[string]bool{}
	for _, mp := range c.Config.MountPoints {
		if mp.Type != mount.TypeVolume || done[mp.Name] {
			continue
		}
		done[mp.Name] = true
		opts, labels := volumeCreateOptions(&c.Config, mp.Name)
		v, created, err := e.volumes.Create(ctx, volume.CreateOptions{Name: mp.Name, Anonymous: mp.Anonymous, Options: opts, Labels: labels})
		if err != nil {
			undo()
			return nil, invalidError{err}
		}
		if created {
			made = append(made, v.Name)
			e.emit(ctx, volumeEvent(v.Name, "create", map[string]string{"container": c.ID}))
		}
		if _, err := e.volumes.Use(v); err != nil {
			undo()
			return nil, err
		}
	}
	return undo, nil
}

// volumeSpecMounts seeds c's new volumes from the image tree at rootfs
// and sets o.Mounts and o.Tmpfs from c's mount points.
func (e *Engine) volumeSpecMounts(ctx context.Context, c *container.Container, rootfs string, o *oci.Options) (rootPropagation string, err error) {
	for dest, opts := range c.Config.Tmpfs {
		if o.Tmpfs == nil {
			o.Tmpfs = map[string]string{}
		}
		o.Tmpfs[dest] = opts
	}
	for i, mp := range c.Config.MountPoints {
		switch mp.Type {
		case mount.TypeTmpfs:
			if o.Tmpfs == nil {
				o.Tmpfs = map[string]string{}
			}
			o.Tmpfs[mp.Destination] = mp.TmpfsOptions
			continue
		case mount.TypeVolume:
			v, err := e.volumes.Get(ctx, mp.Name)
			if err != nil {
				return "", err
			}
			u, err := e.volumes.Use(v)
			if err != nil {
				return "", err
			}
			if mp.Anonymous && mp.CopyData {
				if err := notOverFile(rootfs, mp.Destination); err != nil {
					return "", err
				}
			}
			if mp.CopyData {
				if err := e.volumes.CopyUp(ctx, v, rootfs, mp.Destination); err != nil {
					return "", err
				}
			}
			source := u.Source
			if mp.Subpath != "" {
				source = e.subpathStage(c.ID, i) // see mountSubpaths
			}
			o.Mounts = append(o.Mounts, bindMount(mp, source, mp.RW && !u.ReadOnly))
		case mount.TypeBind:
			switch mount.Propagation(mp.Propagation) {
			case mount.PropagationShared, mount.PropagationRShared:
				if err := checkSourcePropagation(mp.Source, "shared:"); err != nil {
					return "", err
				}
				rootPropagation = "shared"
			case mount.PropagationSlave, mount.PropagationRSlave:
				if err := checkSourcePropagation(mp.Source, "shared:", "master:"); err != nil {
					return "", err
				}
				if rootPropagation == "" {
					rootPropagation = "rslave"
				}
			}
			o.Mounts = append(o.Mounts, bindMount(mp, mp.Source, mp.RW))
		}
	}
	return rootPropagation, nil
}

// bindMount is the spec's mount of a bind or volume mount point: rbind
// (bind with bind-recursive=disabled), read-only recursively where the
// kernel can, and the bind's propagation (daemon/oci_linux.go).
func bindMount(mp container.MountPoint, source string, rw bool) specs.Mount {
	opts := []string{"rbind"}
	if mp.NonRecursive {
		opts[0] = "bind"
	}
	if !rw {
		opts = append(opts, "ro")
		if !mp.NonRecursive && !mp.ReadOnlyNonRecursive && recursiveReadOnly() {
			opts = append(opts, "rro")
		}
	}
	if mp.Propagation != "" {
		opts = append(opts, mp.Propagation)
	} else {
		opts = append(opts, string(defaultPropagation))
	}
	return specs.Mount{Destination: mp.Destination, Type: "bind", Source: source, Options: opts}
}

// recursiveReadOnly reports whether the kernel has mount_setattr(2),
// which read-only mounts below a read-only bind need (Linux 5.12).
var recursiveReadOnly = sync.OnceValue(func() bool {
	err := unix.MountSetattr(-1, "", 0, &unix.MountAttr{})
	return !errors.Is(err, unix.ENOSYS)
})

// checkSourcePropagation is dockerd's ensureShared/ensureSharedOrSlave:
// the mount holding source must carry one of the optional fields.
func checkSourcePropagation(source string, want ...string) error {
	mounts, err := mountinfo.GetMounts(nil)
	if err != nil {
		return err
	}
	best := (*mountinfo.Info)(nil)
	for _, m := range mounts {
		if source == m.Mountpoint || strings.HasPrefix(source, strings.TrimSuffix(m.Mountpoint, "/")+"/") {
			if best == nil || len(m.Mountpoint) >= len(best.Mountpoint) {
				best = m
			}
		}
	}
	if best == nil {
		return fmt.Errorf("could not find the mount of %s", source)
	}
	for _, w := range want {
		if strings.Contains(best.Optional, w) {
			return nil
		}
	}
	kind := "a shared"
	if len(want) > 1 {
		kind = "a shared or slave"
	}
	return invalidMount("path %s is mounted on %s but it is not %s mount.", source, best.Mountpoint, kind)
}

// notOverFile refuses an anonymous volume over a file of the image, as
// dockerd does; dest is resolved inside rootfs.
func notOverFile(rootfs, dest string) error {
	root, err := os.OpenFile(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer root.Close()
	rel := strings.TrimLeft(dest, "/")
	fd, err := unix.Openat2(int(root.Fd()), rel, &unix.OpenHow{
		Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return nil // missing: the runtime makes the directory
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if unix.Fstat(fd, &st) == nil && st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return invalidMount("cannot mount volume over existing file, file exists %s", filepath.Join(rootfs, rel))
	}
	return nil
}

// mountVolumes mounts, before c starts, the filesystems of c's volumes
// whose driver mounts one: a fresh one unless another running container
// uses it, so that a tmpfs volume's data lasts while some container uses
// it, as Docker's. And it binds each volume-subpath at its stage (see
// subpathStage; the shim unmounts them when the run ends), resolved
// inside the volume (openat2 RESOLVE_IN_ROOT) and bound from the
// descriptor that resolution gave, so a symlink the container plants in
// the volume can't lead the mount out of it, now or in between.
func (e *Engine) mountVolumes(ctx context.Context, c *container.Container) (mounted []volumeHold, err error) {
	defer func() {
		if err != nil {
			releaseHolds(mounted)
			mounted = nil
		}
	}()
	for i, mp := range c.Config.MountPoints {
		if mp.Type != mount.TypeVolume {
			continue
		}
		v, err := e.volumes.Get(ctx, mp.Name)
		if err != nil {
			return mounted, err
		}
		u, err := e.volumes.Use(v)
		if err != nil {
			return mounted, err
		}
		if u.Mount && !slices.ContainsFunc(mounted, func(h volumeHold) bool { return h.name == v.Name }) {
			f, err := e.volumes.Acquire(v)
			if err != nil {
				return mounted, err
			}
			mounted = append(mounted, volumeHold{e.volumes, v.Name, f})
		}
		if mp.Subpath != "" {
			if err := bindSubpath(u.Source, mp.Subpath, e.subpathStage(c.ID, i)); err != nil {
				return mounted, fmt.Errorf("error while mounting volume %s with subpath %s: %w", mp.Name, mp.Subpath, err)
			}
		}
	}
	return mounted, nil
}

// volumeHold is a start's hold on a volume mountVolumes mounted: closed
// once the shim holds it (or the start failed, which releases it).
type volumeHold struct {
	store *volume.Store
	name  string
	f     *os.File
}

// closeHolds lets go of holds; releaseHolds also unmounts what nobody
// else holds.
func closeHolds(hs []volumeHold) {
	for _, h := range hs {
		h.f.Close()
	}
}

func releaseHolds(hs []volumeHold) {
	closeHolds(hs)
	for _, h := range hs {
		h.store.Release(h.name)
	}
}

func holdNames(hs []volumeHold) []string {
	var names []string
	for _, h := range hs {
		names = append(names, h.name)
	}
	return names
}

// releaseVolumes is the volume side of removing container c: with
// removeAnonymous, its anonymous volumes go (unless another container
// uses them); filesystems mounted for volumes no running container uses
// any more are unmounted.
func (e *Engine) releaseVolumes(ctx context.Context, c *container.Container, removeAnonymous bool) {
	done := map[string]bool{}
	for _, mp := range c.Config.MountPoints {
		if mp.Type != mount.TypeVolume || done[mp.Name] {
			continue
		}
		done[mp.Name] = true
		if removeAnonymous && mp.Anonymous {
			if err := e.RemoveVolume(ctx, mp.Name, true); err == nil {
				continue
			}
		}
		if e.volumes.Mounted(mp.Name) {
			e.volumes.Release(mp.Name) // unmounted if no running container holds it
		}
	}
}

// mountPoints are c's mounts as inspect and ps show them, by destination.
func mountPoints(c *container.Container) []containertypes.MountPoint {
	out := []containertypes.MountPoint{}
	for _, mp := range c.Config.MountPoints {
		out = append(out, containertypes.MountPoint{
			Type: mp.Type, Name: mp.Name, Source: mp.Source, Destination: mp.Destination,
			Driver: mp.Driver, Mode: mp.Mode, RW: mp.RW, Propagation: mount.Propagation(mp.Propagation),
		})
	}
	slices.SortFunc(out, func(a, b containertypes.MountPoint) int { return strings.Compare(a.Destination, b.Destination) })
	return out
}

// mountsVolume is ps's volume filter: a mount whose volume name (a
// bind's source) or destination is one of values.
func mountsVolume(c *container.Container, values []string) bool {
	for _, mp := range c.Config.MountPoints {
		name := mp.Name
		if name == "" {
			name = mp.Source
		}
		if slices.Contains(values, name) || slices.Contains(values, mp.Destination) {
			return true
		}
	}
	return false
}

// subpathStage is where the volume-subpath of c's i-th mount point is
// bound on the host while c runs; the spec binds it from there.
func (e *Engine) subpathStage(id string, i int) string {
	return filepath.Join(e.containerDir(id), "subpaths", strconv.Itoa(i))
}

func bindSubpath(volume, subpath, stage string) error {
	root, err := os.OpenFile(volume, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer root.Close()
	fd, err := unix.Openat2(int(root.Fd()), subpath, &unix.OpenHow{
		Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return fmt.Errorf("cannot access path %s: %w", filepath.Join(volume, subpath), err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	snapshot.UnmountAll(stage)
	if err := os.MkdirAll(filepath.Dir(stage), 0o700); err != nil {
		return err
	}
	os.Remove(stage)
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		err = os.Mkdir(stage, 0o700)
	} else {
		err = os.WriteFile(stage, nil, 0o600)
	}
	if err != nil {
		return err
	}
	if err := unix.Mount(fmt.Sprintf("/proc/self/fd/%d", fd), stage, "", unix.MS_BIND, ""); err != nil {
		return &os.PathError{Op: "mount", Path: stage, Err: err}
	}
	return nil
}
