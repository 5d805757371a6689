package dns

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// Limits on what a container can make its resolver do.
const (
	ttl            = 600              // seconds, Docker's for container names
	udpMaxAnswer   = 512              // without EDNS0; a longer answer is truncated
	udpMaxQuestion = 4096             // EDNS0's usual limit
	forwardTimeout = 4 * time.Second  // per upstream server, as Docker's
	tcpIdleTimeout = 10 * time.Second // a TCP client that says nothing is dropped
	maxForwards    = 64               // forwards in flight
	maxTCPConns    = 32               // TCP clients at once
)

// Resolver answers for one container (Self).
type Resolver struct {
	Self   string // the container's full ID
	Dir    string // the names files, one per network
	Config string // the resolver file: the upstream servers

	forwards chan struct{} // a token per forward in flight
	conns    chan struct{} // a token per TCP client

	mu      sync.Mutex
	watch   watcher
	loaded  bool
	names   map[string][]netip.Addr // lower-case name → addresses
	reverse map[netip.Addr]string   // address → "name.network."
}

// Serve answers the questions that come on udp and tcp until both are
// closed (either may be nil).
func (r *Resolver) Serve(udp net.PacketConn, tcp net.Listener) {
	r.forwards = make(chan struct{}, maxForwards)
	r.conns = make(chan struct{}, maxTCPConns)
	r.watch = newWatcher(r.Dir)
	var wg sync.WaitGroup
	if udp != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.serveUDP(udp)
		}()
	}
	if tcp != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.serveTCP(tcp)
		}()
	}
	wg.Wait()
}

func (r *Resolver) serveUDP(c net.PacketConn) {
	// Larger datagrams are cut, fail to parse and get no answer.
	buf := make([]byte, udpMaxQuestion)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		q := append([]byte(nil), buf[:n]...)
		if resp, forward := r.answer(q, udpMaxAnswer); !forward {
			if resp != nil {
				c.WriteTo(resp, from)
			}
			continue
		}
		select {
		case r.forwards <- struct{}{}:
			go func() {
				defer func() { <-r.forwards }()
				if resp := r.forward(q, false); resp != nil {
					c.WriteTo(resp, from)
				}
			}()
		default: // too many in flight: the client will retry
		}
	}
}

func (r *Resolver) serveTCP(l net.Listener) {
	for {
		conn, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		select {
		case r.conns <- struct{}{}:
			go func() {
				defer func() { <-r.conns }()
				r.serveConn(conn)
			}()
		default:
			conn.Close()
		}
	}
}

// serveConn answers the length-prefixed questions of one TCP client.
func (r *Resolver) serveConn(conn net.Conn) {
	defer conn.Close()
	for {
		conn.SetDeadline(time.Now().Add(tcpIdleTimeout))
		q, err := readTCP(conn)
		if err != nil {
			return
		}
		resp, forward := r.answer(q, 65535)
		if forward {
			resp = r.forward(q, true)
		}
		if resp == nil {
			return
		}
		if err := writeTCP(conn, resp); err != nil {
			return
		}
	}
}

func readTCP(c io.Reader) ([]byte, error) {
	var l [2]byte
	if _, err := io.ReadFull(c, l[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint16(l[:])
	if n < 12 {
		return nil, errors.New("dns: message shorter than a header")
	}
	msg := make([]byte, n)
	_, err := io.ReadFull(c, msg)
	return msg, err
}

func writeTCP(c io.Writer, msg []byte) error {
	out := make([]byte, 2+len(msg))
	binary.BigEndian.PutUint16(out, uint16(len(msg)))
	copy(out[2:], msg)
	_, err := c.Write(out)
	return err
}

// answer answers query q from the names it knows, in at most max bytes;
// forward says it is one for the upstream servers instead. A nil answer
// is no answer (something that is not a question).
func (r *Resolver) answer(q []byte, max int) (resp []byte, forward bool) {
	var p dnsmessage.Parser
	h, err := p.Start(q)
	if err != nil || h.Response {
		return nil, false
	}
	qs, err := p.AllQuestions()
	if err != nil || len(qs) != 1 {
		return reply(h, nil, dnsmessage.RCodeFormatError, nil, max), false
	}
	if h.OpCode != 0 {
		return reply(h, qs, dnsmessage.RCodeNotImplemented, nil, max), false
	}
	question := qs[0]
	if question.Class != dnsmessage.ClassINET {
		return nil, true
	}
	name := strings.ToLower(strings.TrimSuffix(question.Name.String(), "."))
	r.refresh()
	r.mu.Lock()
	addrs, known := r.names[name]
	var ptr string
	if question.Type == dnsmessage.TypePTR {
		if a, ok := ptrAddr(name); ok {
			ptr, known = r.reverse[a], r.reverse[a] != ""
		}
	}
	r.mu.Unlock()
	if !known {
		return nil, true
	}
	var answers []dnsmessage.Resource
	hdr := dnsmessage.ResourceHeader{Name: question.Name, Class: dnsmessage.ClassINET, TTL: ttl}
	switch question.Type {
	case dnsmessage.TypeA, dnsmessage.TypeAAAA, dnsmessage.TypeALL:
		for _, a := range addrs {
			switch {
			case a.Is4() && question.Type != dnsmessage.TypeAAAA:
				answers = append(answers, dnsmessage.Resource{Header: hdr, Body: &dnsmessage.AResource{A: a.As4()}})
			case a.Is6() && question.Type != dnsmessage.TypeA:
				answers = append(answers, dnsmessage.Resource{Header: hdr, Body: &dnsmessage.AAAAResource{AAAA: a.As16()}})
			}
		}
	case dnsmessage.TypePTR:
		if ptr != "" {
			n, err := dnsmessage.NewName(ptr)
			if err == nil {
				answers = append(answers, dnsmessage.Resource{Header: hdr, Body: &dnsmessage.PTRResource{PTR: n}})
			}
		}
	}
	// A name of the network's with no record of the type asked (AAAA on
	// networks without IPv6, MX): no data, not an error, so that the
	// client does not ask elsewhere.
	return reply(h, qs, dnsmessage.RCodeSuccess, answers, max), false
}

// reply builds an answer to the question with header h; one longer than
// max bytes loses its answers and says it was truncated.
func reply(h dnsmessage.Header, qs []dnsmessage.Question, rcode dnsmessage.RCode, answers []dnsmessage.Resource, max int) []byte {
	out, err := build(h, qs, rcode, answers, false)
	if err == nil && len(out) > max {
		out, err = build(h, qs, rcode, nil, true)
	}
	if err != nil {
		return nil
	}
	return out
}

func build(h dnsmessage.Header, qs []dnsmessage.Question, rcode dnsmessage.RCode, answers []dnsmessage.Resource, truncated bool) ([]byte, error) {
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{
		ID: h.ID, Response: true, OpCode: h.OpCode, RecursionDesired: h.RecursionDesired,
		RecursionAvailable: true, Truncated: truncated, RCode: rcode,
	})
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	for _, q := range qs {
		if err := b.Question(q); err != nil {
			return nil, err
		}
	}
	if err := b.StartAnswers(); err != nil {
		return nil, err
	}
	for _, a := range answers {
		var err error
		switch body := a.Body.(type) {
		case *dnsmessage.AResource:
			err = b.AResource(a.Header, *body)
		case *dnsmessage.AAAAResource:
			err = b.AAAAResource(a.Header, *body)
		case *dnsmessage.PTRResource:
			err = b.PTRResource(a.Header, *body)
		}
		if err != nil {
			return nil, err
		}
	}
	return b.Finish()
}

// ptrAddr is the address of a reverse name: d.c.b.a.in-addr.arpa, or
// the 32 nibbles of an IPv6 address, last first, then ip6.arpa.
func ptrAddr(name string) (netip.Addr, bool) {
	if rest, ok := strings.CutSuffix(name, ".ip6.arpa"); ok {
		p := strings.Split(rest, ".")
		if len(p) != 32 {
			return netip.Addr{}, false
		}
		var b strings.Builder
		for i := 31; i >= 0; i-- {
			if len(p[i]) != 1 || !strings.Contains("0123456789abcdef", p[i]) {
				return netip.Addr{}, false
			}
			b.WriteString(p[i])
			if i%4 == 0 && i > 0 {
				b.WriteByte(':')
			}
		}
		a, err := netip.ParseAddr(b.String())
		return a, err == nil && a.Is6()
	}
	rest, ok := strings.CutSuffix(name, ".in-addr.arpa")
	if !ok {
		return netip.Addr{}, false
	}
	p := strings.Split(rest, ".")
	if len(p) != 4 {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(p[3] + "." + p[2] + "." + p[1] + "." + p[0])
	return a, err == nil && a.Is4()
}

// forward asks the upstream servers, in order, and returns the first
// answer to q (nil when none answered: the client retries or gives up),
// or SERVFAIL when there is no server to ask.
func (r *Resolver) forward(q []byte, tcp bool) []byte {
	servers := readConfig(r.Config).Servers
	if len(servers) == 0 {
		var p dnsmessage.Parser
		h, err := p.Start(q)
		if err != nil {
			return nil
		}
		qs, _ := p.AllQuestions()
		return reply(h, qs, dnsmessage.RCodeServerFailure, nil, udpMaxAnswer)
	}
	id := binary.BigEndian.Uint16(q)
	for _, s := range servers {
		resp, err := exchange(netip.AddrPortFrom(s, 53), q, tcp)
		if err != nil || len(resp) < 12 || binary.BigEndian.Uint16(resp) != id || resp[2]&0x80 == 0 {
			continue
		}
		return resp
	}
	return nil
}

// exchange sends q to server and reads its answer.
func exchange(server netip.AddrPort, q []byte, tcp bool) ([]byte, error) {
	network := "udp"
	if tcp {
		network = "tcp"
	}
	c, err := net.DialTimeout(network, server.String(), forwardTimeout)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(forwardTimeout))
	if tcp {
		if err := writeTCP(c, q); err != nil {
			return nil, err
		}
		return readTCP(c)
	}
	if _, err := c.Write(q); err != nil {
		return nil, err
	}
	buf := make([]byte, 65535)
	n, err := c.Read(buf)
	if err != nil {
		return nil, err
	}
	return buf[:n], nil
}

// refresh rereads the names files when they changed since the last look
// (or always, without a watcher).
func (r *Resolver) refresh() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.loaded && !r.watch.changed() {
		return
	}
	r.names, r.reverse = map[string][]netip.Addr{}, map[netip.Addr]string{}
	r.loaded = true
	entries, err := os.ReadDir(r.Dir)
	if err != nil {
		return
	}
	conf := readConfig(r.Config)
	links := conf.Links
	for _, e := range entries {
		if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		f, err := os.Open(filepath.Join(r.Dir, e.Name()))
		if err != nil {
			continue
		}
		recs := Parse(io.LimitReader(f, 16<<20))
		f.Close()
		mine := false
		for _, rec := range recs {
			mine = mine || rec.ContainerID == r.Self
		}
		if !mine {
			continue
		}
		network := strings.ToLower(e.Name())
		for _, rec := range recs {
			for _, n := range rec.Names {
				// NAME and NAME.NETWORK, as Docker's.
				n = strings.ToLower(n)
				r.names[n] = appendNew(r.names[n], rec.IP)
				r.names[n+"."+network] = appendNew(r.names[n+"."+network], rec.IP)
			}
			for alias, ref := range links {
				if n := conf.LinkNetworks[alias]; n != "" && !strings.EqualFold(n, e.Name()) {
					continue // a link of another network's endpoint
				}
				if ref == rec.ContainerID || ref == rec.Names[0] {
					r.names[alias] = appendNew(r.names[alias], rec.IP)
				}
			}
			if _, ok := r.reverse[rec.IP]; !ok {
				r.reverse[rec.IP] = rec.Names[0] + "." + e.Name() + "."
			}
		}
	}
}

func appendNew(s []netip.Addr, a netip.Addr) []netip.Addr {
	for _, x := range s {
		if x == a {
			return s
		}
	}
	return append(s, a)
}
