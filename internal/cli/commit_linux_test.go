package cli_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestCommit: an image made of a container has its changes (files added
// and removed), its configuration with -c changes, and a history entry
// with the message; a running container is paused for the commit and
// runs on after. Both snapshotters.
func TestCommit(t *testing.T) {
	for _, driver := range []string{"overlay", "copy"} {
		t.Run(driver, func(t *testing.T) {
			b := containerRoot(t)
			if driver == "copy" {
				b = copyRoot(t)
			}
			b.ok(runArgs("--name", "maker", "-e", "FROM_RUN=1", "-w", "/data", "busybox:test",
				"sh", "-c", "mkdir -p /data && echo made > /data/file && rm /bin/ls && chmod 700 /data")...)
			id := strings.TrimSpace(b.ok("commit", "-m", "my message", "-a", "me <me@x>", "maker", "committed:1"))
			if !regexp.MustCompile(`^sha256:[0-9a-f]{64}$`).MatchString(id) {
				t.Fatalf("commit printed %q", id)
			}
			// The default command is the container's; env and workdir too.
			if out := b.ok(runArgs("--rm", "committed:1", "sh", "-c", "cat file; echo $FROM_RUN; pwd; test -e /bin/ls && echo present || echo gone; stat -c %a /data")...); out != "made\n1\n/data\ngone\n700\n" {
				t.Errorf("a container of the committed image: %q", out)
			}
			hist := b.ok("history", "--no-trunc", "--format", "{{.Comment}}|{{.CreatedBy}}", "committed:1")
			if first := strings.SplitN(hist, "\n", 2)[0]; first != "my message|sh -c mkdir -p /data && echo made > /data/file && rm /bin/ls && chmod 700 /data" {
				t.Errorf("history: %q", hist)
			}
			if got := b.ok("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}", "committed"); !strings.HasPrefix(got, "committed:1 "+strings.TrimPrefix(id, "sha256:")[:12]) {
				t.Errorf("images: %q", got)
			}
			// -c CMD, and no name.
			id2 := strings.TrimSpace(b.ok("commit", "-c", `CMD ["cat", "/data/file"]`, "-c", "ENV X=y", "maker"))
			if out := b.ok(runArgs("--rm", id2)...); out != "made\n" {
				t.Errorf("-c CMD: the default command printed %q", out)
			}
			if errs := b.fails(1, "commit", "-c", "FROM x", "maker"); !strings.Contains(errs, "not a valid change command") {
				t.Errorf("bad -c: %q", errs)
			}
			b.fails(1, "commit", "nosuch")

			// A running container: paused for the commit, running after.
			b.ok(runArgs("-d", "--name", "live", "busybox:test", "sh", "-c", "echo live > /live; echo ready; while true; do sleep 0.1; done")...)
			waitForLog(t, b, "live", "ready\n")
			b.ok("commit", "live", "fromlive")
			if out := b.ok(runArgs("--rm", "fromlive", "cat", "/live")...); out != "live\n" {
				t.Errorf("image of a running container: %q", out)
			}
			if got := b.ok("ps", "--format", "{{.Names}} {{.State}}"); got != "live running\n" {
				t.Errorf("after commit: %q", got)
			}
			// It was frozen for the commit and thawed after.
			if got := b.ok("events", "--since", "1", "--until", fmt.Sprint(time.Now().UnixNano()/1e9+1), "-f", "container=live", "-f", "event=pause", "-f", "event=unpause", "-f", "event=commit",
				"--format", "{{.Action}} {{.Actor.Attributes.imageRef}}"); got != "pause <no value>\nunpause <no value>\ncommit fromlive:latest\n" {
				t.Errorf("events of the commit: %q", got)
			}
			b.ok("stop", "-t", "0", "live")
			if got := b.ok("ps", "--format", "{{.Names}} {{.Status}}"); got != "" {
				t.Errorf("the container did not stop (left frozen?): %q", got)
			}
		})
	}
}

// copyRoot is containerRoot on the copy snapshotter.
func copyRoot(t *testing.T) *berthRoot {
	t.Setenv("BERTH_STORAGE_DRIVER", "copy")
	b := containerRoot(t)
	b.env = append(b.env, "BERTH_STORAGE_DRIVER=copy")
	if got := b.ok("image", "inspect", "--format", "{{.GraphDriver.Name}}", "busybox:test"); got != "vfs\n" {
		t.Fatalf("storage driver %q, want vfs (Docker's name for the copy driver)", got)
	}
	return b
}
