package lvs

import (
	"fmt"
	"slices"
	"strings"
)

// OpKind is the kind of change an [Op] makes.
type OpKind uint8

// Operation kinds, in the order [Plan] emits them.
const (
	AddService OpKind = iota + 1
	UpdateService
	AddDestination
	UpdateDestination
	DelDestination
	DelService
)

// String returns the verb used in logs and errors.
func (k OpKind) String() string {
	switch k {
	case AddService:
		return "add service"
	case UpdateService:
		return "update service"
	case DelService:
		return "delete service"
	case AddDestination:
		return "add destination"
	case UpdateDestination:
		return "update destination"
	case DelDestination:
		return "delete destination"
	}
	return fmt.Sprintf("op-%d", uint8(k))
}

// Op is one change to the kernel's IPVS table.
type Op struct {
	Kind OpKind
	// Service is the full desired service (for DelService and
	// DelDestination only its identity matters).
	Service Service
	// Dest is the full desired destination for destination operations and
	// the zero value for service operations.
	Dest Destination
	// Detail says what an update changes ("weight 1 -> 0"); empty for adds
	// and deletes.
	Detail string
}

// String describes the operation: "add destination 192.0.2.101:80 to TCP
// 192.0.2.100:80", "update destination 192.0.2.101:80 in TCP
// 192.0.2.100:80 (weight 1 -> 0)".
func (o Op) String() string {
	var b strings.Builder
	b.WriteString(o.Kind.String())
	b.WriteByte(' ')
	switch o.Kind {
	case AddDestination:
		fmt.Fprintf(&b, "%s to %s", o.Dest.Key(), o.Service.Key())
	case UpdateDestination:
		fmt.Fprintf(&b, "%s in %s", o.Dest.Key(), o.Service.Key())
	case DelDestination:
		fmt.Fprintf(&b, "%s from %s", o.Dest.Key(), o.Service.Key())
	default:
		b.WriteString(string(o.Service.Key()))
	}
	if o.Detail != "" {
		fmt.Fprintf(&b, " (%s)", o.Detail)
	}
	return b.String()
}

// Plan computes the operations that turn actual into desired.
//
// Rules:
//   - Services in desired are owned; so are those in owned. A service in
//     actual that is neither is never touched.
//   - A service or destination that already matches produces no operation
//     (adoption): restarting a director on an unchanged kernel table is a
//     no-op and drops no connection.
//   - A changed scheduler, flags, timeout or netmask is an UpdateService,
//     never a delete and re-add; a changed weight, forwarding method or
//     threshold is an UpdateDestination.
//   - An owned service's destinations that desired does not list are
//     deleted. Draining first (weight 0) is the caller's job: Plan deletes
//     exactly what it is told to.
//   - An owned service absent from desired is deleted (with its
//     destinations, by the kernel).
//   - Order: add services, update services, add destinations, update
//     destinations, delete destinations, delete services; so new real
//     servers are in place before old ones go. Within a kind, services are
//     sorted by key and destinations by address, then port.
//   - That destination order is also the order in which the kernel learns
//     them, and for the mh (Maglev) scheduler it matters: the kernel puts
//     each new destination at the head of the service's list and fills
//     the lookup table by turns in list order (ip_vs_mh_populate), so a
//     different order of addition gives a different table. Adding in one
//     sorted order makes every director that starts from an empty table
//     build the same table (see [Fingerprint]).
//
// desired must be valid (see [Desired.Validate]).
func Plan(owned map[ServiceKey]bool, desired Desired, actual []ServiceState) []Op {
	act := make(map[ServiceKey]*ServiceState, len(actual))
	for i := range actual {
		act[actual[i].Service.Key()] = &actual[i]
	}
	var addSvc, updSvc, addDst, updDst, delDst, delSvc []Op
	if len(actual) == 0 {
		// From an empty table (a start) everything is added: size the
		// lists once (11,000 operations at 1,000 × 10).
		n := 0
		for _, spec := range desired {
			n += len(spec.Destinations)
		}
		addSvc, addDst = make([]Op, 0, len(desired)), make([]Op, 0, n)
	}

	for _, k := range sortedKeys(desired) {
		spec := desired[k]
		svc := spec.Service.normalized()
		a, ok := act[k]
		dests := sortedDests(spec.Destinations)
		if !ok {
			addSvc = append(addSvc, Op{Kind: AddService, Service: svc})
			for _, d := range dests {
				addDst = append(addDst, Op{Kind: AddDestination, Service: svc, Dest: d})
			}
			continue
		}
		if detail := serviceDiff(svc, a.Service.normalized()); detail != "" {
			updSvc = append(updSvc, Op{Kind: UpdateService, Service: svc, Detail: detail})
		}
		// Merge the two sorted lists.
		have := slices.Clone(a.Destinations)
		for i := range have {
			have[i].Addr = have[i].Addr.Unmap()
		}
		slices.SortFunc(have, func(x, y DestinationState) int { return x.addrPort().Compare(y.addrPort()) })
		i, j := 0, 0
		for i < len(dests) || j < len(have) {
			var c int
			switch {
			case i == len(dests):
				c = 1
			case j == len(have):
				c = -1
			default:
				c = dests[i].addrPort().Compare(have[j].addrPort())
			}
			switch {
			case c < 0:
				addDst = append(addDst, Op{Kind: AddDestination, Service: svc, Dest: dests[i]})
				i++
			case c > 0:
				delDst = append(delDst, Op{Kind: DelDestination, Service: svc, Dest: have[j].Destination})
				j++
			default:
				if detail := destDiff(dests[i], have[j].Destination); detail != "" {
					updDst = append(updDst, Op{Kind: UpdateDestination, Service: svc, Dest: dests[i], Detail: detail})
				}
				i++
				j++
			}
		}
	}

	var gone []Service
	for k, a := range act {
		if _, ok := desired[k]; !ok && owned[k] {
			gone = append(gone, a.Service.normalized())
		}
	}
	slices.SortFunc(gone, func(a, b Service) int { return strings.Compare(string(a.Key()), string(b.Key())) })
	for _, s := range gone {
		delSvc = append(delSvc, Op{Kind: DelService, Service: s})
	}

	n := len(addSvc) + len(updSvc) + len(addDst) + len(updDst) + len(delDst) + len(delSvc)
	if n == 0 {
		return nil
	}
	ops := make([]Op, 0, n)
	for _, part := range [][]Op{addSvc, updSvc, addDst, updDst, delDst, delSvc} {
		ops = append(ops, part...)
	}
	return ops
}

func sortedKeys(d Desired) []ServiceKey {
	keys := make([]ServiceKey, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func sortedDests(ds []Destination) []Destination {
	out := slices.Clone(ds)
	for i := range out {
		out[i].Addr = out[i].Addr.Unmap()
	}
	slices.SortFunc(out, func(a, b Destination) int { return a.addrPort().Compare(b.addrPort()) })
	return out
}

// serviceDiff describes how the normalized desired service differs from the
// normalized actual one, or returns "".
func serviceDiff(want, have Service) string {
	var parts []string
	if want.Scheduler != have.Scheduler {
		parts = append(parts, fmt.Sprintf("scheduler %s -> %s", have.Scheduler, want.Scheduler))
	}
	if want.Flags != have.Flags {
		parts = append(parts, fmt.Sprintf("flags %#x -> %#x", uint32(have.Flags), uint32(want.Flags)))
	}
	if want.Timeout != have.Timeout {
		parts = append(parts, fmt.Sprintf("timeout %d -> %d", have.Timeout, want.Timeout))
	}
	if want.Netmask != have.Netmask {
		parts = append(parts, fmt.Sprintf("netmask /%d -> /%d", have.Netmask, want.Netmask))
	}
	return strings.Join(parts, ", ")
}

// destDiff describes how the desired destination differs from the kernel's,
// or returns "". A kernel-reported Local forwarding method matches any
// desired method: the kernel substitutes it for a local address.
func destDiff(want, have Destination) string {
	var parts []string
	if want.Weight != have.Weight {
		parts = append(parts, fmt.Sprintf("weight %d -> %d", have.Weight, want.Weight))
	}
	if want.Forward != have.Forward && have.Forward != Local {
		parts = append(parts, fmt.Sprintf("forward %s -> %s", have.Forward, want.Forward))
	}
	if want.UpperThreshold != have.UpperThreshold {
		parts = append(parts, fmt.Sprintf("upper threshold %d -> %d", have.UpperThreshold, want.UpperThreshold))
	}
	if want.LowerThreshold != have.LowerThreshold {
		parts = append(parts, fmt.Sprintf("lower threshold %d -> %d", have.LowerThreshold, want.LowerThreshold))
	}
	return strings.Join(parts, ", ")
}
