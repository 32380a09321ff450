package nsutil

import (
	"errors"
	"testing"

	"github.com/vishvananda/netns"

	"github.com/tandemlb/tandem/shared/testutil"
)

func TestDoCurrentNamespace(t *testing.T) {
	want := errors.New("from f")
	if err := Do(netns.None(), func() error { return want }); !errors.Is(err, want) {
		t.Fatalf("Do = %v, want f's error", err)
	}
}

func TestNetnsDo(t *testing.T) {
	testutil.Netns(t)
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	ns, err := netns.New() // switches this thread; switch back at once
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	if err := netns.Set(orig); err != nil {
		t.Fatal(err)
	}
	var inside netns.NsHandle
	if err := Do(ns, func() error {
		var err error
		inside, err = netns.Get()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer inside.Close()
	if !inside.Equal(ns) {
		t.Errorf("f ran in %v, want %v", inside, ns)
	}
	now, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer now.Close()
	if !now.Equal(orig) {
		t.Errorf("caller's thread left in %v, want %v", now, orig)
	}
}
