package lvstest

// Lines of /proc/net/ip_vs_conn as the kernel prints them
// (ip_vs_conn_seq_show): "%-3s %08X %04X
// %08X %04X %s %04X %-11s %7u%s" for IPv4, %pI6 (full form) for IPv6.
const (
	ConnHeader   = "Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData"
	ConnV4       = "TCP C0000201 D2F4 C0000264 0050 C000020B 0050 ESTABLISHED     897"
	ConnV4Wait   = "TCP C6336407 8000 C0000264 0050 C000020C 0050 TIME_WAIT        98"
	ConnV6       = "UDP 2001:0db8:0000:0000:0000:0000:0000:0001 8ae1 2001:0db8:0000:0000:0000:0000:0000:0064 0035 2001:0db8:0000:0000:0000:0000:0000:000b 0035 UDP             187"
	ConnTemplate = "IP  C0000201 0000 00000007 0000 C000020B 0000 NONE            299"
	ConnSIP      = "UDP C0000201 13C4 C0000264 13C4 C000020B 13C4 UDP             177 sip a84b4c76e66710@pc33.example.com"
	ConnMixed    = "TCP 2001:0db8:0000:0000:0000:0000:0000:0001 D2F4 2001:0db8:0000:0000:0000:0000:0000:0064 0050 C000020B 0050 SYN_RECV         57"
)
