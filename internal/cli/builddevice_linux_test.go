package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBuildRunDevice: RUN --device gives the step a CDI device (its node,
// allowed in the device cgroup, and its environment) when build --allow
// grants it or the spec auto-allows it; an optional device that is not
// registered is skipped, a required one fails the build.
func TestBuildRunDevice(t *testing.T) {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skip("no /dev/fuse on this host")
	}
	specs := t.TempDir()
	writeFiles(t, specs, map[string]string{
		// /dev/fuse is one Docker's default rules deny: the device's own
		// rule is what lets the RUN open it ("m" only: it may not).
		"fuse.json": `{"cdiVersion": "0.6.0", "kind": "test.berth.dev/fuse", "devices": [
  {"name": "rw", "containerEdits": {"env": ["FUSE=injected"], "deviceNodes": [{"path": "/dev/fuse"}]}},
  {"name": "mknod", "containerEdits": {"deviceNodes": [{"path": "/dev/fuse", "permissions": "m"}]}}]}`,
		"auto.yaml": `cdiVersion: "0.6.0"
kind: test.berth.dev/auto
annotations:
  org.mobyproject.buildkit.device.autoallow: "true"
devices:
  - name: a
    annotations:
      org.mobyproject.buildkit.device.class: klass
    containerEdits:
      env:
        - AUTO=yes
`,
	})
	b := containerRootEnv(t, "BERTH_CDI_SPEC_DIRS="+specs+":"+filepath.Join(specs, "missing"))
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"Dockerfile": `FROM busybox:test
RUN --device=test.berth.dev/fuse=rw,required sh -c 'exec 3<>/dev/fuse && echo "$FUSE" > /fuse && stat -c %t:%T /dev/fuse >> /fuse'
RUN --device=test.berth.dev/fuse=mknod sh -c 'exec 3<>/dev/fuse' 2> /denied || true
RUN --device=klass --device=test.berth.dev/none env > /auto
`})
	if errs := b.fails(1, buildArgs("-q", dir)...); !strings.Contains(errs, "Error: failed to solve: device test.berth.dev/fuse=rw is requested by the build but not allowed") {
		t.Errorf("without --allow device: %q", errs)
	}
	b.buildOK(dir, "-t", "dev", "--allow", "device")
	got := b.ok(runArgs("--rm", "dev", "cat", "/fuse", "/denied", "/auto")...)
	for _, want := range []string{"injected\na:e5\n", "Operation not permitted", "AUTO=yes"} {
		if !strings.Contains(got, want) {
			t.Errorf("the image's /fuse, /denied and /auto: %q, want %q in it", got, want)
		}
	}
	if strings.Contains(got, "FUSE=") {
		t.Errorf("a device's environment is in another step: %q", got)
	}
	// One device granted by name, under an alias the Dockerfile uses.
	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM busybox:test\nRUN --device=myfuse test -c /dev/fuse && test \"$FUSE\" = injected\n"})
	b.buildOK(dir, "--allow", "device=test.berth.dev/fuse=rw,alias=myfuse")
	// Without the alias, myfuse names no device: an optional one, skipped.
	if errs := b.fails(1, buildArgs("-q", "--allow", "device=test.berth.dev/fuse=rw", dir)...); !strings.Contains(errs, "did not complete successfully: exit code: 1") {
		t.Errorf("an unknown optional device: %q", errs)
	}
	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM busybox:test\nRUN --device=test.berth.dev/none,required=true true\n"})
	if errs := b.fails(1, buildArgs("-q", "--allow", "device", dir)...); !strings.Contains(errs, `required device "test.berth.dev/none" is not registered`) {
		t.Errorf("a required device not registered: %q", errs)
	}
}
