package app

import (
	"fmt"

	"github.com/google/nftables/expr"

	"github.com/tandemlb/tandem/director/config"
)

// VRRP is IP protocol 112. The seed's step 3: with a firewall on, VRRP must
// be let in (`iptables -A INPUT -p vrrp -j ACCEPT`), or the adverts never
// arrive and every director believes it is master.
const protoVRRP = 112

// FirewallRule is the part of an nftables rule that matters to VRRP.
type FirewallRule struct {
	Handle uint64
	// Proto is the protocol the rule matches: -1 any, otherwise the number
	// (a "not equal" match counts as Other).
	Proto int
	// Other is true when the rule has other matches (addresses,
	// interfaces, ct state …) that may or may not apply to VRRP.
	Other bool
	// Verdict is "accept", "drop", "reject", "jump", "goto", "return" or ""
	// (no verdict: the packet continues).
	Verdict string
	// Target is the chain of a jump or goto.
	Target string
}

// FirewallChain is one chain of a table.
type FirewallChain struct {
	Table, Name string
	// Base is true for a base chain on the input hook of an ip or inet
	// table.
	Base bool
	// PolicyDrop is true for a base chain whose policy is drop.
	PolicyDrop bool
	Rules      []FirewallRule
}

// vrrpFindings walks every input base chain as a VRRP packet would and
// returns why VRRP would be dropped, one sentence each; none means VRRP
// passes (as far as nftables rules tell: rules with other matches are
// assumed not to apply, so the result is a warning, not a proof).
func vrrpFindings(chains []FirewallChain) []string {
	byName := map[string]*FirewallChain{}
	for i := range chains {
		byName[chains[i].Table+"/"+chains[i].Name] = &chains[i]
	}
	var out []string
	for i := range chains {
		c := &chains[i]
		if !c.Base {
			continue
		}
		verdict, where := walkChain(c, byName, 0)
		switch {
		case verdict == "drop" || verdict == "reject":
			out = append(out, fmt.Sprintf("nftables table %s chain %s: %s %s VRRP (IP protocol 112): the peers' adverts never arrive and both directors become MASTER; add `ip protocol vrrp accept` (iptables -A INPUT -p vrrp -j ACCEPT) before it",
				c.Table, c.Name, where, verdict+"s"))
		case verdict == "" && c.PolicyDrop:
			out = append(out, fmt.Sprintf("nftables table %s chain %s: policy drop and no rule accepts VRRP (IP protocol 112): the peers' adverts never arrive and both directors become MASTER; add `ip protocol vrrp accept`",
				c.Table, c.Name))
		}
	}
	return out
}

// walkChain returns the verdict a VRRP packet gets in c ("" when it falls
// through) and the rule that gave it.
func walkChain(c *FirewallChain, byName map[string]*FirewallChain, depth int) (string, string) {
	if depth > 8 {
		return "", ""
	}
	for _, r := range c.Rules {
		if r.Other || (r.Proto != -1 && r.Proto != protoVRRP) {
			continue
		}
		where := fmt.Sprintf("rule handle %d", r.Handle)
		switch r.Verdict {
		case "accept", "drop", "reject":
			return r.Verdict, where
		case "jump", "goto":
			sub := byName[c.Table+"/"+r.Target]
			if sub == nil {
				continue
			}
			v, w := walkChain(sub, byName, depth+1)
			if v == "accept" || v == "drop" || v == "reject" {
				return v, fmt.Sprintf("chain %s %s (from %s)", r.Target, w, where)
			}
			if r.Verdict == "goto" {
				return "", ""
			}
		case "return":
			return "", ""
		}
	}
	return "", ""
}

// ruleOf reduces an nftables rule's expressions to an FirewallRule.
func ruleOf(handle uint64, exprs []expr.Any) FirewallRule {
	r := FirewallRule{Handle: handle, Proto: -1}
	protoLoaded := false
	for _, e := range exprs {
		switch e := e.(type) {
		case *expr.Payload:
			protoLoaded = e.Base == expr.PayloadBaseNetworkHeader && e.Offset == 9 && e.Len == 1
			if !protoLoaded {
				r.Other = true
			}
		case *expr.Meta:
			protoLoaded = e.Key == expr.MetaKeyL4PROTO || e.Key == expr.MetaKeyPROTOCOL
			if e.Key == expr.MetaKeyNFPROTO {
				protoLoaded = false // ip vs ip6 in an inet table: VRRP over IPv4 passes an "ip" match
				continue
			}
			if !protoLoaded {
				r.Other = true
			}
		case *expr.Cmp:
			if protoLoaded && e.Op == expr.CmpOpEq && len(e.Data) == 1 {
				r.Proto = int(e.Data[0])
			} else if !isNFProtoCmp(e) {
				r.Other = true
			}
			protoLoaded = false
		case *expr.Verdict:
			switch e.Kind {
			case expr.VerdictAccept:
				r.Verdict = "accept"
			case expr.VerdictDrop:
				r.Verdict = "drop"
			case expr.VerdictJump:
				r.Verdict, r.Target = "jump", e.Chain
			case expr.VerdictGoto:
				r.Verdict, r.Target = "goto", e.Chain
			case expr.VerdictReturn:
				r.Verdict = "return"
			}
		case *expr.Reject:
			r.Verdict = "reject"
		case *expr.Counter, *expr.Log, *expr.Limit:
			// no effect on the verdict (a limit is treated as always passing)
		default:
			r.Other = true
		}
	}
	return r
}

// isNFProtoCmp reports whether e is the comparison after a "meta nfproto"
// load (an inet table's "ip" qualifier), which IPv4 VRRP passes.
func isNFProtoCmp(e *expr.Cmp) bool {
	return e.Op == expr.CmpOpEq && len(e.Data) == 1 && e.Data[0] == 2 // NFPROTO_IPV4
}

// CheckVRRPFirewall reads the nftables ruleset of this network namespace
// and returns why VRRP adverts would be dropped on input (none: not as far
// as nftables tells), for the CLI's doctor. iptables-nft rules are
// nftables rules and are seen; legacy iptables rules are not.
func CheckVRRPFirewall() ([]string, error) {
	chains, err := nftFirewall{}.Chains()
	if err != nil {
		return nil, err
	}
	return vrrpFindings(chains), nil
}

// firewallWarnings warns, when cfg runs VRRP, about each input chain of
// Options.Firewall that would drop the peers' adverts (a ruleset that
// cannot be read is only logged at debug level: doctor says more).
func (a *App) firewallWarnings(cfg *config.Config) {
	if len(cfg.VRRP) == 0 {
		return
	}
	chains, err := a.opts.Firewall.Chains()
	if err != nil {
		a.log.Debug("cannot read the nftables ruleset to check that VRRP is let in", "err", err)
		return
	}
	for _, f := range vrrpFindings(chains) {
		a.warn(f)
	}
}
