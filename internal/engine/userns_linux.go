package engine

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/container"
)

// User-namespace remapping is dockerd's --userns-remap without a daemon:
// `berth --userns-remap default|USER[:GROUP]` (or BERTH_USERNS_REMAP)
// gives every container created with it a user namespace in which its
// root is the first ID of the user's /etc/subuid range (the group's
// /etc/subgid range for groups). "default" is the user and group
// "berth", made on first use with a 65536-ID range, as dockerd makes
// "dockremap". A container keeps the mapping it was created with;
// --userns host opts one out.
//
// The container's tree must belong to the mapped root. berth's runtime
// has no idmapped mounts (and the image's layers are shared), so the
// container's own snapshot is shifted at create instead: every file's
// owner and group move into the range (through the overlay that copies
// the files up into the container's layer; the image's layers stay as
// they are). That costs a copy of the image per container, which Docker
// avoids by keeping whole remapped layer stores.
const (
	remapDefault     = "default"
	remapDefaultUser = "berth"
	remapRangeStart  = 100000
	remapRangeLen    = 65536
)

// resolveRemap turns the --userns-remap value into the mappings, as
// dockerd's parseRemappedRoot and LoadIdentityMapping: "user", "user:group",
// "uid" or "uid:gid"; root maps nothing (nil).
func resolveRemap(spec string) (*container.IDMapping, error) {
	parts := strings.Split(spec, ":")
	if len(parts) > 2 || parts[0] == "" {
		return nil, fmt.Errorf("Invalid user/group specification in --userns-remap: %q", spec)
	}
	var usr *user.User
	var err error
	if _, nerr := strconv.ParseUint(parts[0], 10, 32); nerr == nil {
		if usr, err = user.LookupId(parts[0]); err != nil {
			return nil, fmt.Errorf("Uid %s has no entry in /etc/passwd: %v", parts[0], err)
		}
	} else {
		name := parts[0]
		if name == remapDefault {
			name = remapDefaultUser
		}
		usr, err = user.Lookup(name)
		if err != nil && parts[0] == remapDefault {
			if err = addRemapUser(name); err == nil {
				usr, err = user.Lookup(name)
			}
			if err != nil {
				return nil, fmt.Errorf("Error during %q user creation: %v", name, err)
			}
		} else if err != nil {
			return nil, fmt.Errorf("Error during uid lookup for %q: %v", name, err)
		}
	}
	group := usr.Username
	if len(parts) == 2 {
		g, err := user.LookupGroupId(parts[1])
		if err != nil {
			if g, err = user.LookupGroup(parts[1]); err != nil {
				return nil, fmt.Errorf("Error during groupname lookup for %q: %v", parts[1], err)
			}
		}
		group = g.Name
	} else if _, nerr := strconv.Atoi(parts[0]); nerr == nil {
		g, err := user.LookupGroupId(parts[0])
		if err != nil {
			return nil, fmt.Errorf("Gid %s has no entry in /etc/group: %v", parts[0], err)
		}
		group = g.Name
	}
	if usr.Username == "root" {
		return nil, nil // dockerd: "root cannot be remapped with itself; user namespaces are OFF"
	}
	uids, err := subIDMaps("/etc/subuid", usr.Username, usr.Uid)
	if err != nil {
		return nil, err
	}
	if len(uids) == 0 {
		return nil, fmt.Errorf("error creating ID mappings: no subuid ranges found for user %q", usr.Username)
	}
	gid := ""
	if g, err := user.LookupGroup(group); err == nil {
		gid = g.Gid
	}
	gids, err := subIDMaps("/etc/subgid", group, gid)
	if err != nil {
		return nil, err
	}
	if len(gids) == 0 {
		return nil, fmt.Errorf("error creating ID mappings: no subgid ranges found for group %q", group)
	}
	return &container.IDMapping{Name: usr.Username + ":" + group, UIDMaps: uids, GIDMaps: gids}, nil
}

// subIDMaps reads the ranges of name (or its numeric id) in an
// /etc/subuid-style file and lays them end to end from container ID 0.
func subIDMaps(file, name, id string) ([]container.IDRange, error) {
	ranges, err := subIDRanges(file)
	if err != nil {
		return nil, err
	}
	var out []container.IDRange
	var next uint32
	for _, r := range ranges {
		if r.owner != name && (id == "" || r.owner != id) {
			continue
		}
		out = append(out, container.IDRange{ContainerID: next, HostID: r.start, Size: r.count})
		next += r.count
	}
	return out, nil
}

type subIDRange struct {
	owner        string
	start, count uint32
}

// subIDRanges parses an /etc/subuid-style file: owner:start:count lines.
func subIDRanges(file string) ([]subIDRange, error) {
	f, err := os.Open(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []subIDRange
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		p := strings.Split(line, ":")
		if len(p) != 3 {
			return nil, fmt.Errorf("%s: invalid line %q", file, line)
		}
		start, err1 := strconv.ParseUint(p[1], 10, 32)
		count, err2 := strconv.ParseUint(p[2], 10, 32)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%s: invalid line %q", file, line)
		}
		out = append(out, subIDRange{owner: p[0], start: uint32(start), count: uint32(count)})
	}
	return out, sc.Err()
}

// addRemapUser makes the system user and group name and gives them a
// free 65536-ID range in /etc/subuid and /etc/subgid, with the
// distribution's tools, as dockerd does for "dockremap".
func addRemapUser(name string) error {
	var cmd *exec.Cmd
	if _, err := exec.LookPath("adduser"); err == nil {
		cmd = exec.Command("adduser", "--system", "--shell", "/bin/false", "--no-create-home",
			"--disabled-login", "--disabled-password", "--group", name)
	} else if _, err := exec.LookPath("useradd"); err == nil {
		cmd = exec.Command("useradd", "-r", "-s", "/bin/false", "-U", name)
	} else {
		return errors.New("cannot add user; no useradd/adduser binary found")
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("failed to add user with error: %v; output: %q", err, strings.TrimSpace(string(out)))
	}
	for _, f := range []struct{ file, flag string }{{"/etc/subuid", "-v"}, {"/etc/subgid", "-w"}} {
		ranges, err := subIDRanges(f.file)
		if err != nil {
			return err
		}
		if slices.ContainsFunc(ranges, func(r subIDRange) bool { return r.owner == name }) {
			continue
		}
		start := freeRange(ranges)
		arg := fmt.Sprintf("%d-%d", start, start+remapRangeLen-1)
		if out, err := exec.Command("usermod", f.flag, arg, name).CombinedOutput(); err != nil {
			return fmt.Errorf("unable to add subordinate range to user %q: %v: %s", name, err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

// freeRange is the first start from 100000 up whose 65536 IDs overlap no
// range in use.
func freeRange(ranges []subIDRange) uint32 {
	slices.SortFunc(ranges, func(a, b subIDRange) int { return int(int64(a.start) - int64(b.start)) })
	start := uint32(remapRangeStart)
	for _, r := range ranges {
		if uint64(start) < uint64(r.start)+uint64(r.count) && uint64(r.start) < uint64(start)+remapRangeLen {
			start = r.start + r.count
		}
	}
	return start
}

// checkRemapAccess is dockerd's check that the remapped root can reach
// its containers: every directory above them must let it search (o+x,
// or it owns the directory).
func checkRemapAccess(dir string, remap *container.IDMapping) error {
	uid, gid := remap.UIDMaps[0].HostID, remap.GIDMaps[0].HostID
	for p := filepath.Clean(dir); ; p = filepath.Dir(p) {
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err == nil {
			perm := st.Mode & 0o777
			ok := perm&0o001 != 0 || st.Uid == uid && perm&0o100 != 0 || st.Gid == gid && perm&0o010 != 0
			if !ok {
				return fmt.Errorf("a subdirectory in your graphroot path (%s) restricts access to the remapped root uid/gid; please fix by allowing 'o+x' permissions on existing directories", p)
			}
		}
		if p == "/" {
			return nil
		}
	}
}

// remapTree shifts the owner and group of everything under root (not
// following symlinks, each inode once) into the remapping's ranges; IDs
// outside the container's ranges stay as they are. chown clears the
// setuid and setgid bits; they are put back.
func remapTree(root string, remap *container.IDMapping) error {
	shift := func(id uint32, rs []container.IDRange) uint32 {
		for _, r := range rs {
			if id >= r.ContainerID && id-r.ContainerID < r.Size {
				return r.HostID + (id - r.ContainerID)
			}
		}
		return id
	}
	type inode struct{ dev, ino uint64 }
	seen := map[inode]bool{}
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		if st.Nlink > 1 && st.Mode&unix.S_IFMT != unix.S_IFDIR {
			k := inode{st.Dev, st.Ino}
			if seen[k] {
				return nil
			}
			seen[k] = true
		}
		uid, gid := shift(st.Uid, remap.UIDMaps), shift(st.Gid, remap.GIDMaps)
		if uid == st.Uid && gid == st.Gid {
			return nil
		}
		if err := unix.Lchown(p, int(uid), int(gid)); err != nil {
			return &os.PathError{Op: "lchown", Path: p, Err: err}
		}
		if st.Mode&unix.S_IFMT == unix.S_IFREG && st.Mode&(unix.S_ISUID|unix.S_ISGID) != 0 {
			if err := unix.Chmod(p, st.Mode&0o7777); err != nil {
				return &os.PathError{Op: "chmod", Path: p, Err: err}
			}
		}
		return nil
	})
}
