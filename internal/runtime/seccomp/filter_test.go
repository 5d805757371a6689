package seccomp

import (
	"encoding/json"
	"slices"
	"testing"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// TestFilterJSON: a Filter carries Compile's program through JSON (the
// container init's bootstrap) instruction for instruction, with the flags
// Load would use.
func TestFilterJSON(t *testing.T) {
	cfg := &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno,
		Flags:         []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagLog},
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"read", "write", "exit_group"}, Action: specs.ActAllow},
			{Names: []string{"personality"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 8, Op: specs.OpEqualTo}}},
		},
	}
	want, err := Compile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f, err := NewFilter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	var back Filter
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Program) != len(want)*sockFilterSize {
		t.Fatalf("program of %d bytes, want %d instructions", len(back.Program), len(want))
	}
	got := unsafe.Slice((*unix.SockFilter)(unsafe.Pointer(unsafe.SliceData(back.Program))), len(want))
	if !slices.Equal(got, want) {
		t.Errorf("program differs after JSON:\n got %v\nwant %v", got, want)
	}
	if back.Flags != unix.SECCOMP_FILTER_FLAG_LOG {
		t.Errorf("flags %#x, want SECCOMP_FILTER_FLAG_LOG", back.Flags)
	}
	if _, err := (&Filter{Program: []byte{1, 2, 3}}).Install(); err == nil {
		t.Error("a program of 3 bytes installed")
	}
}
