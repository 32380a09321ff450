package testutil

import "testing"

func TestChanges(t *testing.T) {
	var c Changes
	c.Notify() // nobody waits: nothing to close
	ch := c.Next()
	if c.Next() != ch {
		t.Fatal("Next before a Notify: another channel")
	}
	select {
	case <-ch:
		t.Fatal("closed before Notify")
	default:
	}
	c.Notify()
	select {
	case <-ch:
	default:
		t.Fatal("not closed by Notify")
	}
	if next := c.Next(); next == ch {
		t.Fatal("Next after a Notify: the closed channel")
	}
}
