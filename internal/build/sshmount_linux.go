package build

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// RUN --mount=type=ssh, as BuildKit does it: the RUN gets a socket (at
// target, default /run/buildkit/ssh_agent.N, mode 0600 and root's unless
// mode, uid, gid) that speaks to the SSH agent build --ssh forwarded
// under the mount's id (default "default"), and SSH_AUTH_SOCK names it.
// An agent is a socket of the host's (SSH_AUTH_SOCK) or keys berth
// serves itself. A mount whose id was not forwarded is left out, or is
// an error when required. Neither the keys nor the socket are in the
// layer or the cache key.

// SSHAgent is what build --ssh forwards under one id: an agent's socket
// on the host, or private keys (PEM, without a passphrase).
type SSHAgent struct {
	Socket string
	Keys   [][]byte
}

// sshForward is one forwarded id's agent, served to RUNs.
type sshForward struct {
	socket  string
	keyring agent.Agent
}

// sshForward is the agent build --ssh forwarded under id (its keys
// parsed), nil when none was.
func (r *run) sshForward(id string) (*sshForward, error) {
	a, ok := r.o.SSH[id]
	if !ok {
		return nil, nil
	}
	if a.Socket != "" {
		return &sshForward{socket: a.Socket}, nil
	}
	kr := agent.NewKeyring()
	for _, pem := range a.Keys {
		k, err := ssh.ParseRawPrivateKey(pem)
		if err != nil {
			return nil, fmt.Errorf("ssh %s: %w", id, err)
		}
		if err := kr.Add(agent.AddedKey{PrivateKey: k}); err != nil {
			return nil, fmt.Errorf("ssh %s: %w", id, err)
		}
	}
	return &sshForward{keyring: kr}, nil
}

// serve listens on a new socket at path for the RUN of workdir w and
// passes what connects to the agent; the workdir's release stops it.
func (f *sshForward) serve(w *workdir, path string, uid, gid int, mode os.FileMode) error {
	l, err := net.Listen("unix", path)
	if err != nil {
		return err
	}
	if err := os.Chown(path, uid, gid); err != nil {
		l.Close()
		return err
	}
	if err := os.Chmod(path, mode); err != nil {
		l.Close()
		return err
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				f.handle(c)
				c.Close()
				mu.Lock()
				delete(conns, c)
				mu.Unlock()
			}()
		}
	}()
	w.onRelease(func() {
		l.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return nil
}

// handle serves one connection: the keyring, or a relay to the host's
// agent.
func (f *sshForward) handle(c net.Conn) {
	if f.keyring != nil {
		agent.ServeAgent(f.keyring, c)
		return
	}
	up, err := net.Dial("unix", f.socket)
	if err != nil {
		return
	}
	defer up.Close()
	done := make(chan struct{})
	go func() {
		io.Copy(up, c)
		up.(*net.UnixConn).CloseWrite()
		close(done)
	}()
	io.Copy(c, up)
	c.(*net.UnixConn).CloseWrite()
	<-done
}

// sshMount plans a type=ssh mount: its id, target and agent (nil when
// not forwarded and not required).
func (r *run) sshMount(rm *runMount, n int) error {
	m := rm.m
	if m.Source != "" {
		return errors.New("ssh does not support source")
	}
	rm.secretID = m.CacheID
	if rm.secretID == "" {
		rm.secretID = "default"
	}
	if rm.target == "" {
		rm.target = "/run/buildkit/ssh_agent." + strconv.Itoa(n)
	}
	f, err := r.sshForward(rm.secretID)
	if err != nil {
		return err
	}
	if f == nil && m.Required {
		return fmt.Errorf("no SSH key %q forwarded from the client", rm.secretID)
	}
	rm.ssh = f
	return nil
}

// sshSocket serves mount i's agent on a socket in w and returns it.
func sshSocket(w *workdir, i int, rm *runMount) (string, error) {
	m := rm.m
	mode := os.FileMode(0o600)
	if m.Mode != nil {
		mode = os.FileMode(*m.Mode & 0o7777)
	}
	dir := filepath.Join(w.dir, "ssh")
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return "", err
	}
	path := filepath.Join(dir, strconv.Itoa(i))
	if err := rm.ssh.serve(w, path, int(ptrOr(m.UID, 0)), int(ptrOr(m.GID, 0)), mode); err != nil {
		return "", err
	}
	return path, nil
}
