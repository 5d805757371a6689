package cli_test

import (
	"regexp"
	"strings"
	"testing"
)

// TestBuilderDuAndPruneFilters: builder du (and system df -v) list the
// cache's records (steps' layers, cache mounts) as buildx du (docker
// system df -v) does; builder prune's
// type/id/description filters select records, and --keep-storage drops
// the least recently used until the cache's private size is below it.
func TestBuilderDuAndPruneFilters(t *testing.T) {
	b := containerRoot(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"Dockerfile": `FROM busybox:test
RUN --mount=type=cache,target=/c echo x > /c/f
RUN head -c 300000 /dev/urandom > /big
RUN head -c 100000 /dev/urandom > /small
`})
	b.buildOK(dir, "-t", "du1")
	out := b.ok("builder", "du")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 7 || !regexp.MustCompile(`^ID\s+RECLAIMABLE\s+SIZE\s+LAST ACCESSED$`).MatchString(lines[0]) ||
		!strings.HasPrefix(lines[len(lines)-2], "Reclaimable:") || !strings.HasPrefix(lines[len(lines)-1], "Total:") {
		t.Fatalf("builder du:\n%s", out)
	}
	// The layers are the image's too (*); the cache mount is mutable (*).
	if !strings.Contains(out, "Shared:") || !regexp.MustCompile(`(?m)^[0-9a-f]{25}\*\s+true\s+\S+\s+.* ago$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^[0-9a-f]{25}\s+true\s+\d\S*\*\s`).MatchString(out) {
		t.Errorf("builder du:\n%s", out)
	}
	// system df -v has them too, as Docker's.
	out = b.ok("system", "df", "-v")
	if !strings.Contains(out, "\nBuild cache usage: ") || !regexp.MustCompile(`(?m)^CACHE ID\s+CACHE TYPE\s+SIZE\s+CREATED\s+LAST USED\s+USAGE\s+SHARED$`).MatchString(out) ||
		strings.Count(out, " regular ") != 3 || strings.Count(out, " exec.cachemount ") != 1 {
		t.Errorf("system df -v:\n%s", out)
	}
	out = b.ok("builder", "du", "--verbose", "--filter", "type=exec.cachemount")
	for _, want := range []string{"Mutable:      true\n", "Description:  cached mount /c with id \"/c\"\n", "Type:         exec.cachemount\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("builder du --verbose --filter type=exec.cachemount: want %q in\n%s", want, out)
		}
	}
	if strings.Count(out, "ID:") != 1 || strings.Contains(out, "Total:") {
		t.Errorf("one record and no summary with a filter:\n%s", out)
	}
	big := "[3/4] RUN head -c 300000 /dev/urandom > /big"
	out = b.ok("builder", "du", "--verbose", "--filter", "description="+big)
	if strings.Count(out, "ID:") != 1 || !strings.Contains(out, "Type:         regular\n") || !strings.Contains(out, "Usage count:  1\n") {
		t.Errorf("builder du --filter description=%s:\n%s", big, out)
	}
	// A cache mount goes only with -a.
	if out := b.ok("builder", "prune", "-f", "--filter", "type=exec.cachemount"); out != "Total reclaimed space: 0B\n" {
		t.Errorf("prune --filter type=exec.cachemount without -a: %q", out)
	}
	if out := b.ok("builder", "prune", "-af", "--filter", "type=exec.cachemount"); strings.Count(out, "\n") != 4 {
		t.Errorf("prune -a --filter type=exec.cachemount: %q", out)
	}
	if errs := b.buildOK(dir, "-t", "du1"); strings.Count(errs, "CACHED") != 3 {
		t.Errorf("the steps' cache after the cache mount's prune:\n%s", errs)
	}
	if out := b.ok("builder", "du", "--filter", "type=exec.cachemount"); strings.Count(out, "\n") != 1 {
		t.Errorf("the cache mount is left: %q", out)
	}
	// The second build used each entry again.
	if out := b.ok("builder", "du", "--verbose", "--filter", "description="+big); !strings.Contains(out, "Usage count:  2\n") {
		t.Errorf("usage count after a cached rebuild:\n%s", out)
	}

	// Private layers: --keep-storage 200kb drops the oldest (the empty
	// step's, then /big's 300kB) until less than 200kB is left.
	b.ok("rmi", "du1")
	out = b.ok("builder", "prune", "-af", "--keep-storage", "200kb")
	if !strings.Contains(out, "Deleted build cache objects:\n") {
		t.Errorf("prune --keep-storage 200kb: %q", out)
	}
	out = b.ok("builder", "du", "--verbose")
	if strings.Count(out, "ID:") != 1 || !strings.Contains(out, "RUN head -c 100000") {
		t.Errorf("after prune --keep-storage 200kb, want /small's layer alone:\n%s", out)
	}
	id := regexp.MustCompile(`ID:\s+([0-9a-f]+)`).FindStringSubmatch(out)[1]
	if out := b.ok("builder", "prune", "-f", "--filter", "id=nomatch"); out != "Total reclaimed space: 0B\n" {
		t.Errorf("prune --filter id=nomatch: %q", out)
	}
	if out := b.ok("builder", "prune", "-f", "--filter", "id="+id[:12]); !strings.Contains(out, id+"\n") {
		t.Errorf("prune --filter id=%s: %q", id[:12], out)
	}
	if out := b.ok("builder", "du"); !strings.HasSuffix(out, "Reclaimable:\t0B\nTotal:\t\t0B\n") {
		t.Errorf("an empty cache: %q", out)
	}
	if errs := b.fails(1, "builder", "prune", "-f", "--filter", "type=a", "--filter", "type=b"); !strings.Contains(errs, "filters expect only one value") {
		t.Errorf("two values: %q", errs)
	}
	if errs := b.fails(1, "builder", "du", "--filter", "until=1h"); !strings.Contains(errs, "invalid filter 'until'") {
		t.Errorf("du --filter until: %q", errs)
	}
}
