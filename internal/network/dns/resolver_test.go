package dns

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

func TestFormatParseNames(t *testing.T) {
	id := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	names := Names("web", []string{"www", "web", "with space"}, id, "0123456789ab")
	if want := []string{"web", "www", "0123456789ab"}; !slices.Equal(names, want) {
		t.Errorf("Names: %q, want %q", names, want)
	}
	recs := []Record{{ContainerID: id, IP: netip.MustParseAddr("10.0.0.2"), Names: names}}
	data := Format("net1", recs)
	got := Parse(bytes.NewReader(append(data, "garbage line\nid notanip name\n"...)))
	if len(got) != 1 || got[0].ContainerID != id || got[0].IP != recs[0].IP || !slices.Equal(got[0].Names, names) {
		t.Errorf("Parse(Format) = %+v", got)
	}
}

// testResolver is a resolver for container "self" over two networks:
// net1 (self, peer, and "many", an alias of 40 containers) and net2
// (stranger only, so not self's).
func testResolver(t testing.TB) *Resolver {
	dir := t.TempDir()
	var net1 []Record
	net1 = append(net1, Record{ContainerID: "self", IP: netip.MustParseAddr("10.0.0.2"), Names: []string{"me"}},
		Record{ContainerID: "peer", IP: netip.MustParseAddr("10.0.0.3"), Names: []string{"peer", "Alias"}},
		Record{ContainerID: "dual", IP: netip.MustParseAddr("10.0.0.4"), Names: []string{"dual"}},
		Record{ContainerID: "dual", IP: netip.MustParseAddr("fd62:6572:7468::4"), Names: []string{"dual"}})
	for i := 0; i < 40; i++ {
		net1 = append(net1, Record{ContainerID: fmt.Sprint("m", i), IP: netip.AddrFrom4([4]byte{10, 0, 1, byte(i)}), Names: []string{"many"}})
	}
	write(t, dir, "net1", Format("net1", net1))
	write(t, dir, "net2", Format("net2", []Record{{ContainerID: "stranger", IP: netip.MustParseAddr("10.9.0.2"), Names: []string{"stranger"}}}))
	r := &Resolver{Self: "self", Dir: dir, Config: filepath.Join(dir, "missing")}
	r.watch = newWatcher(dir)
	return r
}

func write(t testing.TB, dir, name string, data []byte) {
	t.Helper()
	tmp := filepath.Join(dir, "."+name)
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

func query(t testing.TB, name string, typ dnsmessage.Type, edit func(*dnsmessage.Header)) []byte {
	t.Helper()
	h := dnsmessage.Header{ID: 0x4242, RecursionDesired: true}
	if edit != nil {
		edit(&h)
	}
	b := dnsmessage.NewBuilder(nil, h)
	b.StartQuestions()
	b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(name), Type: typ, Class: dnsmessage.ClassINET})
	out, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// parsed is an answer as the tests look at it.
type parsed struct {
	h       dnsmessage.Header
	answers []string
}

func parse(t *testing.T, resp []byte) parsed {
	t.Helper()
	var m dnsmessage.Message
	if err := m.Unpack(resp); err != nil {
		t.Fatalf("unpack the answer: %v", err)
	}
	var out parsed
	out.h = m.Header
	for _, a := range m.Answers {
		switch b := a.Body.(type) {
		case *dnsmessage.AResource:
			out.answers = append(out.answers, netip.AddrFrom4(b.A).String())
		case *dnsmessage.AAAAResource:
			out.answers = append(out.answers, netip.AddrFrom16(b.AAAA).String())
		case *dnsmessage.PTRResource:
			out.answers = append(out.answers, b.PTR.String())
		}
	}
	return out
}

// TestAnswer: names of self's networks are answered (any case, with or
// without the final dot), other networks' and unknown names go to the
// upstream servers, AAAA of a known name is its IPv6 address (empty
// without one), A never is, PTR names the container on its network (from
// either address), too long an answer is truncated, and
// malformed or odd packets get no answer or an error code.
func TestAnswer(t *testing.T) {
	r := testResolver(t)
	for _, c := range []struct {
		name string
		typ  dnsmessage.Type
		want []string
	}{
		{"peer.", dnsmessage.TypeA, []string{"10.0.0.3"}},
		{"ALIAS.", dnsmessage.TypeA, []string{"10.0.0.3"}},
		{"peer.net1.", dnsmessage.TypeA, []string{"10.0.0.3"}},
		{"me.", dnsmessage.TypeA, []string{"10.0.0.2"}},
		{"peer.", dnsmessage.TypeAAAA, nil},
		{"3.0.0.10.in-addr.arpa.", dnsmessage.TypePTR, []string{"peer.net1."}},
		{"dual.", dnsmessage.TypeA, []string{"10.0.0.4"}},
		{"dual.net1.", dnsmessage.TypeAAAA, []string{"fd62:6572:7468::4"}},
		{"dual.", dnsmessage.TypeALL, []string{"10.0.0.4", "fd62:6572:7468::4"}},
		{"4.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.6.4.7.2.7.5.6.2.6.d.f.ip6.arpa.", dnsmessage.TypePTR, []string{"dual.net1."}},
	} {
		resp, fwd := r.answer(query(t, c.name, c.typ, nil), udpMaxAnswer)
		if fwd || resp == nil {
			t.Errorf("%s %v: forwarded %v, answer %v", c.name, c.typ, fwd, resp)
			continue
		}
		p := parse(t, resp)
		if p.h.ID != 0x4242 || !p.h.Response || p.h.RCode != dnsmessage.RCodeSuccess || !slices.Equal(p.answers, c.want) {
			t.Errorf("%s %v: %+v %q, want %q", c.name, c.typ, p.h, p.answers, c.want)
		}
	}
	for _, name := range []string{"stranger.", "stranger.net2.", "peer.net2.", "example.com.", "2.0.9.10.in-addr.arpa."} {
		if _, fwd := r.answer(query(t, name, dnsmessage.TypeA, nil), udpMaxAnswer); !fwd {
			t.Errorf("%s is not forwarded", name)
		}
	}
	// 40 addresses fit in TCP's limit, not in 512 bytes of UDP.
	resp, _ := r.answer(query(t, "many.", dnsmessage.TypeA, nil), 65535)
	if p := parse(t, resp); len(p.answers) != 40 || p.h.Truncated {
		t.Errorf("many over TCP: %d answers, truncated %v", len(p.answers), p.h.Truncated)
	}
	resp, _ = r.answer(query(t, "many.", dnsmessage.TypeA, nil), udpMaxAnswer)
	if p := parse(t, resp); len(p.answers) != 0 || !p.h.Truncated || len(resp) > udpMaxAnswer {
		t.Errorf("many over UDP: %d answers, truncated %v, %d bytes", len(p.answers), p.h.Truncated, len(resp))
	}

	// Not questions, or not ones it answers.
	q := query(t, "peer.", dnsmessage.TypeA, nil)
	for name, bad := range map[string][]byte{"empty": nil, "short": q[:5], "cut": q[:len(q)-3], "garbage": bytes.Repeat([]byte{0xff}, 40)} {
		if resp, fwd := r.answer(bad, udpMaxAnswer); fwd || (resp != nil && parse(t, resp).h.RCode == dnsmessage.RCodeSuccess) {
			t.Errorf("%s packet: forwarded %v, answer %v", name, fwd, resp)
		}
	}
	if resp, fwd := r.answer(query(t, "peer.", dnsmessage.TypeA, func(h *dnsmessage.Header) { h.Response = true }), udpMaxAnswer); resp != nil || fwd {
		t.Error("a response was answered")
	}
	if resp, _ := r.answer(query(t, "peer.", dnsmessage.TypeA, func(h *dnsmessage.Header) { h.OpCode = 2 }), udpMaxAnswer); parse(t, resp).h.RCode != dnsmessage.RCodeNotImplemented {
		t.Error("a status query is not NOTIMP")
	}
	two := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 1})
	two.StartQuestions()
	for _, n := range []string{"peer.", "me."} {
		two.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(n), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET})
	}
	msg, _ := two.Finish()
	if resp, _ := r.answer(msg, udpMaxAnswer); parse(t, resp).h.RCode != dnsmessage.RCodeFormatError {
		t.Error("two questions are not FORMERR")
	}
	// Without upstream servers a forwarded question fails at once.
	if p := parse(t, r.forward(query(t, "example.com.", dnsmessage.TypeA, nil), false)); p.h.RCode != dnsmessage.RCodeServerFailure {
		t.Errorf("no upstream: %v", p.h.RCode)
	}
}

// TestNamesChange: a names file replaced (a container joins or leaves)
// is what the very next question sees; self leaving a network loses its
// names.
func TestNamesChange(t *testing.T) {
	r := testResolver(t)
	ask := func(name string) (string, bool) {
		resp, fwd := r.answer(query(t, name, dnsmessage.TypeA, nil), udpMaxAnswer)
		if fwd {
			return "", true
		}
		return strings.Join(parse(t, resp).answers, " "), false
	}
	if got, _ := ask("peer."); got != "10.0.0.3" {
		t.Fatalf("peer: %q", got)
	}
	write(t, r.Dir, "net1", Format("net1", []Record{
		{ContainerID: "self", IP: netip.MustParseAddr("10.0.0.2"), Names: []string{"me"}},
		{ContainerID: "new", IP: netip.MustParseAddr("10.0.0.4"), Names: []string{"peer"}},
	}))
	if got, _ := ask("peer."); got != "10.0.0.4" {
		t.Errorf("peer after the change: %q", got)
	}
	write(t, r.Dir, "net2", Format("net2", []Record{
		{ContainerID: "stranger", IP: netip.MustParseAddr("10.9.0.2"), Names: []string{"stranger"}},
		{ContainerID: "self", IP: netip.MustParseAddr("10.9.0.3"), Names: []string{"me"}},
	}))
	if got, _ := ask("stranger."); got != "10.9.0.2" {
		t.Errorf("stranger once self joined net2: %q", got)
	}
	if got, _ := ask("me."); got != "10.0.0.2 10.9.0.3" {
		t.Errorf("me on two networks: %q", got)
	}
	if err := os.Remove(filepath.Join(r.Dir, "net1")); err != nil {
		t.Fatal(err)
	}
	if _, fwd := ask("peer."); !fwd {
		t.Error("peer of a removed network is still answered")
	}
}

// TestLinks: a link of the resolver file names a container of a shared
// network by ID or by name; one to a container of no shared network is
// not answered.
func TestLinks(t *testing.T) {
	r := testResolver(t)
	r.Config = filepath.Join(t.TempDir(), ConfigName)
	if err := os.WriteFile(r.Config, FormatConfig(Config{Servers: []netip.Addr{netip.MustParseAddr("192.0.2.1")},
		Links: map[string]string{"db": "peer", "Cache": "m3", "far": "stranger"}}), 0o644); err != nil {
		t.Fatal(err)
	}
	r.loaded = false
	for name, want := range map[string]string{"db.": "10.0.0.3", "cache.": "10.0.1.3"} {
		resp, fwd := r.answer(query(t, name, dnsmessage.TypeA, nil), udpMaxAnswer)
		if fwd || strings.Join(parse(t, resp).answers, " ") != want {
			t.Errorf("link %s: forwarded %v, %v", name, fwd, resp)
		}
	}
	if _, fwd := r.answer(query(t, "far.", dnsmessage.TypeA, nil), udpMaxAnswer); !fwd {
		t.Error("a link to a container of no shared network is answered")
	}
	if c := readConfig(r.Config); len(c.Servers) != 1 || c.Servers[0].String() != "192.0.2.1" {
		t.Errorf("servers: %v", c.Servers)
	}
}

// TestLinkNetworks: a link with a network resolves to the linked
// container's address on that network alone (Docker's endpoint links);
// one without, on every network shared; one to a network this container
// is not on, not at all.
func TestLinkNetworks(t *testing.T) {
	r := testResolver(t)
	write(t, r.Dir, "net3", Format("net3", []Record{
		{ContainerID: "self", IP: netip.MustParseAddr("10.3.0.2"), Names: []string{"me"}},
		{ContainerID: "peer", IP: netip.MustParseAddr("10.3.0.3"), Names: []string{"peer"}},
	}))
	r.Config = filepath.Join(t.TempDir(), ConfigName)
	conf := Config{Links: map[string]string{"db": "peer", "any": "peer", "off": "stranger"},
		LinkNetworks: map[string]string{"db": "net3", "off": "net2"}}
	if err := os.WriteFile(r.Config, FormatConfig(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := readConfig(r.Config); got.LinkNetworks["db"] != "net3" || got.LinkNetworks["any"] != "" || got.Links["db"] != "peer" {
		t.Errorf("read back: %+v", got)
	}
	r.loaded = false
	for name, want := range map[string]string{"db.": "10.3.0.3", "any.": "10.0.0.3 10.3.0.3"} {
		resp, fwd := r.answer(query(t, name, dnsmessage.TypeA, nil), udpMaxAnswer)
		if got := strings.Join(parse(t, resp).answers, " "); fwd || got != want {
			t.Errorf("link %s: forwarded %v, %q, want %s", name, fwd, got, want)
		}
	}
	if _, fwd := r.answer(query(t, "off.", dnsmessage.TypeA, nil), udpMaxAnswer); !fwd {
		t.Error("a link on a network this container is not on is answered")
	}
}

// FuzzAnswer: no packet makes the resolver panic, and whatever it
// answers is a well-formed response to the question's ID that fits the
// size it was given.
func FuzzAnswer(f *testing.F) {
	r := testResolver(f)
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0xc0, 0x0c}, 20))
	for _, q := range []struct {
		name string
		typ  dnsmessage.Type
	}{{"peer.", dnsmessage.TypeA}, {"many.", dnsmessage.TypeA}, {"3.0.0.10.in-addr.arpa.", dnsmessage.TypePTR}, {"x.", dnsmessage.TypeMX}} {
		h := dnsmessage.Header{ID: 7}
		b := dnsmessage.NewBuilder(nil, h)
		b.StartQuestions()
		b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(q.name), Type: q.typ, Class: dnsmessage.ClassINET})
		msg, _ := b.Finish()
		f.Add(msg)
	}
	f.Fuzz(func(t *testing.T, q []byte) {
		resp, _ := r.answer(q, udpMaxAnswer)
		if resp == nil {
			return
		}
		var m dnsmessage.Message
		if err := m.Unpack(resp); err != nil {
			t.Fatalf("an answer that does not parse: %v", err)
		}
		if !m.Header.Response || len(q) < 2 || m.Header.ID != uint16(q[0])<<8|uint16(q[1]) || len(resp) > udpMaxAnswer {
			t.Fatalf("answer %+v (%d bytes) to %x", m.Header, len(resp), q)
		}
	})
}

// BenchmarkAnswer: one question for a container's name, answered from
// the names in memory (the watcher says nothing changed).
func BenchmarkAnswer(b *testing.B) {
	r := testResolver(b)
	q := query(b, "peer.", dnsmessage.TypeA, nil)
	r.answer(q, udpMaxAnswer)
	b.ReportAllocs()
	for b.Loop() {
		if resp, fwd := r.answer(q, udpMaxAnswer); resp == nil || fwd {
			b.Fatal("no answer")
		}
	}
}
