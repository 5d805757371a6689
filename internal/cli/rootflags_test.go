package cli

import (
	"slices"
	"testing"

	"github.com/spf13/pflag"

	"github.com/berth-dev/berth/internal/shim/spawn"
)

// The shim of an attached run starts before the command line is parsed
// (package spawn): it skips berth's own flags by their names, which must
// be the root command's, all taking a value.
func TestSpawnKnowsTheRootFlags(t *testing.T) {
	var names []string
	newRootCommand("run").PersistentFlags().VisitAll(func(f *pflag.Flag) {
		if f.NoOptDefVal != "" {
			t.Errorf("--%s takes no value", f.Name)
		}
		names = append(names, "--"+f.Name)
	})
	slices.Sort(names)
	want := slices.Sorted(slices.Values(spawn.RootFlags))
	if !slices.Equal(names, want) {
		t.Errorf("root flags %q, spawn.RootFlags %q", names, want)
	}
}
