//go:build !linux

package cgroups

// New fails: cgroups are a Linux feature.
func New(cgroupsPath, id string) (Manager, error) { return nil, ErrNotSupported }

// Load fails: cgroups are a Linux feature.
func Load(paths map[string]string) (Manager, error) { return nil, ErrNotSupported }
