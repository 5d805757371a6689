package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
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
// pull (build --pull), pulled in any case. With a platform, the store's
// image must be for it, else it is pulled for it: from an index, the
// platform's manifest; a single manifest is taken whatever its platform,
// as BuildKit does. An image of another architecture than the host's is
// pulled without a tag, so that the name keeps naming the host's image.
func (e *Engine) buildImage(ctx context.Context, name string, pull bool, platform *ocispec.Platform) (*image.Image, error) {
	if !pull {
		img, err := e.Images.Get(ctx, name)
		if err != nil && !errors.Is(err, image.ErrNotFound) {
			return nil, err
		}
		if err == nil && (platform == nil || imageIsFor(e.Images, img, *platform)) {
			return img, nil
		}
	}
	o := PullOptions{Progress: image.NoProgress{}, Platform: platform, AnyManifestPlatform: true}
	if platform != nil {
		host := image.HostPlatform()
		o.NoTag = platform.OS != host.OS || platform.Architecture != host.Architecture
	}
	res, err := e.Pull(ctx, name, o)
	if err != nil {
		return nil, err
	}
	return res.Image, nil
}

// imageIsFor says whether img's config is for platform p (its variant
// only when both name one).
func imageIsFor(s *image.Service, img *image.Image, p ocispec.Platform) bool {
	cfg, err := s.Config(img)
	if err != nil {
		return false
	}
	if cfg.OS != p.OS || cfg.Architecture != p.Architecture {
		return false
	}
	return cfg.Variant == "" || p.Variant == "" || cfg.Variant == p.Variant
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

// BuildCachePruneOptions are `builder prune`'s: -a, --filter, and the
// space limits in bytes (see build.PruneOptions).
type BuildCachePruneOptions struct {
	All                                       bool
	Filters                                   Filters
	ReservedSpace, MaxUsedSpace, MinFreeSpace int64
}

// PruneBuildCache is `builder prune`: the cache's entries, and with all
// its cache mounts; the filters (until, id, type, description, parent,
// inuse, shared, private) and the space limits select which.
func (e *Engine) PruneBuildCache(ctx context.Context, o BuildCachePruneOptions) (build.PruneResult, error) {
	rf, before, err := recordFilter(o.Filters, true)
	if err != nil {
		return build.PruneResult{}, err
	}
	return e.builder().Prune(ctx, build.PruneOptions{
		All: o.All, Before: before, Filter: rf,
		ReservedSpace: o.ReservedSpace, MaxUsedSpace: o.MaxUsedSpace, MinFreeSpace: o.MinFreeSpace,
	})
}

// BuildCacheRecord is one record of the build cache.
type BuildCacheRecord = build.Record

// BuildCacheRecords is `builder du`: the cache's records the filters
// (those of prune but until) select.
func (e *Engine) BuildCacheRecords(ctx context.Context, f Filters) ([]build.Record, error) {
	rf, _, err := recordFilter(f, false)
	if err != nil {
		return nil, err
	}
	recs, err := e.builder().Records(ctx)
	if err != nil {
		return nil, err
	}
	out := recs[:0]
	for _, r := range recs {
		if rf.Match(r) {
			out = append(out, r)
		}
	}
	return out, nil
}

// recordFilter reads the build cache filters as moby hands them to
// BuildKit: one value each; id a regular expression matching part of the
// ID; type, description and parent exact; inuse, shared and private
// ("", true or false) a property; until (prune only, also unused-for) a
// duration or a timestamp.
func recordFilter(f Filters, prune bool) (*build.RecordFilter, time.Time, error) {
	recordKeys := []string{"id", "parent", "type", "description", "inuse", "shared", "private"}
	keys := recordKeys
	if prune {
		keys = append(slices.Clone(keys), "until", "unused-for")
	}
	var before time.Time
	if err := f.validate(keys...); err != nil {
		return nil, before, err
	}
	if len(f["until"]) > 0 && len(f["unused-for"]) > 0 {
		return nil, before, errors.New(`conflicting filters: "until" and "unused-for"`)
	}
	for _, k := range []string{"until", "unused-for"} {
		if u := f[k]; len(u) > 1 {
			return nil, before, fmt.Errorf("more than one %s filter specified", k)
		} else if len(u) == 1 {
			t, err := ParseTimestamp(u[0], time.Now())
			if err != nil {
				return nil, before, fmt.Errorf("%q filter expects a duration (e.g., '24h') or a timestamp: %w", k, err)
			}
			before = t
		}
	}
	var rf *build.RecordFilter
	for _, k := range recordKeys {
		vals := f[k]
		if len(vals) == 0 {
			continue
		}
		if len(vals) > 1 {
			return nil, before, errors.New("filters expect only one value")
		}
		if rf == nil {
			rf = &build.RecordFilter{}
		}
		v := vals[0]
		switch k {
		case "id":
			re, err := regexp.Compile(v)
			if err != nil {
				return nil, before, fmt.Errorf("invalid filter 'id=%s': %w", v, err)
			}
			rf.ID = re
		case "parent":
			rf.Parent = &v
		case "type":
			rf.Type = v
		case "description":
			rf.Description = v
		default:
			b := true
			if v != "" {
				var err error
				if b, err = strconv.ParseBool(v); err != nil {
					return nil, before, fmt.Errorf("invalid filter '%s=%s': want true or false", k, v)
				}
			}
			switch k {
			case "inuse":
				rf.InUse = &b
			case "shared":
				rf.Shared = &b
			case "private":
				rf.Private = &b
			}
		}
	}
	return rf, before, nil
}
