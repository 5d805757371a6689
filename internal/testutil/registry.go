package testutil

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Registry is a CNCF distribution registry (Debian's docker-registry)
// serving on 127.0.0.1 for one test, with its storage in a temp dir.
type Registry struct {
	Host string // 127.0.0.1:PORT
	Dir  string
}

// RegistryOptions configure StartRegistry.
type RegistryOptions struct {
	// Htpasswd is the content of an htpasswd file (bcrypt entries); when
	// set, the registry requires basic auth.
	Htpasswd string
	// TokenUsers, when set, puts the registry behind token auth (as
	// Docker Hub is) with a token server that knows these user/password
	// pairs and gives anonymous clients no access.
	TokenUsers map[string]string
}

// StartRegistry starts a registry for the test and stops it at cleanup.
// The test is skipped when docker-registry isn't installed outside CI.
func StartRegistry(t testing.TB, o RegistryOptions) *Registry {
	t.Helper()
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("docker-registry is not installed (hack/deps.sh installs it)")
		}
		t.Skip("docker-registry is not installed")
	}
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := l.Addr().String()
	auth := ""
	if o.Htpasswd != "" {
		p := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(p, []byte(o.Htpasswd), 0o600); err != nil {
			t.Fatal(err)
		}
		auth = fmt.Sprintf("auth:\n  htpasswd:\n    realm: berth-test\n    path: %s\n", p)
	}
	front := host
	if o.TokenUsers != nil {
		front, auth = startTokenServer(t, dir, host, o.TokenUsers)
	}
	// Held until here, so that the token server's front (or anything
	// else) can't be given the registry's port.
	l.Close()
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s/data
  delete:
    enabled: true
http:
  addr: %s
%s`, dir, host, auth)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", cfgPath)
	logf, _ := os.Create(filepath.Join(dir, "registry.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cmd.Process.Kill()
			cmd.Wait()
			logf.Close()
		})
	}
	t.Cleanup(stop)
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get("http://" + host + "/v2/")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			stop()
			log, _ := os.ReadFile(filepath.Join(dir, "registry.log"))
			t.Fatalf("registry on %s did not start: %v\n%s", host, err, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return &Registry{Host: front, Dir: dir}
}
