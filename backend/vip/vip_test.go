package vip

import (
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// fakeNL records calls and keeps a set of addresses on lo.
type fakeNL struct {
	addrs []netlink.Addr
	calls []string
	fail  error
}

func (f *fakeNL) LinkByName(name string) (netlink.Link, error) {
	if name != Loopback {
		return nil, errors.New("no such link")
	}
	return &netlink.Device{LinkAttrs: netlink.LinkAttrs{Name: name, Index: 1}}, nil
}

func (f *fakeNL) AddrList(netlink.Link, int) ([]netlink.Addr, error) {
	return slices.Clone(f.addrs), nil
}

func (f *fakeNL) AddrReplace(_ netlink.Link, a *netlink.Addr) error {
	f.calls = append(f.calls, "replace "+a.IPNet.String())
	if f.fail != nil {
		return f.fail
	}
	f.addrs = append(f.addrs, *a)
	return nil
}

func (f *fakeNL) AddrDel(_ netlink.Link, a *netlink.Addr) error {
	f.calls = append(f.calls, "del "+a.IPNet.String())
	i := slices.IndexFunc(f.addrs, func(x netlink.Addr) bool { return x.IPNet.String() == a.IPNet.String() })
	if i < 0 {
		return unix.EADDRNOTAVAIL
	}
	f.addrs = slices.Delete(f.addrs, i, i+1)
	return nil
}

var (
	v4 = netip.MustParseAddr("192.0.2.100")
	v6 = netip.MustParseAddr("2001:db8::100")
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestEnsureAddsMissingAndCountsRepairs(t *testing.T) {
	nl := &fakeNL{}
	var repaired []netip.Addr
	m := New(nl, quiet(), []netip.Addr{v4, v6}, Options{OnRepair: func(v netip.Addr) { repaired = append(repaired, v) }})
	added, err := m.Ensure()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]netip.Addr{v4, v6}, added, cmpopts.EquateComparable(netip.Addr{})); diff != "" {
		t.Fatalf("added (-want +got)\n%s", diff)
	}
	// Second pass: nothing to do.
	if added, _ := m.Ensure(); len(added) != 0 {
		t.Fatalf("second Ensure added %v", added)
	}
	// Someone removes the IPv4 VIP: it comes back and counts as a repair.
	if err := nl.AddrDel(nil, Addr(v4)); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Ensure(); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"replace 192.0.2.100/32", "replace 2001:db8::100/128",
		"del 192.0.2.100/32", "replace 192.0.2.100/32",
	}
	if diff := cmp.Diff(want, nl.calls); diff != "" {
		t.Fatalf("calls (-want +got)\n%s", diff)
	}
	if len(repaired) != 1 || repaired[0] != v4 {
		t.Fatalf("OnRepair calls = %v, want [%s]", repaired, v4)
	}
	st := m.Status()
	if !st[0].Present || st[0].Repairs != 1 || !st[1].Present || st[1].Repairs != 0 {
		t.Fatalf("status = %+v", st)
	}
}

func TestAddrShape(t *testing.T) {
	a := Addr(v4)
	if a.IPNet.String() != "192.0.2.100/32" || a.Scope != unix.RT_SCOPE_HOST {
		t.Fatalf("v4 addr = %v scope %d", a.IPNet, a.Scope)
	}
	b := Addr(v6)
	if b.IPNet.String() != "2001:db8::100/128" || b.Flags&unix.IFA_F_NODAD == 0 {
		t.Fatalf("v6 addr = %v flags %#x", b.IPNet, b.Flags)
	}
}

func TestEnsureIgnoresWiderPrefix(t *testing.T) {
	// 192.0.2.100/24 on lo is not the VIP as we want it: add the /32.
	nl := &fakeNL{}
	wide := Addr(v4)
	wide.IPNet.Mask = []byte{255, 255, 255, 0}
	nl.addrs = append(nl.addrs, *wide)
	m := New(nl, quiet(), []netip.Addr{v4}, Options{})
	added, err := m.Ensure()
	if err != nil || len(added) != 1 {
		t.Fatalf("Ensure = %v, %v; want the /32 added", added, err)
	}
}

func TestSetVIPsRemovesDropped(t *testing.T) {
	nl := &fakeNL{}
	m := New(nl, quiet(), []netip.Addr{v4, v6}, Options{})
	if _, err := m.Ensure(); err != nil {
		t.Fatal(err)
	}
	if err := m.SetVIPs([]netip.Addr{v6}); err != nil {
		t.Fatal(err)
	}
	if got := nl.calls[len(nl.calls)-1]; got != "del 192.0.2.100/32" {
		t.Fatalf("last call %q, want the dropped VIP deleted", got)
	}
	// Removing something absent is not an error.
	if err := Remove(nl, []netip.Addr{v4}); err != nil {
		t.Fatal(err)
	}
}

func TestEnsureReportsErrors(t *testing.T) {
	nl := &fakeNL{fail: unix.EPERM}
	m := New(nl, quiet(), []netip.Addr{v4}, Options{})
	_, err := m.Ensure()
	if !errors.Is(err, unix.EPERM) {
		t.Fatalf("err = %v, want EPERM", err)
	}
	if want := "vip: add 192.0.2.100 to lo"; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err %q does not name the VIP", err)
	}
}
