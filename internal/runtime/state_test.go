package runtime

import "testing"

func TestCheckID(t *testing.T) {
	for _, id := range []string{"a", "abc-DEF_123+x.y", "..a", "-"} {
		if err := checkID(id); err != nil {
			t.Errorf("checkID(%q): %v", id, err)
		}
	}
	for _, id := range []string{"", ".", "..", "a/b", "../x", "a b", "é", "a\x00"} {
		if err := checkID(id); err == nil {
			t.Errorf("checkID(%q) accepted it", id)
		}
	}
}
