package container

import (
	"testing"
	"time"
)

func TestParseRestartPolicy(t *testing.T) {
	for in, want := range map[string]RestartPolicy{
		"": {Name: "no"}, "no": {Name: "no"}, "always": {Name: "always"}, "unless-stopped": {Name: "unless-stopped"},
		"on-failure": {Name: "on-failure"}, "on-failure:3": {Name: "on-failure", MaximumRetryCount: 3},
	} {
		if got, err := ParseRestartPolicy(in); err != nil || got != want {
			t.Errorf("%q: %+v %v", in, got, err)
		}
	}
	for _, bad := range []string{"sometimes", "always:3", "on-failure:x", "on-failure:-1"} {
		if _, err := ParseRestartPolicy(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestShouldRestart(t *testing.T) {
	always, _ := ParseRestartPolicy("always")
	onFailure2, _ := ParseRestartPolicy("on-failure:2")
	onFailure, _ := ParseRestartPolicy("on-failure")
	no, _ := ParseRestartPolicy("no")
	for _, c := range []struct {
		p        RestartPolicy
		code, n  int
		stopped  bool
		expected bool
	}{
		{always, 0, 100, false, true}, {always, 1, 0, true, false},
		{onFailure2, 1, 1, false, true}, {onFailure2, 1, 2, false, false}, {onFailure2, 0, 0, false, false},
		{onFailure, 3, 1000, false, true}, {no, 1, 0, false, false},
	} {
		if got := c.p.ShouldRestart(c.code, c.n, c.stopped); got != c.expected {
			t.Errorf("%+v code %d after %d (stopped %v): %v", c.p, c.code, c.n, c.stopped, got)
		}
	}
}

func TestNextBackoff(t *testing.T) {
	d := time.Duration(0)
	var seen []time.Duration
	for i := 0; i < 12; i++ {
		d = NextBackoff(d, time.Second)
		seen = append(seen, d)
	}
	if seen[0] != 100*time.Millisecond || seen[1] != 200*time.Millisecond || seen[3] != 800*time.Millisecond || seen[11] != time.Minute {
		t.Errorf("back-off sequence %v", seen)
	}
	if NextBackoff(time.Minute, 10*time.Second) != 100*time.Millisecond {
		t.Error("a 10 s run did not reset the back-off")
	}
}
