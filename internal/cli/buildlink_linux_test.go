package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// treeListing lists every entry below dir in a container of img: name
// (relative), type, size, mode, owner, mtime (seconds), symlink target
// and content digest, sorted. Link counts are left out: a linked file's
// counts the layers that share it.
const treeListing = `cd "$0" && find . -mindepth 1 | sort | while read -r f; do
	stat -c '%n %F %s %a %u:%g %Y %N' "$f"
	if [ -f "$f" ] && [ ! -L "$f" ]; then md5sum "$f"; fi
done`

// TestBuildCopyFromLinks: COPY --from of a stage of several layers (a
// file overwritten by a later layer, one deleted by a whiteout, an
// opaque directory, a symlink, hardlinks, odd modes, owners and times)
// gives exactly the stage's tree, whether its files are linked from the
// stage's layers (overlay) or copied (the copy driver); --chown and
// --chmod still make copies with their owner and mode.
func TestBuildCopyFromLinks(t *testing.T) {
	for _, driver := range []string{"overlay", "copy"} {
		t.Run(driver, func(t *testing.T) {
			b := containerRootEnv(t, "BERTH_STORAGE_DRIVER="+driver)
			dir := t.TempDir()
			writeFiles(t, dir, map[string]string{"Dockerfile": `FROM busybox:test AS gen
RUN mkdir -p /out/opq/sub /out/keep /out/empty && echo one > /out/over && echo gone > /out/gone && \
    echo old > /out/opq/sub/x && echo k > /out/keep/k && echo same > /out/hl1 && ln /out/hl1 /out/hl2 && \
    ln -s over /out/sym && chown 7:8 /out/keep/k && chmod 4750 /out/keep/k && touch -d @1000000000 /out/keep/k && \
    chmod 700 /out/keep && touch -d @1100000000 /out/keep
RUN echo two > /out/over && rm /out/gone && rm -rf /out/opq && mkdir /out/opq && echo new > /out/opq/y && \
    touch -d @1200000000 /out/over && chmod 604 /out/over

FROM busybox:test
RUN mkdir -p /opt/real /pre/dir && ln -s /opt/real /lnk && chown 5:6 /pre && chmod 711 /pre && \
    touch -d @1100000000 /pre/dir /pre
COPY --from=gen /out /data
COPY --from=gen --chown=3:4 /out/keep/k /out/over /owned/
COPY --from=gen --chmod=600 /out/keep/k /moded
COPY --from=gen /out/keep /lnk/keep/
COPY --from=gen /out/keep/k /pre/dir/
`})
			b.buildOK(dir, "-t", "gen", "--target", "gen")
			b.buildOK(dir, "-t", "linked")
			want := b.ok(runArgs("--rm", "gen", "sh", "-c", treeListing, "/out")...)
			got := b.ok(runArgs("--rm", "linked", "sh", "-c", treeListing, "/data")...)
			if got != want {
				t.Errorf("COPY --from's tree:\n%s\nthe stage's:\n%s", got, want)
			}
			for _, s := range []string{"./over regular file 4 604 0:0 1200000000", "./keep/k regular file 2 4750 7:8 1000000000",
				"./keep directory", "./opq/y regular file", "./sym symbolic link", "./hl2 regular file"} {
				if !strings.Contains(want, s) {
					t.Errorf("the stage's tree lacks %q:\n%s", s, want)
				}
			}
			if strings.Contains(want, "./gone") || strings.Contains(want, "./opq/sub") {
				t.Errorf("the stage's tree has what its second layer deleted:\n%s", want)
			}
			got = b.ok(runArgs("--rm", "linked", "sh", "-c", "stat -c '%n %a %u:%g %h' /owned/k /owned/over /moded; cat /owned/k /moded; stat -c %h /data/keep/k /data/opq/y /pre/dir/k")...)
			links := "1\n1\n1\n"
			if driver == "overlay" {
				// Shared with the stage's layers. (/data/over is a copy:
				// overlayfs marked the stage's copy-up of it with an xattr.)
				links = "3\n2\n3\n"
			}
			if want := "/owned/k 4750 3:4 1\n/owned/over 604 3:4 1\n/moded 600 7:8 1\nk\nk\n" + links; got != want {
				t.Errorf("--chown, --chmod and links: %q, want %q", got, want)
			}
			// Through a symlink (written, not linked), and into directories
			// of a lower layer (copied up as overlayfs does: owner, mode,
			// and the time of the one whose content did not change).
			got = b.ok(runArgs("--rm", "linked", "sh", "-c", "stat -c '%n %a %u:%g %h %Y' /opt/real/keep/k /pre/dir/k; stat -c '%n %a %u:%g %Y' /pre; cat /opt/real/keep/k; stat -c %Y /pre/dir")...)
			want = "/opt/real/keep/k 4750 7:8 1 1000000000\n/pre/dir/k 4750 7:8 " + links[4:5] + " 1000000000\n/pre 711 5:6 1100000000\nk\n"
			if !strings.HasPrefix(got, want) || strings.HasSuffix(got, "\n1100000000\n") {
				t.Errorf("COPY through a symlink and into lower directories: %q, want %q and /pre/dir's time now", got, want)
			}
		})
	}
}

// TestBuildCopyRebuildLinks: after one file of the context changes, the
// rebuilt COPY has the new content for it and the old for the rest, the
// unchanged files linked from the previous build's layer (same mode,
// owner and time); a container writing to a linked file changes neither
// layer; removing the old image and the cache leaves the new image whole.
func TestBuildCopyRebuildLinks(t *testing.T) {
	b := containerRoot(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"Dockerfile": "FROM busybox:test\nCOPY src/ /app/src/\n",
		"src/a":      "A", "src/b": "B", "src/sub/c": "C", "src/changed": "old",
	})
	if err := os.Chmod(filepath.Join(dir, "src", "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	old := time.Unix(1300000000, 0)
	if err := os.Chtimes(filepath.Join(dir, "src", "sub", "c"), old, old); err != nil {
		t.Fatal(err)
	}
	b.buildOK(dir, "-t", "app:1")
	list := func(img string) string {
		return b.ok(runArgs("--rm", img, "sh", "-c", treeListing, "/app/src")...)
	}
	before := list("app:1")
	writeFiles(t, dir, map[string]string{"src/changed": "new"})
	b.buildOK(dir, "-t", "app:2")
	after := list("app:2")
	// Only the changed file's line and digest differ.
	bl, al := strings.Split(before, "\n"), strings.Split(after, "\n")
	if len(bl) != len(al) {
		t.Fatalf("the rebuilt tree:\n%s\nthe first:\n%s", after, before)
	}
	for i := range bl {
		if bl[i] != al[i] && !strings.Contains(bl[i], "changed") {
			t.Errorf("after the rebuild %q, before %q", al[i], bl[i])
		}
	}
	got := b.ok(runArgs("--rm", "app:2", "sh", "-c", "cat /app/src/changed /app/src/a; stat -c '%n %h' /app/src/a /app/src/b /app/src/sub/c /app/src/changed")...)
	if want := "newA/app/src/a 2\n/app/src/b 2\n/app/src/sub/c 2\n/app/src/changed 1\n"; got != want {
		t.Errorf("rebuilt: %q, want %q", got, want)
	}
	if got := b.ok(runArgs("--rm", "app:1", "cat", "/app/src/changed")...); got != "old" {
		t.Errorf("the first image's file: %q", got)
	}

	// A container's write copies the file up: the layers keep theirs.
	if got := b.ok(runArgs("--rm", "app:2", "sh", "-c", "echo more >> /app/src/a; chmod 600 /app/src/b; cat /app/src/a")...); got != "Amore\n" {
		t.Errorf("the container's write: %q", got)
	}
	for _, img := range []string{"app:1", "app:2"} {
		mnt := strings.TrimSpace(b.ok("image", "mount", img))
		a, err := os.ReadFile(filepath.Join(mnt, "app", "src", "a"))
		fi, serr := os.Stat(filepath.Join(mnt, "app", "src", "b"))
		b.ok("image", "unmount", img)
		if err != nil || string(a) != "A" || serr != nil || fi.Mode().Perm() != 0o755 {
			t.Errorf("%s's layer after a container wrote to it: %q %v, b %v %v", img, a, err, fi, serr)
		}
	}

	// The first image and the cache gone, the second is whole.
	b.ok("rmi", "app:1")
	b.ok("builder", "prune", "-af")
	if got := list("app:2"); got != after {
		t.Errorf("after rmi and prune:\n%s\nbefore:\n%s", got, after)
	}
	if got := b.ok(runArgs("--rm", "app:2", "stat", "-c", "%h", "/app/src/a")...); got != "1\n" {
		t.Errorf("the link count after the old layer went: %q", got)
	}
	// Its layers are whole: saved, removed and loaded, it has the same tree.
	file := filepath.Join(t.TempDir(), "app.tar")
	b.ok("save", "-o", file, "app:2")
	b.ok("rmi", "app:2")
	b.ok("builder", "prune", "-af")
	b.ok("load", "-i", file)
	if got := list("app:2"); got != after {
		t.Errorf("after save and load:\n%s\nbefore:\n%s", got, after)
	}
}
