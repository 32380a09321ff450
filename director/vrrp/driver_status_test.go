package vrrp

import (
	"net/netip"
	"testing"
	"time"

	"github.com/tandemlb/tandem/shared/testutil"
)

// The status counts the transitions to and from MASTER and the adverts of
// priority 0, sent and received: what the director's metrics expose.
func TestStatusCountsMasterAndPriorityZero(t *testing.T) {
	d, f := newDriver(t, fastCfg(func(c *InstanceConfig) { c.AdvertInterval = time.Second }))
	stop := runDriver(t, d)
	f.rec.waitFor(t, "notify BACKUP")

	// A master leaving: a valid advert of priority 0.
	adv := &Packet{Version: 3, Type: 1, VRID: 100, Priority: 0, MaxAdverInt: 100, Addresses: []netip.Addr{netip.MustParseAddr("192.0.2.100")}}
	b, _ := adv.Marshal(hiIP, MulticastGroup4)
	f.conn.in <- Received{Payload: b, Src: hiIP, Dst: MulticastGroup4, TTL: 255, IfIndex: 2}
	waitReceived(t, d, 1)
	// Refused adverts of priority 0 are not counted.
	f.conn.in <- Received{Payload: b, Src: hiIP, Dst: MulticastGroup4, TTL: 64, IfIndex: 2}
	testutil.Eventually(t, patience, func() bool { return d.Status().Dropped[DropTTL] == 1 }, "ttl drops: %v", d.Status().Dropped)
	// Priority 0 heard: the backup takes over after its skew time.
	f.advance(t, time.Second)
	f.rec.waitFor(t, "notify MASTER")
	waitState(t, d, StateMaster)
	s := d.Status()
	if s.PriorityZeroReceived != 1 || s.BecameMaster != 1 || s.ReleasedMaster != 0 || s.PriorityZeroSent != 0 {
		t.Errorf("as master: priority 0 received %d sent %d, became master %d, released %d",
			s.PriorityZeroReceived, s.PriorityZeroSent, s.BecameMaster, s.ReleasedMaster)
	}
	stop() // MASTER → STOP: released, one advert of priority 0
	s = d.Status()
	if s.PriorityZeroReceived != 1 || s.BecameMaster != 1 || s.ReleasedMaster != 1 || s.PriorityZeroSent != 1 {
		t.Errorf("after stop: priority 0 received %d sent %d, became master %d, released %d",
			s.PriorityZeroReceived, s.PriorityZeroSent, s.BecameMaster, s.ReleasedMaster)
	}
	if s.Dropped[DropTTL] != 1 {
		t.Errorf("dropped: %v, want one ttl", s.Dropped)
	}
}
