package cli

import (
	"net"
	"net/netip"
	"slices"

	"github.com/tandemlb/tandem/director/config"
	"github.com/tandemlb/tandem/director/control"
	doctorpkg "github.com/tandemlb/tandem/shared/doctor"
)

// doctorBGP checks BGP mode (a `bgp` block): what makes every director
// pick the same real server for a flow (mh with mh-fallback on every
// announced service, sloppy_tcp so that a flow moved by an ECMP change is
// picked up mid-flow), each announced VIP on lo, and, from the daemon's
// status (nil when it does not answer), each BGP session and each VIP's
// announcement. lo lists lo's addresses.
func doctorBGP(d *doctor, cfg *config.Config, st *control.Status, sysRoot string, lo []netip.Addr) {
	if cfg.BGP == nil {
		return
	}
	for i := range cfg.Services {
		s := &cfg.Services[i]
		if !cfg.Announces(s) {
			continue
		}
		key := s.Addr.String()
		switch {
		case s.Scheduler != "mh":
			d.Add(doctorpkg.Warn, "bgp", "%s uses %s: after an ECMP change another director picks its own real server for a moved flow and breaks it; use lvs_sched mh with mh-fallback (docs/scale-out.md)", key, s.Scheduler)
		case s.SchedFlags&config.SchedFlag1 == 0:
			d.Add(doctorpkg.Warn, "bgp", "%s uses mh without mh-fallback: a flow hashed to a weight-0 (draining) real server is dropped instead of going to the next one", key)
		default:
			d.Add(doctorpkg.OK, "bgp", "%s: mh with mh-fallback%s", key, map[bool]string{true: " and mh-port", false: " (no mh-port: one client address, one real server)"}[s.SchedFlags&config.SchedFlag2 != 0])
		}
	}
	switch v, err := readSys(sysRoot, "net.ipv4.vs.sloppy_tcp"); {
	case err != nil:
		d.Add(doctorpkg.Warn, "bgp", "net.ipv4.vs.sloppy_tcp: %v", err)
	case v != "1" && cfg.IPVS.SloppyTCP:
		d.Add(doctorpkg.Warn, "bgp", "net.ipv4.vs.sloppy_tcp = %s, want 1 (ipvs.sloppy_tcp: true; the daemon sets it at start)", v)
	case v != "1":
		d.Add(doctorpkg.Warn, "bgp", "net.ipv4.vs.sloppy_tcp = %s: a flow that an ECMP change moves to this director is dropped (its mid-flow packets make no connection entry); set ipvs.sloppy_tcp: true", v)
	default:
		d.Add(doctorpkg.OK, "bgp", "net.ipv4.vs.sloppy_tcp = 1")
	}
	for _, v := range cfg.AnnouncedVIPs() {
		if slices.Contains(lo, v.Addr) {
			d.Add(doctorpkg.OK, "bgp", "VIP %s is on lo", v.Addr)
		} else {
			d.Add(doctorpkg.Fail, "bgp", "VIP %s is not on lo: this director drops the traffic the routers send it (the daemon puts it there at start)", v.Addr)
		}
	}
	if st == nil {
		return
	}
	if st.BGP == nil {
		d.Add(doctorpkg.Warn, "bgp", "the daemon runs in VRRP mode: the bgp block takes a restart")
		return
	}
	up := 0
	for _, p := range st.BGP.Peers {
		if p.Established {
			up++
			d.Add(doctorpkg.OK, "bgp", "session with %s (AS %d) established", p.Address, p.AS)
		} else {
			d.Add(doctorpkg.Fail, "bgp", "session with %s (AS %d) is %s: nothing is announced to that router", p.Address, p.AS, p.State)
		}
	}
	if st.BGP.Draining {
		d.Add(doctorpkg.Warn, "bgp", "drain --self is on: this director announces nothing (`tandem-director undrain --self`)")
	}
	for _, v := range st.BGP.VIPs {
		switch {
		case v.State == "announced" && v.Why == "":
			d.Add(doctorpkg.OK, "bgp", "VIP %s announced", v.VIP)
		case up == 0:
			d.Add(doctorpkg.Fail, "bgp", "VIP %s %s: %s", v.VIP, v.State, v.Why)
		default:
			d.Add(doctorpkg.Warn, "bgp", "VIP %s %s: %s", v.VIP, v.State, v.Why)
		}
	}
}

// loAddrs lists lo's addresses (none when lo cannot be read).
func loAddrs() []netip.Addr {
	ifi, err := net.InterfaceByName("lo")
	if err != nil {
		return nil
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				out = append(out, ip.Unmap())
			}
		}
	}
	return out
}
