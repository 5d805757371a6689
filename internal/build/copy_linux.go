package build

import (
	"archive/tar"
	"bufio"
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
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"github.com/moby/patternmatcher"
	"github.com/opencontainers/go-digest"
	chmod "github.com/tonistiigi/dchapes-mode"

	"github.com/berth-dev/berth/internal/archive"
	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/oci"
)

// copyOp is a COPY or ADD, expanded.
type copyOp struct {
	cmd          string // the instruction's text
	add, unpack  bool
	unpackURL    bool // ADD --unpack=true: a download is unpacked too
	srcs         []string
	contents     []instructions.SourceContent // heredocs
	dest         string
	chown, chmod string
	from         string // --from: a stage or an image; "" for the context
	link         bool   // --link: the layer is made on an empty tree
	parents      bool   // --parents: sources keep their directories
	exclude      []string
	checksum     string // ADD --checksum of a URL or a git repository
	keepGitDir   *bool  // ADD --keep-git-dir
}

// tree is where a COPY reads from: the build context (with its ignore
// rules, files owned by root in the image) or the tree of a stage or
// image (owners kept).
type tree struct {
	root    string
	ctx     *buildContext // nil for a stage's or image's tree
	chainID string
}

// selected is one source of a COPY after wildcard expansion: a file,
// symlink or directory in the tree.
type selected struct {
	rel  string // slash-separated, relative to the tree's root; "" for the root
	host string // where it is on the host, symlinks resolved inside the root
	fi   fs.FileInfo
}

// fileEntry is one file below a selected directory (or the selected
// file itself, with rel "").
type fileEntry struct {
	rel  string // relative to the selected directory
	host string
	fi   fs.FileInfo
	link string
}

func (r *run) dispatchCopy(ctx context.Context, s *stage, st *state, op copyOp) error {
	kind := "COPY"
	if op.add {
		kind = "ADD"
	}
	env := shell.EnvsFromSlice(st.env)
	v := r.p.vertex(r.stepName(s, st, uppercaseCmd(processCmdEnv(s.lex, op.cmd, env))))
	fail := func(err error) error {
		v.failed(err)
		return err
	}
	dest := op.dest
	if !path.IsAbs(dest) {
		if dest == "." || dest == "" {
			dest = "./"
		}
		dest = path.Join("/", st.img.Config.WorkingDir, dest) + trailingSlash(dest)
	}
	destIsDir := strings.HasSuffix(dest, "/") || strings.HasSuffix(op.dest, "/.") || op.dest == "."
	dest = path.Clean(dest)
	if len(op.srcs)+len(op.contents) > 1 && !destIsDir {
		return fail(fmt.Errorf("When using %s with more than one source file, the destination must be a directory and end with a /", kind))
	}
	mode, modeSet, err := parseChmod(op.chmod)
	if err != nil {
		return fail(err)
	}

	checksum, err := checkRemoteSources(op.add, op.srcs, op.checksum)
	if err != nil {
		return fail(err)
	}
	var local, urls []string
	var gits []*gitSource
	for _, s := range op.srcs {
		switch {
		case isHTTPSource(s):
			urls = append(urls, s)
		case isGitSource(s):
			// The commit the ref names now is the cache key.
			g, err := resolveGit(ctx, s, op.keepGitDir, checksum)
			if err != nil {
				return fail(err)
			}
			gits = append(gits, g)
		default:
			local = append(local, s)
		}
	}
	excl, err := excludeMatcher(op.exclude)
	if err != nil {
		return fail(err)
	}

	// The tree the sources come from; the cache key needs the content of
	// the context's files, but only the chain ID of another tree.
	var src tree
	var sel []placed
	var contentKey string
	if op.from == "" {
		src = tree{root: r.ctx.dir, ctx: r.ctx}
		var err error
		if sel, err = placeSources(src, local, dest, op.parents); err != nil {
			return fail(err)
		}
		if contentKey, err = hashSources(ctx, src, selectedOf(sel)); err != nil {
			return fail(err)
		}
	} else {
		from, _, err := s.lex.ProcessWord(op.from, shell.EnvsFromSlice(r.globals))
		if err != nil {
			return fail(err)
		}
		if src, err = r.fromTree(ctx, from); err != nil {
			return fail(err)
		}
		contentKey = "tree:" + src.chainID
	}
	// Downloads: without a checksum, their content is part of the key;
	// with one, they are made in the step, on a cache miss.
	var dls []*download
	if len(urls) > 0 && checksum == "" {
		w, err := r.b.newWorkdir()
		if err != nil {
			return fail(err)
		}
		defer w.release()
		for _, u := range urls {
			d, err := fetchForAdd(ctx, u, w.dir, "")
			if err != nil {
				return fail(err)
			}
			dls = append(dls, d)
		}
	}
	var heredocs []string
	for _, c := range op.contents {
		heredocs = append(heredocs, c.Path, c.Data)
	}
	// A --link layer doesn't depend on the tree below, unless a --chown
	// by name reads its /etc/passwd.
	parent := st.chainID()
	byName := op.chown != "" && !numericChown(op.chown)
	if op.link && !byName {
		parent = ""
	}
	keyParts := []any{parent, op.srcs, heredocs, dest, destIsDir, op.chown, op.chmod, op.unpack, contentKey}
	if op.link || op.parents || len(op.exclude) > 0 {
		keyParts = append(keyParts, "options", op.link, op.parents, op.exclude)
	}
	if len(urls) > 0 {
		var urlKey []any
		for _, d := range dls {
			urlKey = append(urlKey, d.url, d.digest, d.modTime.UnixNano())
		}
		keyParts = append(keyParts, "urls", urls, checksum, op.unpackURL, urlKey)
	}
	for _, g := range gits {
		keyParts = append(keyParts, "git", g.remote, g.commit, g.subdir, g.keep, g.noSubmodules)
	}
	key := cacheKey(strings.ToLower(kind), keyParts...)
	createdBy := kind // BuildKit's words: no --link
	if op.parents {
		createdBy += " --parents"
	}
	if op.chown != "" {
		createdBy += " --chown=" + op.chown
	}
	if op.chmod != "" {
		createdBy += " --chmod=" + op.chmod
	}
	for _, s := range op.srcs {
		createdBy += " " + s
	}
	for _, c := range op.contents {
		createdBy += " <<" + c.Path
	}
	createdBy += " " + op.dest + " # buildkit"

	on := st
	if op.link {
		on = &state{}
	}
	// Files may be linked from a layer (see link_linux.go) when the COPY
	// has only files of a tree or the context to copy; those of the
	// context from the layer the same COPY made last time.
	linkable := !op.add && len(urls) == 0 && len(gits) == 0 && len(op.contents) == 0
	var lastKey string
	if linkable && src.ctx != nil && !op.link {
		dir, _ := filepath.Abs(src.root)
		lastKey = cacheKey("copy-last", dir, op.srcs, dest, destIsDir, op.chown, op.chmod, op.parents, op.exclude).Encoded()
	}
	ran := false
	err = r.layerStepOn(ctx, v, st, on, key, createdBy, func(ctx context.Context, rootfs string, w *workdir) error {
		ran = true
		if src.ctx == nil {
			root, err := r.b.mountTree(ctx, w, "from", src.chainID)
			if err != nil {
				return err
			}
			src.root = root
			if sel, err = placeSources(src, local, dest, op.parents); err != nil {
				return err
			}
		}
		if checksum != "" {
			for _, u := range urls {
				d, err := fetchForAdd(ctx, u, w.dir, digest.Digest(checksum))
				if err != nil {
					return err
				}
				dls = append(dls, d)
			}
		}
		uid, gid := -1, -1 // keep a tree's owners
		if src.ctx != nil {
			uid, gid = 0, 0
		}
		if op.chown != "" {
			users := rootfs
			if op.link && byName {
				// The names are the tree's below, which --link doesn't
				// copy onto.
				if err := r.b.cfg.Images.EnsureLayers(ctx, st.layers); err != nil {
					return err
				}
				var err error
				if users, err = r.b.mountTree(ctx, w, "users", st.chainID()); err != nil {
					return err
				}
			}
			u, g, err := lookupChown(users, op.chown, true)
			if err != nil {
				return err
			}
			uid, gid = u, g
		}
		c := &copier{rootfs: rootfs, uid: uid, gid: gid, mode: mode, modeSet: modeSet, add: op.add && op.unpack, exclude: excl}
		if linkable {
			if src.ctx == nil {
				if layers := r.b.treeLayers(ctx, src.chainID); layers != nil {
					if c.link = newLinker(w.upper); c.link != nil {
						c.link.srcRoot, c.link.layers = src.root, layers
					}
				}
			} else if lastKey != "" {
				if prev := r.b.lastCopy(ctx, lastKey); prev != "" {
					if c.link = newLinker(w.upper); c.link != nil {
						c.link.prev = prev
					}
				}
			}
		}
		if c.link != nil {
			w.onRelease(c.link.close)
		}
		multi := len(sel)+len(dls)+len(gits)+len(op.contents) > 1 || destIsDir
		for _, p := range sel {
			if err := c.copySource(ctx, src, p.s, p.dest, multi || p.multi); err != nil {
				return err
			}
		}
		if c.link != nil {
			if err := c.link.plan(ctx, rootfs, c); err != nil {
				return err
			}
			w.finish = append(w.finish, c.link.finish)
		}
		// Downloads are root's unless --chown, and unpacked only when
		// asked.
		dc := &copier{rootfs: rootfs, uid: max(uid, 0), gid: max(gid, 0), mode: mode, modeSet: modeSet, add: op.unpackURL}
		for _, d := range dls {
			fi, err := os.Lstat(d.file)
			if err != nil {
				return err
			}
			if err := dc.copySource(ctx, tree{root: filepath.Dir(d.file)}, selected{rel: d.name, host: d.file, fi: fi}, dest, multi); err != nil {
				return err
			}
		}
		for i, g := range gits {
			if err := copyGit(ctx, w, i, g, dc, dest); err != nil {
				return err
			}
		}
		for _, hd := range op.contents {
			target := dest
			if multi || c.isDir(dest) {
				target = path.Join(dest, path.Base(hd.Path))
			}
			if err := c.writeData(ctx, target, []byte(hd.Data)); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil && ran && lastKey != "" {
		// A hint for the next build: losing it costs only copies.
		r.b.rememberCopy(lastKey, st.chainID())
	}
	return err
}

func trailingSlash(p string) string {
	if strings.HasSuffix(p, "/") {
		return "/"
	}
	return ""
}

// fromTree is the tree of --from: a stage (built before this one) or an
// image.
func (r *run) fromTree(ctx context.Context, from string) (tree, error) {
	var layers []image.Layer
	if dep := r.df.findStage(from, -1); dep != nil && dep.built != nil {
		layers = dep.built.layers
	} else {
		b, err := r.baseImage(ctx, from)
		if err != nil {
			return tree{}, r.unknownRef(fmt.Errorf("--from=%s: %w", from, err), from, false)
		}
		layers = b.layers
	}
	if err := r.b.cfg.Images.EnsureLayers(ctx, layers); err != nil {
		return tree{}, err
	}
	return tree{chainID: (&state{layers: layers}).chainID()}, nil
}

// selectSources expands each source (wildcards match one path component
// at a time, as BuildKit's) to what it names in the tree; files the
// context ignores are not there. A source without wildcards that names
// nothing is an error; a pattern that matches nothing is not.
func selectSources(t tree, srcs []string) ([]selected, error) {
	var out []selected
	for _, src := range srcs {
		rel := strings.TrimPrefix(path.Clean("/"+filepath.ToSlash(src)), "/")
		var matches []string
		if containsWildcards(rel) {
			var err error
			if matches, err = glob(t, rel); err != nil {
				return nil, err
			}
		} else {
			matches = []string{rel}
		}
		for _, m := range matches {
			if t.ctx != nil && t.ctx.ignored(m) {
				return nil, notFound(m)
			}
			host, err := securejoin.SecureJoin(t.root, m)
			if err != nil {
				return nil, err
			}
			fi, err := os.Lstat(host)
			if err != nil {
				if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
					return nil, notFound(m)
				}
				return nil, err
			}
			out = append(out, selected{rel: m, host: host, fi: fi})
		}
	}
	return out, nil
}

func notFound(rel string) error {
	return fmt.Errorf("failed to compute cache key: failed to calculate checksum of ref: \"/%s\": not found", rel)
}

func containsWildcards(p string) bool {
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '\\':
			i++
		case '*', '?', '[':
			return true
		}
	}
	return false
}

// glob expands pattern (relative, slash-separated) in the tree, a
// component at a time, skipping what the context ignores.
func glob(t tree, pattern string) ([]string, error) {
	matches := []string{""}
	for _, comp := range strings.Split(pattern, "/") {
		var next []string
		for _, m := range matches {
			if !containsWildcards(comp) {
				next = append(next, path.Join(m, comp))
				continue
			}
			dir, err := securejoin.SecureJoin(t.root, m)
			if err != nil {
				return nil, err
			}
			ents, err := os.ReadDir(dir)
			if err != nil {
				continue
			}
			for _, e := range ents {
				ok, err := path.Match(comp, e.Name())
				if err != nil {
					return nil, fmt.Errorf("%s: %w", pattern, err)
				}
				if ok {
					next = append(next, path.Join(m, e.Name()))
				}
			}
		}
		matches = next
	}
	var out []string
	for _, m := range matches {
		if t.ctx != nil && t.ctx.ignored(m) {
			continue
		}
		host, err := securejoin.SecureJoin(t.root, m)
		if err != nil {
			return nil, err
		}
		if _, err := os.Lstat(host); err == nil {
			out = append(out, m)
		}
	}
	sort.Strings(out)
	return out, nil
}

// walk calls fn for s and, when it is a directory, everything below it
// (not following symlinks), in name order, leaving out what the context
// ignores; a directory that is ignored is still entered when exception
// patterns may take back something in it.
func walk(t tree, s selected, fn func(e fileEntry) error) error {
	if !s.fi.IsDir() {
		e := fileEntry{host: s.host, fi: s.fi}
		if s.fi.Mode()&os.ModeSymlink != 0 {
			link, err := os.Readlink(s.host)
			if err != nil {
				return err
			}
			e.link = link
		}
		return fn(e)
	}
	// pending are the ignored directories being entered: one is written
	// (once) before the first file kept below it.
	type dir struct {
		e       fileEntry
		written bool
	}
	var pending []*dir
	var rec func(host, rel string) error
	rec = func(host, rel string) error {
		ents, err := os.ReadDir(host)
		if err != nil {
			return err
		}
		for _, de := range ents {
			crel := path.Join(rel, de.Name())
			chost := filepath.Join(host, de.Name())
			fi, err := de.Info()
			if err != nil {
				return err
			}
			ignored := t.ctx != nil && t.ctx.ignored(path.Join(s.rel, crel))
			if ignored && !(fi.IsDir() && t.ctx.ignore.Exclusions()) {
				continue
			}
			e := fileEntry{rel: crel, host: chost, fi: fi}
			if fi.Mode()&os.ModeSymlink != 0 {
				if e.link, err = os.Readlink(chost); err != nil {
					return err
				}
			}
			if ignored {
				pending = append(pending, &dir{e: e})
				err := rec(chost, crel)
				pending = pending[:len(pending)-1]
				if err != nil {
					return err
				}
				continue
			}
			for _, p := range pending {
				if !p.written {
					p.written = true
					if err := fn(p.e); err != nil {
						return err
					}
				}
			}
			if err := fn(e); err != nil {
				return err
			}
			if fi.IsDir() {
				if err := rec(chost, crel); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return rec(s.host, "")
}

// hashSources is the digest of what the sources hold: names, types,
// modes, link targets and the content of every file (not the times).
// Contents are read in parallel, or come from the context's memory of an
// earlier build while a file's stat is unchanged.
func hashSources(ctx context.Context, t tree, sel []selected) (string, error) {
	hashes := loadFileHashes("", "")
	if t.ctx != nil && t.ctx.hashes != nil {
		hashes = t.ctx.hashes
	}
	h := sha256.New()
	for _, s := range sel {
		fmt.Fprintf(h, "source %q %t\n", s.rel, s.fi.IsDir())
		var entries, files []fileEntry
		var rels []string
		err := walk(t, s, func(e fileEntry) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			entries = append(entries, e)
			if e.fi.Mode().IsRegular() {
				files = append(files, e)
				rels = append(rels, path.Join(s.rel, e.rel))
			}
			return nil
		})
		if err != nil {
			return "", err
		}
		sums, err := hashes.hashFiles(files, rels)
		if err != nil {
			return "", err
		}
		for _, e := range entries {
			fmt.Fprintf(h, "%q %o %q %d ", e.rel, uint32(e.fi.Mode()), e.link, e.fi.Size())
			if e.fi.Mode().IsRegular() {
				h.Write([]byte(sums[0]))
				sums = sums[1:]
			}
			h.Write([]byte{'\n'})
		}
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// copier writes sources into the step's tree, through tar streams that
// archive.ExtractToDir unpacks inside rootfs (so no symlink of the image
// leads a write out of it).
type copier struct {
	rootfs   string
	uid, gid int        // -1: the source's
	mode     int        // --chmod, -1 for the source's
	modeSet  *chmod.Set // a symbolic --chmod (u+x), applied to the source's
	add      bool       // ADD: a local archive is unpacked
	exclude  *patternmatcher.PatternMatcher
	link     *linker // regular files to link rather than write; nil: none
}

func (c *copier) isDir(p string) bool {
	host, err := securejoin.SecureJoin(c.rootfs, p)
	if err != nil {
		return false
	}
	fi, err := os.Stat(host)
	return err == nil && fi.IsDir()
}

// copySource copies one selected source to dest: a directory's content
// into dest, a file to dest (or into it, when dest is a directory).
func (c *copier) copySource(ctx context.Context, t tree, s selected, dest string, multi bool) error {
	if s.fi.IsDir() {
		return c.write(ctx, dest, func(tw *tar.Writer) error {
			return walk(t, s, func(e fileEntry) error {
				if c.excluded(e.rel) {
					return nil
				}
				return c.entry(tw, path.Join(dest, e.rel), e)
			})
		})
	}
	if c.excluded(path.Base(s.rel)) {
		return nil
	}
	target := dest
	if multi || c.isDir(dest) {
		target = path.Join(dest, path.Base(s.rel))
	}
	if c.add && s.fi.Mode().IsRegular() {
		if ok, err := c.unpack(ctx, s.host, dest); ok || err != nil {
			return err
		}
	}
	return c.write(ctx, path.Dir(target), func(tw *tar.Writer) error {
		return walk(t, s, func(e fileEntry) error { return c.entry(tw, target, e) })
	})
}

// write makes the missing directories down to dir, then unpacks what
// fill writes.
func (c *copier) write(ctx context.Context, dir string, fill func(tw *tar.Writer) error) error {
	c.link.beginPass()
	pr, pw := io.Pipe()
	go func() {
		bw := bufio.NewWriterSize(pw, 64<<10)
		tw := tar.NewWriter(bw)
		err := c.parents(tw, dir)
		if err == nil {
			err = fill(tw)
		}
		if err == nil {
			err = tw.Close()
		}
		if err == nil {
			err = bw.Flush()
		}
		pw.CloseWithError(err)
	}()
	err := archive.ExtractToDir(ctx, c.rootfs, "/", pr, archive.CopyOptions{KeepOwners: true, AllowDevices: true})
	pr.CloseWithError(io.ErrClosedPipe)
	if err == nil {
		c.link.endPass()
	}
	return err
}

// parents writes entries for the directories down to dir that the tree
// lacks (0755, owned by --chown's user, else root).
func (c *copier) parents(tw *tar.Writer, dir string) error {
	uid, gid := max(c.uid, 0), max(c.gid, 0)
	return missingDirs(c.rootfs, dir, func(p string) error {
		hdr := &tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(p, "/") + "/", Mode: 0o755, Uid: uid, Gid: gid, ModTime: time.Now()}
		c.link.written(p, hdr)
		return tw.WriteHeader(hdr)
	})
}

// missingDirs calls fn for each directory on the way to dir (absolute)
// that rootfs lacks, top down.
func missingDirs(rootfs, dir string, fn func(p string) error) error {
	dir = path.Clean("/" + dir)
	if dir == "/" {
		return nil
	}
	var missing []string
	for p := dir; p != "/"; p = path.Dir(p) {
		if _, err := archive.StatPath(rootfs, p); err == nil {
			break
		} else if !errors.Is(err, os.ErrNotExist) {
			return err
		}
		missing = append(missing, p)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := fn(missing[i]); err != nil {
			return err
		}
	}
	return nil
}

// entry writes one file as name (absolute in the image).
func (c *copier) entry(tw *tar.Writer, name string, e fileEntry) error {
	hdr, err := tar.FileInfoHeader(e.fi, e.link)
	if err != nil {
		return err
	}
	if hdr.Typeflag != tar.TypeReg && hdr.Typeflag != tar.TypeDir && hdr.Typeflag != tar.TypeSymlink {
		if e.fi.Mode()&os.ModeSocket != 0 {
			return nil // sockets are not copied
		}
	}
	hdr.Name = strings.TrimPrefix(name, "/")
	if hdr.Typeflag == tar.TypeDir {
		hdr.Name += "/"
	}
	hdr.Uname, hdr.Gname = "", ""
	hdr.AccessTime, hdr.ChangeTime = time.Time{}, time.Time{}
	hdr.Format = tar.FormatPAX
	if c.uid >= 0 {
		hdr.Uid, hdr.Gid = c.uid, c.gid
	}
	if c.mode >= 0 && hdr.Typeflag != tar.TypeSymlink {
		hdr.Mode = int64(c.mode)
	}
	if c.modeSet != nil && hdr.Typeflag != tar.TypeSymlink {
		hdr.Mode = applyChmod(c.modeSet, hdr.Mode, hdr.Typeflag == tar.TypeDir)
	}
	if c.link.offer(name, hdr, e) {
		return nil
	}
	c.link.written(name, hdr)
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if hdr.Typeflag != tar.TypeReg {
		return nil
	}
	f, err := os.Open(e.host)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.Copy(tw, io.LimitReader(f, hdr.Size))
	if err == nil && n != hdr.Size {
		err = fmt.Errorf("%s changed size while it was copied", e.host)
	}
	return err
}

// writeData writes a heredoc's content as file name (0644, or --chmod).
func (c *copier) writeData(ctx context.Context, name string, data []byte) error {
	mode := int64(0o644)
	if c.mode >= 0 {
		mode = int64(c.mode)
	}
	if c.modeSet != nil {
		mode = applyChmod(c.modeSet, mode, false)
	}
	return c.write(ctx, path.Dir(name), func(tw *tar.Writer) error {
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(name, "/"), Mode: mode, Size: int64(len(data)),
			Uid: max(c.uid, 0), Gid: max(c.gid, 0), ModTime: time.Now()}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	})
}

// unpack extracts file into the directory dest when it is a tar (plain,
// gzip or zstd), as ADD does, and reports whether it was one. Entries
// keep their owners unless --chown.
func (c *copier) unpack(ctx context.Context, file, dest string) (bool, error) {
	f, err := os.Open(file)
	if err != nil {
		return false, err
	}
	defer f.Close()
	dr, err := archive.Decompress(f)
	if err != nil {
		return false, nil // bzip2 and xz: copied as they are
	}
	if _, err := tar.NewReader(dr).Next(); err != nil {
		dr.Close()
		return false, nil
	}
	dr.Close()
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return false, err
	}
	if dr, err = archive.Decompress(f); err != nil {
		return false, err
	}
	defer dr.Close()
	if err := c.write(ctx, dest, func(*tar.Writer) error { return nil }); err != nil {
		return false, err
	}
	var r io.Reader = dr
	if c.uid >= 0 {
		rc := archive.Rewrite(dr, func(h *tar.Header) (bool, error) {
			h.Uid, h.Gid = c.uid, c.gid
			return true, nil
		})
		defer rc.Close()
		r = rc
	}
	return true, archive.ExtractToDir(ctx, c.rootfs, dest, r, archive.CopyOptions{KeepOwners: true})
}

// makeDirs makes dir and its missing parents in rootfs (WORKDIR).
func makeDirs(ctx context.Context, rootfs, dir string, uid, gid int) error {
	c := &copier{rootfs: rootfs, uid: uid, gid: gid, mode: -1}
	return c.write(ctx, dir, func(*tar.Writer) error { return nil })
}

// lookupChown resolves --chown's (or USER's) user[:group] in rootfs as
// BuildKit does: a name takes its uid and primary group from
// /etc/passwd; a number without a group is also the gid.
func lookupChown(rootfs, spec string, chown bool) (int, int, error) {
	user, _, hasGroup := strings.Cut(spec, ":")
	if n, err := strconv.Atoi(user); err == nil && !hasGroup && chown {
		return n, n, nil
	}
	uid, gid, err := oci.LookupUser(rootfs, spec)
	if err != nil {
		return 0, 0, err
	}
	return int(uid), int(gid), nil
}
