package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/berth-dev/berth/internal/testutil"
)

func TestPushIsReadableBySkopeoAndMountsAcrossRepositories(t *testing.T) {
	b := newRoot(t)
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{})
	pushBusybox(t, reg, "test/busybox:1")
	src := reg.Host + "/test/busybox:1"
	b.ok("pull", src)
	dst := reg.Host + "/other/bb:2"
	b.ok("tag", src, dst)
	out := b.ok("push", dst)
	if !strings.Contains(out, "The push refers to repository ["+reg.Host+"/other/bb]") {
		t.Errorf("push output: %s", out)
	}
	// Both layers exist in test/busybox on the same registry: mounted,
	// not uploaded.
	if n := strings.Count(out, "Mounted from test/busybox"); n != 2 {
		t.Errorf("want 2 layers mounted from test/busybox, got %d:\n%s", n, out)
	}
	var insp struct {
		Digest string
		Layers []string
	}
	if err := json.Unmarshal([]byte(testutil.Skopeo(t, "inspect", "--tls-verify=false", "docker://"+dst)), &insp); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "2: digest: "+insp.Digest+" size: ") {
		t.Errorf("push did not report skopeo's digest %s:\n%s", insp.Digest, out)
	}
	if len(insp.Layers) != 2 {
		t.Errorf("skopeo sees %d layers", len(insp.Layers))
	}
	// skopeo can read every blob berth pushed.
	testutil.Skopeo(t, "copy", "--src-tls-verify=false", "docker://"+dst, "oci:"+filepath.Join(t.TempDir(), "oci")+":x")
	// The pushed name is recorded as a repo digest.
	if got := b.ok("image", "inspect", "--format", "{{json .RepoDigests}}", dst); !strings.Contains(got, reg.Host+"/other/bb@"+insp.Digest) {
		t.Errorf("RepoDigests after push: %s", got)
	}

	// A second push finds every layer already there.
	if out := b.ok("push", dst); strings.Count(out, "Layer already exists") != 2 {
		t.Errorf("second push:\n%s", out)
	}
	// Pushing to a new registry uploads.
	reg2 := testutil.StartRegistry(t, testutil.RegistryOptions{})
	dst2 := reg2.Host + "/fresh/bb:3"
	b.ok("tag", src, dst2)
	if out := b.ok("push", dst2); strings.Count(out, "Pushed") != 2 {
		t.Errorf("push to an empty registry:\n%s", out)
	}
	testutil.Skopeo(t, "inspect", "--tls-verify=false", "docker://"+dst2)
}

func TestLoginStoresCredentialsAndPullUsesThem(t *testing.T) {
	b := newRoot(t)
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{Htpasswd: "alice:" + string(hash) + "\n"})
	testutil.Skopeo(t, "copy", "--dest-tls-verify=false", "--dest-creds", "alice:s3cret", "oci:"+testutil.BusyboxLayout(t)+":busybox", "docker://"+reg.Host+"/priv/bb:1")
	name := reg.Host + "/priv/bb:1"

	if errs := b.fails(1, "pull", name); !strings.Contains(errs, "unauthorized") || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
		t.Errorf("anonymous pull of a private image: %q", errs)
	}
	if errs := b.fails(1, "login", "-u", "alice", "-p", "wrong", reg.Host); !strings.Contains(errs, "incorrect username or password") {
		t.Errorf("login with a wrong password: %q", errs)
	}
	out, errs, code := b.run("s3cret\n", "login", "-u", "alice", "--password-stdin", reg.Host)
	if code != 0 || strings.TrimSpace(out) != "Login Succeeded" {
		t.Fatalf("login: %d %q %q", code, out, errs)
	}
	var cfg struct {
		Auths map[string]struct{ Auth string } `json:"auths"`
	}
	data, err := os.ReadFile(filepath.Join(b.dockerConfig(), "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(data, &cfg)
	if cfg.Auths[reg.Host].Auth == "" {
		t.Fatalf("config.json has no auth for %s: %s", reg.Host, data)
	}
	b.ok("pull", name)
	if out := b.ok("logout", reg.Host); !strings.Contains(out, "Removing login credentials for "+reg.Host) {
		t.Errorf("logout: %q", out)
	}
	b.ok("rmi", name)
	b.fails(1, "pull", name)
}

func TestBadPullsLeaveTheStoreUnchanged(t *testing.T) {
	b := newRoot(t)
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{})
	pushBusybox(t, reg, "test/busybox:1")

	cases := []struct {
		name, want string
		args       []string
	}{
		{"unknown image", "not found", []string{"pull", reg.Host + "/test/nope:1"}},
		{"unknown tag", "not found", []string{"pull", reg.Host + "/test/busybox:9"}},
		{"malformed reference", "invalid reference format", []string{"pull", "Upper/Case"}},
		{"registry down", "connection refused", []string{"pull", "127.0.0.1:1/x/y:1"}},
		{"other platform", "linux/arm64", []string{"pull", "--platform", "linux/arm64", reg.Host + "/test/busybox:1"}},
		{"bad platform", "invalid platform", []string{"pull", "--platform", "a/b/c/d", reg.Host + "/test/busybox:1"}},
		{"rmi unknown", "No such image", []string{"rmi", "nope"}},
		{"inspect unknown", "No such image", []string{"image", "inspect", "nope"}},
		{"tag unknown", "No such image", []string{"tag", "nope", "x:1"}},
		{"push unknown", "does not exist locally", []string{"push", reg.Host + "/x/y:1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			errs := b.fails(1, c.args...)
			if !strings.Contains(errs, c.want) {
				t.Errorf("stderr %q lacks %q", errs, c.want)
			}
			if n := strings.Count(strings.TrimSpace(errs), "\n"); n != 0 {
				t.Errorf("want a one-line error, got:\n%s", errs)
			}
		})
	}

	// A registry serving a layer whose bytes don't match its digest.
	var blobs []string
	filepath.Walk(filepath.Join(reg.Dir, "data"), func(p string, info os.FileInfo, err error) error {
		if err == nil && info.Name() == "data" && info.Mode().IsRegular() && info.Size() > 1000 {
			blobs = append(blobs, p)
		}
		return nil
	})
	if len(blobs) == 0 {
		t.Fatal("no layer blob found in the registry's storage")
	}
	for _, p := range blobs {
		data, _ := os.ReadFile(p)
		data[len(data)/2] ^= 0xff
		os.WriteFile(p, data, 0o644)
	}
	if errs := b.fails(1, "pull", reg.Host+"/test/busybox:1"); !strings.Contains(errs, "digest") {
		t.Errorf("corrupt blob: %q", errs)
	}
	if out := b.ok("images", "-q"); out != "" {
		t.Errorf("images after failed pulls: %q", out)
	}
	b.ok("system", "prune", "-f")
	ents, _ := os.ReadDir(filepath.Join(b.root, "snapshots"))
	if len(ents) != 0 {
		t.Errorf("snapshot directories left after failed pulls and prune: %d", len(ents))
	}
}

func TestTokenAuthRegistry(t *testing.T) {
	b := newRoot(t)
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{TokenUsers: map[string]string{"bob": "hunter2"}})
	src := newRoot(t)
	plain := testutil.StartRegistry(t, testutil.RegistryOptions{})
	pushBusybox(t, plain, "test/busybox:1")
	src.ok("pull", plain.Host+"/test/busybox:1")
	name := reg.Host + "/team/bb:1"
	src.ok("tag", plain.Host+"/test/busybox:1", name)

	if errs := src.fails(1, "push", name); !strings.Contains(errs, "unauthorized") && !strings.Contains(errs, "UNAUTHORIZED") {
		t.Errorf("anonymous push to a token registry: %q", errs)
	}
	if errs := src.fails(1, "login", "-u", "bob", "-p", "wrong", reg.Host); !strings.Contains(errs, "unauthorized") && !strings.Contains(errs, "incorrect") {
		t.Errorf("login with a wrong password: %q", errs)
	}
	src.ok("login", "-u", "bob", "-p", "hunter2", reg.Host)
	src.ok("push", name)
	if errs := b.fails(1, "pull", name); !strings.Contains(strings.ToLower(errs), "unauthorized") {
		t.Errorf("anonymous pull from a token registry: %q", errs)
	}
	b.ok("login", "-u", "bob", "-p", "hunter2", reg.Host)
	b.ok("pull", name)
	testutil.Skopeo(t, "inspect", "--tls-verify=false", "--creds", "bob:hunter2", "docker://"+name)
}

// TestCredentialHelperIsHonoured: with "credsStore" in config.json, login
// stores through docker-credential-NAME and pulls read from it, as the
// docker CLI does (the helper here is a small shell script keeping one
// secret in a file).
func TestCredentialHelperIsHonoured(t *testing.T) {
	b := newRoot(t)
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{Htpasswd: "carol:" + string(hash) + "\n"})
	testutil.Skopeo(t, "copy", "--dest-tls-verify=false", "--dest-creds", "carol:pw", "oci:"+testutil.BusyboxLayout(t)+":busybox", "docker://"+reg.Host+"/priv/bb:1")

	bin := t.TempDir()
	store := filepath.Join(t.TempDir(), "secret.json")
	helper := `#!/bin/sh
case "$1" in
store) cat > ` + store + ` ;;
get) read server; if [ -f ` + store + ` ]; then cat ` + store + `; else echo "credentials not found in native keychain"; exit 1; fi ;;
erase) rm -f ` + store + ` ;;
list) echo '{}' ;;
esac
`
	if err := os.WriteFile(filepath.Join(bin, "docker-credential-berthtest"), []byte(helper), 0o755); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(b.dockerConfig(), 0o700)
	os.WriteFile(filepath.Join(b.dockerConfig(), "config.json"), []byte(`{"credsStore":"berthtest"}`), 0o600)
	for i, e := range b.env {
		if strings.HasPrefix(e, "PATH=") {
			b.env[i] = "PATH=" + bin + ":" + strings.TrimPrefix(e, "PATH=")
		}
	}
	b.ok("login", "-u", "carol", "-p", "pw", reg.Host)
	secret, err := os.ReadFile(store)
	if err != nil || !strings.Contains(string(secret), `"Secret":"pw"`) {
		t.Fatalf("the helper did not get the credentials: %q %v", secret, err)
	}
	data, _ := os.ReadFile(filepath.Join(b.dockerConfig(), "config.json"))
	if strings.Contains(string(data), "pw") || strings.Contains(string(data), "Y2Fyb2w6cHc") {
		t.Errorf("the password went into config.json: %s", data)
	}
	b.ok("pull", reg.Host+"/priv/bb:1")
	b.ok("logout", reg.Host)
	if _, err := os.Stat(store); !os.IsNotExist(err) {
		t.Errorf("logout did not erase through the helper: %v", err)
	}
}
