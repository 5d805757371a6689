package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/archive"
)

// RUN --mount: what each type gives the RUN's container, as BuildKit's
// Dockerfile frontend does. None of them is part of the step's layer:
// the mount points the runtime has to create are removed again after
// the RUN when they are still empty (BuildKit's mount stubs). The cache
// key holds what a mount is (its type, target, id, options) and, for a
// bind mount, the content it shows; never a cache mount's content nor a
// secret's.

// CacheMountsDir is the directory of the cache mounts under a build
// state directory: one directory per cache id (and uid/gid/mode).
const cacheMountsDir = "cache-mounts"

// runMount is one --mount of a RUN, checked and resolved.
type runMount struct {
	m      *instructions.Mount
	target string // absolute in the container; "" for an env-only secret
	// bind: the tree the source is in, and the source in it.
	from   *tree
	source string
	// secret: its id and value (nil when not given and not required).
	secretID string
	secret   []byte
	cacheID  string
	// ssh: the agent (nil when not forwarded); secretID is its id.
	ssh *sshForward
}

// planMounts checks a RUN's mounts and returns them with the part of the
// cache key they make.
func (r *run) planMounts(ctx context.Context, st *state, ms []*instructions.Mount) ([]*runMount, []any, error) {
	var out []*runMount
	var key []any
	wd := st.img.Config.WorkingDir
	sshCount := 0
	for _, m := range ms {
		rm := &runMount{m: m}
		target := m.Target
		if target != "" && !path.IsAbs(target) {
			target = path.Join("/", wd, target)
		}
		if target != "" {
			target = path.Clean(target)
		}
		rm.target = target
		part := []any{string(m.Type), target, m.ReadOnly}
		switch m.Type {
		case instructions.MountTypeCache:
			if target == "" {
				return nil, nil, errors.New("mount type=cache: target is required")
			}
			rm.cacheID = m.CacheID
			if rm.cacheID == "" {
				rm.cacheID = target
			}
			part = append(part, rm.cacheID, string(m.CacheSharing), ptrVal(m.Mode), ptrVal(m.UID), ptrVal(m.GID))
			if m.From != "" {
				// A new cache starts as a copy of source in that tree;
				// as in BuildKit, each tree has a cache of its own.
				t, err := r.fromTree(ctx, m.From)
				if err != nil {
					return nil, nil, err
				}
				rm.from, rm.source = &t, path.Clean("/"+m.Source)
				part = append(part, "from", t.chainID, rm.source)
			}
		case instructions.MountTypeTmpfs:
			if target == "" {
				return nil, nil, errors.New("mount type=tmpfs: target is required")
			}
			part = append(part, m.SizeLimit)
		case instructions.MountTypeSecret:
			id := m.CacheID
			if id == "" {
				id = m.Source
			}
			if id == "" {
				id = path.Base(target)
			}
			rm.secretID = id
			if target == "" && m.Env == nil {
				rm.target = "/run/secrets/" + id
			}
			v, ok := r.o.Secrets[id]
			if !ok && m.Required {
				return nil, nil, fmt.Errorf("secret %s: not found", id)
			}
			if ok {
				rm.secret = v
			}
			part = append(part, id, ok, ptrStr(m.Env), ptrVal(m.Mode), ptrVal(m.UID), ptrVal(m.GID))
		case instructions.MountTypeSSH:
			if err := r.sshMount(rm, sshCount); err != nil {
				return nil, nil, err
			}
			sshCount++
			part = append(part, rm.secretID, rm.target, rm.ssh != nil, ptrVal(m.Mode), ptrVal(m.UID), ptrVal(m.GID))
		case instructions.MountTypeBind:
			if target == "" {
				return nil, nil, errors.New("mount type=bind: target is required")
			}
			src := path.Clean("/" + m.Source)
			rm.source = src
			var contentKey string
			if m.From == "" {
				t := tree{root: r.ctx.dir, ctx: r.ctx}
				sel, err := selectSources(t, []string{m.Source})
				if err != nil {
					return nil, nil, err
				}
				if contentKey, err = hashSources(ctx, t, sel); err != nil {
					return nil, nil, err
				}
				rm.from = &t
			} else {
				t, err := r.fromTree(ctx, m.From)
				if err != nil {
					return nil, nil, err
				}
				rm.from = &t
				contentKey = "tree:" + t.chainID
			}
			part = append(part, src, contentKey)
		default:
			return nil, nil, fmt.Errorf("mount type=%s is not supported yet", m.Type)
		}
		out = append(out, rm)
		key = append(key, part)
	}
	return out, key, nil
}

func ptrVal(p *uint64) any {
	if p == nil {
		return nil
	}
	return *p
}

func ptrStr(p *string) any {
	if p == nil {
		return nil
	}
	return *p
}

// mountSetup is what a RUN's mounts need while it runs.
type mountSetup struct {
	mounts []specs.Mount
	env    []string // secrets given as environment variables
	stubs  []string // mount points made in the rootfs, top down
	undo   []func()
	locked map[string]bool // the cache mounts this RUN holds
}

// release removes the mount points the runtime made (when still empty)
// and unlocks the cache mounts.
func (ms *mountSetup) release(rootfs string) {
	for i := len(ms.stubs) - 1; i >= 0; i-- {
		p, err := securejoin.SecureJoin(rootfs, ms.stubs[i])
		if err != nil {
			continue
		}
		fi, err := os.Lstat(p)
		if err != nil || (fi.Mode().IsRegular() && fi.Size() != 0) || (!fi.IsDir() && !fi.Mode().IsRegular()) {
			continue
		}
		os.Remove(p) // a directory only when empty
	}
	for i := len(ms.undo) - 1; i >= 0; i-- {
		ms.undo[i]()
	}
}

// setupMounts makes the mounts of a RUN in its workdir w over rootfs.
func (r *run) setupMounts(ctx context.Context, rootfs string, w *workdir, rms []*runMount) (*mountSetup, error) {
	ms := &mountSetup{}
	stub := func(target string) error {
		return missingDirs(rootfs, target, func(p string) error {
			ms.stubs = append(ms.stubs, p)
			return nil
		})
	}
	fail := func(err error) (*mountSetup, error) {
		ms.release(rootfs)
		return nil, err
	}
	secretsDir := ""
	sshEnv := false
	for i, rm := range rms {
		m := rm.m
		if rm.target != "" {
			if err := stub(rm.target); err != nil {
				return fail(err)
			}
		}
		switch m.Type {
		case instructions.MountTypeCache:
			dir, err := r.cacheMount(ctx, w, i, rm, ms)
			if err != nil {
				return fail(err)
			}
			opts := []string{"rbind"}
			if m.ReadOnly {
				opts = append(opts, "ro")
			}
			ms.mounts = append(ms.mounts, specs.Mount{Destination: rm.target, Type: "bind", Source: dir, Options: opts})
		case instructions.MountTypeTmpfs:
			opts := []string{"nosuid", "nodev", "strictatime"}
			if m.SizeLimit > 0 {
				opts = append(opts, "size="+strconv.FormatInt(m.SizeLimit, 10))
			}
			ms.mounts = append(ms.mounts, specs.Mount{Destination: rm.target, Type: "tmpfs", Source: "tmpfs", Options: opts})
		case instructions.MountTypeSecret:
			if rm.secret == nil {
				continue // not given and not required: no mount
			}
			if m.Env != nil {
				name := *m.Env
				if name == "" {
					name = rm.secretID
				}
				ms.env = append(ms.env, name+"="+string(rm.secret))
			}
			if rm.target == "" {
				continue
			}
			if secretsDir == "" {
				// The secrets live in memory only, for this RUN.
				secretsDir = filepath.Join(w.dir, "secrets")
				if err := os.Mkdir(secretsDir, 0o700); err != nil {
					return fail(err)
				}
				if err := unix.Mount("tmpfs", secretsDir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0700,size=16m"); err != nil {
					return fail(&os.PathError{Op: "mount tmpfs", Path: secretsDir, Err: err})
				}
				ms.undo = append(ms.undo, func() { unix.Unmount(secretsDir, unix.MNT_DETACH) })
			}
			file := filepath.Join(secretsDir, strconv.Itoa(i))
			mode := os.FileMode(0o400)
			if m.Mode != nil {
				mode = os.FileMode(*m.Mode & 0o7777)
			}
			if err := os.WriteFile(file, rm.secret, 0o600); err != nil {
				return fail(err)
			}
			if err := os.Chown(file, int(ptrOr(m.UID, 0)), int(ptrOr(m.GID, 0))); err != nil {
				return fail(err)
			}
			if err := os.Chmod(file, mode); err != nil {
				return fail(err)
			}
			ms.mounts = append(ms.mounts, specs.Mount{Destination: rm.target, Type: "bind", Source: file, Options: []string{"bind", "ro", "nosuid", "nodev", "noexec"}})
		case instructions.MountTypeSSH:
			if rm.ssh == nil {
				continue // not forwarded and not required: no mount
			}
			sock, err := sshSocket(w, i, rm)
			if err != nil {
				return fail(err)
			}
			ms.mounts = append(ms.mounts, specs.Mount{Destination: rm.target, Type: "bind", Source: sock, Options: []string{"bind", "nosuid", "nodev", "noexec"}})
			if !sshEnv {
				sshEnv = true
				ms.env = append(ms.env, "SSH_AUTH_SOCK="+rm.target)
			}
		case instructions.MountTypeBind:
			root := rm.from.root
			if rm.from.ctx == nil {
				var err error
				if root, err = r.b.mountTree(ctx, w, "bind-"+strconv.Itoa(i), rm.from.chainID); err != nil {
					return fail(err)
				}
			}
			src, err := securejoin.SecureJoin(root, rm.source)
			if err != nil {
				return fail(err)
			}
			fi, err := os.Stat(src)
			if err != nil {
				return fail(fmt.Errorf("mount type=bind: source %s: %w", rm.source, errors.Unwrap(err)))
			}
			switch {
			case rm.from.ctx != nil && rm.from.ctx.ignore != nil && fi.IsDir():
				// What .dockerignore hides is hidden here too.
				if src, err = hideIgnored(w, i, rm.from.ctx, rm.source, src, m.ReadOnly); err != nil {
					return fail(err)
				}
			case !m.ReadOnly:
				// Writes go to a copy-on-write layer dropped after the RUN.
				if src, err = writableCopy(w, i, src, fi); err != nil {
					return fail(err)
				}
			}
			opts := []string{"rbind"}
			if m.ReadOnly {
				opts = append(opts, "ro")
			}
			ms.mounts = append(ms.mounts, specs.Mount{Destination: rm.target, Type: "bind", Source: src, Options: opts})
		}
	}
	return ms, nil
}

func ptrOr(p *uint64, def uint64) uint64 {
	if p == nil {
		return def
	}
	return *p
}

// writableCopy is a writable view of src for a rw bind mount: an overlay
// over a directory, a copy of a file, both under the workdir.
func writableCopy(w *workdir, i int, src string, fi os.FileInfo) (string, error) {
	base := filepath.Join(w.dir, "rw-"+strconv.Itoa(i))
	if err := os.Mkdir(base, 0o700); err != nil {
		return "", err
	}
	if !fi.IsDir() {
		data, err := os.ReadFile(src)
		if err != nil {
			return "", err
		}
		dst := filepath.Join(base, "file")
		if err := os.WriteFile(dst, data, fi.Mode().Perm()); err != nil {
			return "", err
		}
		return dst, nil
	}
	return overlayView(base, src, nil, false, w)
}

// overlayView mounts an overlay over the directory src at base/merged:
// prepare (when not nil) fills its upper directory first; writes, unless
// readOnly, go to that upper directory, dropped with the workdir w.
func overlayView(base, src string, prepare func(upper string) error, readOnly bool, w *workdir) (string, error) {
	upper, work, merged := filepath.Join(base, "upper"), filepath.Join(base, "work"), filepath.Join(base, "merged")
	for _, d := range []string{upper, work, merged} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", err
		}
	}
	if prepare != nil {
		if err := prepare(upper); err != nil {
			return "", err
		}
	}
	var flags uintptr
	if readOnly {
		flags = unix.MS_RDONLY
	}
	opts := "lowerdir=" + src + ",upperdir=" + upper + ",workdir=" + work
	if err := unix.Mount("overlay", merged, "overlay", flags, opts); err != nil {
		return "", &os.PathError{Op: "mount overlay", Path: merged, Err: err}
	}
	w.onRelease(func() { unix.Unmount(merged, unix.MNT_DETACH) })
	return merged, nil
}

// hideIgnored is the context directory src (rel below the context's
// root) as a RUN's bind mount shows it: an overlay whose upper directory
// holds a whiteout for each entry .dockerignore hides. An ignored
// directory that exception patterns may take files back from stays,
// with the hidden entries in it whited out one by one.
func hideIgnored(w *workdir, i int, c *buildContext, rel, src string, readOnly bool) (string, error) {
	hide := func(upper string) error {
		return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
			if err != nil || p == src {
				return err
			}
			r, err := filepath.Rel(src, p)
			if err != nil {
				return err
			}
			if !c.ignored(path.Join(strings.TrimPrefix(rel, "/"), filepath.ToSlash(r))) {
				return nil
			}
			if d.IsDir() && c.ignore.Exclusions() {
				return nil
			}
			if err := mirrorDirs(src, upper, filepath.Dir(r)); err != nil {
				return err
			}
			if err := unix.Mknod(filepath.Join(upper, r), unix.S_IFCHR, 0); err != nil {
				return &os.PathError{Op: "mknod whiteout", Path: r, Err: err}
			}
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		})
	}
	return overlayView(filepath.Join(w.dir, "ctx-"+strconv.Itoa(i)), src, hide, readOnly, w)
}

// mirrorDirs makes the directories of rel (relative, host separators)
// in upper that it lacks, with the modes and owners lower has.
func mirrorDirs(lower, upper, rel string) error {
	if rel == "." || rel == "" {
		return nil
	}
	if err := mirrorDirs(lower, upper, filepath.Dir(rel)); err != nil {
		return err
	}
	dst := filepath.Join(upper, rel)
	if _, err := os.Lstat(dst); err == nil {
		return nil
	}
	fi, err := os.Lstat(filepath.Join(lower, rel))
	if err != nil {
		return err
	}
	if err := os.Mkdir(dst, fi.Mode().Perm()); err != nil {
		return err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if err := os.Lchown(dst, int(st.Uid), int(st.Gid)); err != nil {
			return err
		}
	}
	return os.Chmod(dst, fi.Mode().Perm())
}

// cacheMount is the host directory of a cache mount, made (with the
// mount's mode and owner) on first use. sharing=locked waits until no
// other RUN uses it; sharing=private takes a fresh directory, dropped
// after the RUN, when another uses it.
func (r *run) cacheMount(ctx context.Context, w *workdir, i int, rm *runMount, ms *mountSetup) (string, error) {
	m := rm.m
	name := fmt.Sprintf("%s\x00%v\x00%v\x00%v", rm.cacheID, ptrVal(m.UID), ptrVal(m.GID), ptrVal(m.Mode))
	if rm.from != nil {
		name += "\x00from\x00" + rm.from.chainID + "\x00" + rm.source
	}
	h := sha256.Sum256([]byte(name))
	base := filepath.Join(r.b.cfg.StateDir, cacheMountsDir, hex.EncodeToString(h[:]))
	dir := filepath.Join(base, "data")
	mode := os.FileMode(0o755)
	if m.Mode != nil {
		mode = os.FileMode(*m.Mode & 0o777)
	}
	makeDir := func(dir string) error {
		if _, err := os.Stat(dir); err == nil {
			return nil
		}
		if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
			return err
		}
		// A name of its own: parallel stages may make the same cache
		// directory at once (the first to rename it in place wins).
		tmp, err := os.MkdirTemp(filepath.Dir(dir), filepath.Base(dir)+".new-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp) // gone once renamed; a loser's is dropped
		if err := os.Chmod(tmp, mode); err != nil {
			return err
		}
		if rm.from != nil {
			if err := r.seedCache(ctx, w, i, rm, tmp); err != nil {
				os.RemoveAll(tmp)
				return err
			}
			if m.UID == nil && m.GID == nil && m.Mode == nil {
				return renameNew(tmp, dir)
			}
		}
		if err := os.Chown(tmp, int(ptrOr(m.UID, 0)), int(ptrOr(m.GID, 0))); err != nil {
			return err
		}
		if err := os.Chmod(tmp, mode); err != nil {
			return err
		}
		return renameNew(tmp, dir)
	}
	if err := makeDir(dir); err != nil {
		return "", err
	}
	// What it is, for builder du (written once; a race rewrites the same).
	descFile := filepath.Join(base, cacheMountDescription)
	if _, err := os.Stat(descFile); err != nil {
		os.WriteFile(descFile, []byte(fmt.Sprintf("cached mount %s with id %q", rm.target, rm.cacheID)), 0o600)
	}
	// Its last use, for builder prune --filter until=.
	now := time.Now()
	os.Chtimes(base, now, now)
	// Every user holds a lock on it (shared ones a shared lock), which
	// also keeps `builder prune -a` off a mount in use. A RUN mounting
	// the same cache twice locks it once.
	if ms.locked[base] {
		return dir, nil
	}
	f, err := os.Open(base)
	if err != nil {
		return "", err
	}
	how := unix.LOCK_SH
	switch m.CacheSharing {
	case instructions.MountSharingLocked:
		how = unix.LOCK_EX
	case instructions.MountSharingPrivate:
		how = unix.LOCK_EX | unix.LOCK_NB
	}
	if err := unix.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		if m.CacheSharing != instructions.MountSharingPrivate {
			return "", &os.SyscallError{Syscall: "flock", Err: err}
		}
		priv := filepath.Join(w.dir, "cache-"+strconv.Itoa(i))
		if err := makeDir(priv); err != nil {
			return "", err
		}
		return priv, nil
	}
	ms.undo = append(ms.undo, func() { f.Close() })
	if ms.locked == nil {
		ms.locked = map[string]bool{}
	}
	ms.locked[base] = true
	return dir, nil
}

// renameNew renames a directory made as tmp to dir, unless another build
// made dir first: never over it (a plain rename replaces an empty
// directory, which a RUN may have mounted already).
func renameNew(tmp, dir string) error {
	err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, dir, unix.RENAME_NOREPLACE)
	if err == unix.EINVAL { // a filesystem without RENAME_NOREPLACE
		err = os.Rename(tmp, dir)
	}
	if err != nil && !errors.Is(err, os.ErrExist) {
		if _, serr := os.Stat(dir); serr != nil {
			return err
		}
	}
	return nil
}

// seedCache fills a new cache directory dir with source in the cache
// mount's from= tree (its content, owners and modes; the directory's
// own mode and owner too).
func (r *run) seedCache(ctx context.Context, w *workdir, i int, rm *runMount, dir string) error {
	root, err := r.b.mountTree(ctx, w, "cache-from-"+strconv.Itoa(i), rm.from.chainID)
	if err != nil {
		return err
	}
	src, err := securejoin.SecureJoin(root, rm.source)
	if err != nil {
		return err
	}
	fi, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("mount type=cache: source %s: %w", rm.source, errors.Unwrap(err))
	}
	if !fi.IsDir() {
		return fmt.Errorf("mount type=cache: source %s is not a directory", rm.source)
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(archive.Tar(ctx, src, pw)) }()
	_, err = archive.Apply(ctx, dir, pr, archive.Options{Whiteouts: archive.WhiteoutNone, AllowDevices: true})
	pr.CloseWithError(io.ErrClosedPipe)
	if err != nil {
		return err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if err := os.Chown(dir, int(st.Uid), int(st.Gid)); err != nil {
			return err
		}
	}
	return os.Chmod(dir, fi.Mode().Perm())
}
