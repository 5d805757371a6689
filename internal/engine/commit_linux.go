package engine

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/reference"
	"github.com/berth-dev/berth/internal/snapshot"
)

// CommitOptions are `commit`'s flags.
type CommitOptions struct {
	Ref     string   // REPO[:TAG], "" for none
	Author  string   // -a
	Message string   // -m
	Changes []string // -c
	Pause   bool     // -p: freeze a running container while its changes are read
}

// CommitContainer makes an image of the container's tree: its image plus
// one layer of its changes, with its configuration (as Docker keeps it:
// the image's, overridden by the run options) and o.Changes. A running
// container is frozen while its changes are read, when o.Pause, and thawed
// after, whatever happens.
func (e *Engine) CommitContainer(ctx context.Context, ref string, o CommitOptions) (*image.Image, error) {
	c, err := e.Container(ctx, ref)
	if err != nil {
		return nil, err
	}
	img, err := e.Images.Get(ctx, c.ImageID)
	if err != nil {
		return nil, fmt.Errorf("commit %s: the container's image %s: %w", ref, c.ImageID, err)
	}
	imgCfg, err := e.Images.Config(img)
	if err != nil {
		return nil, err
	}
	cfg, cmd := containerImageConfig(imgCfg.Config, c)
	hostname := c.Config.Hostname
	if hostname == "" {
		hostname = c.ID[:12]
	}
	out, err := e.Images.Commit(ctx, img, image.CommitOptions{
		Ref: o.Ref, Config: cfg, Hostname: hostname, Changes: o.Changes,
		Author: o.Author, Comment: o.Message, CreatedBy: strings.Join(cmd, " "),
		Layer: func(ctx context.Context, w io.Writer) (err error) {
			if o.Pause {
				resume, err := e.pauseForCommit(ctx, c)
				if err != nil {
					return err
				}
				defer func() {
					if rerr := resume(); rerr != nil && err == nil {
						err = rerr
					}
				}()
			}
			return e.containerDiff(ctx, c, img, w)
		},
	})
	if err != nil {
		return nil, err
	}
	attrs := map[string]string{"comment": o.Message, "imageID": out.ID.String()}
	if ref, err := image.ParseTagRef(o.Ref); o.Ref != "" && err == nil {
		attrs["imageRef"] = reference.FamiliarString(ref)
	}
	e.emit(ctx, containerEvent(c, "commit", attrs))
	return out, nil
}

// pauseForCommit freezes a running container (one already paused stays
// as it is) and returns the thaw.
func (e *Engine) pauseForCommit(ctx context.Context, c *container.Container) (func() error, error) {
	nothing := func() error { return nil }
	if c.Status != container.Running {
		return nothing, nil
	}
	st, err := e.runtime().State(c.ID)
	if err != nil || st.Status != specs.StateRunning {
		return nothing, nil // exited meanwhile, or paused by its owner
	}
	if err := e.runtime().Pause(c.ID); err != nil {
		return nil, fmt.Errorf("commit: pause %s: %w", c.ID[:12], err)
	}
	e.emit(ctx, containerEvent(c, "pause", nil))
	return func() error {
		if err := e.runtime().Resume(c.ID); err != nil {
			return fmt.Errorf("commit: resume %s: %w", c.ID[:12], err)
		}
		e.emit(ctx, containerEvent(c, "unpause", nil))
		return nil
	}, nil
}

// containerDiff writes the container's changes to its image as a layer
// tar (see snapshot.Diff).
func (e *Engine) containerDiff(ctx context.Context, c *container.Container, img *image.Image, w io.Writer) error {
	return snapshot.Diff(ctx, e.Images.Snapshotter(), snapshotKey(c.ID), w)
}

// containerImageConfig is the configuration a container runs with, as an
// image config (Docker's container.Config, which commit starts from): the
// image's, with the run options' command, entrypoint, environment,
// working directory and user; and the command for the history.
func containerImageConfig(img dockerspec.DockerOCIImageConfig, c *container.Container) (dockerspec.DockerOCIImageConfig, []string) {
	cfg := img
	cc := c.Config
	if cc.EntrypointSet || len(cc.Entrypoint) > 0 {
		cfg.Entrypoint, cfg.Cmd = cc.Entrypoint, cc.Cmd
		if len(cfg.Entrypoint) == 1 && cfg.Entrypoint[0] == "" {
			cfg.Entrypoint = nil
		}
	} else if len(cc.Cmd) > 0 {
		cfg.Cmd = cc.Cmd
	}
	if len(cc.Env) > 0 {
		// The run's variables first, then the image's it does not name
		// (daemon/commit.go merge).
		env := slices.Clone(cc.Env)
		for _, ie := range img.Env {
			k, _, _ := strings.Cut(ie, "=")
			if !slices.ContainsFunc(cc.Env, func(e string) bool { ek, _, _ := strings.Cut(e, "="); return ek == k }) {
				env = append(env, ie)
			}
		}
		cfg.Env = env
	}
	if cc.WorkingDir != "" {
		cfg.WorkingDir = cc.WorkingDir
	}
	if cc.User != "" {
		cfg.User = cc.User
	}
	return cfg, cfg.Cmd
}
