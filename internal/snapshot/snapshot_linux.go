package snapshot

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/archive"
	"github.com/berth-dev/berth/internal/store"
)

// fsSnapshotter is both implementations: they share the bookkeeping and
// differ in how a tree is assembled (overlay: a stack of layer
// directories; copy: one full directory per snapshot).
type fsSnapshotter struct {
	root    string // <berth root>/snapshots
	db      *store.DB
	overlay bool
}

// NewOverlay returns the overlayfs snapshotter keeping its trees in root.
func NewOverlay(root string, db *store.DB) (Snapshotter, error) {
	return newFS(root, db, true)
}

// NewCopy returns the plain-copy snapshotter, for hosts (or backing
// filesystems) where overlayfs is unavailable.
func NewCopy(root string, db *store.DB) (Snapshotter, error) {
	return newFS(root, db, false)
}

func newFS(root string, db *store.DB, overlay bool) (*fsSnapshotter, error) {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("snapshots: %w", err)
	}
	markTopDir(root)
	return &fsSnapshotter{root: root, db: db, overlay: overlay}, nil
}

// fsTopDirFlag is FS_TOPDIR_FL (chattr +T), which x/sys lacks.
const fsTopDirFlag = 0x00020000

// markTopDir tells ext4 that the directories made in dir head trees of
// their own (chattr +T), so that it places each snapshot's directory in
// a block group of its own choosing (Orlov's allocator, as for /home's
// users) rather than in dir's. A snapshot's files are allocated in its
// directory's group; left in one group, the layers of every build pile
// up there, and where files are created and deleted all the time ext4
// (without a journal, it skips inodes freed in the last minute) scans
// past thousands of freed inodes for each new one: 2,000 small files
// took 0.4-2.4 s in a plain directory and 0.1-0.2 s in a +T one on the
// benchmark's disk. A hint only: other filesystems refuse the flag.
func markTopDir(dir string) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	flags, err := unix.IoctlGetInt(fd, unix.FS_IOC_GETFLAGS)
	if err != nil || flags&fsTopDirFlag != 0 {
		return
	}
	unix.IoctlSetPointerInt(fd, unix.FS_IOC_SETFLAGS, flags|fsTopDirFlag)
}

// OverlaySupported reports whether overlayfs can be mounted with its
// upper directory under dir (some backing filesystems can't hold one).
// The trial mount is made detached (fsopen/fsmount), so a process killed
// during the check leaves no mount behind.
func OverlaySupported(dir string) bool {
	tmp, err := os.MkdirTemp(dir, "overlay-check-")
	if err != nil {
		return false
	}
	defer os.RemoveAll(tmp)
	for _, d := range []string{"lower", "upper", "work"} {
		if os.Mkdir(filepath.Join(tmp, d), 0o700) != nil {
			return false
		}
	}
	fsfd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return false
	}
	defer unix.Close(fsfd)
	for k, v := range map[string]string{"lowerdir": tmp + "/lower", "upperdir": tmp + "/upper", "workdir": tmp + "/work"} {
		if unix.FsconfigSetString(fsfd, k, v) != nil {
			return false
		}
	}
	if unix.FsconfigCreate(fsfd) != nil {
		return false
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, 0)
	if err != nil {
		return false
	}
	unix.Close(mfd)
	return true
}

func (s *fsSnapshotter) Name() string {
	if s.overlay {
		return "overlay"
	}
	return "copy"
}

func (s *fsSnapshotter) IndependentLayers() bool { return s.overlay }

func (s *fsSnapshotter) fsDir(dir string) string { return filepath.Join(s.root, dir, "fs") }

// newDir creates a fresh snapshot directory, locked until release: a
// concurrent Cleanup leaves it alone.
func (s *fsSnapshotter) newDir() (name string, release func(), err error) {
	var b [12]byte
	rand.Read(b[:])
	name = hex.EncodeToString(b[:])
	p := filepath.Join(s.root, name)
	if err := os.Mkdir(p, 0o700); err != nil {
		return "", nil, fmt.Errorf("snapshot dir: %w", err)
	}
	f, err := os.Open(p)
	if err != nil {
		os.Remove(p)
		return "", nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		os.Remove(p)
		return "", nil, err
	}
	if err := os.Mkdir(filepath.Join(p, "fs"), 0o755); err != nil {
		f.Close()
		os.RemoveAll(p)
		return "", nil, err
	}
	return name, func() { f.Close() }, nil
}

type row struct {
	Info
	dir string
}

func (s *fsSnapshotter) get(ctx context.Context, q store.Querier, key string) (row, error) {
	var r row
	var kind string
	var created int64
	err := q.QueryRowContext(ctx, `SELECT key, dir, parent, kind, size, created FROM snapshots WHERE key = ?`, key).
		Scan(&r.Key, &r.dir, &r.Parent, &kind, &r.Size, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("snapshot %q: %w", key, ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("snapshot %q: %w", key, err)
	}
	r.Kind = Kind(kind)
	r.Created = time.Unix(0, created)
	return r, nil
}

func (s *fsSnapshotter) Stat(ctx context.Context, key string) (Info, error) {
	var r row
	err := s.db.View(ctx, func(q store.Querier) error {
		var err error
		r, err = s.get(ctx, q, key)
		return err
	})
	return r.Info, err
}

// chain returns the directories of key and its ancestors, key first.
func (s *fsSnapshotter) chain(ctx context.Context, q store.Querier, key string) ([]string, error) {
	var dirs []string
	for k := key; k != ""; {
		r, err := s.get(ctx, q, k)
		if err != nil {
			return nil, err
		}
		dirs = append(dirs, s.fsDir(r.dir))
		if len(dirs) > 500 {
			return nil, fmt.Errorf("snapshot %q: more than 500 layers", key)
		}
		k = r.Parent
	}
	return dirs, nil
}

func (s *fsSnapshotter) NewLayer(ctx context.Context, key, parent string) (*Ingest, error) {
	if _, err := s.Stat(ctx, key); err == nil {
		return nil, fmt.Errorf("snapshot %q: %w", key, ErrExists)
	}
	name, release, err := s.newDir()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(s.root, name)
	abort := func() {
		os.RemoveAll(dir)
		release()
	}
	in := &Ingest{Dir: s.fsDir(name), Whiteouts: archive.WhiteoutOverlay, abort: abort}
	if !s.overlay {
		in.Whiteouts = archive.WhiteoutApply
		if parent != "" {
			if err := s.copyFrom(ctx, parent, in.Dir); err != nil {
				abort()
				return nil, err
			}
		}
	}
	in.commit = func(ctx context.Context, size int64) error {
		defer release()
		if err := Sync(in); err != nil {
			os.RemoveAll(dir)
			return err
		}
		err := s.db.Update(ctx, func(ctx context.Context, tx *sql.Tx) error {
			if parent != "" {
				if _, err := s.get(ctx, tx, parent); err != nil {
					return fmt.Errorf("parent of %q: %w", key, err)
				}
			}
			res, err := tx.Exec(`INSERT OR IGNORE INTO snapshots (key, dir, parent, kind, size, created) VALUES (?, ?, ?, ?, ?, ?)`,
				key, name, parent, string(Committed), size, time.Now().UnixNano())
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return errRaced
			}
			return nil
		})
		if err != nil {
			os.RemoveAll(dir)
			if errors.Is(err, errRaced) {
				return nil
			}
			return fmt.Errorf("commit snapshot %q: %w", key, err)
		}
		return nil
	}
	return in, nil
}

var errRaced = errors.New("raced")

// Sync makes the content of every ingest durable with one syncfs per
// filesystem, so that their Commits need not each flush it: a pull of
// many layers syncs once.
func Sync(ins ...*Ingest) error {
	done := map[string]bool{}
	for _, in := range ins {
		if in == nil || in.synced {
			continue
		}
		root := filepath.Dir(filepath.Dir(in.Dir))
		if !done[root] {
			if err := syncTree(in.Dir); err != nil {
				return err
			}
			done[root] = true
		}
		in.synced = true
	}
	return nil
}

// syncTree makes the unpacked files durable before their row commits:
// syncfs covers the whole filesystem in one call.
func syncTree(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return &os.SyscallError{Syscall: "syncfs", Err: err}
	}
	return nil
}

// copyFrom fills dst with the full tree of committed snapshot key.
func (s *fsSnapshotter) copyFrom(ctx context.Context, key, dst string) error {
	var src string
	err := s.db.View(ctx, func(q store.Querier) error {
		r, err := s.get(ctx, q, key)
		src = s.fsDir(r.dir)
		return err
	})
	if err != nil {
		return err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(archive.Tar(ctx, src, pw)) }()
	_, err = archive.Apply(ctx, dst, pr, archive.Options{Whiteouts: archive.WhiteoutApply})
	pr.CloseWithError(err)
	if err != nil {
		return fmt.Errorf("copy snapshot %q: %w", key, err)
	}
	return nil
}

func (s *fsSnapshotter) Prepare(ctx context.Context, key, parent string) ([]Mount, error) {
	name, release, err := s.newDir()
	if err != nil {
		return nil, err
	}
	defer release()
	dir := filepath.Join(s.root, name)
	fail := func(err error) ([]Mount, error) {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("prepare snapshot %q: %w", key, err)
	}
	if s.overlay {
		if err := os.Mkdir(filepath.Join(dir, "work"), 0o700); err != nil {
			return fail(err)
		}
	} else if parent != "" {
		if err := s.copyFrom(ctx, parent, s.fsDir(name)); err != nil {
			return fail(err)
		}
	}
	err = s.db.Update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if parent != "" {
			p, err := s.get(ctx, tx, parent)
			if err != nil {
				return err
			}
			if p.Kind != Committed {
				return fmt.Errorf("parent %q is not committed", parent)
			}
		}
		_, err := tx.Exec(`INSERT INTO snapshots (key, dir, parent, kind, created) VALUES (?, ?, ?, ?, ?)`,
			key, name, parent, string(Active), time.Now().UnixNano())
		if err != nil && strings.Contains(err.Error(), "UNIQUE") {
			return fmt.Errorf("snapshot %q: %w", key, ErrExists)
		}
		return err
	})
	if err != nil {
		return fail(err)
	}
	return s.Mounts(ctx, key)
}

func (s *fsSnapshotter) Commit(ctx context.Context, name, key string, size int64) error {
	var r row
	err := s.db.View(ctx, func(q store.Querier) error {
		var err error
		r, err = s.get(ctx, q, key)
		return err
	})
	if err != nil {
		return err
	}
	if r.Kind != Active {
		return fmt.Errorf("commit snapshot %q: it is not active", key)
	}
	if _, err := s.Stat(ctx, name); err == nil {
		return fmt.Errorf("snapshot %q: %w", name, ErrExists)
	}
	// A committed directory has no overlay work directory; the changes
	// must be on disk before the row says they are a layer.
	dir := filepath.Join(s.root, r.dir)
	if err := removeAll(filepath.Join(dir, "work")); err != nil {
		return fmt.Errorf("commit snapshot %q: %w", key, err)
	}
	if err := syncTree(dir); err != nil {
		return err
	}
	err = s.db.Update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := s.get(ctx, tx, name); err == nil {
			return fmt.Errorf("snapshot %q: %w", name, ErrExists)
		}
		res, err := tx.Exec(`UPDATE snapshots SET key = ?, kind = ?, size = ?, created = ? WHERE key = ? AND kind = ?`,
			name, string(Committed), size, time.Now().UnixNano(), key, string(Active))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("snapshot %q: %w", key, ErrNotFound)
		}
		return nil
	})
	if err != nil && !errors.Is(err, ErrExists) && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("commit snapshot %q as %q: %w", key, name, err)
	}
	return err
}

func (s *fsSnapshotter) Mounts(ctx context.Context, key string) ([]Mount, error) {
	var r row
	var dirs []string
	err := s.db.View(ctx, func(q store.Querier) error {
		var err error
		if r, err = s.get(ctx, q, key); err != nil {
			return err
		}
		dirs, err = s.chain(ctx, q, key)
		return err
	})
	if err != nil {
		return nil, err
	}
	if !s.overlay || len(dirs) == 1 {
		m := Mount{Type: "bind", Source: dirs[0], Options: []string{"rbind", "rw"}}
		if r.Kind == Committed {
			m.Options[1] = "ro"
		}
		return []Mount{m}, nil
	}
	if r.Kind == Committed {
		// A read-only view: the layers alone, no upper directory.
		return []Mount{{Type: "overlay", Source: "overlay", Options: []string{"lowerdir=" + strings.Join(dirs, ":")}}}, nil
	}
	return []Mount{{Type: "overlay", Source: "overlay", Options: []string{
		"lowerdir=" + strings.Join(dirs[1:], ":"),
		"upperdir=" + dirs[0],
		"workdir=" + filepath.Join(filepath.Dir(dirs[0]), "work"),
	}}}, nil
}

func (s *fsSnapshotter) Remove(ctx context.Context, key string) error {
	var dir string
	err := s.db.Update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		r, err := s.get(ctx, tx, key)
		if err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(`SELECT count(*) FROM snapshots WHERE parent = ?`, key).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("snapshot %q: %w", key, ErrInUse)
		}
		dir = r.dir
		_, err = tx.Exec(`DELETE FROM snapshots WHERE key = ?`, key)
		return err
	})
	if err != nil {
		return err
	}
	store.AfterCommit(ctx, func() {
		path := filepath.Join(s.root, dir)
		if trash, ok := ctx.Value(trashKey{}).(string); ok && os.Rename(path, filepath.Join(trash, "snapshot-"+filepath.Base(dir))) == nil {
			return
		}
		removeAll(path)
	})
	return nil
}

type trashKey struct{}

// WithTrash has Remove move the directories of the snapshots it removes
// into trash (on the same filesystem) rather than delete them: for a
// caller that deletes them later, off its critical path.
func WithTrash(ctx context.Context, trash string) context.Context {
	return context.WithValue(ctx, trashKey{}, trash)
}

func (s *fsSnapshotter) Walk(ctx context.Context, fn func(Info) error) error {
	var infos []Info
	err := s.db.View(ctx, func(q store.Querier) error {
		rows, err := q.QueryContext(ctx, `SELECT key, parent, kind, size, created FROM snapshots ORDER BY created`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var i Info
			var kind string
			var created int64
			if err := rows.Scan(&i.Key, &i.Parent, &kind, &i.Size, &created); err != nil {
				return err
			}
			i.Kind, i.Created = Kind(kind), time.Unix(0, created)
			infos = append(infos, i)
		}
		return rows.Err()
	})
	if err != nil {
		return err
	}
	for _, i := range infos {
		if err := fn(i); err != nil {
			return err
		}
	}
	return nil
}

func (s *fsSnapshotter) Cleanup(ctx context.Context) (int64, error) {
	owned := map[string]bool{}
	err := s.db.View(ctx, func(q store.Querier) error {
		rows, err := q.QueryContext(ctx, `SELECT dir FROM snapshots`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var d string
			if err := rows.Scan(&d); err != nil {
				return err
			}
			owned[d] = true
		}
		return rows.Err()
	})
	if err != nil {
		return 0, err
	}
	ents, err := os.ReadDir(s.root)
	if err != nil {
		return 0, err
	}
	var freed int64
	for _, e := range ents {
		if owned[e.Name()] {
			continue
		}
		p := filepath.Join(s.root, e.Name())
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		// A directory still being filled is locked by its writer.
		if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
			f.Close()
			continue
		}
		// Its row may have been committed between our read and the lock.
		if !s.ownedNow(ctx, e.Name()) {
			detachMountsUnder(p)
			freed += du(p)
			removeAll(p)
		}
		f.Close()
	}
	return freed, nil
}

func (s *fsSnapshotter) ownedNow(ctx context.Context, dir string) bool {
	var n int
	s.db.View(ctx, func(q store.Querier) error {
		return q.QueryRowContext(ctx, `SELECT count(*) FROM snapshots WHERE dir = ?`, dir).Scan(&n)
	})
	return n > 0
}

// detachMountsUnder unmounts whatever a killed process left mounted
// inside dir (a build step's rootfs, say), so that it can be removed.
func detachMountsUnder(dir string) {
	mounts, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	if err != nil {
		return
	}
	for i := len(mounts) - 1; i >= 0; i-- {
		unix.Unmount(mounts[i].Mountpoint, unix.MNT_DETACH)
	}
}

func du(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// removeAll removes a snapshot directory, making read-only directories
// writable first (an image may ship them).
func removeAll(p string) error {
	if err := os.RemoveAll(p); err == nil {
		return nil
	}
	filepath.WalkDir(p, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(path, 0o700)
		}
		return nil
	})
	return os.RemoveAll(p)
}
