package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"time"

	"github.com/docker/go-units"
	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/engine"
)

// statsRow is one line of `stats`, with Docker's field names for --format.
type statsRow struct {
	Container, ID, Name                              string
	CPUPerc, MemUsage, MemPerc, NetIO, BlockIO, PIDs string
}

var statsHeaders = map[string]string{
	"Container": "CONTAINER", "ID": "CONTAINER ID", "Name": "NAME", "CPUPerc": "CPU %",
	"MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O", "BlockIO": "BLOCK I/O", "PIDs": "PIDS",
}

const statsTable = "{{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}"

// statsInterval is how often stats samples: Docker's one second.
const statsInterval = time.Second

type statsOptions struct {
	all, noStream, noTrunc bool
	format                 string
}

func newStatsCommand(g *globalOptions) *cobra.Command {
	var o statsOptions
	cmd := &cobra.Command{
		Use:   "stats [OPTIONS] [CONTAINER...]",
		Short: "Display a live stream of container(s) resource usage statistics",
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := g.engine()
			if err != nil {
				return err
			}
			defer e.Close()
			return runStats(cmd.Context(), e, args, o)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.all, "all", "a", false, "Show all containers (default shows just running)")
	f.BoolVar(&o.noStream, "no-stream", false, "Disable streaming stats and only pull the first result")
	f.BoolVar(&o.noTrunc, "no-trunc", false, "Do not truncate output")
	f.StringVar(&o.format, "format", "", "Format output using a custom template")
	return cmd
}

// statsTarget is a container being watched and its last sample.
type statsTarget struct {
	ref  string // as the user typed it, or the ID
	c    *container.Container
	prev *engine.ContainerStats
}

func runStats(ctx context.Context, e *engine.Engine, args []string, o statsOptions) error {
	// The containers named must all exist; without names, the running
	// ones (all with -a), looked up again at every sample.
	var named []*statsTarget
	for _, ref := range args {
		c, err := e.Container(ctx, ref)
		if err != nil {
			return err
		}
		named = append(named, &statsTarget{ref: ref, c: c})
	}
	known := map[string]*statsTarget{}
	targets := func() ([]*statsTarget, error) {
		if len(args) > 0 {
			for _, t := range named {
				if c, err := e.Container(ctx, t.c.ID); err == nil {
					t.c = c
				}
			}
			return named, nil
		}
		cs, err := e.Containers(ctx)
		if err != nil {
			return nil, err
		}
		var out []*statsTarget
		for i := len(cs) - 1; i >= 0; i-- { // oldest first, as docker lists them
			c := cs[i]
			if !o.all && c.Status != container.Running {
				continue
			}
			t := known[c.ID]
			if t == nil {
				t = &statsTarget{ref: c.ID, c: c}
				known[c.ID] = t
			}
			t.c = c
			out = append(out, t)
		}
		return out, nil
	}
	sample := func(ts []*statsTarget) ([]any, error) {
		var rows []any
		for _, t := range ts {
			st, err := e.ContainerStats(ctx, t.c)
			if err != nil {
				return nil, err
			}
			rows = append(rows, statsLine(t, st, o.noTrunc))
			t.prev = st
		}
		return rows, nil
	}
	term := isTerminal(os.Stdout)
	first := true
	for {
		ts, err := targets()
		if err != nil {
			return err
		}
		if first {
			// A first sample for the CPU percentage, which needs two.
			if _, err := sample(ts); err != nil {
				return err
			}
			first = false
			if !sleepCtx(ctx, statsInterval) {
				return nil
			}
			continue
		}
		rows, err := sample(ts)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		if err := (formatter{out: &buf, format: o.format, def: statsTable, headers: statsHeaders}).print(rows); err != nil {
			return err
		}
		if term && !o.noStream {
			fmt.Print("\033[2J\033[H") // clear the screen, cursor home
		}
		os.Stdout.Write(buf.Bytes())
		if o.noStream || !sleepCtx(ctx, statsInterval) {
			return nil
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// statsLine formats a sample as the docker CLI does.
func statsLine(t *statsTarget, st *engine.ContainerStats, noTrunc bool) statsRow {
	var cpu, mem float64
	if t.prev != nil && t.prev.SystemCPU > 0 && st.SystemCPU > t.prev.SystemCPU && st.CPUTotal >= t.prev.CPUTotal {
		cpu = float64(st.CPUTotal-t.prev.CPUTotal) / float64(st.SystemCPU-t.prev.SystemCPU) * float64(st.OnlineCPUs) * 100
	}
	if st.MemLimit > 0 {
		mem = float64(st.MemUsage) / float64(st.MemLimit) * 100
	}
	row := statsRow{
		Container: t.ref, ID: t.c.ID, Name: t.c.Name,
		CPUPerc:  fmt.Sprintf("%.2f%%", cpu),
		MemUsage: units.BytesSize(float64(st.MemUsage)) + " / " + units.BytesSize(float64(st.MemLimit)),
		MemPerc:  fmt.Sprintf("%.2f%%", mem),
		NetIO:    humanSize(int64(st.NetRx)) + " / " + humanSize(int64(st.NetTx)),
		BlockIO:  humanSize(int64(st.BlockRead)) + " / " + humanSize(int64(st.BlockWrite)),
		PIDs:     fmt.Sprint(st.Pids),
	}
	if !noTrunc {
		row.ID = truncateID(row.ID)
	}
	return row
}
