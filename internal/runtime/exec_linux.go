package runtime

import (
	"errors"
	"fmt"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/runtime/cgroups"
)

// ExecOpts are the flags of `exec` besides the process itself.
type ExecOpts struct {
	PidFile               string
	ConsoleSocket         string
	Detach                bool
	PreserveFDs           int
	Stdin, Stdout, Stderr *os.File
}

// Exec runs p in a running container: in all its namespaces and its cgroup,
// under its seccomp filter. Unless detached it waits and returns p's exit
// code.
func (r *Runtime) Exec(id string, p *specs.Process, o ExecOpts) (int, error) {
	var relay *signalRelay
	if !o.Detach {
		relay = relaySignals()
		defer relay.stop()
	}
	c, err := r.load(id)
	if err != nil {
		return -1, err
	}
	if st := r.status(c); st != specs.StateRunning && st != specs.StateCreated {
		return -1, fmt.Errorf("cannot exec in container %s: it is %s", id, st)
	}
	if err := validateProcess(p); err != nil {
		return -1, err
	}
	paths := map[specs.LinuxNamespaceType]string{}
	for _, ns := range c.Spec.Linux.Namespaces {
		paths[ns.Type] = fmt.Sprintf("/proc/%d/ns/%s", c.Pid, nsProcNames[ns.Type])
	}
	// Join only namespaces that differ from ours (a container may share
	// some with the host, or have joined ours by path).
	for t, path := range paths {
		own, _ := os.Readlink("/proc/self/ns/" + nsProcNames[t])
		if theirs, _ := os.Readlink(path); own == theirs {
			delete(paths, t)
		}
	}
	nss := make([]specs.LinuxNamespace, 0, len(paths))
	for t := range paths {
		nss = append(nss, specs.LinuxNamespace{Type: t})
	}
	plan, err := planNamespaces(nss, paths)
	if err != nil {
		return -1, err
	}
	defer plan.close()

	var consoleSock, local *os.File
	switch {
	case p.Terminal && o.ConsoleSocket != "":
		if consoleSock, err = dialUnix(o.ConsoleSocket); err != nil {
			return -1, fmt.Errorf("console socket: %w", err)
		}
	case p.Terminal && o.Detach:
		return -1, errors.New("cannot allocate a tty without --console-socket when the runtime detaches")
	case p.Terminal:
		if local, consoleSock, err = socketPair(); err != nil {
			return -1, err
		}
		defer local.Close()
	}
	if plan.cgroup, err = cgroups.Load(c.CgroupPaths); err != nil {
		return -1, fmt.Errorf("container %s: %w", id, err)
	}
	b := &bootstrap{Mode: "exec", ID: id, Bundle: c.Bundle, Spec: c.Spec, Process: p, ExtraFds: o.PreserveFDs}
	ch, err := startInit(b, plan, nil, consoleSock, o.PreserveFDs, o.Stdin, o.Stdout, o.Stderr)
	if consoleSock != nil {
		consoleSock.Close()
	}
	if err != nil {
		return -1, err
	}
	defer ch.conn.Close()
	fail := func(err error) (int, error) {
		ch.kill()
		return -1, err
	}
	b.HostPid = ch.cmd.Process.Pid
	if err := ch.conn.send(b); err != nil {
		return fail(err)
	}
	if err := ch.conn.expect(msgReady); err != nil {
		return fail(err)
	}
	if err := ch.conn.waitExec(); err != nil {
		return fail(err)
	}
	if err := writePidFile(o.PidFile, ch.cmd.Process.Pid); err != nil {
		return fail(err)
	}
	var pty *os.File
	if local != nil {
		if pty, err = recvFd(local); err != nil {
			return fail(err)
		}
		defer pty.Close()
	}
	if o.Detach {
		return 0, ch.cmd.Process.Release()
	}
	return superviseProcess(ch.cmd, pty, o.Stdin, o.Stdout, relay.C), nil
}
