package oci

import (
	"strings"
	"testing"
)

func TestMergeTmpfsOptions(t *testing.T) {
	for in, want := range map[string]string{
		"noexec,nosuid,nodev,rprivate":                 "noexec,nosuid,nodev,rprivate",
		"noexec,nosuid,nodev,rprivate,exec":            "nosuid,nodev,rprivate,exec",
		"noexec,nosuid,nodev,rprivate,shared,size=1m":  "noexec,nosuid,nodev,shared,size=1m",
		"noexec,nosuid,nodev,rprivate,size=1m,size=2m": "noexec,nosuid,nodev,rprivate,size=2m",
		"ro,defaults,rw,mode=700,uid=1,gid=2":          "rw,mode=700,uid=1,gid=2",
		"nr_inodes=10,nr_blocks=5,mpol=local":          "nr_inodes=10,nr_blocks=5,mpol=local",
	} {
		got, err := mergeTmpfsOptions(strings.Split(in, ","))
		if err != nil || strings.Join(got, ",") != want {
			t.Errorf("%s: got %q, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"colour=blue", "nosuchflag", "tmpcopyup"} {
		if _, err := mergeTmpfsOptions([]string{"noexec", bad}); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}
