// Package engine is berth's library: it wires the stores, the snapshotter
// and the registry client together in plain code, and its methods are the
// use cases the CLI (and later the API server) call.
//
// It must not import cli.
package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/content"
	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/network"
	"github.com/berth-dev/berth/internal/reference"
	"github.com/berth-dev/berth/internal/registry"
	"github.com/berth-dev/berth/internal/shim"
	"github.com/berth-dev/berth/internal/snapshot"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/volume"
)

// Config says where berth keeps its state.
type Config struct {
	// Root holds meta.db, content/ and snapshots/.
	Root string
	// Snapshotter forces "overlay" or "copy" (Docker's names overlay2 and
	// vfs too) for a new root; "" picks overlay when the backing
	// filesystem supports it. A root keeps the snapshotter it was created
	// with.
	Snapshotter string
	// InsecureRegistries are reached over plain HTTP (loopback always is).
	InsecureRegistries []string
	// UsernsRemap is dockerd's --userns-remap for the containers created
	// (see userns_linux.go): "" for none, "default", or USER[:GROUP].
	UsernsRemap string
}

// Engine is an open berth root.
type Engine struct {
	cfg     Config
	db      *store.DB
	Images  *image.Service
	regOpts registry.Options

	containers *container.Store
	volumes    *volume.Store
	nextShim   *shim.Process    // the next container's (UseShim)
	nextID     string           // the ID nextShim was spawned for
	created    *created         // what CreateContainer resolved last, for its start (run)
	net        *network.Manager // see network_linux.go
	// trash, when set, is where removals move container bundles, to be
	// deleted later (see RemoveExited).
	trash string
}

// New opens (creating when needed) the berth root cfg.Root.
func New(cfg Config) (*Engine, error) {
	if err := os.MkdirAll(cfg.Root, 0o711); err != nil {
		return nil, fmt.Errorf("berth root: %w", err)
	}
	db, err := store.Open(filepath.Join(cfg.Root, "meta.db"))
	if err != nil {
		return nil, err
	}
	e, err := open(cfg, db)
	if err != nil {
		db.Close()
		return nil, err
	}
	return e, nil
}

// open makes the engine of cfg on its open store db.
func open(cfg Config, db *store.DB) (*Engine, error) {
	e := &Engine{cfg: cfg, db: db, regOpts: registry.Options{Insecure: cfg.InsecureRegistries}, containers: container.New(db),
		volumes: volume.New(db, filepath.Join(cfg.Root, "volumes"))}
	e.net = &network.Manager{Root: cfg.Root, Store: network.NewStore(db)}
	e.containers.NetworkEvents = e.net.Store.ContainerEvents
	cs, err := content.New(filepath.Join(cfg.Root, "content"))
	if err != nil {
		return nil, err
	}
	sn, err := e.openSnapshotter(filepath.Join(cfg.Root, "snapshots"))
	if err != nil {
		return nil, err
	}
	e.Images = image.New(db, cs, sn, image.HostPlatform())
	return e, nil
}

func (e *Engine) openSnapshotter(dir string) (snapshot.Snapshotter, error) {
	ctx := context.Background()
	name, err := e.db.Setting(ctx, "snapshotter")
	if err != nil {
		return nil, err
	}
	want := e.cfg.Snapshotter
	switch want {
	case "overlay2":
		want = "overlay"
	case "vfs":
		want = "copy"
	case "", "overlay", "copy":
	default:
		return nil, fmt.Errorf("unknown storage driver %q: use overlay or copy", want)
	}
	if name != "" && want != "" && want != name {
		return nil, fmt.Errorf("%s uses the %s storage driver; it can't switch to %s", e.cfg.Root, name, want)
	}
	if name == "" {
		name = want
		if name == "" {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, err
			}
			name = "copy"
			if snapshot.OverlaySupported(dir) {
				name = "overlay"
			}
		}
		if name, err = e.db.SetSettingOnce(ctx, "snapshotter", name); err != nil {
			return nil, err
		}
	}
	switch name {
	case "overlay":
		return snapshot.NewOverlay(dir, e.db)
	case "copy":
		return snapshot.NewCopy(dir, e.db)
	}
	return nil, fmt.Errorf("unknown snapshotter %q", name)
}

// Close releases the root.
func (e *Engine) Close() error {
	if e.nextShim != nil {
		e.nextShim.Close()
	}
	return e.db.Close()
}

// SnapshotterName is "overlay" or "copy".
func (e *Engine) SnapshotterName() string { return e.Images.Snapshotter().Name() }

// PullOptions are pull's flags.
type PullOptions = image.PullOptions

// Pull pulls name (normalised as Docker does) from its registry.
func (e *Engine) Pull(ctx context.Context, name string, opts PullOptions) (*image.PullResult, error) {
	ref, err := image.ParseRef(name)
	if err != nil {
		return nil, err
	}
	f, err := registry.NewFetcher(ctx, ref, e.regOpts)
	if err != nil {
		return nil, err
	}
	return e.Images.Pull(ctx, ref, f, opts)
}

// Tags lists the tags of name's repository in its registry.
func (e *Engine) Tags(ctx context.Context, name string) ([]string, error) {
	ref, err := image.ParseRef(name)
	if err != nil {
		return nil, err
	}
	return registry.Tags(ctx, ref, e.regOpts)
}

// PushResult says what Push did.
type PushResult struct {
	Tag    string
	Digest digest.Digest
	Size   int64
}

// Push uploads the image name to the registry its name points at.
func (e *Engine) Push(ctx context.Context, name string, p registry.PushProgress) (*PushResult, error) {
	ref, err := image.ParseRef(name)
	if err != nil {
		return nil, err
	}
	img, err := e.Images.Get(ctx, ref.String())
	if err != nil {
		return nil, fmt.Errorf("An image does not exist locally with the tag: %s", reference.FamiliarName(ref))
	}
	desc, err := e.Images.ManifestFor(ctx, img)
	if err != nil {
		return nil, err
	}
	d, size, err := registry.Push(ctx, ref, e.Images.Content(), registry.PushOptions{
		Manifest: desc,
		Sources:  func(d digest.Digest) [][2]string { return e.Images.Sources(ctx, d) },
		Progress: p,
	}, e.regOpts)
	if err != nil {
		return nil, err
	}
	reg := reference.Domain(ref)
	if reg == "docker.io" {
		reg = "index.docker.io"
	}
	path := reference.Path(ref)
	for _, l := range e.Images.LayerBlobs(ctx, img) {
		e.Images.AddSource(ctx, l, reg, path)
	}
	if err := e.Images.AddRepoDigest(ctx, img.ID, ref.Name(), d); err != nil {
		return nil, err
	}
	e.emit(ctx, Event{Type: "image", Action: "push", Actor: reference.FamiliarString(ref), Attributes: map[string]string{"name": reference.FamiliarName(ref)}})
	tag := "latest"
	if t, ok := ref.(reference.Tagged); ok {
		tag = t.Tag()
	}
	return &PushResult{Tag: tag, Digest: d, Size: size}, nil
}

// Login checks and stores credentials for server.
func (e *Engine) Login(ctx context.Context, server, user, password string) (string, error) {
	return registry.Login(ctx, server, user, password, e.regOpts)
}
