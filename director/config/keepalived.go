package config

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// ParseKeepalived reads keepalived.conf syntax. name is used in positions
// and as the base of relative include patterns, which are read from the file
// system. The result has every default applied and is validated; the error,
// if any, is an ErrorList.
func ParseKeepalived(name string, data []byte) (*Config, error) {
	return parseKeepalived(name, data, osFS{})
}

// ReadOptions are what a read of a keepalived.conf may depend on besides
// the files.
type ReadOptions struct {
	// ConfigID selects keepalived's conditional lines (@ID), as its
	// --config-id; empty means keepalived's default (ConfigID: the host
	// name up to its first dot).
	ConfigID string
}

func (o ReadOptions) configID() string {
	if o.ConfigID != "" {
		return o.ConfigID
	}
	return ConfigID()
}

// newKSyntax returns the statement reader of one read.
func newKSyntax(fsys includeFS, errs *ErrorList, opts []ReadOptions) *ksyntax {
	var o ReadOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	return &ksyntax{fsys: fsys, errs: errs, pre: prep{configID: o.configID()}}
}

func parseKeepalived(name string, data []byte, fsys includeFS, opts ...ReadOptions) (*Config, error) {
	var errs ErrorList
	syn := newKSyntax(fsys, &errs, opts)
	nodes := syn.file(name, data)
	if len(errs) > 0 {
		// Syntax errors only: mapping a broken tree would add noise.
		sortErrors(errs, syn.files)
		return nil, errs
	}
	p := &kparser{errs: &errs, cfg: Default(), fsys: fsys}
	p.cfg.Format = FormatKeepalived
	p.cfg.Files, p.cfg.FilesHash = syn.files, filesHash(syn.texts...)
	p.top(nodes)
	p.finish()
	p.cfg.Warnings = append(syn.warns, p.cfg.Warnings...)
	sortErrors(p.cfg.Warnings, syn.files)
	if len(errs) > 0 {
		sortErrors(errs, syn.files)
		return nil, errs
	}
	if err := p.cfg.Validate(); err != nil {
		return nil, err
	}
	return p.cfg, nil
}

// sortErrors orders errors by file (in reading order) and line.
func sortErrors(errs ErrorList, files []string) {
	idx := func(f string) int {
		if i := slices.Index(files, f); i >= 0 {
			return i
		}
		return len(files)
	}
	slices.SortStableFunc(errs, func(a, b *Error) int {
		if d := idx(a.Pos.File) - idx(b.Pos.File); d != 0 {
			return d
		}
		return a.Pos.Line - b.Pos.Line
	})
}

// kparser maps statement trees onto the model.
type kparser struct {
	errs *ErrorList
	cfg  *Config
	// fsys is where the scripts the file names are looked for (warnings
	// only).
	fsys includeFS

	vrrpVersion  int            // global_defs vrrp_version, 0 if not given
	syncKeywordP Pos            // where the sync daemon was set
	globalSeen   map[string]Pos // keywords of all global_defs blocks

	smtpAlert, smtpAlertVRRP bool  // global_defs smtp_alert, smtp_alert_vrrp
	alertUnset               []int // instances without their own smtp_alert

	// groupUses are the `virtual_server group NAME` blocks, expanded in
	// finish.
	groupUses []*knode
	// groups are the virtual_server_group blocks by name.
	groups map[string]*knode
	// fileChecks are the FILE_CHECKs' track_file references.
	fileChecks []fileCheckRef
	// garp holds global_defs' instance defaults and modes.
	garp globalGARP

	// next, if not nil, collects the cacheable virtual_server blocks of
	// this read (see Loader).
	next map[blockPlace]cachedBlock
	// fromCache[i] is true when service i came from the cache.
	fromCache []bool

	// rs is the real server being read; rsTable the handlers of its
	// block (realServerTable).
	rs      rsState
	rsTable map[string]handler
	// vs is the virtual_server being read; vsTable the handlers of its
	// block (virtualServerTable).
	vs      vsState
	vsTable map[string]handler
}

func (p *kparser) errf(n *knode, format string, args ...any) {
	p.errs.add(n.pos, "keyword %q: %s", n.kw, fmt.Sprintf(format, args...))
}

// handler handles one keyword in a block.
type handler struct {
	fn func(n *knode)
	// multi allows the keyword more than once in a block.
	multi bool
}

// block dispatches the statements of n's block on the table. Statements
// whose keyword is in deferred run after all the others, so that settings
// of the block apply to them whatever the order.
func (p *kparser) block(n *knode, table map[string]handler, deferred ...string) {
	p.blockSeen(n, map[string]Pos{}, table, deferred...)
}

// blockSeen is block with the map of keywords already seen, for blocks
// that may be given more than once (global_defs). A keyword not in the
// table is a warning (see unknown); a keyword given twice where keepalived
// takes one is a warning too, and the last one is used, as keepalived
// does.
func (p *kparser) blockSeen(n *knode, seen map[string]Pos, table map[string]handler, deferred ...string) {
	var later []*knode
	for _, c := range n.block {
		h, ok := table[c.kw]
		if !ok {
			p.unknown(n.kw, c)
			continue
		}
		if !h.multi {
			if first, dup := seen[c.kw]; dup {
				p.warnIs(c, "is given twice in %s (first at %s): keepalived uses the last one, and so does Tandem", n.kw, first)
			}
			seen[c.kw] = c.pos
		}
		if slices.Contains(deferred, c.kw) {
			later = append(later, c)
			continue
		}
		h.fn(c)
	}
	for _, c := range later {
		table[c.kw].fn(c)
	}
}

// args checks the argument count and that there is no block. Words past
// max are a warning and dropped, as keepalived ignores them.
func (p *kparser) args(n *knode, min, max int, usage string) bool {
	if n.hasBlock {
		p.errf(n, "takes no block (usage: %s)", usage)
		return false
	}
	if len(n.args) < min {
		p.errf(n, "wrong number of arguments (usage: %s)", usage)
		return false
	}
	p.extraArgs(n, max)
	return true
}

// argsOK reports whether args would pass n without a message (no block,
// min to max words): handlers ask it before making args' usage text.
func argsOK(n *knode, min, max int) bool {
	return !n.hasBlock && len(n.args) >= min && len(n.args) <= max
}

// needBlock checks that n has a block and the argument count.
func (p *kparser) needBlock(n *knode, nargs int, usage string) bool {
	if !n.hasBlock {
		p.errf(n, "needs a block { } (usage: %s)", usage)
		return false
	}
	if len(n.args) != nargs {
		p.errf(n, "wrong number of arguments (usage: %s)", usage)
		return false
	}
	return true
}

func (p *kparser) intArg(dst *int, lo, hi int) handler {
	return handler{fn: func(n *knode) {
		if !argsOK(n, 1, 1) && !p.args(n, 1, 1, fmt.Sprintf("%s %d..%d", n.kw, lo, hi)) {
			return
		}
		v, m := parseInt(n.args[0], lo, hi)
		if m != "" {
			p.errf(n, "%s", m)
			return
		}
		*dst = v
	}}
}

func (p *kparser) secondsArg(dst *time.Duration, lo, hi time.Duration) handler {
	return handler{fn: func(n *knode) {
		if !p.args(n, 1, 1, n.kw+" SECONDS") {
			return
		}
		d, m := parseSeconds(n.args[0])
		if m == "" {
			m = msgDurRange(d, lo, hi)
		}
		if m != "" {
			p.errf(n, "%s", m)
			return
		}
		*dst = d
	}}
}

// wholeSecondsArg is secondsArg for keywords keepalived reads as integers.
func (p *kparser) wholeSecondsArg(dst *time.Duration, lo, hi int) handler {
	return handler{fn: func(n *knode) {
		if !argsOK(n, 1, 1) && !p.args(n, 1, 1, fmt.Sprintf("%s %d..%d (seconds)", n.kw, lo, hi)) {
			return
		}
		v, m := parseInt(n.args[0], lo, hi)
		if m != "" {
			p.errf(n, "%s", m)
			return
		}
		*dst = time.Duration(v) * time.Second
	}}
}

// flagArg handles a keyword that sets a flag, with an optional <BOOL>.
func (p *kparser) flagArg(dst *bool, value bool) handler {
	return handler{fn: func(n *knode) {
		if !p.args(n, 0, 1, n.kw+" [on|off]") {
			return
		}
		b := true
		if len(n.args) == 1 {
			var m string
			if b, m = parseBool(n.args[0]); m != "" {
				p.errf(n, "%s", m)
				return
			}
		}
		*dst = b == value
	}}
}

// bareFlag handles a keyword without arguments.
func (p *kparser) bareFlag(dst *bool, value bool) handler {
	return handler{fn: func(n *knode) {
		if p.args(n, 0, 0, n.kw) {
			*dst = value
		}
	}}
}

// enumArg handles a keyword with one value checked by msg.
func (p *kparser) enumArg(dst *string, usage string, msg func(string) string) handler {
	return handler{fn: func(n *knode) {
		if !p.args(n, 1, 1, n.kw+" "+usage) {
			return
		}
		if m := msg(n.args[0]); m != "" {
			p.errf(n, "%s", m)
			return
		}
		*dst = n.args[0]
	}}
}

// enumOrDefault is enumArg for keywords whose bad values keepalived
// ignores with a message, keeping its default: a warning that says what
// is used instead.
func (p *kparser) enumOrDefault(dst *string, usage string, msg func(string) string, instead string) handler {
	return handler{fn: func(n *knode) {
		if !p.args(n, 1, 1, n.kw+" "+usage) {
			return
		}
		if m := msg(n.args[0]); m != "" {
			p.warnf(n, "%s: keepalived ignores the value and uses %s, and so does Tandem", m, instead)
			return
		}
		*dst = n.args[0]
	}}
}

func (p *kparser) stringArg(dst *string) handler {
	return handler{fn: func(n *knode) {
		if p.args(n, 1, 1, n.kw+" STRING") {
			*dst = n.args[0]
		}
	}}
}

// scriptArg handles notify scripts: one word, quoted if it has arguments,
// optionally followed by keepalived's USER [GROUP]. Tandem runs notify
// scripts as root: a user other than root is a warning.
func (p *kparser) scriptArg(dst *string) handler {
	return handler{fn: func(n *knode) {
		if n.hasBlock {
			p.errf(n, "takes no block")
			return
		}
		switch {
		case len(n.args) == 0:
			p.errf(n, "needs a script (quote it if it has arguments)")
		case strings.TrimSpace(n.args[0]) == "":
			p.errf(n, "the script is empty")
		default:
			p.extraArgs(n, 3)
			if len(n.args) > 1 && n.args[1] != "root" {
				p.warnf(n, "keepalived runs the script as user %q; Tandem runs notify scripts as root (quote the script if %q is one of its arguments)", n.args[1], n.args[1])
			}
			*dst = n.args[0]
		}
	}}
}

func (p *kparser) addrArg(dst *netip.Addr) handler {
	return handler{fn: func(n *knode) {
		if !p.args(n, 1, 1, n.kw+" IPADDR") {
			return
		}
		a, m := parseAddr(n.args[0])
		if m != "" {
			p.errf(n, "%s", m)
			return
		}
		*dst = a
	}}
}

// listBlock handles a block whose lines are items (virtual_ipaddress, ...).
func (p *kparser) listBlock(item func(n *knode, words []string)) handler {
	return handler{multi: true, fn: func(n *knode) {
		if !p.needBlock(n, 0, n.kw+" { ... }") {
			return
		}
		for _, c := range n.block {
			if c.hasBlock {
				p.errs.add(c.pos, "keyword %q: %q takes no block", n.kw, c.kw)
				continue
			}
			item(c, append([]string{c.kw}, c.args...))
		}
	}}
}

// top handles the top level.
func (p *kparser) top(nodes []*knode) {
	root := &knode{kw: "top level", block: nodes, hasBlock: true}
	p.globalSeen = map[string]Pos{}
	p.block(root, map[string]handler{
		"global_defs":          {multi: true, fn: p.globalDefs},
		"vrrp_instance":        {multi: true, fn: p.vrrpInstance},
		"virtual_server":       {multi: true, fn: p.virtualServer},
		"vrrp_script":          {multi: true, fn: p.vrrpScript},
		"vrrp_track_process":   {multi: true, fn: p.vrrpTrackProcess},
		"vrrp_track_file":      {multi: true, fn: p.vrrpTrackFile},
		"track_file":           {multi: true, fn: p.vrrpTrackFile},
		"vrrp_sync_group":      {multi: true, fn: p.vrrpSyncGroup},
		"virtual_server_group": {multi: true, fn: p.virtualServerGroup},
		"static_ipaddress":     p.addressList("static_ipaddress", &p.cfg.Static.Addresses),
		"static_routes":        p.routeList("static_routes", &p.cfg.Static.Routes),
		"static_rules":         p.ruleList("static_rules", &p.cfg.Static.Rules),
	})
}

func (p *kparser) globalDefs(n *knode) {
	if !p.needBlock(n, 0, "global_defs { ... }") {
		return
	}
	c := p.cfg
	if c.Notification.Pos.File == "" {
		c.Notification.Pos = n.pos
	}
	table := map[string]handler{
		"notification_email": p.listBlock(func(n *knode, w []string) {
			if len(w) != 1 {
				p.errs.add(n.pos, "keyword \"notification_email\": one address per line (quote a display name)")
				return
			}
			c.Notification.Email = append(c.Notification.Email, w[0])
		}),
		"notification_email_from": p.stringArg(&c.Notification.From),
		"smtp_server": {fn: func(n *knode) {
			if !p.args(n, 1, 2, "smtp_server HOST [PORT]") {
				return
			}
			if m := msgHost(n.args[0]); m != "" {
				p.warnf(n, "%s: keepalived ignores it (\"Invalid smtp server\"), and so does Tandem", m)
				return
			}
			port := DefaultSMTPPort
			if len(n.args) == 2 {
				v, m := parsePort(n.args[1], false)
				if m != "" {
					p.errf(n, "%s", m)
					return
				}
				port = int(v)
			}
			c.Notification.SMTPServer = joinHostPort(n.args[0], port)
		}},
		"smtp_connect_timeout": p.secondsArg(&c.Notification.SMTPConnectTimeout, time.Millisecond, time.Hour),
		"smtp_alert":           p.flagArg(&p.smtpAlert, true),
		"smtp_alert_vrrp":      p.flagArg(&p.smtpAlertVRRP, true),
		"no_email_faults":      p.bareFlag(&c.Notification.NoEmailFaults, true),
		"router_id":            p.nodeArg(),
		"vrrp_version":         p.intArg(&p.vrrpVersion, 2, 3),
		"lvs_sync_daemon":      {fn: p.lvsSyncDaemon},
	}
	p.globalExtras(table)
	p.blockSeen(n, p.globalSeen, table)
}

// nodeArg handles router_id, which names the node (keepalived 2.2.7 no
// longer knows its 1.x name lvs_id: a warning, and skipped).
func (p *kparser) nodeArg() handler {
	return handler{fn: func(n *knode) {
		if p.args(n, 1, 1, n.kw+" NAME") {
			p.cfg.Node = n.args[0]
		}
	}}
}

// lvsSyncDaemon handles global_defs
// `lvs_sync_daemon IFACE [[inst] INSTANCE] [id SYNCID]`.
func (p *kparser) lvsSyncDaemon(n *knode) {
	const usage = "lvs_sync_daemon INTERFACE [[inst] VRRP_INSTANCE] [id 0..255]"
	if !p.args(n, 1, 5, usage) {
		return
	}
	if m := msgIfName(n.args[0]); m != "" {
		p.errf(n, "%s", m)
		return
	}
	s := &ConnSync{Interface: n.args[0], Pos: n.pos}
	rest := n.args[1:]
	for len(rest) > 0 {
		switch rest[0] {
		case "id":
			if len(rest) < 2 {
				p.errf(n, "id needs a value (usage: %s)", usage)
				return
			}
			v, m := parseInt(rest[1], 0, 255)
			if m != "" {
				p.errf(n, "id %s", m)
				return
			}
			s.SyncID = v
			rest = rest[2:]
		case "maxlen", "port", "ttl", "group":
			p.errf(n, "option %q is not supported (usage: %s)", rest[0], usage)
			return
		case "inst":
			if len(rest) < 2 {
				p.errf(n, "inst needs a value (usage: %s)", usage)
				return
			}
			rest = rest[1:]
			fallthrough
		default:
			if s.Instance != "" {
				p.errf(n, "%q: the instance is already %q (usage: %s)", rest[0], s.Instance, usage)
				return
			}
			s.Instance = rest[0]
			rest = rest[1:]
		}
	}
	p.setSync(n, s)
}

func (p *kparser) setSync(n *knode, s *ConnSync) {
	if p.cfg.ConnSync != nil {
		p.warnf(n, "the IPVS sync daemon is already set at %s: keepalived ignores this one, and so does Tandem", p.syncKeywordP)
		return
	}
	p.cfg.ConnSync = s
	p.syncKeywordP = n.pos
}

func (p *kparser) vrrpInstance(n *knode) {
	if !p.needBlock(n, 1, "vrrp_instance NAME { ... }") {
		return
	}
	in := newInstance(n.args[0], n.pos)
	state := string(in.State)
	table := map[string]handler{
		"state": p.enumOrDefault(&state, "MASTER|BACKUP", func(s string) string {
			return msgState(VRRPState(s))
		}, "BACKUP"),
		"interface":         p.stringArg(&in.Interface),
		"virtual_router_id": p.intArg(&in.VirtualRouterID, 1, 255),
		"priority":          p.intArg(&in.Priority, 1, 255),
		"nopreempt":         p.bareFlag(&in.NoPreempt, true),
		"preempt":           p.bareFlag(&in.NoPreempt, false),
		"preempt_delay":     p.secondsArg(&in.PreemptDelay, 0, 1000*time.Second),
		"advert_int":        p.secondsArg(&in.AdvertInt, time.Millisecond, 255*time.Second),
		"version":           p.intArg(&in.Version, 2, 3),
		"authentication": {fn: func(c *knode) {
			if !p.needBlock(c, 0, "authentication { auth_type PASS; auth_pass PASSWORD }") {
				return
			}
			a := &Auth{Pos: c.pos}
			p.block(c, map[string]handler{
				"auth_type": {fn: func(c *knode) {
					if !p.args(c, 1, 1, "auth_type PASS") {
						return
					}
					switch c.args[0] {
					case AuthPass:
					case "AH":
						p.errf(c, "AH (IPsec authentication header) is not supported: RFC 3768 removed authentication from VRRP and RFC 5798 has none; "+
							"use auth_type PASS for keepalived peers, or no authentication block")
						return
					default:
						p.errf(c, "%q is not supported (only PASS)", c.args[0])
						return
					}
					a.Type = c.args[0]
				}},
				"auth_pass": {fn: func(c *knode) {
					if !p.args(c, 1, 1, "auth_pass PASSWORD") {
						return
					}
					pass := c.args[0]
					if len(pass) > 8 {
						p.warnf(c, "the password is %d bytes; VRRP carries 8: keepalived uses the first 8 (%q), and so does Tandem", len(pass), pass[:8])
						pass = pass[:8]
					}
					if m := msgAuthPass(pass); m != "" {
						p.errf(c, "%s", m)
						return
					}
					a.Pass = pass
				}},
			})
			// A keyword that is present but wrong has been reported.
			switch {
			case !has(c, "auth_type"):
				p.errf(c, "needs auth_type PASS")
			case !has(c, "auth_pass"):
				p.errf(c, "needs auth_pass")
			case a.Type != "" && a.Pass != "":
				in.Auth = a
			}
		}},
		"virtual_ipaddress":          p.addressList("virtual_ipaddress", &in.VirtualIPs),
		"virtual_ipaddress_excluded": p.addressList("virtual_ipaddress_excluded", &in.ExcludedVIPs),
		"virtual_routes":             p.routeList("virtual_routes", &in.VirtualRoutes),
		"virtual_rules":              p.ruleList("virtual_rules", &in.VirtualRules),
		"unicast_src_ip":             p.addrArg(&in.SourceIP),
		"mcast_src_ip":               p.addrArg(&in.SourceIP),
		"unicast_peer": p.listBlock(func(c *knode, w []string) {
			if len(w) != 1 {
				p.errs.add(c.pos, "keyword \"unicast_peer\": option %q is not supported (one address per line)", w[1])
				return
			}
			a, m := parseAddr(w[0])
			if m != "" {
				p.errs.add(c.pos, "keyword \"unicast_peer\": %s", m)
				return
			}
			in.UnicastPeers = append(in.UnicastPeers, UnicastPeer{Addr: a, Pos: c.pos})
		}),
		"track_interface": p.listBlock(func(c *knode, w []string) {
			t, m := parseTrackInterface(w)
			if m != "" {
				p.errs.add(c.pos, "keyword \"track_interface\": %s", m)
				return
			}
			t.Pos = c.pos
			in.TrackInterfaces = append(in.TrackInterfaces, t)
		}),
		"notify_master":              p.scriptArg(&in.Notify.Master),
		"notify_backup":              p.scriptArg(&in.Notify.Backup),
		"notify_fault":               p.scriptArg(&in.Notify.Fault),
		"notify_stop":                p.scriptArg(&in.Notify.Stop),
		"notify":                     p.scriptArg(&in.Notify.Any),
		"smtp_alert":                 p.flagArg(&in.SMTPAlert, true),
		"garp_master_delay":          p.wholeSecondsArg(&in.GARPMasterDelay, 0, 3600),
		"garp_master_repeat":         p.intArg(&in.GARPMasterRepeat, 1, 255),
		"garp_master_refresh":        p.wholeSecondsArg(&in.GARPMasterRefresh, 0, 86400),
		"garp_master_refresh_repeat": p.intArg(&in.GARPMasterRefreshRepeat, 1, 255),
		"lvs_sync_daemon_interface": {fn: func(c *knode) {
			if !p.args(c, 1, 1, "lvs_sync_daemon_interface INTERFACE") {
				return
			}
			if m := msgIfName(c.args[0]); m != "" {
				p.errf(c, "%s", m)
				return
			}
			p.setSync(c, &ConnSync{Interface: c.args[0], Instance: in.Name, Pos: c.pos})
		}},
	}
	p.trackHandlers(table, &in.Track)
	table["use_vmac"] = handler{fn: func(c *knode) {
		p.extraArgs(c, 1)
		p.warnf(c, "keepalived creates a macvlan interface (vrrp.%s or the name given) with the VRRP MAC 00:00:5e:00:01:%02x on %s and moves the VIPs "+
			"with that MAC; Tandem does not (it is ignored): the VIPs stay on %s with its own MAC, and a new master announces them with gratuitous ARPs "+
			"(IPv6: unsolicited neighbour adverts), so hosts and switches that ignore gratuitous ARPs keep the old MAC until their cache expires",
			p.vridText(n), p.vridByte(n), "the interface", "the interface")
	}}
	table["vmac_xmit_base"] = handler{fn: func(c *knode) {
		p.warnf(c, "applies to use_vmac, which Tandem ignores (see there)")
	}}
	p.block(n, table)
	in.State = VRRPState(state)
	p.keepalivedCorrects(n, &in)
	if !has(n, "interface") {
		p.errs.add(n.pos, "vrrp_instance %q: keyword \"interface\" is missing", in.Name)
	} else if m := msgIfName(in.Interface); m != "" && in.Interface != "" {
		p.errs.add(n.pos, "vrrp_instance %q: keyword \"interface\": %s", in.Name, m)
	}
	if !has(n, "virtual_router_id") {
		p.errs.add(n.pos, "vrrp_instance %q: keyword \"virtual_router_id\" is missing", in.Name)
	}
	if len(in.VirtualIPs) == 0 {
		p.warnAt(n.pos, "vrrp_instance %q: keyword \"virtual_ipaddress\": no address: keepalived runs the instance without one (\"No VIP specified\"), and so does Tandem", in.Name)
	}
	in.VirtualIPs = p.dropDuplicateVIPs(in.Name, in.VirtualIPs)
	in.ExcludedVIPs = p.dropDuplicateVIPs(in.Name, in.ExcludedVIPs)
	for _, vips := range [][]VirtualIP{in.VirtualIPs, in.ExcludedVIPs} {
		for i := range vips {
			if vips[i].Dev == "" {
				vips[i].Dev = in.Interface
			}
		}
	}
	if !has(n, "smtp_alert") {
		p.alertUnset = append(p.alertUnset, len(p.cfg.VRRP))
	}
	p.rememberGARP(n, len(p.cfg.VRRP))
	p.cfg.VRRP = append(p.cfg.VRRP, in)
}

// dropDuplicateVIPs drops an address listed twice, as keepalived does,
// with a warning.
func (p *kparser) dropDuplicateVIPs(name string, vips []VirtualIP) []VirtualIP {
	seen := map[netip.Addr]Pos{}
	out := vips[:0]
	for _, v := range vips {
		if first, dup := seen[v.Prefix.Addr()]; dup {
			p.warnAt(v.Pos, "vrrp_instance %q: %s is listed twice (first at %s): keepalived ignores the second, and so does Tandem", name, v.Prefix.Addr(), first)
			continue
		}
		seen[v.Prefix.Addr()] = v.Pos
		out = append(out, v)
	}
	return out
}

// vridText and vridByte read an instance's virtual_router_id for a
// message, before the block is mapped.
func (p *kparser) vridText(n *knode) string {
	for _, c := range n.block {
		if c.kw == "virtual_router_id" && len(c.args) > 0 {
			return c.args[0]
		}
	}
	return "VRID"
}

func (p *kparser) vridByte(n *knode) int {
	v, m := parseInt(p.vridText(n), 1, 255)
	if m != "" {
		return 0
	}
	return v
}

// keepalivedCorrects applies the corrections keepalived makes to an
// instance's settings, each with a warning (keepalived logs the same).
func (p *kparser) keepalivedCorrects(n *knode, in *VRRPInstance) {
	if in.State == StateMaster && !has(n, "priority") {
		p.warnAt(n.pos, "vrrp_instance %q: keyword \"priority\" is missing with state MASTER: keepalived 2.2.7 then makes the instance the address owner (priority 255), and so does Tandem; give a priority below 255 to let a peer preempt it", in.Name)
		in.Priority = 255
	}
	at := func(kw string) Pos {
		for _, c := range n.block {
			if c.kw == kw {
				return c.pos
			}
		}
		return n.pos
	}
	w := fmt.Sprintf("vrrp_instance %q", in.Name)
	if in.Priority == 255 && in.NoPreempt {
		p.warnAt(at("nopreempt"), "%s: keyword \"nopreempt\": the address owner (priority 255) always preempts: keepalived clears nopreempt, and so does Tandem", w)
		in.NoPreempt = false
	}
	if in.Priority == 255 && in.State != StateMaster {
		p.warnAt(at("priority"), "%s: keyword \"priority\": 255 is the address owner: keepalived starts it as MASTER whatever state says, and so does Tandem", w)
		in.State = StateMaster
	}
	if in.State == StateMaster {
		if in.NoPreempt {
			p.warnAt(at("nopreempt"), "%s: keyword \"nopreempt\": has no effect with state MASTER: keepalived clears it, and so does Tandem (use state BACKUP on both peers for a sticky master)", w)
			in.NoPreempt = false
		}
		if in.PreemptDelay != 0 {
			p.warnAt(at("preempt_delay"), "%s: keyword \"preempt_delay\": has no effect with state MASTER: keepalived clears it, and so does Tandem", w)
			in.PreemptDelay = 0
		}
	}
	if in.NoPreempt && in.PreemptDelay != 0 {
		p.warnAt(at("preempt_delay"), "%s: keyword \"preempt_delay\": has no effect with nopreempt: keepalived clears it, and so does Tandem", w)
		in.PreemptDelay = 0
	}
}

func (p *kparser) virtualServer(n *knode) {
	const usage = "virtual_server IPADDR [PORT] { ... }, virtual_server fwmark N { ... } or virtual_server group NAME { ... }"
	if p.next != nil {
		p.fromCache = append(p.fromCache, make([]bool, len(p.cfg.Services)+1-len(p.fromCache))...)
	}
	if n.cache != nil && n.cache.vs != nil {
		p.cfg.Services = append(p.cfg.Services, *n.cache.vs)
		p.cfg.Warnings = append(p.cfg.Warnings, n.cache.warns...)
		p.fromCache[len(p.cfg.Services)-1] = true
		p.remember(n, len(p.cfg.Warnings)-len(n.cache.warns))
		return
	}
	if n.cache != nil && !(len(n.args) >= 1 && n.args[0] == "group") {
		errs, warns := len(*p.errs), len(p.cfg.Warnings)
		defer func() {
			if len(*p.errs) == errs {
				p.remember(n, warns)
			}
		}()
	}
	if !n.hasBlock {
		p.errf(n, "needs a block { } (usage: %s)", usage)
		return
	}
	s := newService(n.pos)
	switch {
	case len(n.args) >= 1 && n.args[0] == "group":
		if len(n.args) < 2 {
			p.errf(n, "wrong number of arguments (usage: %s)", usage)
			return
		}
		p.extraArgs(n, 2)
		// Expanded in finish, once every virtual_server_group is read.
		p.groupUses = append(p.groupUses, n)
		return
	case len(n.args) >= 2 && n.args[0] == "fwmark":
		p.extraArgs(n, 2)
		v, m := parseInt(n.args[1], 1, 1<<32-1)
		if m != "" {
			p.errf(n, "fwmark %s", m)
			return
		}
		s.FWMark = uint32(v)
	case len(n.args) >= 1:
		p.extraArgs(n, 2)
		a, m := parseAddr(n.args[0])
		if m != "" {
			p.errf(n, "%s (usage: %s)", m, usage)
			return
		}
		var port uint16
		if len(n.args) == 2 {
			if port, m = parsePort(n.args[1], false); m != "" {
				p.errf(n, "%s", m)
				return
			}
		}
		s.Addr = netip.AddrPortFrom(a, port)
	default:
		p.errf(n, "wrong number of arguments (usage: %s)", usage)
		return
	}
	p.virtualServerBody(n, &s)
	p.cfg.Services = append(p.cfg.Services, s)
}

// virtualServerBody reads the block of a virtual_server into s, whose
// address or fwmark is set.
func (p *kparser) virtualServerBody(n *knode, s *VirtualService) {
	s.Forwarding = NAT // keepalived's default
	rss := 0
	for _, c := range n.block {
		if c.kw == "real_server" {
			rss++
		}
	}
	s.RealServers = make([]RealServer, 0, rss)
	p.vs = vsState{s: *s, sched: s.Scheduler, method: string(s.Forwarding), proto: string(s.Protocol)}
	p.block(n, p.virtualServerTable(), "real_server")
	*s = p.vs.s
	sched, method, proto, sorry := p.vs.sched, p.vs.method, p.vs.proto, p.vs.sorry
	p.vs = vsState{}
	if s.FWMark == 0 && Protocol(proto) == TCP && !has(n, "protocol") {
		p.warnAt(n.pos, "virtual_server %s: keyword \"protocol\" is missing: keepalived 2.2.7 then uses UDP (\"no protocol set - defaulting to UDP\"), and so does Tandem; write protocol TCP for a TCP service", s.Addr)
		proto = string(UDP)
	}
	s.Scheduler, s.Forwarding, s.Protocol = sched, Forwarding(method), Protocol(proto)
	if s.OnePacket && s.FWMark == 0 && s.Protocol != UDP {
		p.warnAt(n.pos, "virtual_server %s: keyword \"ops\": one-packet scheduling is for UDP (or fwmark) services: keepalived 2.2.7 turns it off (\"one packet scheduling requires UDP - resetting\"), and so does Tandem", s.Addr)
		s.OnePacket = false
	}
	if (s.Forwarding == DR || s.Forwarding == TUN) && s.FWMark == 0 && s.Addr.Port() != 0 {
		for i := range s.RealServers {
			rs := &s.RealServers[i]
			if rs.Addr.Port() != s.Addr.Port() {
				p.warnAt(rs.Pos, "real_server %s: its port differs from the virtual port %d, which %s forwarding cannot change: keepalived uses the virtual port, and so does Tandem", rs.Addr, s.Addr.Port(), s.Forwarding)
				rs.Addr = netip.AddrPortFrom(rs.Addr.Addr(), s.Addr.Port())
			}
		}
	}
	if sorry != nil {
		a, m := parseAddr(sorry.args[0])
		var port uint16
		if m == "" && len(sorry.args) == 2 {
			port, m = parsePort(sorry.args[1], true)
		}
		if m != "" {
			p.errf(sorry, "%s", m)
		} else {
			if port == 0 && s.FWMark == 0 {
				port = s.Addr.Port()
			}
			s.SorryServer = &SorryServer{Addr: netip.AddrPortFrom(a, port), Pos: sorry.pos}
		}
	}
}

// vsState is the virtual_server being read (virtualServerTable).
type vsState struct {
	s                    VirtualService
	sched, method, proto string
	virtualHost          string
	inhibit              bool
	sorry                *knode
	defs                 checkDefaults
}

// virtualServerTable returns the handlers of a virtual_server block,
// which write to p.vs; made once per read, as realServerTable.
func (p *kparser) virtualServerTable() map[string]handler {
	if p.vsTable != nil {
		return p.vsTable
	}
	st := &p.vs
	table := map[string]handler{
		"delay_loop":  p.secondsArg(&st.s.DelayLoop, 10*time.Millisecond, 24*time.Hour),
		"lb_algo":     p.enumOrDefault(&st.sched, "SCHEDULER", msgScheduler, "wlc (unless another lb_algo/lvs_sched line says otherwise)"),
		"lvs_sched":   p.enumOrDefault(&st.sched, "SCHEDULER", msgScheduler, "wlc (unless another lb_algo/lvs_sched line says otherwise)"),
		"lb_kind":     p.enumOrDefault(&st.method, "DR|NAT|TUN", func(s string) string { return msgForwarding(Forwarding(s)) }, "NAT (the names are case-sensitive: write DR)"),
		"lvs_method":  p.enumOrDefault(&st.method, "DR|NAT|TUN", func(s string) string { return msgForwarding(Forwarding(s)) }, "NAT (the names are case-sensitive: write DR)"),
		"protocol":    p.enumOrDefault(&st.proto, "TCP|UDP|SCTP", func(s string) string { return msgProtocol(Protocol(s)) }, "UDP, its default without a protocol (write TCP)"),
		"virtualhost": p.stringArg(&st.virtualHost),
		"persistence_timeout": {fn: func(c *knode) {
			if !p.args(c, 0, 1, "persistence_timeout [SECONDS]") {
				return
			}
			if len(c.args) == 0 {
				st.s.Persistence = DefaultPersistenceTimeout
				return
			}
			v, m := parseInt(c.args[0], 1, 2678400)
			if m != "" {
				// keepalived: "persistence_timeout invalid", and no
				// persistence.
				p.warnf(c, "%s: keepalived ignores it (no persistence), and so does Tandem", m)
				return
			}
			st.s.Persistence = time.Duration(v) * time.Second
		}},
		"sorry_server": {fn: func(c *knode) {
			if p.args(c, 1, 2, "sorry_server IPADDR [PORT]") {
				st.sorry = c
			}
		}},
		"sorry_server_inhibit": p.flagArg(&st.s.SorryServerInhibit, true),
		"quorum": {fn: func(c *knode) {
			v := -1
			if !p.args(c, 1, 1, "quorum N") {
				return
			}
			if n, m := parseInt(c.args[0], 1, 1<<31-1); m != "" {
				p.warnf(c, "%s: keepalived uses 1, and so does Tandem", m)
				v = 1
			} else {
				v = n
			}
			st.s.Quorum = v
		}},
		"hysteresis":         p.intArg(&st.s.Hysteresis, 0, 1<<31-1),
		"quorum_up":          p.scriptArg(&st.s.QuorumUp),
		"quorum_down":        p.scriptArg(&st.s.QuorumDown),
		"alpha":              p.flagArg(&st.s.Alpha, true),
		"omega":              p.flagArg(&st.s.Omega, true),
		"inhibit_on_failure": p.flagArg(&st.inhibit, true),
		"ops": {fn: func(c *knode) {
			if p.args(c, 0, 0, "ops") {
				st.s.OnePacket = true
			}
		}},
		"real_server": {multi: true, fn: func(c *knode) {
			p.realServer(c, &st.s, st.inhibit, st.virtualHost, st.defs)
		}},
	}
	for _, kw := range []string{"flag-1", "flag-2", "flag-3", "sh-fallback", "sh-port", "mh-fallback", "mh-port"} {
		table[kw] = handler{multi: true, fn: func(c *knode) { p.schedFlag(c, st) }}
	}
	p.checkDefaultHandlers(table, &st.defs)
	p.vsTable = table
	return table
}

// schedFlag reads a scheduler flag line (flag-1, sh-port, mh-fallback,
// ...) as keepalived 2.2.7 does: flag-N sets its bit whatever the
// scheduler; sh-* and mh-* only under the scheduler named so far in the
// block (an lvs_sched line after them does not count). keepalived reports
// an sh-*/mh-* flag under a scheduler other than sh or mh ("only applies
// to sh scheduler - ignoring") and ignores it silently under the other of
// the two; Tandem warns in both cases and ignores it too.
func (p *kparser) schedFlag(c *knode, st *vsState) {
	if !p.args(c, 0, 0, c.kw) {
		return
	}
	f, m := ParseSchedFlag(st.sched, c.kw)
	if m != "" {
		p.warnf(c, "%s at this line (give lvs_sched first): keepalived ignores it, and so does Tandem", m)
		return
	}
	st.s.SchedFlags |= f
}

// remember keeps the service that n just gave for the next read (see
// Loader): a copy of its value, whose slices nobody writes after a read,
// and the warnings its block gave (from index warns on).
func (p *kparser) remember(n *knode, warns int) {
	if p.next == nil || n.cache == nil {
		return
	}
	cb := *n.cache
	if cb.vs == nil {
		vs := p.cfg.Services[len(p.cfg.Services)-1]
		cb.vs = &vs
		cb.warns = slices.Clone(p.cfg.Warnings[warns:])
	}
	p.next[blockPlace{n.pos.File, n.pos.Line}] = cb
}

func (p *kparser) realServer(n *knode, s *VirtualService, inhibit bool, virtualHost string, defs checkDefaults) {
	// A real server without a block (or checks) is always up, as in
	// keepalived.
	const usage = "real_server IPADDR [PORT] { ... }"
	if len(n.args) < 1 {
		p.errf(n, "wrong number of arguments (usage: %s)", usage)
		return
	}
	p.extraArgs(n, 2)
	a, m := parseAddr(n.args[0])
	if m != "" {
		p.errf(n, "%s", m)
		return
	}
	var port uint16
	if len(n.args) == 2 {
		if port, m = parsePort(n.args[1], s.FWMark != 0); m != "" {
			p.errf(n, "%s", m)
			return
		}
	}
	if port == 0 && s.FWMark == 0 {
		port = s.Addr.Port()
	}
	p.rs = rsState{rs: newRealServer(netip.AddrPortFrom(a, port), n.pos), virtualHost: virtualHost, defs: defs}
	p.rs.rs.InhibitOnFailure = inhibit
	if n.hasBlock {
		// Settings of the real server apply to its checks whatever the
		// order: the checks are read last.
		p.block(n, p.realServerTable(), checkerKeywordNames...)
	}
	s.RealServers = append(s.RealServers, p.rs.rs)
}

// rsState is the real server being read, with what its checks take from
// its block and its virtual_server's (realServerTable).
type rsState struct {
	rs          RealServer
	virtualHost string
	defs        checkDefaults
}

// checkerKeywordNames are the checkers' keywords in a real_server block.
var checkerKeywordNames = []string{string(HTTPGet), string(SSLGet), string(TCPCheck), string(MiscCheck), string(PingCheck),
	string(UDPCheck), string(DNSCheck), string(SMTPCheck), string(FileCheck)}

// realServerTable returns the handlers of a real_server block, which
// write to p.rs. It is made once per read: at 10,000 real servers, making
// it for each block took most of the parse.
func (p *kparser) realServerTable() map[string]handler {
	if p.rsTable != nil {
		return p.rsTable
	}
	st := &p.rs
	table := map[string]handler{
		"weight":             p.intArg(&st.rs.Weight, 0, 65535),
		"inhibit_on_failure": p.flagArg(&st.rs.InhibitOnFailure, true),
		"notify_up":          p.scriptArg(&st.rs.NotifyUp),
		"notify_down":        p.scriptArg(&st.rs.NotifyDown),
		"virtualhost":        p.stringArg(&st.virtualHost),
	}
	for _, kw := range checkerKeywordNames {
		t := CheckType(kw)
		table[kw] = handler{multi: true, fn: func(c *knode) {
			p.check(c, t, &st.rs, st.virtualHost, st.defs)
		}}
	}
	p.checkDefaultHandlers(table, &st.defs)
	p.rsTable = table
	return table
}

// checkDefaults are checker settings given on a virtual_server or a
// real_server, which its checks take unless they set their own
// (keepalived.conf(5): "see above").
type checkDefaults struct {
	connectTimeout, delayBeforeRetry *time.Duration
	retry                            *int
}

// checkDefaultHandlers adds the checker settings a virtual_server or a
// real_server may give for its checks.
func (p *kparser) checkDefaultHandlers(table map[string]handler, d *checkDefaults) {
	dur := func(dst **time.Duration, lo, hi time.Duration) handler {
		return handler{fn: func(n *knode) {
			var v time.Duration
			p.secondsArg(&v, lo, hi).fn(n)
			*dst = &v
		}}
	}
	table["connect_timeout"] = dur(&d.connectTimeout, time.Millisecond, time.Hour)
	table["delay_before_retry"] = dur(&d.delayBeforeRetry, 0, time.Hour)
	retry := handler{fn: func(n *knode) {
		v := -1
		p.intArg(&v, 0, 1000).fn(n)
		if v >= 0 {
			d.retry = &v
		}
	}}
	table["retry"] = retry
}

func (p *kparser) check(n *knode, t CheckType, rs *RealServer, virtualHost string, defs checkDefaults) {
	if !p.needBlock(n, 0, string(t)+" { ... }") {
		return
	}
	c := newCheck(t, n.pos)
	if t == HTTPGet || t == SSLGet {
		c.VirtualHost = virtualHost
	}
	if defs.connectTimeout != nil {
		c.ConnectTimeout = *defs.connectTimeout
	}
	if defs.delayBeforeRetry != nil {
		c.DelayBeforeRetry = *defs.delayBeforeRetry
	}
	if defs.retry != nil {
		c.Retry = *defs.retry
	}
	table := map[string]handler{}
	if t != MiscCheck && t != FileCheck {
		table = map[string]handler{
			"connect_timeout": p.secondsArg(&c.ConnectTimeout, time.Millisecond, time.Hour),
			"connect_port": {fn: func(n *knode) {
				if !p.args(n, 1, 1, "connect_port PORT") {
					return
				}
				v, m := parsePort(n.args[0], false)
				if m != "" {
					p.errf(n, "%s", m)
					return
				}
				c.ConnectPort = int(v)
			}},
			"connect_ip": p.addrArg(&c.ConnectIP),
			"bindto":     p.addrArg(&c.BindTo),
		}
	}
	if t != FileCheck {
		table["retry"] = p.intArg(&c.Retry, 0, 1000)
		table["delay_before_retry"] = p.secondsArg(&c.DelayBeforeRetry, 0, time.Hour)
	}
	if t == HTTPGet || t == SSLGet {
		// keepalived 2.2.7 takes the old name here only; elsewhere it
		// skips it (the check keeps its default retry).
		table["nb_get_retry"] = p.intArg(&c.Retry, 0, 1000)
	}
	switch t {
	case HTTPGet, SSLGet:
		table["virtualhost"] = p.stringArg(&c.VirtualHost)
		table["url"] = handler{multi: true, fn: func(n *knode) {
			if !p.needBlock(n, 0, "url { path PATH; status_code CODE...; digest MD5 }") {
				return
			}
			u := URL{Pos: n.pos}
			p.block(n, map[string]handler{
				"path": p.stringArg(&u.Path),
				"digest": {fn: func(n *knode) {
					if !p.args(n, 1, 1, "digest MD5") {
						return
					}
					if m := msgDigest(n.args[0]); m != "" {
						p.errf(n, "%s", m)
						return
					}
					u.Digest = n.args[0]
				}},
				"status_code": {fn: func(n *knode) {
					if !p.args(n, 1, 100, "status_code CODE|MIN-MAX ...") {
						return
					}
					for _, a := range n.args {
						r, m := parseStatus(a)
						if m != "" {
							p.errf(n, "%s", m)
							return
						}
						u.StatusCodes = append(u.StatusCodes, r)
					}
				}},
			})
			if u.Path == "" {
				p.errs.add(n.pos, "keyword \"url\": keyword \"path\" is missing")
				return
			}
			c.URLs = append(c.URLs, u)
		}}
	default:
		p.checkerKeywords(table, &c)
	}
	p.block(n, table)
	if t == HTTPGet || t == SSLGet {
		if len(c.URLs) == 0 {
			// keepalived: "HTTP/SSL_GET checker has no urls specified -
			// ignoring"; the real server then has no such check.
			p.warnf(n, "has no url { }: keepalived ignores this checker, and so does Tandem")
			return
		}
	}
	if !p.checkerComplete(n, &c) {
		return
	}
	rs.Checks = append(rs.Checks, c)
}

// has reports whether n's block has a statement with keyword kw.
func has(n *knode, kw string) bool {
	return slices.ContainsFunc(n.block, func(c *knode) bool { return c.kw == kw })
}

// finish resolves what depends on the whole file: VRRP versions and the
// sync id.
func (p *kparser) finish() {
	c := p.cfg
	p.expandGroups()
	p.resolveTracking()
	p.finishGlobal()
	p.checkScripts()
	for _, f := range p.fileChecks {
		if c.TrackedFile(f.name) == nil {
			p.errs.add(f.pos, "keyword \"FILE_CHECK\": track_file %q is not defined by a vrrp_track_file", f.name)
		}
	}
	for i := range c.VRRP {
		if in := &c.VRRP[i]; in.Version == 0 {
			in.Version = defaultVersion(in, p.vrrpVersion)
		}
	}
	// A sync daemon without "id" runs with sync id 0 under keepalived
	// 2.2.7 (its checker process starts the daemons before the VRRP
	// process would give them the instance's VRID: measured in the VM by
	// e2e/kadiff); SyncID stays 0, so that a Tandem and a keepalived
	// director sync with each other.
	// smtp_alert as keepalived resolves it: the instance's own, else
	// smtp_alert_vrrp, else smtp_alert, else off.
	alert := false
	if _, ok := p.globalSeen["smtp_alert_vrrp"]; ok {
		alert = p.smtpAlertVRRP
	} else if _, ok := p.globalSeen["smtp_alert"]; ok {
		alert = p.smtpAlert
	}
	for _, i := range p.alertUnset {
		c.VRRP[i].SMTPAlert = alert
	}
}
