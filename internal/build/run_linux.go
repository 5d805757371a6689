package build

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/archive"
	"github.com/berth-dev/berth/internal/oci"
)

// sandboxHostname is the host name RUN sees, BuildKit's.
const sandboxHostname = "buildkitsandbox"

// runError is a RUN whose process failed, in BuildKit's words.
type runError struct {
	args []string
	code int
}

func (e *runError) Error() string {
	return fmt.Sprintf("process %q did not complete successfully: exit code: %d", strings.Join(e.args, " "), e.code)
}

// dispatchRun runs a command in a container on the stage's tree; what it
// changes is the step's layer.
func (r *run) dispatchRun(ctx context.Context, s *stage, st *state, c *instructions.RunCommand) error {
	for _, f := range c.FlagsUsed {
		if f != "mount" && f != "network" && f != "security" && f != "device" {
			return fmt.Errorf("RUN --%s is not supported yet", f)
		}
	}
	// --security=insecure runs privileged, when build --allow grants it.
	insecure := instructions.GetSecurity(c) == instructions.SecurityInsecure
	if insecure && !slices.Contains(r.o.Allow, "security.insecure") {
		return errors.New("granting entitlement security.insecure is not allowed by build daemon configuration")
	}
	args := c.CmdLine
	var script *instructions.ShellInlineFile // a heredoc with a #! line
	summary := ""
	if len(c.Files) > 0 {
		// Heredocs: a single one is the script the shell runs, or, with a
		// #! line, a file it runs (as BuildKit, at /dev/pipes/NAME);
		// several are given back to the shell whole.
		if len(args) != 1 || !c.PrependShell {
			return fmt.Errorf("parsing produced an invalid run command: %v", args)
		}
		if parser.MustParseHeredoc(args[0]) != nil {
			data := c.Files[0].Data
			if c.Files[0].Chomp {
				data = parser.ChompHeredocContent(data)
			}
			if strings.HasPrefix(c.Files[0].Data, "#!") {
				script = &instructions.ShellInlineFile{Name: path.Base(c.Files[0].Name), Data: data}
				args = []string{path.Join(pipesDir, script.Name)}
			} else {
				args = []string{data}
			}
			summary = " (" + summarizeHeredoc(c.Files[0].Data) + ")"
		} else {
			full := args[0]
			for _, f := range c.Files {
				full += "\n" + f.Data + f.Name
			}
			args = []string{full}
		}
	}
	if c.PrependShell {
		args = withShell(st, args)
	}
	env := shell.EnvsFromSlice(st.env)
	name := r.stepName(s, st, uppercaseCmd(processCmdEnv(s.lex, c.String(), env))+summary)
	v := r.p.vertex(name)
	createdBy := "RUN " + runCommandString(args, st.args, env) + " # buildkit"
	procEnv := slices.Clone(st.env)
	user, wd := st.img.Config.User, st.img.Config.WorkingDir
	keyParts := []any{st.chainID(), args, procEnv, user, wd, sandboxHostname}
	rms, mountKey, err := r.planMounts(ctx, st, instructions.GetMounts(c))
	if err != nil {
		v.failed(err)
		return err
	}
	if len(rms) > 0 {
		keyParts = append(keyParts, "mounts", mountKey)
	}
	if script != nil {
		keyParts = append(keyParts, "script", script.Name, script.Data)
	}
	if insecure {
		keyParts = append(keyParts, "security", "insecure")
	}
	devices, err := r.runDevices(instructions.GetDevices(c))
	if err != nil {
		v.failed(err)
		return err
	}
	if len(devices) > 0 {
		keyParts = append(keyParts, "devices", devices)
	}
	netns := r.runNetwork(instructions.GetNetwork(c))
	if netns != oci.NetNSHost {
		keyParts = append(keyParts, "network", "none")
	}
	key := cacheKey("run", keyParts...)
	return r.layerStep(ctx, v, st, key, createdBy, func(ctx context.Context, rootfs string, w *workdir) error {
		mounts, cleanup, err := sandboxFiles(rootfs, w.dir)
		if err != nil {
			return err
		}
		defer cleanup()
		setup, err := r.setupMounts(ctx, rootfs, w, rms)
		if err != nil {
			return err
		}
		defer setup.release(rootfs)
		mounts = append(mounts, setup.mounts...)
		if script != nil {
			m, err := pipeScript(w, script)
			if err != nil {
				return err
			}
			mounts = append(mounts, m)
		}
		spec, err := oci.Spec(nil, rootfs, oci.Options{
			ContainerID: containerID(w.id), Cmd: args, EntrypointSet: true,
			Env: append(slices.Clone(procEnv), setup.env...), WorkingDir: wd, User: user, Hostname: sandboxHostname,
			CgroupParent: r.o.CgroupParent, NetNS: netns, Mounts: mounts, Privileged: insecure,
		})
		if err != nil {
			return err
		}
		if len(devices) > 0 {
			if err := r.cdi.Inject(spec, devices...); err != nil {
				return err
			}
		}
		data, err := json.Marshal(spec)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(w.dir, "config.json"), data, 0o600); err != nil {
			return err
		}
		pr, pw, err := os.Pipe()
		if err != nil {
			return err
		}
		lw := &lineWriter{v: v}
		copied := make(chan struct{})
		go func() {
			io.Copy(lw, pr)
			close(copied)
		}()
		code, err := r.b.cfg.Runner.Run(ctx, containerID(w.id), w.dir, pw)
		pw.Close()
		<-copied
		pr.Close()
		if err != nil && (errors.Is(err, syscall.ENOEXEC) || strings.HasSuffix(err.Error(), syscall.ENOEXEC.Error())) {
			// A binary of another architecture (or no #! line): runc's
			// init writes the error and exits 255, which BuildKit shows.
			fmt.Fprintln(lw, err.Error())
			code, err = 255, nil
		}
		lw.flush()
		if err != nil {
			return err
		}
		if code != 0 {
			return &runError{args: args, code: code}
		}
		return nil
	})
}

// runNetwork is the network namespace of a RUN with --network=mode:
// the host's (BuildKit's default with the docker driver), or a new empty
// one for none. "default" is the build's --network.
func (r *run) runNetwork(mode string) string {
	if mode == "" || mode == instructions.NetworkDefault {
		mode = r.o.Network
	}
	if mode == instructions.NetworkNone {
		return ""
	}
	return oci.NetNSHost
}

// withShell is the shell form's command: SHELL's, else /bin/sh -c.
func withShell(st *state, args []string) []string {
	sh := st.img.Config.Shell
	if len(sh) == 0 {
		sh = []string{"/bin/sh", "-c"}
	}
	return append(slices.Clone(sh), strings.Join(args, " "))
}

// runCommandString is BuildKit's created_by of a RUN: the ARGs in scope
// ("|2 A=1 B=2") before the command.
func runCommandString(args []string, buildArgs []instructions.KeyValuePairOptional, env shell.EnvGetter) string {
	var vars []string
	idx := map[string]int{}
	for _, a := range buildArgs {
		v, ok := env.Get(a.Key)
		if !ok {
			v = a.ValueString()
		}
		if i, ok := idx[a.Key]; ok {
			vars[i] = a.Key + "=" + v
		} else {
			idx[a.Key] = len(vars)
			vars = append(vars, a.Key+"="+v)
		}
	}
	if len(vars) > 0 {
		vars = append([]string{fmt.Sprintf("|%d", len(vars))}, vars...)
	}
	return strings.Join(append(vars, args...), " ")
}

// uppercaseCmd uppercases an instruction's keyword, as progress shows it.
func uppercaseCmd(s string) string {
	p := strings.SplitN(s, " ", 2)
	p[0] = strings.ToUpper(p[0])
	return strings.Join(p, " ")
}

// processCmdEnv expands the variables of an instruction's text for its
// progress name, leaving it as it is when that fails.
func processCmdEnv(lex *shell.Lex, cmd string, env shell.EnvGetter) string {
	l := *lex
	l.RawQuotes = true
	l.SkipUnsetEnv = true
	out, _, err := l.ProcessWord(cmd, env)
	if err != nil {
		return cmd
	}
	return out
}

// sandboxFiles are the /etc/hosts and /etc/resolv.conf a RUN sees, as
// BuildKit gives them: the host's resolver (RUN shares the host's
// network) and a hosts file naming the sandbox, bind-mounted read-only
// from the step's directory. The returned cleanup removes the empty files
// the runtime made as mount points where the image had none, so that
// they are not part of the layer.
func sandboxFiles(rootfs, dir string) ([]specs.Mount, func(), error) {
	files := map[string][]byte{
		"/etc/hosts": []byte("127.0.0.1\tlocalhost " + sandboxHostname + "\n::1\tlocalhost ip6-localhost ip6-loopback\n"),
	}
	if data, err := os.ReadFile("/etc/resolv.conf"); err == nil {
		files["/etc/resolv.conf"] = data
	}
	var mounts []specs.Mount
	var made []string
	for _, dest := range []string{"/etc/hosts", "/etc/resolv.conf"} {
		data, ok := files[dest]
		if !ok {
			continue
		}
		if st, err := archive.StatPath(rootfs, dest); err == nil && st.Mode&os.ModeSymlink != 0 {
			continue // left as the image has it
		} else if err != nil {
			made = append(made, dest)
		}
		src := filepath.Join(dir, filepath.Base(dest))
		if err := os.WriteFile(src, data, 0o644); err != nil {
			return nil, nil, err
		}
		mounts = append(mounts, specs.Mount{Destination: dest, Type: "bind", Source: src, Options: []string{"rbind", "ro"}})
	}
	return mounts, func() {
		for _, dest := range made {
			p, err := securejoin.SecureJoin(rootfs, dest)
			if err != nil {
				continue
			}
			if fi, err := os.Lstat(p); err == nil && fi.Mode().IsRegular() && fi.Size() == 0 {
				os.Remove(p)
			}
		}
	}, nil
}

// pipesDir is where a RUN finds its heredoc script, BuildKit's place.
const pipesDir = "/dev/pipes"

// pipeScript writes a RUN's heredoc script (mode 0755) in its workdir,
// to be mounted read-only at pipesDir, outside the layer.
func pipeScript(w *workdir, f *instructions.ShellInlineFile) (specs.Mount, error) {
	dir := filepath.Join(w.dir, "pipes")
	if err := os.Mkdir(dir, 0o755); err != nil {
		return specs.Mount{}, err
	}
	if err := os.WriteFile(filepath.Join(dir, filepath.Base(f.Name)), []byte(f.Data), 0o755); err != nil {
		return specs.Mount{}, err
	}
	return specs.Mount{Destination: pipesDir, Type: "bind", Source: dir, Options: []string{"rbind", "ro"}}, nil
}

// summarizeHeredoc is BuildKit's summary of a heredoc in a step's name:
// its first line, "..." when there are more.
func summarizeHeredoc(doc string) string {
	doc = strings.TrimSpace(doc)
	lines := strings.Split(strings.ReplaceAll(doc, "\r\n", "\n"), "\n")
	if len(lines) > 1 {
		return lines[0] + "..."
	}
	return lines[0]
}
