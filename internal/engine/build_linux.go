package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/build"
	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/runtime"
)

// BuildOptions are build's flags.
type BuildOptions = build.Options

// SSHAgent is what build --ssh forwards under one id.
type SSHAgent = build.SSHAgent

// Build builds an image from a Dockerfile (see package build): RUN steps
// run in containers of berth's runtime, base images come from the store
// or are pulled.
func (e *Engine) Build(ctx context.Context, o BuildOptions) (*build.Result, error) {
	b := build.New(build.Config{
		Images: e.Images, DB: e.db, Runner: buildRunner{rt: e.runtime()},
		ResolveImage: e.buildImage, StateDir: filepath.Join(e.cfg.Root, "build"),
		CDISpecDirs: cdiSpecDirs(),
	})
	res, err := b.Build(ctx, o)
	if err != nil {
		return nil, err
	}
	for _, t := range res.Tags {
		e.emit(ctx, Event{Type: "image", Action: "tag", Actor: res.ImageID.String(), Attributes: map[string]string{"name": image.Familiar(t)}})
	}
	return res, nil
}

// cdiSpecDirs are where RUN --device finds CDI specs: $BERTH_CDI_SPEC_DIRS
// (colon-separated), as dockerd's cdi-spec-dirs, else CDI's defaults.
func cdiSpecDirs() []string {
	if v := os.Getenv("BERTH_CDI_SPEC_DIRS"); v != "" {
		return strings.Split(v, ":")
	}
	return nil
}

// buildImage is a build's base image: the store's, else pulled; with
// pull (build --pull), pulled in any case.
func (e *Engine) buildImage(ctx context.Context, name string, pull bool) (*image.Image, error) {
	if !pull {
		img, err := e.Images.Get(ctx, name)
		if err == nil || !errors.Is(err, image.ErrNotFound) {
			return img, err
		}
	}
	res, err := e.Pull(ctx, name, PullOptions{Progress: image.NoProgress{}})
	if err != nil {
		return nil, err
	}
	return res.Image, nil
}

// buildRunner runs RUN's containers with berth's runtime in the calling
// process: no shim, the build waits for each.
type buildRunner struct{ rt *runtime.Runtime }

func (r buildRunner) Run(ctx context.Context, id, bundle string, out *os.File) (int, error) {
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			r.rt.Kill(id, unix.SIGKILL, true)
		case <-done:
		}
	}()
	code, err := r.rt.Run(id, runtime.CreateOpts{Bundle: bundle, Stdout: out, Stderr: out}, false)
	if err == nil && ctx.Err() != nil {
		return code, ctx.Err()
	}
	return code, err
}

func (r buildRunner) Delete(id string) {
	r.rt.Kill(id, unix.SIGKILL, true)
	r.rt.Delete(id, true)
}

// builder is a Builder for the cache's upkeep (no RUN).
func (e *Engine) builder() *build.Builder {
	return build.New(build.Config{Images: e.Images, DB: e.db, Runner: buildRunner{rt: e.runtime()}, StateDir: filepath.Join(e.cfg.Root, "build")})
}

// BuildCacheUsage is the build cache's row of `system df`.
func (e *Engine) BuildCacheUsage(ctx context.Context) (build.CacheUsage, error) {
	return e.builder().Usage(ctx)
}

// PruneBuildCache is `builder prune`: the cache's entries, and with all
// its cache mounts; the until filter keeps what was used since.
func (e *Engine) PruneBuildCache(ctx context.Context, all bool, f Filters) (build.PruneResult, error) {
	if err := f.validate("until"); err != nil {
		return build.PruneResult{}, err
	}
	o := build.PruneOptions{All: all}
	if u := f["until"]; len(u) > 1 {
		return build.PruneResult{}, errors.New("more than one until filter specified")
	} else if len(u) == 1 {
		t, err := ParseTimestamp(u[0], time.Now())
		if err != nil {
			return build.PruneResult{}, err
		}
		o.Before = t
	}
	return e.builder().Prune(ctx, o)
}
