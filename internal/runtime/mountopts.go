package runtime

import (
	"strings"

	"golang.org/x/sys/unix"
)

// mountOpts is an OCI mount's options split into what mount(2) takes.
type mountOpts struct {
	flags       uintptr   // MS_* flags for the mount itself
	clear       uintptr   // flags an option explicitly turned off (rw, suid, …)
	propagation []uintptr // MS_SHARED/MS_PRIVATE/… applied after the mount
	data        []string  // filesystem-specific options, passed as data
	recAttrSet  uint64    // MOUNT_ATTR_* set recursively (rro, rnosuid, …)
	recAttrClr  uint64
}

var flagOpts = map[string]struct {
	clear bool
	flag  uintptr
}{
	"async":         {true, unix.MS_SYNCHRONOUS},
	"atime":         {true, unix.MS_NOATIME},
	"bind":          {false, unix.MS_BIND},
	"defaults":      {false, 0},
	"dev":           {true, unix.MS_NODEV},
	"diratime":      {true, unix.MS_NODIRATIME},
	"dirsync":       {false, unix.MS_DIRSYNC},
	"exec":          {true, unix.MS_NOEXEC},
	"iversion":      {false, unix.MS_I_VERSION},
	"lazytime":      {false, unix.MS_LAZYTIME},
	"loud":          {true, unix.MS_SILENT},
	"mand":          {false, unix.MS_MANDLOCK},
	"noatime":       {false, unix.MS_NOATIME},
	"nodev":         {false, unix.MS_NODEV},
	"nodiratime":    {false, unix.MS_NODIRATIME},
	"noexec":        {false, unix.MS_NOEXEC},
	"noiversion":    {true, unix.MS_I_VERSION},
	"nolazytime":    {true, unix.MS_LAZYTIME},
	"nomand":        {true, unix.MS_MANDLOCK},
	"norelatime":    {true, unix.MS_RELATIME},
	"nostrictatime": {true, unix.MS_STRICTATIME},
	"nosuid":        {false, unix.MS_NOSUID},
	"rbind":         {false, unix.MS_BIND | unix.MS_REC},
	"relatime":      {false, unix.MS_RELATIME},
	"remount":       {false, unix.MS_REMOUNT},
	"ro":            {false, unix.MS_RDONLY},
	"rw":            {true, unix.MS_RDONLY},
	"silent":        {false, unix.MS_SILENT},
	"strictatime":   {false, unix.MS_STRICTATIME},
	"suid":          {true, unix.MS_NOSUID},
	"sync":          {false, unix.MS_SYNCHRONOUS},
}

var propagationOpts = map[string]uintptr{
	"private":     unix.MS_PRIVATE,
	"rprivate":    unix.MS_PRIVATE | unix.MS_REC,
	"shared":      unix.MS_SHARED,
	"rshared":     unix.MS_SHARED | unix.MS_REC,
	"slave":       unix.MS_SLAVE,
	"rslave":      unix.MS_SLAVE | unix.MS_REC,
	"unbindable":  unix.MS_UNBINDABLE,
	"runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

// recursiveAttrOpts are the mount_setattr(2) options runc calls "recursive"
// (rro, rnosuid, …): they apply to every mount below the target too.
var recursiveAttrOpts = map[string]struct {
	clear bool
	attr  uint64
}{
	"rro":          {false, unix.MOUNT_ATTR_RDONLY},
	"rrw":          {true, unix.MOUNT_ATTR_RDONLY},
	"rnosuid":      {false, unix.MOUNT_ATTR_NOSUID},
	"rsuid":        {true, unix.MOUNT_ATTR_NOSUID},
	"rnodev":       {false, unix.MOUNT_ATTR_NODEV},
	"rdev":         {true, unix.MOUNT_ATTR_NODEV},
	"rnoexec":      {false, unix.MOUNT_ATTR_NOEXEC},
	"rexec":        {true, unix.MOUNT_ATTR_NOEXEC},
	"rnodiratime":  {false, unix.MOUNT_ATTR_NODIRATIME},
	"rdiratime":    {true, unix.MOUNT_ATTR_NODIRATIME},
	"rnosymfollow": {false, unix.MOUNT_ATTR_NOSYMFOLLOW},
	"rsymfollow":   {true, unix.MOUNT_ATTR_NOSYMFOLLOW},
}

// parseMountOptions sorts OCI mount options into flags, propagation,
// recursive attributes and filesystem data, as runc does.
func parseMountOptions(options []string) mountOpts {
	var o mountOpts
	for _, opt := range options {
		if f, ok := flagOpts[opt]; ok {
			if f.clear {
				o.flags &^= f.flag
				o.clear |= f.flag
			} else {
				o.flags |= f.flag
			}
			continue
		}
		if p, ok := propagationOpts[opt]; ok {
			o.propagation = append(o.propagation, p)
			continue
		}
		if a, ok := recursiveAttrOpts[opt]; ok {
			if a.clear {
				o.recAttrClr |= a.attr
				o.recAttrSet &^= a.attr
			} else {
				o.recAttrSet |= a.attr
				o.recAttrClr &^= a.attr
			}
			continue
		}
		// tmpcopyup and idmap-style options are not supported; anything
		// else is filesystem data (size=, mode=, uid=, …).
		if opt == "tmpcopyup" {
			continue
		}
		o.data = append(o.data, opt)
	}
	return o
}

func (o mountOpts) dataString() string { return strings.Join(o.data, ",") }
