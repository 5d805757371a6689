package shim

import (
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/network"
	"github.com/berth-dev/berth/internal/network/dns"
)

// The container's DNS resolver (package dns) is the shim's to run: a
// container on a user-defined network has a resolver file in its bundle
// (network setup writes it), and its shim binds the resolver's sockets
// in the container's network namespace before the container starts
// (listenResolver), keeps them across its re-executions and restarts,
// and serves them while it supervises (startResolver). A running
// container connected to its first user-defined network gets one on
// request (AttachRequest.Op "resolver").

// listenResolver binds the resolver's sockets when the container has a
// resolver file and the shim has no sockets yet.
func (h *handoff) listenResolver() error {
	if len(h.DNS) > 0 {
		return nil
	}
	if _, err := os.Stat(filepath.Join(h.Config.Bundle, dns.ConfigName)); err != nil {
		return nil
	}
	udp, tcp, err := dns.Listen((&network.Manager{Root: h.Config.Root}).NetNSPath(h.Config.ID))
	if err != nil {
		return err
	}
	h.DNS = []int{keep(udp), keep(tcp)}
	return nil
}

// startResolver serves the resolver on the shim's sockets, if it has
// them, in the background.
func (h *handoff) startResolver() error {
	if len(h.DNS) != 2 || h.dnsServing {
		return nil
	}
	// From copies, as the attach listener: an *os.File of the handoff's
	// own descriptor would close it when collected, and a restart's
	// re-exec hands that one over. Start makes copies of its own.
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	for _, fd := range h.DNS {
		dup, err := unix.Dup(fd)
		if err != nil {
			return &os.SyscallError{Syscall: "dup", Err: err}
		}
		unix.CloseOnExec(dup)
		files = append(files, os.NewFile(uintptr(dup), "dns"))
	}
	r := &dns.Resolver{Self: h.Config.ID, Dir: network.NamesDir(h.Config.Root), Config: filepath.Join(h.Config.Bundle, dns.ConfigName)}
	if err := r.Start(files[0], files[1]); err != nil {
		return err
	}
	h.dnsServing = true
	return nil
}
