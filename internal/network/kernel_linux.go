package network

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// ensureBridge creates bridge b (and gives it its address) unless it is
// there, brings it up, and lets it route loopback-sourced packets (for
// published ports reached at 127.0.0.1). A new bridge's subnet must not
// overlap a route the host has. Its MTU is mtu, or LocalMTU for 0, set
// whenever it has no port (veths take their bridge's MTU when made).
func ensureBridge(b Bridge, mtu int) error {
	if mtu == 0 {
		mtu = LocalMTU
	}
	l, err := netlink.LinkByName(b.Name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if !errors.As(err, &nf) {
			return fmt.Errorf("bridge %s: %w", b.Name, err)
		}
		if err := checkOverlap(b); err != nil {
			return err
		}
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: b.Name}} // the MTU below
		if err := netlink.LinkAdd(br); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("create bridge %s: %w", b.Name, err)
		}
		if l, err = netlink.LinkByName(b.Name); err != nil {
			return fmt.Errorf("bridge %s: %w", b.Name, err)
		}
	}
	if l.Type() != "bridge" {
		return fmt.Errorf("%s exists and is not a bridge (%s)", b.Name, l.Type())
	}
	// An MTU given at creation is not "set by the user" for the kernel: a
	// bridge follows its smallest port's and falls back to 1500 once the
	// last one goes. Set through the link, it stays. A bridge with
	// containers on it keeps its MTU: the veths of one bridge must agree.
	if l.Attrs().MTU != mtu && !hasPorts(l) {
		if err := netlink.LinkSetMTU(l, mtu); err != nil {
			return fmt.Errorf("bridge %s: MTU %d: %w", b.Name, mtu, err)
		}
	}
	gw := &netlink.Addr{IPNet: ipNet(b.Gateway, b.Subnet.Bits())}
	if err := netlink.AddrAdd(l, gw); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("bridge %s: address %s: %w", b.Name, gw.IPNet, err)
	}
	if b.IPv6() {
		if _, err := os.Stat("/proc/sys/net/ipv6"); err != nil {
			return fmt.Errorf("bridge %s: the host has no IPv6 (ipv6.disable=1 or no ipv6 module): %w", b.Name, err)
		}
		// Without duplicate address detection: the address is usable at
		// once, and nobody else is on a new bridge.
		if err := writeSysctl("/proc/sys/net/ipv6/conf/"+b.Name+"/disable_ipv6", "0"); err != nil {
			return err
		}
		gw6 := &netlink.Addr{IPNet: ipNet(b.Gateway6, b.Subnet6.Bits()), Flags: unix.IFA_F_NODAD}
		if err := netlink.AddrAdd(l, gw6); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("bridge %s: address %s: %w", b.Name, gw6.IPNet, err)
		}
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return fmt.Errorf("bridge %s: up: %w", b.Name, err)
	}
	for file, want := range map[string]string{
		"/proc/sys/net/ipv4/conf/" + b.Name + "/route_localnet": "1",
		"/proc/sys/net/ipv4/ip_forward":                         "1",
	} {
		if err := writeSysctl(file, want); err != nil {
			return err
		}
	}
	if b.IPv6() {
		return enableIPv6Forwarding()
	}
	return nil
}

// enableIPv6Forwarding turns IPv6 forwarding on, as Docker does once a
// network has IPv6 (it stays on, as ip_forward does). Forwarding makes
// the kernel ignore router advertisements on interfaces whose accept_ra
// is 1, which would cut a host that gets its IPv6 default route from
// them: such an interface (accept_ra 1 and a default route learned from
// an advertisement) gets accept_ra 2 first, "accept them even when
// forwarding". Docker leaves that to the administrator; berth does it
// rather than cut the host off. Nothing else is touched.
func enableIPv6Forwarding() error {
	const all = "/proc/sys/net/ipv6/conf/all/forwarding"
	if cur, err := os.ReadFile(all); err == nil && strings.TrimSpace(string(cur)) == "1" {
		return nil
	}
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V6)
	if err != nil {
		return fmt.Errorf("host IPv6 routes: %w", err)
	}
	for _, r := range routes {
		if r.Protocol != unix.RTPROT_RA || (r.Dst != nil && !r.Dst.IP.IsUnspecified()) {
			continue
		}
		l, err := netlink.LinkByIndex(r.LinkIndex)
		if err != nil {
			continue
		}
		file := "/proc/sys/net/ipv6/conf/" + l.Attrs().Name + "/accept_ra"
		if cur, err := os.ReadFile(file); err == nil && strings.TrimSpace(string(cur)) == "1" {
			if err := writeSysctl(file, "2"); err != nil {
				return err
			}
		}
	}
	return writeSysctl(all, "1")
}

// hasPorts says whether any link is enslaved to bridge br.
func hasPorts(br netlink.Link) bool {
	links, err := netlink.LinkList()
	if err != nil {
		return true // can't tell: leave the bridge as it is
	}
	for _, l := range links {
		if l.Attrs().MasterIndex == br.Attrs().Index {
			return true
		}
	}
	return false
}

// uplinkMTU is the smallest MTU of the links the host's IPv4 default
// routes go through (a route's own MTU where it has one): what a packet
// leaving the machine can carry. 1500 when the host has no default route.
func uplinkMTU() int {
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return 1500
	}
	mtu := 0
	for _, r := range routes {
		if r.Dst != nil {
			if ones, _ := r.Dst.Mask.Size(); ones > 0 {
				continue
			}
		}
		m := r.MTU
		if m == 0 {
			l, err := netlink.LinkByIndex(r.LinkIndex)
			if err != nil {
				continue
			}
			m = l.Attrs().MTU
		}
		if m > 0 && (mtu == 0 || m < mtu) {
			mtu = m
		}
	}
	if mtu == 0 {
		return 1500
	}
	return mtu
}

// hostRoutes are the destinations of the host's IPv4 and IPv6 routes
// other than default routes (and IPv6's link-local and multicast ones).
func hostRoutes() ([]netip.Prefix, error) {
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("host routes: %w", err)
	}
	var out []netip.Prefix
	for _, r := range routes {
		if r.Dst == nil {
			continue
		}
		ones, _ := r.Dst.Mask.Size()
		if a, ok := netip.AddrFromSlice(r.Dst.IP.To4()); ok && ones > 0 {
			out = append(out, netip.PrefixFrom(a, ones).Masked())
		}
	}
	routes6, err := netlink.RouteList(nil, netlink.FAMILY_V6)
	if err != nil {
		return nil, fmt.Errorf("host IPv6 routes: %w", err)
	}
	for _, r := range routes6 {
		if r.Dst == nil {
			continue
		}
		ones, bits := r.Dst.Mask.Size()
		a, ok := netip.AddrFromSlice(r.Dst.IP)
		if !ok || bits != 128 || ones == 0 || a.IsLinkLocalUnicast() || a.IsMulticast() {
			continue
		}
		out = append(out, netip.PrefixFrom(a, ones).Masked())
	}
	return out, nil
}

// checkOverlap refuses a subnet that overlaps one of the host's routes
// (other than a default route).
func checkOverlap(b Bridge) error {
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("host routes: %w", err)
	}
	for _, r := range routes {
		if r.Dst == nil {
			continue
		}
		ones, _ := r.Dst.Mask.Size()
		a, ok := netip.AddrFromSlice(r.Dst.IP.To4())
		if !ok || ones == 0 {
			continue
		}
		if netip.PrefixFrom(a, ones).Overlaps(b.Subnet) {
			dev := ""
			if l, err := netlink.LinkByIndex(r.LinkIndex); err == nil {
				dev = " on " + l.Attrs().Name
			}
			return fmt.Errorf("bridge %s: subnet %s overlaps the host's route to %s%s: choose another with BERTH_BRIDGE_SUBNET", b.Name, b.Subnet, r.Dst, dev)
		}
	}
	return nil
}

func writeSysctl(file, value string) error {
	cur, err := os.ReadFile(file)
	if err == nil && strings.TrimSpace(string(cur)) == value {
		return nil
	}
	if err := os.WriteFile(file, []byte(value), 0o644); err != nil {
		return fmt.Errorf("sysctl: %w", err)
	}
	return nil
}

func ipNet(a netip.Addr, bits int) *net.IPNet {
	return &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(bits, a.BitLen())}
}

// createNetNS makes a new network namespace that lives on without any
// process, bind-mounted on path (an nsfs file, as `ip netns add` does),
// with lo up and Docker's sysctls of a container's own namespace:
// unprivileged low ports and ping. A namespace already there is replaced.
func createNetNS(path string) error {
	removeNetNS(path)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		return err
	}
	f.Close()
	errc := make(chan error, 1)
	go func() {
		// unshare changes this thread only; it goes back to the host's
		// namespace before it runs anything else, or dies with this
		// goroutine (a goroutine that exits locked ends its thread).
		goruntime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			goruntime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			goruntime.UnlockOSThread()
			errc <- &os.SyscallError{Syscall: "unshare(CLONE_NEWNET)", Err: err}
			return
		}
		err = unix.Mount("/proc/thread-self/ns/net", path, "", unix.MS_BIND, "")
		if err != nil {
			err = fmt.Errorf("bind-mount the network namespace on %s: %w", path, err)
		} else {
			err = setupInside()
		}
		if serr := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); serr != nil {
			errc <- errors.Join(err, &os.SyscallError{Syscall: "setns back", Err: serr})
			return // the thread dies locked
		}
		goruntime.UnlockOSThread()
		errc <- err
	}()
	if err := <-errc; err != nil {
		removeNetNS(path)
		return err
	}
	return nil
}

// setupInside runs on a thread inside a new namespace: lo up, sysctls.
func setupInside() error {
	if err := loUp(); err != nil {
		return err
	}
	for file, v := range map[string]string{
		"/proc/sys/net/ipv4/ip_unprivileged_port_start": "0",
		"/proc/sys/net/ipv4/ping_group_range":           "0 2147483647",
	} {
		if _, err := os.Stat(file); err == nil {
			if err := os.WriteFile(file, []byte(v), 0o644); err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
		}
	}
	return nil
}

// loUp brings up the loopback interface of this thread's network
// namespace, with the ioctl ifconfig uses: one call, where netlink's
// first use in a process (a `run --network none`) costs a few tenths of
// a millisecond.
func loUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("lo up: %w", &os.SyscallError{Syscall: "socket", Err: err})
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return fmt.Errorf("lo up: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("lo: %w", &os.SyscallError{Syscall: "ioctl(SIOCGIFFLAGS)", Err: err})
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("lo up: %w", &os.SyscallError{Syscall: "ioctl(SIOCSIFFLAGS)", Err: err})
	}
	return nil
}

// removeNetNS unmounts and removes a namespace made by createNetNS (no
// error when it is gone).
func removeNetNS(path string) error {
	for {
		err := unix.Unmount(path, unix.MNT_DETACH)
		if err != nil {
			break // EINVAL: not (or no longer) a mount point
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// VethName is the host end of the veth pair whose container end is
// container id's interface ifname: veth<11 of the ID> for eth0, as
// before containers had several; veth<8 of the ID>.<n> for eth<n>.
func VethName(id, ifname string) string {
	n, ok := strings.CutPrefix(ifname, "eth")
	if !ok || n == "0" || n == "" {
		return "veth" + id[:min(11, len(id))]
	}
	return "veth" + id[:min(8, len(id))] + "." + n
}

// setupVeth connects the namespace at nsPath to bridge b: a veth pair
// whose host end is on the bridge and whose other end is the container's
// ep.IfName, with its addresses, MAC and default routes through the
// bridge (IPv4 with route4, IPv6 with route6 when ep has an IPv6
// address).
func setupVeth(b Bridge, ep *Endpoint, nsPath string, route4, route6 bool) error {
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		return fmt.Errorf("network namespace %s: %w", nsPath, err)
	}
	defer ns.Close()
	br, err := netlink.LinkByName(b.Name)
	if err != nil {
		return fmt.Errorf("bridge %s: %w", b.Name, err)
	}
	name := VethName(ep.ContainerID, ep.IfName)
	deleteLink(name) // a leftover of a crash
	mac, err := net.ParseMAC(ep.MAC)
	if err != nil {
		return err
	}
	veth := &netlink.Veth{
		LinkAttrs:        netlink.LinkAttrs{Name: name, MasterIndex: br.Attrs().Index, MTU: br.Attrs().MTU},
		PeerName:         ep.IfName,
		PeerHardwareAddr: mac,
		PeerNamespace:    netlink.NsFd(int(ns)),
	}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("veth %s: %w", name, err)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("netlink in %s: %w", nsPath, err)
	}
	defer h.Close()
	eth0, err := h.LinkByName(ep.IfName)
	if err != nil {
		return fmt.Errorf("%s: %w", ep.IfName, err)
	}
	if err := h.AddrAdd(eth0, &netlink.Addr{IPNet: ipNet(ep.IP, ep.PrefixLen)}); err != nil {
		return fmt.Errorf("eth0: address %s: %w", ep.IP, err)
	}
	if ep.IP6.IsValid() {
		// No duplicate address detection: the address is the network's
		// to give, and usable at once (Docker's nodad too).
		if err := h.AddrAdd(eth0, &netlink.Addr{IPNet: ipNet(ep.IP6, ep.PrefixLen6), Flags: unix.IFA_F_NODAD}); err != nil {
			return fmt.Errorf("%s: address %s: %w", ep.IfName, ep.IP6, err)
		}
	}
	if err := h.LinkSetUp(eth0); err != nil {
		return fmt.Errorf("eth0 up: %w", err)
	}
	// An internal network's containers get no default route: no way out
	// but the bridge's subnet. On a bridge of LocalMTU the default route
	// has the host's uplink MTU: only the bridge's own subnet (the other
	// containers, the host through the gateway) sees the large one.
	mtu := 0
	if br.Attrs().MTU == LocalMTU && (route4 || route6) {
		mtu = uplinkMTU()
	}
	if route4 {
		route := &netlink.Route{LinkIndex: eth0.Attrs().Index, Gw: ep.Gateway.AsSlice(), MTU: mtu}
		if err := h.RouteAdd(route); err != nil {
			return fmt.Errorf("eth0: default route via %s: %w", ep.Gateway, err)
		}
	}
	if route6 && ep.IP6.IsValid() {
		route := &netlink.Route{LinkIndex: eth0.Attrs().Index, Gw: ep.Gateway6.AsSlice(), MTU: mtu}
		if err := h.RouteAdd(route); err != nil {
			return fmt.Errorf("%s: default route via %s: %w", ep.IfName, ep.Gateway6, err)
		}
	}
	host, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("veth %s: %w", name, err)
	}
	if err := netlink.LinkSetUp(host); err != nil {
		return fmt.Errorf("veth %s up: %w", name, err)
	}
	return nil
}

// deleteLink removes a link of the host's by name, if it is there.
func deleteLink(name string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return nil
	}
	return netlink.LinkDel(l)
}

// DeleteBridge removes bridge b and its nft table (tests clean up so).
func DeleteBridge(b Bridge) error {
	return errors.Join(deleteLink(b.Name), applyNft(DeleteScript(b)))
}

// applyNft runs an nft script in one transaction.
func applyNft(script string) error {
	cmd := exec.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return errors.New("nft not found: berth needs nftables (the nft command) for container networking")
		}
		return fmt.Errorf("nft: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// HostPortFree is a PortFree that tries to bind the port on the host.
func HostPortFree(proto string, ip netip.Addr, port uint16) bool {
	addr := netip.AddrPortFrom(ip, port).String()
	family := "4"
	if ip.Is6() {
		family = "6" // IPV6_V6ONLY: [::] does not cover 0.0.0.0
	}
	switch proto {
	case "tcp":
		l, err := net.Listen("tcp"+family, addr)
		if err != nil {
			return false
		}
		l.Close()
	case "udp":
		c, err := net.ListenPacket("udp"+family, addr)
		if err != nil {
			return false
		}
		c.Close()
	}
	return true
}
