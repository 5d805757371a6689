package oci

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The lookup below is moby/sys/user's GetExecUser and
// GetAdditionalGroups (runc's libcontainer/user), which Docker uses on the
// container's /etc/passwd and /etc/group; the messages are theirs.
var (
	errNoPasswdEntries = errors.New("no matching entries in passwd file")
	errNoGroupEntries  = errors.New("no matching entries in group file")
	errRange           = fmt.Errorf("uids and gids must be in range %d-%d", 0, maxID)
)

const maxID = 1<<31 - 1

// setUser resolves -u (else the image's USER, else root) against the
// rootfs's /etc/passwd and /etc/group (daemon/oci_linux.go getUser): the
// primary gid comes first in additionalGids, then the groups that list the
// user, then --group-add.
func setUser(s *specs.Spec, img dockerspec.DockerOCIImageConfig, rootfs string, o *Options) error {
	spec := o.User
	if spec == "" {
		spec = img.User
	}
	u, err := resolveUser(rootfs, spec, o.GroupAdd)
	if err != nil {
		return err
	}
	s.Process.User = u
	return nil
}

// resolveUser is the process user for spec ("user[:group]", "" for root)
// and --group-add, looked up in rootfs's /etc/passwd and /etc/group.
func resolveUser(rootfs, spec string, groupAdd []string) (specs.User, error) {
	passwd, err := openInRoot(rootfs, "/etc/passwd")
	if err != nil {
		return specs.User{}, err
	}
	if passwd != nil {
		defer passwd.Close()
	}
	group, err := openInRoot(rootfs, "/etc/group")
	if err != nil {
		return specs.User{}, err
	}
	if group != nil {
		defer group.Close()
	}
	u, err := lookupUser(spec, readerOrNil(passwd), readerOrNil(group))
	if err != nil {
		return specs.User{}, err
	}
	gids := append([]uint32{uint32(u.gid)}, u.sgids...)
	if len(groupAdd) > 0 {
		if group != nil {
			if _, err := group.Seek(0, io.SeekStart); err != nil {
				return specs.User{}, err
			}
		}
		extra, err := additionalGroups(groupAdd, readerOrNil(group))
		if err != nil {
			return specs.User{}, err
		}
		gids = append(gids, extra...)
	}
	return specs.User{UID: uint32(u.uid), GID: uint32(u.gid), AdditionalGids: gids}, nil
}

// readerOrNil keeps a missing file a nil io.Reader, not a nil *os.File
// inside a non-nil interface.
func readerOrNil(f *os.File) io.Reader {
	if f == nil {
		return nil
	}
	return f
}

type execUser struct {
	uid, gid int
	sgids    []uint32
}

type passwdEntry struct {
	name     string
	uid, gid int
}

type groupEntry struct {
	name    string
	gid     int
	members []string
}

// lookupUser resolves "user[:group]" (names or numbers, "" for root). A
// number needs no entry; a name without one is an error. Supplementary
// groups come from /etc/group only when the group is not given.
func lookupUser(spec string, passwd, group io.Reader) (*execUser, error) {
	userArg, groupArg, _ := strings.Cut(spec, ":")
	groupArg, _, _ = strings.Cut(groupArg, ":")
	uidArg, uidErr := strconv.Atoi(userArg)
	gidArg, gidErr := strconv.Atoi(groupArg)

	u := &execUser{}
	var users []passwdEntry
	if passwd != nil {
		var err error
		users, err = parsePasswd(passwd, func(p passwdEntry) bool {
			switch {
			case userArg == "":
				return p.uid == 0
			case uidErr == nil:
				return p.uid == uidArg
			default:
				return p.name == userArg
			}
		})
		if err != nil {
			if userArg == "" {
				userArg = "0"
			}
			return nil, invalidf("unable to find user %s: %w", userArg, err)
		}
	}
	var matched string
	switch {
	case len(users) > 0:
		matched, u.uid, u.gid = users[0].name, users[0].uid, users[0].gid
	case userArg != "":
		if uidErr != nil {
			return nil, invalidf("unable to find user %s: %w", userArg, errNoPasswdEntries)
		}
		if uidArg < 0 || uidArg > maxID {
			return nil, invalid{errRange}
		}
		u.uid = uidArg
	}
	if groupArg == "" && matched == "" {
		return u, nil
	}

	var groups []groupEntry
	if group != nil {
		var err error
		groups, err = parseGroup(group, func(g groupEntry) bool {
			switch {
			case groupArg == "":
				for _, m := range g.members {
					if m == matched {
						return true
					}
				}
				return false
			case gidErr == nil:
				return g.gid == gidArg
			default:
				return g.name == groupArg
			}
		})
		if err != nil {
			return nil, invalidf("unable to find groups for spec %v: %w", matched, err)
		}
	}
	switch {
	case groupArg != "" && len(groups) > 0:
		u.gid = groups[0].gid
	case groupArg != "":
		if gidErr != nil {
			return nil, invalidf("unable to find group %s: %w", groupArg, errNoGroupEntries)
		}
		if gidArg < 0 || gidArg > maxID {
			return nil, invalid{errRange}
		}
		u.gid = gidArg
	default:
		for _, g := range groups {
			u.sgids = append(u.sgids, uint32(g.gid))
		}
	}
	return u, nil
}

// additionalGroups resolves --group-add: each a group name or gid in
// /etc/group, or a number. Unlike Docker (which returns them in map
// order) the order is the flags', duplicates dropped.
func additionalGroups(names []string, group io.Reader) ([]uint32, error) {
	var groups []groupEntry
	if group != nil {
		var err error
		groups, err = parseGroup(group, func(g groupEntry) bool {
			for _, n := range names {
				if g.name == n || strconv.Itoa(g.gid) == n {
					return true
				}
			}
			return false
		})
		if err != nil {
			return nil, invalidf("Unable to find additional groups %v: %w", names, err)
		}
	}
	var gids []uint32
	seen := map[int]bool{}
	add := func(gid int) {
		if !seen[gid] {
			seen[gid] = true
			gids = append(gids, uint32(gid))
		}
	}
next:
	for _, n := range names {
		for _, g := range groups {
			if g.name == n || strconv.Itoa(g.gid) == n {
				add(g.gid)
				continue next
			}
		}
		gid, err := strconv.ParseInt(n, 10, 64)
		if err != nil {
			return nil, invalidf("Unable to find group %s: %w", n, errNoGroupEntries)
		}
		if gid < 0 || gid > maxID {
			return nil, invalid{errRange}
		}
		add(int(gid))
	}
	return gids, nil
}

// parsePasswd reads passwd(5) lines (name:password:uid:gid:gecos:home:shell)
// and returns the entries keep accepts; a field that is not a number reads
// as 0, as in moby/sys/user.
func parsePasswd(r io.Reader, keep func(passwdEntry) bool) ([]passwdEntry, error) {
	var out []passwdEntry
	err := eachLine(r, func(f []string) {
		p := passwdEntry{name: field(f, 0), uid: atoi(field(f, 2)), gid: atoi(field(f, 3))}
		if keep(p) {
			out = append(out, p)
		}
	})
	return out, err
}

// parseGroup reads group(5) lines (name:password:gid:member,member…).
func parseGroup(r io.Reader, keep func(groupEntry) bool) ([]groupEntry, error) {
	var out []groupEntry
	err := eachLine(r, func(f []string) {
		g := groupEntry{name: field(f, 0), gid: atoi(field(f, 2))}
		if m := field(f, 3); m != "" {
			g.members = strings.Split(m, ",")
		}
		if keep(g) {
			out = append(out, g)
		}
	})
	return out, err
}

// eachLine calls fn with the colon-separated fields of each non-blank line.
// Lines of any length are read whole.
func eachLine(r io.Reader, fn func([]string)) error {
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadBytes('\n')
		if line = bytes.TrimSpace(line); len(line) > 0 {
			fn(strings.Split(string(line), ":"))
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func field(f []string, i int) string {
	if i < len(f) {
		return f[i]
	}
	return ""
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
