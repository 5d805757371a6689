package cli

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/berth-dev/berth/internal/container"
)

// volumeFlags are run's and create's mount flags: -v, --mount, --tmpfs,
// --volumes-from, --volume-driver.
type volumeFlags struct {
	volumes      []string
	mounts       mountOpt
	tmpfs        []string
	volumesFrom  []string
	volumeDriver string
}

func (v *volumeFlags) addFlags(f *pflag.FlagSet) {
	f.StringArrayVarP(&v.volumes, "volume", "v", nil, "Bind mount a volume")
	f.Var(&v.mounts, "mount", "Attach a filesystem mount to the container")
	f.StringArrayVar(&v.tmpfs, "tmpfs", nil, "Mount a tmpfs directory")
	f.StringArrayVar(&v.volumesFrom, "volumes-from", nil, "Mount volumes from the specified container(s)")
	f.StringVar(&v.volumeDriver, "volume-driver", "", "Optional volume driver for the container")
}

// config puts the flags into cfg as Docker's CLI sends them: -v values
// with a source are HostConfig.Binds (a relative host path starting with
// "." made absolute), those without are anonymous volumes (Config.Volumes).
func (v *volumeFlags) config(cfg *container.Config) error {
	if v.volumeDriver != "" && v.volumeDriver != "local" {
		return fmt.Errorf("error looking up volume plugin %s: plugin %q not found", v.volumeDriver, v.volumeDriver)
	}
	for _, raw := range v.volumes {
		host, rest, ok := strings.Cut(raw, ":")
		if !ok {
			cfg.Volumes = append(cfg.Volumes, raw)
			continue
		}
		if !filepath.IsAbs(host) && strings.HasPrefix(host, ".") {
			if abs, err := filepath.Abs(host); err == nil {
				raw = abs + ":" + rest
			}
		}
		cfg.Binds = append(cfg.Binds, raw)
	}
	cfg.Mounts = v.mounts.Value()
	for _, t := range v.tmpfs {
		dest, options, _ := strings.Cut(t, ":")
		if cfg.Tmpfs == nil {
			cfg.Tmpfs = map[string]string{}
		}
		cfg.Tmpfs[dest] = options
	}
	cfg.VolumesFrom = v.volumesFrom
	return nil
}
