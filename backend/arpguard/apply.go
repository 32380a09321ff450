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
	// Chain is "in" or "out".
	Chain string `json:"chain"`
	// VIP is the VIP the rule is about.
	VIP netip.Addr `json:"vip"`
	// Packets and Bytes are the rule's counter.
	Packets uint64 `json:"packets"`
	// Bytes is the byte count of the rule's counter.
	Bytes uint64 `json:"bytes"`
}

// TableState is what Check found in the kernel.
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

// Apply replaces the table with the spec in one transaction.
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
		return fmt.Errorf("arpguard: apply table arp %s: %w", s.Table, err)
	}
	return nil
}

// Remove deletes the table; an absent table is not an error.
func (n NFT) Remove(table string) error {
	c, err := n.conn()
	if err != nil {
		return fmt.Errorf("arpguard: nftables: %w", err)
	}
	ProgramRemove(c, table)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("arpguard: delete table arp %s: %w", table, err)
	}
	return nil
}

// Check compares the kernel's table with the spec.
func (n NFT) Check(s Spec) (TableState, error) {
	c, err := n.conn()
	if err != nil {
		return TableState{}, fmt.Errorf("arpguard: nftables: %w", err)
	}
	t, err := c.ListTableOfFamily(s.Table, nftables.TableFamilyARP)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return TableState{Problem: "table missing"}, nil
		}
		return TableState{}, fmt.Errorf("arpguard: list table arp %s: %w", s.Table, err)
	}
	st := TableState{Present: true}
	if t.Flags != 0 {
		st.Problem = fmt.Sprintf("table flags %#x (dormant?)", t.Flags)
	}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyARP)
	if err != nil {
		return st, fmt.Errorf("arpguard: list chains: %w", err)
	}
	wantIn, wantOut := s.chains(t)
	found := map[string]*nftables.Chain{}
	for _, ch := range chains {
		if ch.Table == nil || ch.Table.Name != s.Table {
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
	want := s.rules()
	for _, name := range []string{ChainIn, ChainOut} {
		ch := found[name]
		if ch == nil {
			continue
		}
		rules, err := c.GetRules(t, ch)
		if err != nil {
			return st, fmt.Errorf("arpguard: list rules of chain %s: %w", name, err)
		}
		var w []wantRule
		for _, r := range want {
			if r.chain == name {
				w = append(w, r)
			}
		}
		if len(rules) != len(w) {
			st.problem(fmt.Sprintf("chain %s has %d rules, want %d", name, len(rules), len(w)))
		}
		for i, r := range rules {
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
