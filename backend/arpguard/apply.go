package arpguard

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// RuleCounter is the counter of one rule of the table.
type RuleCounter struct {
	// Chain is "in" or "out" (of the arp table for an IPv4 VIP, of the
	// ip6 table for an IPv6 one).
	Chain string `json:"chain"`
	// VIP is the VIP the rule is about.
	VIP netip.Addr `json:"vip"`
	// Packets and Bytes are the rule's counter.
	Packets uint64 `json:"packets"`
	// Bytes is the byte count of the rule's counter.
	Bytes uint64 `json:"bytes"`
}

// TableState is what Check found in the kernel (both tables).
type TableState struct {
	// Present is true when the table exists.
	Present bool
	// Problem says what differs from the spec; empty when the table is as
	// wanted.
	Problem string
	// Counters holds the counters of the rules found, in spec order.
	Counters []RuleCounter
}

// NFT applies and checks the table through google/nftables, in the network
// namespace given by NetNS (0: the current one).
type NFT struct {
	// NetNS is a network namespace fd, or 0.
	NetNS int
}

func (n NFT) conn() (*nftables.Conn, error) {
	var opts []nftables.ConnOption
	if n.NetNS != 0 {
		opts = append(opts, nftables.WithNetNSFd(n.NetNS))
	}
	return nftables.New(opts...)
}

// Apply replaces the table (and, with IPv6 VIPs, the ip6 table of the
// same name) with the spec in one transaction. Without IPv6 VIPs, an ip6
// table left by an earlier spec is deleted.
func (n NFT) Apply(s Spec) error {
	if err := s.Validate(); err != nil {
		return err
	}
	c, err := n.conn()
	if err != nil {
		return fmt.Errorf("arpguard: nftables: %w", err)
	}
	Program(c, s)
	if err := c.Flush(); err != nil {
		if len(s.v6()) > 0 {
			return fmt.Errorf("arpguard: apply tables arp and ip6 %s: %w", s.Table, err)
		}
		return fmt.Errorf("arpguard: apply table arp %s: %w", s.Table, err)
	}
	if len(s.v6()) == 0 {
		return n.removeND(c, s.Table)
	}
	return nil
}

// removeND deletes the ip6 table if it exists; it never creates one, so
// that a host whose kernel lacks the ip6 family is left alone.
func (n NFT) removeND(c *nftables.Conn, table string) error {
	if _, err := c.ListTableOfFamily(table, nftables.TableFamilyIPv6); err != nil {
		return nil // absent (or no ip6 family): nothing to delete
	}
	ProgramRemoveND(c, table)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("arpguard: delete table ip6 %s: %w", table, err)
	}
	return nil
}

// Remove deletes the table and its ip6 sibling; an absent table is not an
// error.
func (n NFT) Remove(table string) error {
	c, err := n.conn()
	if err != nil {
		return fmt.Errorf("arpguard: nftables: %w", err)
	}
	ProgramRemove(c, table)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("arpguard: delete table arp %s: %w", table, err)
	}
	return n.removeND(c, table)
}

// Check compares the kernel's tables with the spec: the arp table, then,
// with IPv6 VIPs, the ip6 table (its problems prefixed "table ip6: ").
func (n NFT) Check(s Spec) (TableState, error) {
	c, err := n.conn()
	if err != nil {
		return TableState{}, fmt.Errorf("arpguard: nftables: %w", err)
	}
	in, out := s.chains(s.table())
	st, err := checkTable(c, s.table(), in, out, s.rules())
	if err != nil || len(s.v6()) == 0 {
		return st, err
	}
	in6, out6 := s.ndChains(s.ndTable())
	st6, err := checkTable(c, s.ndTable(), in6, out6, s.ndRules())
	if err != nil {
		return st, err
	}
	if st6.Problem != "" {
		st.problem("table ip6: " + st6.Problem)
	}
	st.Counters = append(st.Counters, st6.Counters...)
	return st, nil
}

// checkTable compares one table of the kernel with its wanted chains and
// rules.
func checkTable(c *nftables.Conn, want *nftables.Table, wantIn, wantOut *nftables.Chain, rules []wantRule) (TableState, error) {
	fam := familyName(want.Family)
	t, err := c.ListTableOfFamily(want.Name, want.Family)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return TableState{Problem: "table missing"}, nil
		}
		return TableState{}, fmt.Errorf("arpguard: list table %s %s: %w", fam, want.Name, err)
	}
	st := TableState{Present: true}
	if t.Flags != 0 {
		st.Problem = fmt.Sprintf("table flags %#x (dormant?)", t.Flags)
	}
	chains, err := c.ListChainsOfTableFamily(want.Family)
	if err != nil {
		return st, fmt.Errorf("arpguard: list chains: %w", err)
	}
	found := map[string]*nftables.Chain{}
	for _, ch := range chains {
		if ch.Table == nil || ch.Table.Name != want.Name {
			continue
		}
		if ch.Name != ChainIn && ch.Name != ChainOut {
			st.problem(fmt.Sprintf("foreign chain %q", ch.Name))
			continue
		}
		found[ch.Name] = ch
	}
	for _, w := range []*nftables.Chain{wantIn, wantOut} {
		got := found[w.Name]
		if got == nil {
			st.problem(fmt.Sprintf("chain %s missing", w.Name))
			continue
		}
		if !sameChain(got, w) {
			st.problem(fmt.Sprintf("chain %s has another hook, type, priority or policy", w.Name))
		}
	}
	for _, name := range []string{ChainIn, ChainOut} {
		ch := found[name]
		if ch == nil {
			continue
		}
		got, err := c.GetRules(t, ch)
		if err != nil {
			return st, fmt.Errorf("arpguard: list rules of %s chain %s: %w", fam, name, err)
		}
		var w []wantRule
		for _, r := range rules {
			if r.chain == name {
				w = append(w, r)
			}
		}
		if len(got) != len(w) {
			st.problem(fmt.Sprintf("chain %s has %d rules, want %d", name, len(got), len(w)))
		}
		for i, r := range got {
			if i >= len(w) {
				break
			}
			comment, _ := userdata.GetString(r.UserData, userdata.TypeComment)
			if comment != w[i].comment || len(r.Exprs) != len(w[i].exprs) {
				st.problem(fmt.Sprintf("chain %s rule %d differs", name, i+1))
				continue
			}
			rc := RuleCounter{Chain: name, VIP: w[i].vip}
			for _, e := range r.Exprs {
				if ctr, ok := e.(*expr.Counter); ok {
					rc.Packets, rc.Bytes = ctr.Packets, ctr.Bytes
				}
			}
			st.Counters = append(st.Counters, rc)
		}
	}
	return st, nil
}

func familyName(f nftables.TableFamily) string {
	if f == nftables.TableFamilyIPv6 {
		return "ip6"
	}
	return "arp"
}

func (st *TableState) problem(p string) {
	if st.Problem == "" {
		st.Problem = p
	}
}

func sameChain(got, want *nftables.Chain) bool {
	if got.Hooknum == nil || *got.Hooknum != *want.Hooknum {
		return false
	}
	if got.Priority == nil || *got.Priority != *want.Priority {
		return false
	}
	if got.Type != want.Type {
		return false
	}
	if got.Policy != nil && *got.Policy != *want.Policy {
		return false
	}
	return true
}
