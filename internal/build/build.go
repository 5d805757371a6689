// Package build builds images from Dockerfiles, as `docker build` does
// with BuildKit: BuildKit's parser, instruction and shell-lexer packages
// read the Dockerfile; the stages the target needs are built as a graph
// (graph.go), independent ones in parallel; each RUN runs in a container
// of berth's own runtime on an overlay snapshot of the step before, and
// each RUN, COPY, ADD and
// WORKDIR makes a layer of the snapshot's changes: their tar (see
// snapshot.Diff) is stored as the layer's blob and the snapshot itself is
// committed as the layer (image.CommitSnapshot), not unpacked again. A
// step whose inputs are unchanged is not run again: its layer comes from
// the build cache in meta.db (see cache.go); the digests of context files
// are remembered between builds by their stat (see filehash_linux.go).
// With the overlay snapshotter a COPY links, rather than writes, the
// files a committed layer already has (see link_linux.go).
//
// It imports the image, snapshot, archive, oci, cdi and store packages; it
// never imports the runtime (a Runner, which the engine provides, runs
// RUN's containers) nor the CLI.
package build

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/internal/cdi"
	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/reference"
	"github.com/berth-dev/berth/internal/store"
)

// Runner runs the process of an OCI bundle to completion (a RUN step).
type Runner interface {
	// Run creates and starts container id from bundle (its config.json)
	// with stdout and stderr connected to out, waits for it to exit,
	// deletes it and returns its exit code. Cancelling ctx kills it.
	Run(ctx context.Context, id, bundle string, out *os.File) (int, error)
	// Delete removes what is left of container id (after a crash).
	Delete(id string)
}

// Config wires a Builder.
type Config struct {
	Images *image.Service
	DB     *store.DB
	Runner Runner
	// ResolveImage finds a base image by name: in the store, or pulled;
	// with pull, pulled in any case (build --pull). A platform (nil for
	// any) is the one the image must be for: pulled from an index when
	// the store's is for another.
	ResolveImage func(ctx context.Context, name string, pull bool, platform *ocispec.Platform) (*image.Image, error)
	// StateDir holds the build's working directories (bundles, mount
	// points, contexts read from stdin).
	StateDir string
	// CDISpecDirs are where RUN --device finds CDI specs; nil for
	// cdi.DefaultSpecDirs.
	CDISpecDirs []string
}

// Builder builds images.
type Builder struct {
	cfg   Config
	cache *cache
}

// New returns a Builder.
func New(cfg Config) *Builder {
	return &Builder{cfg: cfg, cache: &cache{db: cfg.DB, content: cfg.Images.Content()}}
}

// Options are build's flags.
type Options struct {
	// ContextDir is the context directory, or "-" to read Stdin (a tar
	// of the context, or a Dockerfile with no context).
	ContextDir string
	// Dockerfile is -f: a path (relative to the working directory), "-"
	// for Stdin, or "" for ContextDir/Dockerfile.
	Dockerfile string
	Stdin      io.Reader
	// Tags are -t, normalised name:tag references.
	Tags []string
	// BuildArgs are --build-arg values.
	BuildArgs map[string]string
	// Labels are --label, set on the image.
	Labels map[string]string
	// Target is --target: the stage to build; "" for the last.
	Target string
	// NoCache runs every step (and records the results).
	NoCache bool
	// Pull pulls every base image, even one the store has (--pull).
	Pull bool
	// Platform is --platform: the target platform ("" for the host's or
	// the base image's); see platform.go.
	Platform string
	// CgroupParent is the cgroup of RUN's containers ("" for berth's).
	CgroupParent string
	// Network is --network: RUN's network when it sets none itself,
	// "none", or "host"/"default"/"" for the host's.
	Network string
	// Secrets are --secret values by id, for RUN --mount=type=secret.
	Secrets map[string][]byte
	// SSH are the --ssh agents by id, for RUN --mount=type=ssh.
	SSH map[string]SSHAgent
	// Allow are the entitlements --allow grants: "security.insecure"
	// lets RUN --security=insecure run privileged; "device" or
	// "device=NAME[,alias=ALIAS]" lets RUN --device use CDI devices.
	Allow []string
	// Progress receives the progress; nil for none.
	Progress io.Writer
	// TTY shows the progress as a live view (Progress is a terminal)
	// rather than plain lines.
	TTY bool
}

// Result is what a build made.
type Result struct {
	ImageID digest.Digest
	Tags    []string
}

// Build builds an image from o's context and Dockerfile. A failing step
// leaves no image and no tag; the cache of the steps before it stays.
func (b *Builder) Build(ctx context.Context, o Options) (*Result, error) {
	if err := os.MkdirAll(b.cfg.StateDir, 0o700); err != nil {
		return nil, err
	}
	b.sweep(ctx)
	r := &run{b: b, o: o, p: newProgress(o.Progress, o.TTY)}
	res, err := r.build(ctx)
	r.b.cache.touch(ctx, r.hits)
	r.p.close()
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
	if err != nil {
		var se *sourceError
		if errors.As(err, &se) && o.Progress != nil {
			r.df.printSource(o.Progress, se.start, se.end)
		}
		if !strings.HasPrefix(err.Error(), "unable to prepare context") && !errors.Is(err, context.Canceled) {
			err = fmt.Errorf("failed to solve: %w", err)
		}
		return nil, err
	}
	return res, nil
}

// run is one build.
type run struct {
	b       *Builder
	o       Options
	p       *progress
	df      *dockerfile
	ctx     *buildContext
	globals []string // the ARGs before FROM, and the predefined ones
	sched   *scheduler
	mu      sync.Mutex
	bases   map[string]*baseImage // by name; guarded by mu
	hits    []digest.Digest       // the cache entries used; guarded by mu
	// The CDI devices, read on the first RUN --device.
	cdiOnce sync.Once
	cdi     *cdi.Registry
	cdiErr  error
	// cleanups run when the build ends.
	cleanups []func()
}

func (r *run) build(ctx context.Context) (*Result, error) {
	if err := r.prepare(ctx); err != nil {
		return nil, err
	}
	target := r.df.stages[len(r.df.stages)-1]
	if r.o.Target != "" {
		if target = r.df.findStage(r.o.Target, -1); target == nil || target.Name == "" {
			return nil, r.unknownRef(fmt.Errorf("target stage %q could not be found", r.o.Target), r.o.Target, false)
		}
	}
	if err := r.metaArgs(target); err != nil {
		return nil, err
	}
	if err := r.link(); err != nil {
		return nil, err
	}
	st, err := r.buildTarget(ctx, target)
	if err != nil {
		return nil, err
	}
	return r.export(ctx, st)
}

// prepare reads the Dockerfile and the context.
func (r *run) prepare(ctx context.Context) error {
	o := r.o
	dir := o.ContextDir
	var stdinDockerfile []byte
	if dir == "-" {
		w, err := r.b.newWorkdir()
		if err != nil {
			return err
		}
		r.cleanups = append(r.cleanups, w.release)
		dir = filepath.Join(w.dir, "context")
		if err := os.Mkdir(dir, 0o700); err != nil {
			return err
		}
		if stdinDockerfile, err = readStdin(ctx, o.Stdin, dir); err != nil {
			return err
		}
	} else if isRemote(dir) {
		var err error
		if dir, stdinDockerfile, err = r.remoteContext(ctx, dir); err != nil {
			return fmt.Errorf("unable to prepare context: %w", err)
		}
		if o.Dockerfile != "" && o.Dockerfile != "-" {
			// -f names a file of the remote context.
			if o.Dockerfile, err = securejoin.SecureJoin(dir, o.Dockerfile); err != nil {
				return err
			}
		}
	} else if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("unable to prepare context: path %q not found", dir)
	}
	name := o.Dockerfile
	var data []byte
	v := r.p.vertex("[internal] load build definition from " + dockerfileName(name))
	switch {
	case name == "-":
		if o.ContextDir == "-" {
			return errors.New("unable to prepare context: the Dockerfile and the context can't both come from stdin")
		}
		var err error
		if data, err = io.ReadAll(o.Stdin); err != nil {
			return err
		}
		name = ""
	case stdinDockerfile != nil:
		data = stdinDockerfile
	default:
		if name == "" {
			name = filepath.Join(dir, "Dockerfile")
		}
		var err error
		if data, err = os.ReadFile(name); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("failed to read dockerfile: open %s: no such file or directory", filepath.Base(name))
			}
			return fmt.Errorf("failed to read dockerfile: %w", err)
		}
	}
	v.printf("transferring dockerfile: %dB done", len(data))
	v.done()
	df, err := parseDockerfile(dockerfileName(name), data)
	r.df = df
	if err != nil {
		return err
	}
	v = r.p.vertex("[internal] load .dockerignore")
	pm, _, err := loadIgnore(dir, name)
	if err != nil {
		return err
	}
	v.done()
	// A context read from stdin is new each time: nothing to remember.
	hashesDir := r.b.cfg.StateDir
	if o.ContextDir == "-" {
		hashesDir = ""
	}
	r.ctx = &buildContext{dir: dir, ignore: pm, hashes: loadFileHashes(hashesDir, dir)}
	r.cleanups = append(r.cleanups, func() { r.ctx.hashes.save() })
	return nil
}

func dockerfileName(path string) string {
	if path == "" || path == "-" {
		return "Dockerfile"
	}
	return filepath.Base(path)
}

// export makes the image of the target's state: history times as
// BuildKit sets them, --label, tags.
func (r *run) export(ctx context.Context, st *state) (*Result, error) {
	v := r.p.vertex("exporting to image")
	img := st.img
	if tp, err := r.targetPlatform(); err != nil {
		return nil, err
	} else if tp != nil {
		setTargetPlatform(&img, tp)
	}
	if len(r.o.Labels) > 0 {
		labels := map[string]string{}
		for k, val := range img.Config.Labels {
			labels[k] = val
		}
		for k, val := range r.o.Labels {
			labels[k] = val
		}
		img.Config.Labels = labels
	}
	img.History = fillHistoryTimes(img.History)
	img.Created = nil
	for _, h := range img.History {
		if h.Created != nil {
			img.Created = h.Created
		}
	}
	if img.Created == nil {
		now := time.Now().UTC()
		img.Created = &now
	}
	img.RootFS = ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{}}
	for _, l := range st.layers {
		img.RootFS.DiffIDs = append(img.RootFS.DiffIDs, l.DiffID)
	}
	cdata, err := json.Marshal(img)
	if err != nil {
		return nil, err
	}
	if err := r.b.cfg.Images.EnsureLayers(ctx, st.layers); err != nil {
		return nil, err
	}
	v.printf("exporting layers done")
	out, err := r.b.cfg.Images.NewImage(ctx, cdata, st.layers, r.o.Tags)
	if err != nil {
		return nil, err
	}
	v.printf("writing image %s done", out.ID)
	for _, t := range r.o.Tags {
		v.printf("naming to %s done", t)
	}
	v.done()
	return &Result{ImageID: out.ID, Tags: r.o.Tags}, nil
}

// fillHistoryTimes gives every history entry a time, as BuildKit's
// exporter does: an entry without one takes the time of the first new
// layer after entries without times, else of the entry before it.
func fillHistoryTimes(history []ocispec.History) []ocispec.History {
	var created *time.Time
	noCreated := false
	for _, h := range history {
		if h.Created != nil {
			created = h.Created
			if noCreated {
				break
			}
		} else {
			noCreated = true
		}
	}
	noCreated = false
	out := make([]ocispec.History, len(history))
	for i, h := range history {
		if h.Created != nil {
			if noCreated {
				created = h.Created
			}
		} else {
			noCreated = true
			h.Created = created
		}
		out[i] = h
	}
	return out
}

// normalizedName is how BuildKit names an image in progress lines:
// docker.io/library/busybox:latest.
func normalizedName(name string) string {
	ref, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return name
	}
	return reference.TagNameOnly(ref).String()
}

// imageConfig is the config a stage starts from.
func imageConfig(cfg *dockerspec.DockerOCIImage) dockerspec.DockerOCIImage {
	img := *cfg
	img.Created = nil
	img.Config.Env = append([]string(nil), cfg.Config.Env...)
	img.Config.Cmd = append([]string(nil), cfg.Config.Cmd...)
	img.Config.Entrypoint = append([]string(nil), cfg.Config.Entrypoint...)
	img.Config.OnBuild = append([]string(nil), cfg.Config.OnBuild...)
	img.Config.Shell = append([]string(nil), cfg.Config.Shell...)
	// Stages built on the same stage, at once, change their own maps.
	img.Config.Labels = maps.Clone(cfg.Config.Labels)
	img.Config.ExposedPorts = maps.Clone(cfg.Config.ExposedPorts)
	img.Config.Volumes = maps.Clone(cfg.Config.Volumes)
	img.History = append([]ocispec.History(nil), cfg.History...)
	return img
}
