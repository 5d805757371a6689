package engine

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/moby/moby/api/types/mount"

	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/oci"
	"github.com/berth-dev/berth/internal/volume"
)

// This file reads Docker's mount syntaxes (-v, --mount, --volumes-from)
// into container.MountPoints with the daemon's checks and messages
// (daemon/volume/mounts/linux_parser.go). It touches nothing.

// invalidMount is an ErrInvalid error (exit 125).
func invalidMount(format string, args ...any) error {
	return invalidError{fmt.Errorf(format, args...)}
}

type invalidError struct{ error }

func (e invalidError) Is(target error) bool { return target == oci.ErrInvalid }
func (e invalidError) Unwrap() error        { return e.error }

// mountConfigError is Docker's errMountConfig.
func mountConfigError(t mount.Type, err error) error {
	return fmt.Errorf("invalid mount config for type %q: %v", t, err)
}

var (
	rwModes          = map[string]bool{"rw": true, "ro": true}
	labelModes       = map[string]bool{"z": true, "Z": true}
	propagationModes = map[mount.Propagation]bool{
		mount.PropagationPrivate: true, mount.PropagationRPrivate: true,
		mount.PropagationSlave: true, mount.PropagationRSlave: true,
		mount.PropagationShared: true, mount.PropagationRShared: true,
	}
	consistencyModes = map[mount.Consistency]bool{
		mount.ConsistencyFull: true, mount.ConsistencyCached: true, mount.ConsistencyDelegated: true,
	}
)

// defaultPropagation is a bind's propagation unless one is asked for.
const defaultPropagation = mount.PropagationRPrivate

// validMountMode is linuxValidMountMode: at most one of each kind.
func validMountMode(mode string) bool {
	if mode == "" {
		return true
	}
	var rw, label, prop, cp, cons int
	for _, o := range strings.Split(mode, ",") {
		switch {
		case rwModes[o]:
			rw++
		case labelModes[o]:
			label++
		case propagationModes[mount.Propagation(o)]:
			prop++
		case o == "nocopy":
			cp++
		case consistencyModes[mount.Consistency(o)]:
			cons++
		default:
			return false
		}
	}
	return rw <= 1 && label <= 1 && prop <= 1 && cp <= 1 && cons <= 1
}

func modeHas(mode string, pred func(string) bool) (string, bool) {
	for _, o := range strings.Split(mode, ",") {
		if pred(o) {
			return o, true
		}
	}
	return "", false
}

func errInvalidSpec(raw string) error { return fmt.Errorf("invalid volume specification: '%s'", raw) }

// parseVolumeSpec reads one -v value, as the daemon's ParseMountRaw: an
// absolute source is a bind, any other a volume name; a value without a
// source (a path alone) is an anonymous volume.
func parseVolumeSpec(raw string) (container.MountPoint, error) {
	arr := strings.SplitN(raw, ":", 4)
	if arr[0] == "" {
		return container.MountPoint{}, invalidError{errInvalidSpec(raw)}
	}
	var m mount.Mount
	var mode string
	switch len(arr) {
	case 1:
		m.Target = arr[0]
	case 2:
		if validMountMode(arr[1]) {
			return container.MountPoint{}, invalidError{errInvalidSpec(raw)}
		}
		m.Source, m.Target = arr[0], arr[1]
	case 3:
		m.Source, m.Target, mode = arr[0], arr[1], arr[2]
	default:
		return container.MountPoint{}, invalidError{errInvalidSpec(raw)}
	}
	if !validMountMode(mode) {
		return container.MountPoint{}, invalidMount("invalid mode: %v", mode)
	}
	m.Type = mount.TypeVolume
	if path.IsAbs(m.Source) {
		m.Type = mount.TypeBind
	}
	_, m.ReadOnly = modeHas(mode, func(o string) bool { return o == "ro" })
	if _, ok := modeHas(mode, func(o string) bool { return o == "nocopy" }); ok {
		m.VolumeOptions = &mount.VolumeOptions{NoCopy: true}
	}
	if p, ok := modeHas(mode, func(o string) bool { return propagationModes[mount.Propagation(o)] }); ok {
		m.BindOptions = &mount.BindOptions{Propagation: mount.Propagation(p)}
	}
	mp, err := mountPoint(m, false)
	if err != nil {
		return container.MountPoint{}, invalidError{fmt.Errorf("%v: %v", errInvalidSpec(raw), err)}
	}
	mp.Mode = mode
	if mp.Type == mount.TypeVolume && mp.Name != "" && mode == "" {
		mp.Mode = "z" // the daemon's setBindModeIfNull for local volumes
	}
	return mp, nil
}

// parseMount reads one --mount value (already split by the CLI into
// moby's mount.Mount), checking that a bind's source exists.
func parseMount(m mount.Mount) (container.MountPoint, error) {
	mp, err := mountPoint(m, true)
	if err != nil {
		return container.MountPoint{}, invalidError{err}
	}
	if mp.Type == mount.TypeVolume {
		mp.Mode = "z"
	}
	return mp, nil
}

// mountPoint is the daemon's validateMountConfig and parseMountSpec.
func mountPoint(m mount.Mount, checkSource bool) (container.MountPoint, error) {
	if err := validateMount(&m, checkSource); err != nil {
		return container.MountPoint{}, err
	}
	mp := container.MountPoint{Type: m.Type, Destination: path.Clean(m.Target), RW: !m.ReadOnly}
	switch m.Type {
	case mount.TypeVolume:
		mp.Name, mp.Driver, mp.CopyData = m.Source, volume.DriverLocal, true
		mp.Anonymous = m.Source == ""
		if vo := m.VolumeOptions; vo != nil {
			mp.CopyData = !vo.NoCopy
			if vo.Subpath != "" {
				// The subpath must be there already: nothing is copied up.
				mp.Subpath, mp.CopyData = filepath.Clean(vo.Subpath), false
			}
		}
	case mount.TypeBind:
		mp.Source = path.Clean(m.Source)
		mp.Propagation = string(defaultPropagation)
		if bo := m.BindOptions; bo != nil {
			if bo.Propagation != "" {
				mp.Propagation = string(bo.Propagation)
			}
			mp.NonRecursive = bo.NonRecursive
			mp.ReadOnlyNonRecursive = bo.ReadOnlyNonRecursive
		}
	case mount.TypeTmpfs:
		mp.TmpfsOptions, _ = tmpfsOptions(m.TmpfsOptions, m.ReadOnly)
	}
	return mp, nil
}

func validateMount(m *mount.Mount, checkSource bool) error {
	fail := func(err error) error { return mountConfigError(m.Type, err) }
	extra := func(name string) error { return fail(fmt.Errorf("field %s must not be specified", name)) }
	if m.Target == "" {
		return fail(errors.New("field Target must not be empty"))
	}
	if err := checkDestination(m.Target); err != nil {
		return fail(err)
	}
	switch m.Type {
	case mount.TypeBind:
		if m.Source == "" {
			return fail(errors.New("field Source must not be empty"))
		}
		if bo := m.BindOptions; bo != nil && bo.Propagation != "" && !propagationModes[bo.Propagation] {
			return fail(fmt.Errorf("invalid propagation mode: %s", bo.Propagation))
		}
		if m.VolumeOptions != nil {
			return extra("VolumeOptions")
		}
		if m.ImageOptions != nil {
			return extra("ImageOptions")
		}
		if !path.IsAbs(m.Source) {
			return fail(fmt.Errorf("invalid mount path: '%s' mount path must be absolute", m.Source))
		}
		if checkSource {
			if _, err := os.Stat(m.Source); errors.Is(err, os.ErrNotExist) {
				if m.BindOptions == nil || !m.BindOptions.CreateMountpoint {
					return fail(fmt.Errorf("bind source path does not exist: %s", m.Source))
				}
			} else if err != nil {
				return fail(err)
			}
		}
	case mount.TypeVolume:
		if m.BindOptions != nil {
			return extra("BindOptions")
		}
		if m.ImageOptions != nil {
			return extra("ImageOptions")
		}
		anonymous := m.Source == ""
		if vo := m.VolumeOptions; vo != nil {
			if vo.Subpath != "" {
				if anonymous {
					return fail(errors.New("must not set Subpath when using anonymous volumes"))
				}
				if !filepath.IsLocal(vo.Subpath) {
					return fail(errors.New("subpath must be a relative path within the volume"))
				}
			}
			if vo.DriverConfig != nil {
				if err := volume.CheckDriver(vo.DriverConfig.Name); err != nil {
					return err
				}
			}
		}
		if m.ReadOnly && anonymous {
			return fail(errors.New("must not set ReadOnly mode when using anonymous volumes"))
		}
	case mount.TypeTmpfs:
		if m.BindOptions != nil {
			return extra("BindOptions")
		}
		if m.ImageOptions != nil {
			return extra("ImageOptions")
		}
		if m.Source != "" {
			return extra("Source")
		}
		if _, err := tmpfsOptions(m.TmpfsOptions, m.ReadOnly); err != nil {
			return fail(err)
		}
	default:
		return fail(errors.New("mount type unknown"))
	}
	return nil
}

// checkDestination refuses "/" and relative container paths.
func checkDestination(dest string) error {
	if path.Clean(dest) == "/" {
		return errors.New("invalid specification: destination can't be '/'")
	}
	if !path.IsAbs(dest) {
		return fmt.Errorf("invalid mount path: '%s' mount path must be absolute", dest)
	}
	return nil
}

// tmpfsOptions is the daemon's ConvertTmpfsOptions: ro, mode=, size=
// (in the largest unit that divides it) and exec/noexec.
func tmpfsOptions(o *mount.TmpfsOptions, readOnly bool) (string, error) {
	var opts []string
	if readOnly {
		opts = append(opts, "ro")
	}
	if o != nil && o.Mode != 0 {
		opts = append(opts, fmt.Sprintf("mode=%o", o.Mode))
	}
	if o != nil && o.SizeBytes != 0 {
		size, suffix := o.SizeBytes, ""
		for _, u := range []struct {
			suffix string
			div    int64
		}{{"g", 1 << 30}, {"m", 1 << 20}, {"k", 1 << 10}} {
			if size%u.div == 0 {
				size, suffix = size/u.div, u.suffix
				break
			}
		}
		opts = append(opts, fmt.Sprintf("size=%d%s", size, suffix))
	}
	if o != nil {
		for _, kv := range o.Options {
			if len(kv) < 1 || len(kv) > 2 {
				return "", errors.New("invalid option array length")
			}
			if kv[0] != "exec" && kv[0] != "noexec" {
				return "", errors.New("invalid option: " + kv[0])
			}
			opts = append(opts, strings.Join(kv, "="))
		}
	}
	return strings.Join(opts, ","), nil
}

// parseVolumesFrom reads one --volumes-from value: CONTAINER[:MODE],
// where MODE may say ro or rw (and z/Z), nothing about propagation or
// copying.
func parseVolumesFrom(spec string) (id, mode string, err error) {
	if spec == "" {
		return "", "", invalidMount("volumes-from specification cannot be an empty string")
	}
	id, mode, _ = strings.Cut(spec, ":")
	if mode == "" {
		return id, "rw", nil
	}
	if !validMountMode(mode) {
		return "", "", invalidMount("invalid mode: %v", mode)
	}
	if _, ok := modeHas(mode, func(o string) bool { return propagationModes[mount.Propagation(o)] || o == "nocopy" }); ok {
		return "", "", invalidMount("invalid mode: %v", mode)
	}
	return id, mode, nil
}
