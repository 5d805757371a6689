package runtimecli

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/runtime"
	"github.com/berth-dev/berth/internal/runtime/spectemplate"
)

func newRuntimeSpecCommand(o *runtimeOptions) *cobra.Command {
	var bundle string
	var rootless bool
	cmd := &cobra.Command{Use: "spec", Short: "Write a template config.json into the bundle directory"}
	cmd.Flags().StringVarP(&bundle, "bundle", "b", "", "bundle directory (default: the current directory)")
	cmd.Flags().BoolVar(&rootless, "rootless", false, "accepted for runc compatibility")
	cmd.RunE = o.run(func(cmd *cobra.Command, args []string) error {
		path := filepath.Join(bundle, "config.json")
		if _, err := os.Stat(path); err == nil {
			return fmt.Errorf("file %s exists: remove it first", path)
		}
		data, err := json.MarshalIndent(spectemplate.New(), "", "\t")
		if err != nil {
			return err
		}
		return os.WriteFile(path, append(data, '\n'), 0o666)
	})
	return cmd
}

func newRuntimeListCommand(o *runtimeOptions) *cobra.Command {
	var format string
	var quiet bool
	cmd := &cobra.Command{Use: "list", Aliases: []string{"ls"}, Short: "List containers"}
	cmd.Flags().StringVarP(&format, "format", "f", "table", "table or json")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only the ids")
	cmd.RunE = o.run(func(cmd *cobra.Command, args []string) error {
		sts, err := o.runtime().List()
		if err != nil {
			return err
		}
		switch {
		case quiet:
			for _, st := range sts {
				fmt.Println(st.ID)
			}
		case format == "json":
			if sts == nil {
				sts = []*runtime.StateReport{}
			}
			return json.NewEncoder(os.Stdout).Encode(sts)
		case format == "table":
			w := tabwriter.NewWriter(os.Stdout, 12, 1, 3, ' ', 0)
			fmt.Fprintln(w, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER")
			for _, st := range sts {
				fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\n", st.ID, st.Pid, st.Status, st.Bundle, st.Created.Format(time.RFC3339Nano), st.Owner)
			}
			return w.Flush()
		default:
			return fmt.Errorf("invalid --format %q: use table or json", format)
		}
		return nil
	})
	return cmd
}

func newRuntimePsCommand(o *runtimeOptions) *cobra.Command {
	var format string
	cmd := &cobra.Command{Use: "ps [flags] CONTAINER [PS OPTIONS…]", Short: "List the processes in a container"}
	cmd.Flags().StringVarP(&format, "format", "f", "table", "table or json")
	cmd.Flags().SetInterspersed(false)
	cmd.RunE = o.run(func(cmd *cobra.Command, args []string) error {
		if len(args) < 1 {
			return fmt.Errorf("%q requires a container id", cmd.CommandPath())
		}
		pids, err := o.runtime().Pids(args[0])
		if err != nil {
			return err
		}
		switch format {
		case "json":
			if pids == nil {
				pids = []int{}
			}
			return json.NewEncoder(os.Stdout).Encode(pids)
		case "table":
			return printPs(pids, args[1:])
		}
		return fmt.Errorf("invalid --format %q: use table or json", format)
	})
	return cmd
}

// printPs runs the host's ps with the given options and keeps the header
// and the rows of the container's pids, as runc does.
func printPs(pids []int, psArgs []string) error {
	if len(psArgs) == 0 {
		psArgs = []string{"-ef"}
	}
	out, err := exec.Command("ps", psArgs...).Output()
	if err != nil {
		return fmt.Errorf("ps %s: %w", strings.Join(psArgs, " "), err)
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	col := -1
	for i, h := range strings.Fields(lines[0]) {
		if h == "PID" {
			col = i
		}
	}
	if col < 0 {
		return fmt.Errorf("ps output has no PID column")
	}
	in := map[int]bool{}
	for _, p := range pids {
		in[p] = true
	}
	fmt.Println(lines[0])
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) > col {
			if pid, err := strconv.Atoi(f[col]); err == nil && in[pid] {
				fmt.Println(l)
			}
		}
	}
	return nil
}

func newRuntimePauseCommand(o *runtimeOptions, pause bool) *cobra.Command {
	use, short := "pause CONTAINER", "Freeze every process in a container"
	if !pause {
		use, short = "resume CONTAINER", "Thaw a paused container"
	}
	cmd := &cobra.Command{Use: use, Short: short}
	cmd.RunE = o.run(func(cmd *cobra.Command, args []string) error {
		if err := needArgs(cmd, args, 1, "container id"); err != nil {
			return err
		}
		if pause {
			return o.runtime().Pause(args[0])
		}
		return o.runtime().Resume(args[0])
	})
	return cmd
}

func newRuntimeEventsCommand(o *runtimeOptions) *cobra.Command {
	var stats bool
	var interval time.Duration
	cmd := &cobra.Command{Use: "events [flags] CONTAINER", Short: "Print container resource usage as JSON events"}
	cmd.Flags().BoolVar(&stats, "stats", false, "print one stats event and exit")
	cmd.Flags().DurationVar(&interval, "interval", 5*time.Second, "time between stats events")
	cmd.RunE = o.run(func(cmd *cobra.Command, args []string) error {
		if err := needArgs(cmd, args, 1, "container id"); err != nil {
			return err
		}
		rt := o.runtime()
		for {
			s, err := rt.Stats(args[0])
			if err != nil {
				return err
			}
			ev := map[string]any{"type": "stats", "id": args[0], "data": s}
			if err := json.NewEncoder(os.Stdout).Encode(ev); err != nil {
				return err
			}
			if stats {
				return nil
			}
			time.Sleep(interval)
		}
	})
	return cmd
}

func newRuntimeFeaturesCommand(o *runtimeOptions) *cobra.Command {
	cmd := &cobra.Command{Use: "features", Short: "Print what this runtime supports (JSON)"}
	cmd.RunE = o.run(func(cmd *cobra.Command, args []string) error {
		return writeJSON(os.Stdout, runtime.Features())
	})
	return cmd
}
