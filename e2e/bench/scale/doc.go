// Package scale is the heartbeat scale benchmark (issue 14, `make
// bench-scale`, docs/benchmarks-scale.md): the cost of tandem-director
// for 0, 100, 1,000 and 10,000 real servers whose agents report once a
// second, natively on this host in two network namespaces.
//
// Three processes, so that CPU is attributable: the test process builds
// the lab (ip(8): a namespace for the director, one for the agents, a veth
// pair, the agents' addresses on its lo) and measures; the
// director is the same test binary re-executed in the director's
// namespace, running director/app in-process on the recording IPVS fake
// (director/lvs/lvstest: this kernel has no ip_vs, and the page says so);
// the agents are the same binary re-executed in the agents' namespace,
// one socket sending each agent's sealed report from its own address
// (IP_PKTINFO), spread evenly over the second, and checking each reply
// (sealed with that agent's key, echoing the report, naming its
// destination with its weight) and its latency.
package scale
