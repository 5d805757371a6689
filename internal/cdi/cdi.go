// Package cdi reads Container Device Interface specifications (the JSON
// or YAML files device vendors put in /etc/cdi and /var/run/cdi) and
// applies a device's container edits (device nodes, environment, mounts,
// hooks, groups) to an OCI runtime spec, as BuildKit does for RUN
// --device. Devices are named as BuildKit names them: vendor.com/class=name,
// vendor.com/class (its first device), vendor.com/class=* (all of them),
// or a class given in the org.mobyproject.buildkit.device.class
// annotation.
//
// It imports nothing of berth's.
package cdi

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// DefaultSpecDirs are where specs are read from, later ones overriding
// devices of the same name in earlier ones (the CDI default).
var DefaultSpecDirs = []string{"/etc/cdi", "/var/run/cdi"}

const (
	// AnnotationClass names a class of devices a request can name.
	AnnotationClass = "org.mobyproject.buildkit.device.class"
	// AnnotationAutoAllow, "true" on a spec or a device, lets builds use
	// its devices without an entitlement.
	AnnotationAutoAllow = "org.mobyproject.buildkit.device.autoallow"
)

// Spec is one CDI specification file.
type Spec struct {
	Version        string            `json:"cdiVersion"`
	Kind           string            `json:"kind"`
	Annotations    map[string]string `json:"annotations,omitempty"`
	Devices        []Device          `json:"devices"`
	ContainerEdits ContainerEdits    `json:"containerEdits,omitempty"`
}

// Device is one device of a spec.
type Device struct {
	Name           string            `json:"name"`
	Annotations    map[string]string `json:"annotations,omitempty"`
	ContainerEdits ContainerEdits    `json:"containerEdits"`
}

// ContainerEdits are the changes a device makes to a container.
type ContainerEdits struct {
	Env            []string      `json:"env,omitempty"`
	DeviceNodes    []*DeviceNode `json:"deviceNodes,omitempty"`
	Hooks          []*Hook       `json:"hooks,omitempty"`
	Mounts         []*Mount      `json:"mounts,omitempty"`
	AdditionalGIDs []uint32      `json:"additionalGids,omitempty"`
}

// DeviceNode is a device node to make in the container; what is not set
// is taken from the node at HostPath (default Path) on the host.
type DeviceNode struct {
	Path        string       `json:"path"`
	HostPath    string       `json:"hostPath,omitempty"`
	Type        string       `json:"type,omitempty"`
	Major       int64        `json:"major,omitempty"`
	Minor       int64        `json:"minor,omitempty"`
	FileMode    *os.FileMode `json:"fileMode,omitempty"`
	Permissions string       `json:"permissions,omitempty"`
	UID         *uint32      `json:"uid,omitempty"`
	GID         *uint32      `json:"gid,omitempty"`
}

// Mount is a mount to add to the container.
type Mount struct {
	HostPath      string   `json:"hostPath"`
	ContainerPath string   `json:"containerPath"`
	Options       []string `json:"options,omitempty"`
	Type          string   `json:"type,omitempty"`
}

// Hook is an OCI hook to add, HookName being the OCI hook list's name
// (prestart, createRuntime, createContainer, startContainer, poststart,
// poststop).
type Hook struct {
	HookName string   `json:"hookName"`
	Path     string   `json:"path"`
	Args     []string `json:"args,omitempty"`
	Env      []string `json:"env,omitempty"`
	Timeout  *int     `json:"timeout,omitempty"`
}

// Registry is the devices of the specs read from some directories.
type Registry struct {
	names   []string // qualified names, sorted
	devices map[string]*entry
	// errs are the spec files that could not be read, skipped.
	errs []error
}

type entry struct {
	spec *Spec
	dev  *Device
}

// Load reads the specs (*.json, *.yaml, *.yml) of dirs; missing
// directories are skipped, and so is a file that does not parse, as the
// CDI library does (Errors says which).
func Load(dirs []string) (*Registry, error) {
	r := &Registry{devices: map[string]*entry{}}
	for _, dir := range dirs {
		ents, err := os.ReadDir(dir)
		if err != nil {
			if os.IsNotExist(err) {
				continue
			}
			return nil, fmt.Errorf("CDI spec directory %s: %w", dir, err)
		}
		for _, e := range ents {
			ext := filepath.Ext(e.Name())
			if e.IsDir() || (ext != ".json" && ext != ".yaml" && ext != ".yml") {
				continue
			}
			file := filepath.Join(dir, e.Name())
			s, err := readSpec(file)
			if err != nil {
				r.errs = append(r.errs, err)
				continue
			}
			for i := range s.Devices {
				r.devices[s.Kind+"="+s.Devices[i].Name] = &entry{spec: s, dev: &s.Devices[i]}
			}
		}
	}
	r.names = slices.Sorted(maps.Keys(r.devices))
	return r, nil
}

func readSpec(file string) (*Spec, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("CDI spec: %w", err)
	}
	if filepath.Ext(file) != ".json" {
		// YAML keys are the JSON ones: convert, then read as JSON.
		var v any
		if err := yaml.Unmarshal(data, &v); err != nil {
			return nil, fmt.Errorf("CDI spec %s: %w", file, err)
		}
		if data, err = json.Marshal(v); err != nil {
			return nil, fmt.Errorf("CDI spec %s: %w", file, err)
		}
	}
	var s Spec
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("CDI spec %s: %w", file, err)
	}
	vendor, class, ok := strings.Cut(s.Kind, "/")
	if !ok || vendor == "" || class == "" {
		return nil, fmt.Errorf("CDI spec %s: invalid kind %q: want vendor.com/class", file, s.Kind)
	}
	for _, d := range s.Devices {
		if d.Name == "" || strings.ContainsAny(d.Name, "=/ ") {
			return nil, fmt.Errorf("CDI spec %s: invalid device name %q", file, d.Name)
		}
	}
	return &s, nil
}

// Errors are the spec files Load skipped, each error naming its file.
func (r *Registry) Errors() []error { return slices.Clone(r.errs) }

// Names are the qualified names of the registered devices, sorted.
func (r *Registry) Names() []string { return slices.Clone(r.names) }

// Find resolves a requested name to registered devices, as BuildKit's
// CDI manager does: kind=name, kind (the first of the kind), kind=* (all
// of it); else, or when none of the kind is registered, the devices whose
// class annotation is the name. None found is not an error.
func (r *Registry) Find(name string) []string {
	var out []string
	kind, dev, _ := strings.Cut(name, "=")
	if vendor, class, ok := strings.Cut(kind, "/"); ok && vendor != "" && class != "" {
		for _, d := range r.names {
			if !strings.HasPrefix(d, kind+"=") {
				continue
			}
			if dev == "" || dev == "*" || d == name {
				out = append(out, d)
				if dev != "*" {
					break
				}
			}
		}
	}
	if len(out) == 0 {
		for _, d := range r.names {
			if r.annotations(d)[AnnotationClass] == name {
				out = append(out, d)
			}
		}
	}
	return out
}

// AutoAllowed says whether device (a qualified name) may be used without
// an entitlement: its spec or itself is annotated so.
func (r *Registry) AutoAllowed(device string) bool {
	b, err := strconv.ParseBool(r.annotations(device)[AnnotationAutoAllow])
	return err == nil && b
}

// annotations are a device's: its spec's, overridden by its own.
func (r *Registry) annotations(device string) map[string]string {
	e := r.devices[device]
	if e == nil {
		return nil
	}
	out := maps.Clone(e.spec.Annotations)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, e.dev.Annotations)
	return out
}
