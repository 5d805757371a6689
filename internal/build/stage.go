package build

import (
	"context"
	"fmt"
	"math"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/image"
)

// historyComment marks the history entries a Dockerfile made, as
// BuildKit's.
const historyComment = "buildkit.dockerfile.v0"

// defaultPath is the PATH a stage gets when its image sets none.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// state is a stage as built so far: the image config (with its history),
// the layers, and the environment instructions expand and RUN sees (the
// config's plus the ARGs in scope).
type state struct {
	img    dockerspec.DockerOCIImage
	layers []image.Layer
	env    []string
	args   []instructions.KeyValuePairOptional // the stage's ARGs, in order
	cmdSet bool                                // CMD was set by this stage
	step   int                                 // progress steps so far
	// onbuild is set while the stage's ONBUILD triggers run.
	onbuild bool
}

func (s *state) chainID() string {
	if len(s.layers) == 0 {
		return ""
	}
	ids := make([]digest.Digest, len(s.layers))
	for i, l := range s.layers {
		ids[i] = l.DiffID
	}
	c := image.ChainIDs(ids)
	return c[len(c)-1].String()
}

func (s *state) clone() *state {
	c := *s
	c.img = imageConfig(&s.img)
	c.img.Created = s.img.Created
	c.layers = append([]image.Layer(nil), s.layers...)
	c.env = append([]string(nil), s.env...)
	c.args = nil
	c.cmdSet = false
	c.step = 0
	return &c
}

// history records an instruction; a layer step passes what it made.
func (s *state) history(createdBy string, e *cacheEntry) {
	h := ocispec.History{CreatedBy: createdBy, Comment: historyComment, EmptyLayer: true}
	if e != nil {
		created := e.created
		h.Created = &created
		if !e.empty() {
			h.EmptyLayer = false
			s.layers = append(s.layers, e.layer)
		}
	}
	s.img.History = append(s.img.History, h)
}

func (s *state) expander(lex *shell.Lex) instructions.SingleWordExpander {
	env := shell.EnvsFromSlice(s.env)
	return func(word string) (string, error) {
		out, _, err := lex.ProcessWord(word, env)
		return out, err
	}
}

// metaArgs sets the global scope: the predefined platform ARGs, then the
// ARGs before the first FROM, each --build-arg overriding its default.
func (r *run) metaArgs(target *stage) error {
	p := image.HostPlatform()
	tp := p
	if r.o.Platform != "" {
		var err error
		if tp, err = image.ParsePlatform(r.o.Platform); err != nil {
			return err
		}
	}
	plat, tplat := image.FormatPlatform(p), image.FormatPlatform(tp)
	r.globals = []string{
		"BUILDPLATFORM=" + plat, "BUILDOS=" + p.OS, "BUILDARCH=" + p.Architecture, "BUILDVARIANT=" + p.Variant,
		"TARGETPLATFORM=" + tplat, "TARGETOS=" + tp.OS, "TARGETARCH=" + tp.Architecture, "TARGETVARIANT=" + tp.Variant,
		"TARGETSTAGE=" + target.Name,
	}
	for _, c := range r.df.metaArgs {
		for _, kv := range c.Args {
			if v, ok := r.o.BuildArgs[kv.Key]; ok {
				r.globals = image.SetEnv(r.globals, kv.Key, v)
				continue
			}
			if kv.Value == nil {
				continue
			}
			v, _, err := r.df.lex.ProcessWord(*kv.Value, shell.EnvsFromSlice(r.globals))
			if err != nil {
				return atLines(err, c.Location())
			}
			r.globals = image.SetEnv(r.globals, kv.Key, v)
		}
	}
	return nil
}

// buildStage builds s once the stages it depends on are built, and
// returns its state: the base's, then the triggers, then its own
// instructions.
func (r *run) buildStage(ctx context.Context, s *stage) (*state, error) {
	if err := r.wait(ctx, s.deps); err != nil {
		return nil, err
	}
	release, err := r.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { release() }() // the slot held at the end

	var st *state
	var base *baseImage
	triggers := s.triggers
	switch {
	case s.base != nil:
		st = s.base.built.clone()
	case strings.EqualFold(s.baseName, "scratch"):
		sp, err := r.stagePlatform(s)
		if err != nil {
			return nil, err
		}
		p := image.HostPlatform()
		if sp != nil {
			p = *sp
		}
		st = &state{img: dockerspec.DockerOCIImage{Image: ocispec.Image{Platform: p, RootFS: ocispec.RootFS{Type: "layers"}}}}
		st.img.Config.WorkingDir = "/"
		st.img.Config.Env = []string{"PATH=" + defaultPath}
	default:
		sp, err := r.stagePlatform(s)
		if err != nil {
			return nil, err
		}
		if base, err = r.baseImageFor(ctx, s.baseName, sp); err != nil {
			v := r.p.vertex(r.stepName(s, &state{}, "FROM "+normalizedName(s.baseName)))
			v.failed(err)
			return nil, atLines(r.unknownRef(fmt.Errorf("%s: %w", s.baseName, err), s.baseName, true), s.Location)
		}
		// The image's ONBUILD triggers run here, in the child, and may
		// read stages of their own.
		for _, expr := range base.cfg.Config.OnBuild {
			t, err := parseTrigger(expr)
			if err != nil {
				return nil, atLines(fmt.Errorf("ONBUILD %s: %w", expr, err), s.Location)
			}
			triggers = append(triggers, t)
			deps, err := r.stageRefs(t)
			if err != nil {
				return nil, atLines(err, s.Location)
			}
			for _, d := range deps {
				if reaches(d.s, s) {
					return nil, atLines(fmt.Errorf("circular dependency detected on stage: %s", d.s.label), s.Location)
				}
				r.start(d.s)
			}
			if len(deps) > 0 {
				// Waiting, this stage holds no slot.
				release()
				if err := r.wait(ctx, deps); err != nil {
					return nil, err
				}
				if release, err = r.acquire(ctx); err != nil {
					return nil, err
				}
			}
		}
	}
	s.total = countSteps(append(append([]instructions.Command(nil), triggers...), s.Commands...), base != nil)
	if base != nil {
		st = r.fromImage(s, base)
	}
	// Triggers don't carry over: the stage records its own.
	st.img.Config.OnBuild = nil
	if len(st.env) == 0 {
		st.env = append([]string(nil), st.img.Config.Env...)
	}
	st.onbuild = true
	for _, cmd := range triggers {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := r.dispatch(ctx, s, st, cmd); err != nil {
			return nil, atLines(err, s.Location)
		}
	}
	st.onbuild = false
	for _, cmd := range s.Commands {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := r.dispatch(ctx, s, st, cmd); err != nil {
			return nil, atLines(err, cmd.Location())
		}
	}
	return st, nil
}

// countSteps is BuildKit's count of a stage's numbered steps.
func countSteps(cmds []instructions.Command, fromImage bool) int {
	n := 0
	if fromImage {
		n = 1
	}
	for _, c := range cmds {
		switch c.(type) {
		case *instructions.RunCommand, *instructions.CopyCommand, *instructions.AddCommand, *instructions.WorkdirCommand:
			n++
		}
	}
	return n
}

// stepName is BuildKit's progress name of a numbered step:
// "[stage 2/4] RUN …", the stage's label only in multi-stage builds.
func (r *run) stepName(s *stage, st *state, text string) string {
	if s.total == 0 {
		return text
	}
	st.step++
	out := "["
	if len(r.df.stages) > 1 {
		out += s.label + " "
	}
	width := int(1 + math.Log10(float64(s.total)))
	out += fmt.Sprintf("%*d/%d] ", width, st.step, s.total)
	if st.onbuild {
		out += "ONBUILD "
	}
	return out + text
}

// baseImage is an image FROM names, resolved once per build (and
// platform) however many stages start from it.
type baseImage struct {
	once   sync.Once
	cfg    *dockerspec.DockerOCIImage
	layers []image.Layer
	err    error
}

// baseImage is the image name for the build's --platform, the target
// (COPY --from and RUN --mount from= name one): in BuildKit too such an
// image is an implicit stage of the target platform, not the stage's.
func (r *run) baseImage(ctx context.Context, name string) (*baseImage, error) {
	p, err := r.targetPlatform()
	if err != nil {
		return nil, err
	}
	return r.baseImageFor(ctx, name, p)
}

// baseImageFor is the image name for platform p (nil: any, the store's
// or the host's).
func (r *run) baseImageFor(ctx context.Context, name string, p *ocispec.Platform) (*baseImage, error) {
	key := name
	if p != nil {
		key += "\x00" + image.FormatPlatform(*p)
	}
	r.mu.Lock()
	if r.bases == nil {
		r.bases = map[string]*baseImage{}
	}
	b := r.bases[key]
	if b == nil {
		b = &baseImage{}
		r.bases[key] = b
	}
	r.mu.Unlock()
	b.once.Do(func() {
		img, err := r.b.cfg.ResolveImage(ctx, name, r.o.Pull, p)
		if err != nil {
			b.err = err
			return
		}
		if b.cfg, b.err = r.b.cfg.Images.Config(img); b.err != nil {
			return
		}
		b.layers, b.err = r.b.cfg.Images.ImageLayers(img)
	})
	return b, b.err
}

// fromImage starts a stage from a base image.
func (r *run) fromImage(s *stage, b *baseImage) *state {
	st := &state{}
	v := r.p.vertex(r.stepName(s, st, "FROM "+normalizedName(s.baseName)))
	st.img = imageConfig(b.cfg)
	st.layers = append([]image.Layer(nil), b.layers...)
	hasPath := false
	for _, e := range st.img.Config.Env {
		hasPath = hasPath || strings.HasPrefix(e, "PATH=")
	}
	if !hasPath {
		st.img.Config.Env = append(st.img.Config.Env, "PATH="+defaultPath)
	}
	v.done()
	return st
}

// dispatch carries out one instruction on st.
func (r *run) dispatch(ctx context.Context, s *stage, st *state, cmd instructions.Command) error {
	if _, isArg := cmd.(*instructions.ArgCommand); !isArg {
		if ex, ok := cmd.(instructions.SupportsSingleWordExpansion); ok {
			if err := ex.Expand(st.expander(s.lex)); err != nil {
				return err
			}
		}
	}
	if ex, ok := cmd.(instructions.SupportsSingleWordExpansionRaw); ok {
		lex := shell.NewLex('\\')
		lex.SkipProcessQuotes = true
		if err := ex.ExpandRaw(st.expander(lex)); err != nil {
			return err
		}
	}
	cfg := &st.img.Config
	switch c := cmd.(type) {
	case *instructions.RunCommand:
		return r.dispatchRun(ctx, s, st, c)
	case *instructions.CopyCommand:
		return r.dispatchCopy(ctx, s, st, copyOp{
			cmd: c.String(), srcs: c.SourcePaths, contents: c.SourceContents, dest: c.DestPath,
			chown: c.Chown, chmod: c.Chmod, from: c.From, link: c.Link, parents: c.Parents, exclude: c.ExcludePatterns,
		})
	case *instructions.AddCommand:
		// A local archive is unpacked unless --unpack=false; a download
		// only with --unpack=true.
		unpack, unpackURL := true, false
		if c.Unpack != nil {
			unpack, unpackURL = *c.Unpack, *c.Unpack
		}
		return r.dispatchCopy(ctx, s, st, copyOp{
			cmd: c.String(), add: true, unpack: unpack, unpackURL: unpackURL, srcs: c.SourcePaths, contents: c.SourceContents,
			dest: c.DestPath, chown: c.Chown, chmod: c.Chmod, link: c.Link, exclude: c.ExcludePatterns, checksum: c.Checksum,
			keepGitDir: c.KeepGitDir,
		})
	case *instructions.WorkdirCommand:
		return r.dispatchWorkdir(ctx, s, st, c)
	case *instructions.ArgCommand:
		return r.dispatchArg(s, st, c)
	case *instructions.EnvCommand:
		msg := "ENV"
		for _, kv := range c.Env {
			st.env = image.SetEnv(st.env, kv.Key, kv.Value)
			cfg.Env = image.SetEnv(cfg.Env, kv.Key, kv.Value)
			msg += " " + kv.String()
		}
		st.history(msg, nil)
	case *instructions.LabelCommand:
		msg := "LABEL"
		for _, kv := range c.Labels {
			msg += " " + kv.String()
		}
		if err := image.ApplyInstruction(cfg, c, &st.cmdSet); err != nil {
			return err
		}
		st.history(msg, nil)
	case *instructions.MaintainerCommand:
		st.img.Author = c.Maintainer
		st.history("MAINTAINER "+c.Maintainer, nil)
	case *instructions.CmdCommand:
		if err := image.ApplyInstruction(cfg, c, &st.cmdSet); err != nil {
			return err
		}
		cfg.ArgsEscaped = true //nolint:staticcheck // Docker's images still carry it
		st.history(fmt.Sprintf("CMD %q", cfg.Cmd), nil)
	case *instructions.EntrypointCommand:
		if err := image.ApplyInstruction(cfg, c, &st.cmdSet); err != nil {
			return err
		}
		st.history(fmt.Sprintf("ENTRYPOINT %q", cfg.Entrypoint), nil)
	case *instructions.HealthCheckCommand:
		if err := image.ApplyInstruction(cfg, c, &st.cmdSet); err != nil {
			return err
		}
		// BuildKit's text, %q of the struct: HEALTHCHECK &{["CMD" "x"] "30s" …}.
		var hc any = cfg.Healthcheck
		st.history(fmt.Sprintf("HEALTHCHECK %q", hc), nil)
	case *instructions.ExposeCommand:
		var ports []string
		for _, p := range c.Ports {
			words, err := s.lex.ProcessWords(p, shell.EnvsFromSlice(st.env))
			if err != nil {
				return err
			}
			ports = append(ports, words...)
		}
		c.Ports = ports
		if err := image.ApplyInstruction(cfg, c, &st.cmdSet); err != nil {
			return err
		}
		var added []string
		for _, p := range ports {
			added = append(added, exposedKey(p))
		}
		st.history(fmt.Sprintf("EXPOSE %v", added), nil)
	case *instructions.UserCommand:
		cfg.User = c.User
		st.history("USER "+c.User, nil)
	case *instructions.VolumeCommand:
		if err := image.ApplyInstruction(cfg, c, &st.cmdSet); err != nil {
			return err
		}
		st.history(fmt.Sprintf("VOLUME %v", c.Volumes), nil)
	case *instructions.StopSignalCommand:
		if err := checkSignal(c.Signal); err != nil {
			return err
		}
		cfg.StopSignal = c.Signal
		st.history("STOPSIGNAL "+c.Signal, nil)
	case *instructions.ShellCommand:
		cfg.Shell = append([]string(nil), c.Shell...)
		st.history(fmt.Sprintf("SHELL %v", c.Shell), nil)
	case *instructions.OnbuildCommand:
		cfg.OnBuild = append(cfg.OnBuild, c.Expression)
	default:
		return fmt.Errorf("%s is not supported", strings.ToUpper(cmd.Name()))
	}
	return nil
}

func unsupported(name, what string) error {
	return fmt.Errorf("%s %s: not supported yet", strings.ToUpper(name), what)
}

// exposedKey is the config key of an EXPOSE port: "80/tcp".
func exposedKey(p string) string {
	if !strings.Contains(p, "/") {
		return p + "/tcp"
	}
	port, proto, _ := strings.Cut(p, "/")
	return port + "/" + strings.ToLower(proto)
}

// checkSignal accepts what Docker's STOPSIGNAL does: a number or a name,
// with or without SIG.
func checkSignal(s string) error {
	if n, err := fmt.Sscanf(s, "%d", new(int)); err == nil && n == 1 && !strings.ContainsAny(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") {
		return nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if unix.SignalNum(name) != 0 || strings.HasPrefix(name, "SIGRTMIN") || strings.HasPrefix(name, "SIGRTMAX") {
		return nil
	}
	return fmt.Errorf("Invalid signal: %s", s)
}

// dispatchArg declares ARGs: a --build-arg value, else the default
// (expanded), else the global value of the same name.
func (r *run) dispatchArg(s *stage, st *state, c *instructions.ArgCommand) error {
	var parts []string
	for _, kv := range c.Args {
		if v, ok := r.o.BuildArgs[kv.Key]; ok {
			kv.Value = &v
		} else if kv.Value != nil {
			v, _, err := s.lex.ProcessWord(*kv.Value, shell.EnvsFromSlice(st.env))
			if err != nil {
				return err
			}
			kv.Value = &v
		} else if v, ok := shell.EnvsFromSlice(r.globals).Get(kv.Key); ok {
			kv.Value = &v
		}
		if kv.Value != nil {
			st.env = image.SetEnv(st.env, kv.Key, *kv.Value)
		}
		st.args = append(st.args, kv)
		part := kv.Key
		if kv.Value != nil {
			part += "=" + *kv.Value
		}
		parts = append(parts, part)
	}
	st.history("ARG "+strings.Join(parts, " "), nil)
	return nil
}

// dispatchWorkdir sets the working directory and makes it, as BuildKit
// does (a layer, owned by USER when set).
func (r *run) dispatchWorkdir(ctx context.Context, s *stage, st *state, c *instructions.WorkdirCommand) error {
	wd := c.Path
	if !path.IsAbs(wd) {
		wd = path.Join("/", st.img.Config.WorkingDir, wd)
	}
	wd = path.Clean(wd)
	st.img.Config.WorkingDir = wd
	v := r.p.vertex(r.stepName(s, st, "WORKDIR "+c.Path))
	if wd == "/" {
		v.done()
		st.history("WORKDIR "+wd, nil)
		return nil
	}
	user := st.img.Config.User
	key := cacheKey("workdir", st.chainID(), wd, user)
	return r.layerStep(ctx, v, st, key, "WORKDIR "+wd, func(ctx context.Context, rootfs string, _ *workdir) error {
		uid, gid := 0, 0
		if user != "" {
			u, g, err := lookupChown(rootfs, user, false)
			if err != nil {
				return err
			}
			uid, gid = u, g
		}
		return makeDirs(ctx, rootfs, wd, uid, gid)
	})
}

// layerStep runs a step that changes the tree, unless the cache has what
// it made: do gets the tree of st mounted at rootfs, and its changes
// become the step's layer.
func (r *run) layerStep(ctx context.Context, v *vertex, st *state, key digest.Digest, createdBy string, do func(ctx context.Context, rootfs string, w *workdir) error) error {
	return r.layerStepOn(ctx, v, st, st, key, createdBy, do)
}

// layerStepOn is layerStep with do run on the tree of on: st's, or an
// empty one for a layer independent of what is below it (COPY --link),
// which is then added on top of st.
func (r *run) layerStepOn(ctx context.Context, v *vertex, st, on *state, key digest.Digest, createdBy string, do func(ctx context.Context, rootfs string, w *workdir) error) error {
	if !r.o.NoCache {
		if e, ok := r.b.cache.get(ctx, key); ok {
			r.mu.Lock()
			r.hits = append(r.hits, key)
			r.mu.Unlock()
			v.cached()
			st.history(createdBy, &e)
			return nil
		}
	}
	e, err := r.b.execute(ctx, on, do)
	if err != nil {
		v.failed(err)
		return err
	}
	st.history(createdBy, &e)
	e.description = v.name
	// The tree the entry's layer was stored on top of.
	top := st.chainID()
	if on != st && !e.empty() {
		top = (&state{layers: append(slices.Clone(on.layers), e.layer)}).chainID()
	}
	if err := r.b.cache.put(ctx, key, e, top); err != nil {
		return err
	}
	v.done()
	return nil
}
