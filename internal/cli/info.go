package cli

import (
	"fmt"
	"io"
	"maps"
	"os"
	goruntime "runtime"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/docker/cli/templates"
	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/system"
	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/engine"
)

// infoData is what `info --format` templates see, as Docker's: the
// server's Info fields, and ClientInfo.
type infoData struct {
	*system.Info
	ClientInfo *clientVersion `json:"ClientInfo,omitempty"`
}

// clientVersion is the Client section of `version` and `info`.
type clientVersion struct {
	Version    string `json:"Version,omitempty"`
	APIVersion string `json:"ApiVersion,omitempty"`
	GoVersion  string `json:"GoVersion,omitempty"`
	GitCommit  string `json:"GitCommit,omitempty"`
	Os         string `json:"Os,omitempty"`
	Arch       string `json:"Arch,omitempty"`
	BuildTime  string `json:"BuildTime,omitempty"`
	Context    string `json:"Context"`
	Debug      bool   `json:"Debug"`
}

func newClientVersion() *clientVersion {
	return &clientVersion{Version: Version, APIVersion: engine.APIVersion, GoVersion: goruntime.Version(),
		GitCommit: "unknown", Os: goruntime.GOOS, Arch: goruntime.GOARCH, Context: "default"}
}

func newInfoCommand(g *globalOptions) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "info [OPTIONS]",
		Short: "Display system-wide information",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := g.engine()
			if err != nil {
				return err
			}
			defer e.Close()
			info, err := e.Info(cmd.Context(), Version)
			if err != nil {
				return err
			}
			d := infoData{Info: info, ClientInfo: newClientVersion()}
			if format == "" {
				printInfo(os.Stdout, d)
				return nil
			}
			if format == "json" {
				format = "{{json .}}"
			}
			t, err := parseTemplate(format)
			if err != nil {
				return err
			}
			if err := t.Execute(os.Stdout, d); err != nil {
				return fmt.Errorf("template: %v", err)
			}
			fmt.Println()
			return nil
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Format output using a custom template")
	return cmd
}

// printInfo prints info as `docker info` does, less what berth does not
// have (plugins, swarm, containerd).
func printInfo(w io.Writer, d infoData) {
	c, i := d.ClientInfo, d.Info
	fmt.Fprintln(w, "Client:")
	fmt.Fprintln(w, " Version:   ", c.Version)
	fmt.Fprintln(w, " Context:   ", c.Context)
	fmt.Fprintln(w, " Debug Mode:", c.Debug)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Server:")
	fmt.Fprintln(w, " Containers:", i.Containers)
	fmt.Fprintln(w, "  Running:", i.ContainersRunning)
	fmt.Fprintln(w, "  Paused:", i.ContainersPaused)
	fmt.Fprintln(w, "  Stopped:", i.ContainersStopped)
	fmt.Fprintln(w, " Images:", i.Images)
	fmt.Fprintln(w, " Server Version:", i.ServerVersion)
	fmt.Fprintln(w, " Storage Driver:", i.Driver)
	for _, kv := range i.DriverStatus {
		fmt.Fprintf(w, "  %s: %s\n", kv[0], kv[1])
	}
	fmt.Fprintln(w, " Logging Driver:", i.LoggingDriver)
	fmt.Fprintln(w, " Cgroup Driver:", i.CgroupDriver)
	fmt.Fprintln(w, " Cgroup Version:", i.CgroupVersion)
	fmt.Fprintln(w, " Runtimes:", strings.Join(slices.Sorted(maps.Keys(i.Runtimes)), " "))
	fmt.Fprintln(w, " Default Runtime:", i.DefaultRuntime)
	if len(i.SecurityOptions) > 0 {
		fmt.Fprintln(w, " Security Options:")
		for _, so := range i.SecurityOptions {
			for j, kv := range strings.Split(so, ",") {
				k, v, _ := strings.Cut(kv, "=")
				switch {
				case j == 0 && k == "name":
					fmt.Fprintln(w, "  "+v)
				case k == "profile":
					fmt.Fprintln(w, "   Profile:", v)
				}
			}
		}
	}
	fmt.Fprintln(w, " Kernel Version:", i.KernelVersion)
	fmt.Fprintln(w, " Operating System:", i.OperatingSystem)
	fmt.Fprintln(w, " OSType:", i.OSType)
	fmt.Fprintln(w, " Architecture:", i.Architecture)
	fmt.Fprintln(w, " CPUs:", i.NCPU)
	fmt.Fprintln(w, " Total Memory:", units.BytesSize(float64(i.MemTotal)))
	fmt.Fprintln(w, " Name:", i.Name)
	fmt.Fprintln(w, " ID:", i.ID)
	fmt.Fprintln(w, " Docker Root Dir:", i.DockerRootDir)
	fmt.Fprintln(w, " Debug Mode:", i.Debug)
	fmt.Fprintln(w, " Experimental:", i.ExperimentalBuild)
	if i.RegistryConfig != nil && len(i.RegistryConfig.IndexConfigs) > 0 {
		fmt.Fprintln(w, " Insecure Registries:")
		for _, name := range slices.Sorted(maps.Keys(i.RegistryConfig.IndexConfigs)) {
			fmt.Fprintln(w, "  "+name)
		}
	}
	fmt.Fprintln(w)
}

// versionData is what `version --format` templates see, as Docker's.
type versionData struct {
	Client *clientVersion
	Server *system.VersionResponse
}

// versionTemplate is Docker's, with berth's one component.
const versionTemplate = `{{with .Client -}}
Client:
 Version:	{{.Version}}
 API version:	{{.APIVersion}}
 Go version:	{{.GoVersion}}
 Git commit:	{{.GitCommit}}
 Built:	{{.BuildTime}}
 OS/Arch:	{{.Os}}/{{.Arch}}
 Context:	{{.Context}}
{{- end}}

{{- if ne .Server nil}}{{with .Server}}

Server:{{if ne .Platform.Name ""}} {{.Platform.Name}}{{end}}
 {{- range $component := .Components}}
 {{$component.Name}}:
  Version:	{{.Version}}
  API version:	{{index .Details "ApiVersion"}} (minimum version {{index .Details "MinAPIVersion"}})
  Go version:	{{index .Details "GoVersion"}}
  Git commit:	{{index .Details "GitCommit"}}
  Built:	{{index .Details "BuildTime"}}
  OS/Arch:	{{index .Details "Os"}}/{{index .Details "Arch"}}
  Experimental:	{{index .Details "Experimental"}}
 {{- end}}{{- end}}{{- end}}`

func newVersionCommand(g *globalOptions) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "version [OPTIONS]",
		Short: "Show the berth version information",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch format {
			case "":
				format = versionTemplate
			case "json":
				format = "{{json .}}"
			}
			t, err := templates.New("version").Parse(format)
			if err != nil {
				return fmt.Errorf("template parsing error: %v", err)
			}
			c := newClientVersion()
			s := &system.VersionResponse{
				Platform: system.PlatformInfo{Name: "berth"}, Version: Version,
				APIVersion: engine.APIVersion, MinAPIVersion: "1.24",
				Os: c.Os, Arch: c.Arch, GitCommit: c.GitCommit, GoVersion: c.GoVersion,
				KernelVersion: engine.KernelVersion(),
			}
			s.Components = []system.ComponentVersion{{Name: "Engine", Version: Version, Details: map[string]string{
				"ApiVersion": s.APIVersion, "MinAPIVersion": s.MinAPIVersion, "GoVersion": s.GoVersion,
				"GitCommit": s.GitCommit, "BuildTime": "", "Os": s.Os, "Arch": s.Arch,
				"KernelVersion": s.KernelVersion, "Experimental": "false",
			}}}
			tw := tabwriter.NewWriter(os.Stdout, 20, 1, 1, ' ', 0)
			err = t.Execute(tw, versionData{Client: c, Server: s})
			tw.Write([]byte("\n"))
			tw.Flush()
			if err != nil {
				return fmt.Errorf("template: %v", err)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Format output using a custom template")
	return cmd
}
