package cli

import (
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/mount"
)

// mountOpt is --mount: Docker's CLI's opts.MountOpt, its syntax and
// messages. (That package imports the Engine API client, which would bring
// HTTP tracing into the binary for one parser.)
type mountOpt struct{ values []mount.Mount }

func (m *mountOpt) Type() string { return "mount" }

func (m *mountOpt) String() string {
	var s []string
	for _, v := range m.values {
		s = append(s, fmt.Sprintf("%s %s %s", v.Type, v.Source, v.Target))
	}
	return strings.Join(s, ", ")
}

func (m *mountOpt) Value() []mount.Mount { return m.values }

// Set reads one --mount value: comma-separated key=value fields (CSV, so
// a field may be quoted), the type defaulting to volume.
func (m *mountOpt) Set(value string) error {
	value = strings.TrimSpace(value)
	if value == "" {
		return errors.New("value is empty")
	}
	fields, err := csv.NewReader(strings.NewReader(value)).Read()
	if err != nil {
		return err
	}
	mt := mount.Mount{Type: mount.TypeVolume}
	bind := func() *mount.BindOptions {
		if mt.BindOptions == nil {
			mt.BindOptions = &mount.BindOptions{}
		}
		return mt.BindOptions
	}
	vol := func() *mount.VolumeOptions {
		if mt.VolumeOptions == nil {
			mt.VolumeOptions = &mount.VolumeOptions{}
		}
		return mt.VolumeOptions
	}
	driver := func() *mount.Driver {
		if vol().DriverConfig == nil {
			mt.VolumeOptions.DriverConfig = &mount.Driver{}
		}
		return mt.VolumeOptions.DriverConfig
	}
	tmpfs := func() *mount.TmpfsOptions {
		if mt.TmpfsOptions == nil {
			mt.TmpfsOptions = &mount.TmpfsOptions{}
		}
		return mt.TmpfsOptions
	}
	for _, field := range fields {
		key, val, hasValue := strings.Cut(field, "=")
		if k := strings.TrimSpace(key); k != key {
			return fmt.Errorf("invalid option '%s' in '%s': option should not have whitespace", k, field)
		}
		if hasValue {
			v := strings.TrimSpace(val)
			if v == "" {
				return fmt.Errorf("invalid value for '%s': value is empty", key)
			}
			if v != val {
				return fmt.Errorf("invalid value for '%s' in '%s': value should not have whitespace", key, field)
			}
		}
		key = strings.ToLower(key)
		if !hasValue {
			switch key {
			case "readonly", "ro", "volume-nocopy", "bind-nonrecursive", "bind-create-src":
			default:
				return fmt.Errorf("invalid field '%s' must be a key=value pair", field)
			}
		}
		switch key {
		case "type":
			mt.Type = mount.Type(strings.ToLower(val))
		case "source", "src":
			mt.Source = val
			if !filepath.IsAbs(val) && strings.HasPrefix(val, ".") {
				if abs, err := filepath.Abs(val); err == nil {
					mt.Source = abs
				}
			}
		case "target", "dst", "destination":
			mt.Target = val
		case "readonly", "ro":
			if mt.ReadOnly, err = parseMountBool(key, val, hasValue); err != nil {
				return err
			}
		case "consistency":
			mt.Consistency = mount.Consistency(strings.ToLower(val))
		case "bind-propagation":
			bind().Propagation = mount.Propagation(strings.ToLower(val))
		case "bind-nonrecursive":
			return errors.New("bind-nonrecursive is deprecated, use bind-recursive=disabled instead")
		case "bind-recursive":
			switch val {
			case "enabled":
			case "disabled":
				bind().NonRecursive = true
			case "writable":
				bind().ReadOnlyNonRecursive = true
			case "readonly":
				bind().ReadOnlyForceRecursive = true
			default:
				return fmt.Errorf(`invalid value for %s: %s (must be "enabled", "disabled", "writable", or "readonly")`, key, val)
			}
		case "bind-create-src":
			if bind().CreateMountpoint, err = parseMountBool(key, val, hasValue); err != nil {
				return err
			}
		case "volume-subpath":
			vol().Subpath = val
		case "volume-nocopy":
			if vol().NoCopy, err = parseMountBool(key, val, hasValue); err != nil {
				return err
			}
		case "volume-label":
			o := vol()
			o.Labels = setKV(o.Labels, val)
		case "volume-driver":
			driver().Name = val
		case "volume-opt":
			d := driver()
			d.Options = setKV(d.Options, val)
		case "tmpfs-size":
			size, err := units.RAMInBytes(val)
			if err != nil {
				return fmt.Errorf("invalid value for %s: %s", key, val)
			}
			tmpfs().SizeBytes = size
		case "tmpfs-mode":
			mode, err := strconv.ParseUint(val, 8, 32)
			if err != nil {
				return fmt.Errorf("invalid value for %s: %s", key, val)
			}
			tmpfs().Mode = os.FileMode(mode)
		default:
			return fmt.Errorf("unknown option '%s' in '%s'", key, field)
		}
	}
	if err := checkMountOptions(&mt); err != nil {
		return err
	}
	m.values = append(m.values, mt)
	return nil
}

// checkMountOptions is the CLI's validateMountOptions: options of one
// type only, and the read-only bind-recursive modes with readonly.
func checkMountOptions(m *mount.Mount) error {
	for _, c := range []struct {
		typ    mount.Type
		set    bool
		prefix string
	}{
		{mount.TypeBind, m.BindOptions != nil, "bind"},
		{mount.TypeVolume, m.VolumeOptions != nil, "volume"},
		{mount.TypeTmpfs, m.TmpfsOptions != nil, "tmpfs"},
	} {
		if c.set && m.Type != c.typ {
			return fmt.Errorf("cannot mix '%s-*' options with mount type '%s'", c.prefix, m.Type)
		}
	}
	if b := m.BindOptions; b != nil {
		if b.ReadOnlyNonRecursive && !m.ReadOnly {
			return errors.New("option 'bind-recursive=writable' requires 'readonly' to be specified in conjunction")
		}
		if b.ReadOnlyForceRecursive {
			if !m.ReadOnly {
				return errors.New("option 'bind-recursive=readonly' requires 'readonly' to be specified in conjunction")
			}
			if b.Propagation != mount.PropagationRPrivate {
				return errors.New("option 'bind-recursive=readonly' requires 'bind-propagation=rprivate' to be specified in conjunction")
			}
		}
	}
	return nil
}

func parseMountBool(key, val string, hasValue bool) (bool, error) {
	if !hasValue {
		return true, nil
	}
	switch val {
	case "1", "true":
		return true, nil
	case "0", "false":
		return false, nil
	}
	return false, fmt.Errorf(`invalid value for '%s': invalid boolean value (%q): must be one of "true", "1", "false", or "0" (default "true")`, key, val)
}

func setKV(m map[string]string, kv string) map[string]string {
	k, v, _ := strings.Cut(kv, "=")
	if k == "" {
		return m
	}
	if m == nil {
		m = map[string]string{}
	}
	m[k] = v
	return m
}
