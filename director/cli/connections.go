package cli

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/tandemlb/tandem/director/lvs"
)

const (
	// maxConnLine bounds a line: the kernel's are under 200 bytes plus at
	// most 255 of persistence-engine data.
	maxConnLine = 1024
	// defaultConnLimit is --limit's default.
	defaultConnLimit = 1000
	// maxBadLines bounds the bad lines reported one by one.
	maxBadLines = 10
)

// connJSON is an lvs.Conn as --json prints it.
type connJSON struct {
	Protocol       string `json:"protocol"`
	Client         string `json:"client"`
	Virtual        string `json:"virtual"`
	RealServer     string `json:"real_server"`
	State          string `json:"state"`
	ExpiresSeconds uint32 `json:"expires_seconds"`
	PEName         string `json:"pe_name,omitempty"`
	PEData         string `json:"pe_data,omitempty"`
}

func connJSONOf(c lvs.Conn) connJSON {
	return connJSON{Protocol: c.Protocol, Client: c.Client.String(), Virtual: c.Virtual.String(), RealServer: c.Dest.String(),
		State: c.State, ExpiresSeconds: c.Expires, PEName: c.PEName, PEData: c.PEData}
}

// connFilter selects connections. Zero fields match anything.
type connFilter struct {
	vip    netip.Addr
	vport  uint16
	anyVP  bool // the virtual port is not given
	rip    netip.Addr
	rport  uint16
	anyRP  bool
	client netip.Addr
	state  string
}

// addrAndPort reads "IP", "IP:PORT" or "[IPv6]:PORT".
func addrAndPort(s string) (netip.Addr, uint16, bool, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), ap.Port(), false, nil
	}
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, 0, false, fmt.Errorf("%q: want IP, IP:PORT or [IPv6]:PORT", s)
	}
	return a.Unmap(), 0, true, nil
}

func newConnFilter(service, realServer, client, state string) (*connFilter, error) {
	f := &connFilter{state: strings.ToUpper(strings.TrimSpace(state))}
	var err error
	if service != "" {
		// "TCP 192.0.2.100:80" as status prints it is taken too.
		if p, rest, ok := strings.Cut(strings.TrimSpace(service), " "); ok && (p == "TCP" || p == "UDP" || p == "SCTP") {
			service = strings.TrimSpace(rest)
		}
		if f.vip, f.vport, f.anyVP, err = addrAndPort(service); err != nil {
			return nil, fmt.Errorf("--service %w", err)
		}
	}
	if realServer != "" {
		if f.rip, f.rport, f.anyRP, err = addrAndPort(realServer); err != nil {
			return nil, fmt.Errorf("--real-server %w", err)
		}
	}
	if client != "" {
		a, err := netip.ParseAddr(client)
		if err != nil {
			return nil, fmt.Errorf("--client %q: want an IP address", client)
		}
		f.client = a.Unmap()
	}
	return f, nil
}

func (f *connFilter) match(c lvs.Conn) bool {
	switch {
	case f.vip.IsValid() && (c.Virtual.Addr() != f.vip || (!f.anyVP && c.Virtual.Port() != f.vport)):
		return false
	case f.rip.IsValid() && (c.Dest.Addr() != f.rip || (!f.anyRP && c.Dest.Port() != f.rport)):
		return false
	case f.client.IsValid() && c.Client.Addr() != f.client:
		return false
	case f.state != "" && c.State != f.state:
		return false
	}
	return true
}

// connScan is the outcome of reading a table.
type connScan struct {
	// Lines read (the header included), connections matched and shown.
	Lines, Matched, Shown int
	// Bad counts the lines that did not parse; BadErrs are the first few,
	// "LINE: error".
	Bad     int
	BadErrs []string
}

// scanConns reads a table from r and calls emit for each connection that
// f matches, up to limit (0: no limit); it counts the rest. Lines are read
// one by one with a bounded buffer: a line longer than maxConnLine is a
// bad line, skipped.
func scanConns(r io.Reader, f *connFilter, limit int, emit func(lvs.Conn) error) (connScan, error) {
	var res connScan
	br := bufio.NewReaderSize(r, maxConnLine)
	bad := func(err error) {
		res.Bad++
		if len(res.BadErrs) < maxBadLines {
			res.BadErrs = append(res.BadErrs, fmt.Sprintf("%d: %v", res.Lines, err))
		}
	}
	for {
		b, err := br.ReadSlice('\n')
		if len(b) == 0 && err == io.EOF {
			return res, nil
		}
		res.Lines++
		if errors.Is(err, bufio.ErrBufferFull) {
			// Skip the rest of the overlong line.
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
			if err != nil && err != io.EOF {
				return res, err
			}
			bad(fmt.Errorf("line longer than %d bytes", maxConnLine))
			continue
		}
		if err != nil && err != io.EOF {
			return res, err
		}
		line := strings.TrimRight(string(b), "\r\n")
		if res.Lines == 1 && strings.HasPrefix(line, "Pro ") {
			continue // the header
		}
		if strings.TrimSpace(line) != "" {
			c, perr := lvs.ParseConn(line)
			switch {
			case perr != nil:
				bad(perr)
			case f.match(c):
				res.Matched++
				if limit <= 0 || res.Shown < limit {
					res.Shown++
					if err := emit(c); err != nil {
						return res, err
					}
				}
			}
		}
		if err == io.EOF {
			return res, nil
		}
	}
}

// formatExpire prints seconds as ipvsadm -Lnc does: mm:ss.
func formatExpire(s uint32) string {
	return fmt.Sprintf("%02d:%02d", s/60, s%60)
}

// connTable is what the command reads; tests replace it.
var connTable = struct {
	path string
	root func() bool
}{lvs.ConnTableFile, func() bool { return os.Geteuid() == 0 }}

func newConnections() *cobra.Command {
	var service, realServer, client, state string
	var limit int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "connections",
		Short: "List IPVS connections (ipvsadm -Lnc), filtered by service, real server, client or state",
		Long: `List the kernel's IPVS connection table, as ipvsadm -Lnc does: protocol, time
left before the entry expires (mm:ss), state, client, virtual address and
real server of each connection. The table is read from /proc/net/ip_vs_conn
of the network namespace this command runs in (both address families; root
only; the daemon is not involved), line by line, so that a large table is
streamed. Persistence templates are listed too (client port 0, state NONE;
protocol IP for a firewall-mark service's).

In DR mode the director sees only the client's packets, so a TCP connection's
state is its guess from them: a connection ended by the server stays
ESTABLISHED or FIN_WAIT until its IPVS timeout.

The filters, all of which must match: --service VIP[:PORT], the virtual
address (and port) the client addressed ("TCP 192.0.2.100:80" as status
prints it is taken too); --real-server IP[:PORT]; --client IP; --state, e.g.
ESTABLISHED, SYN_RECV, TIME_WAIT or NONE (any case).

At most --limit connections are printed (default 1000, 0 for all); the rest
are counted and a note says how many matched. Lines that do not parse are
reported on stderr with their line number and skipped.

--json prints one JSON object: "connections", an array of objects with
protocol, client, virtual, real_server (each "IP:PORT", "[IPv6]:PORT"),
state, expires_seconds, and pe_name, pe_data when a persistence engine is
set; then "shown", "matched" (connections that matched the filters),
"truncated" (true when --limit left some out) and "bad_lines". The array is
written as the table is read.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 0 {
				return fmt.Errorf("--limit %d: want 0 (all) or more", limit)
			}
			flt, err := newConnFilter(service, realServer, client, state)
			if err != nil {
				return err
			}
			if !connTable.root() {
				return errors.New("must be run as root (the IPVS connection table lists clients' addresses)")
			}
			f, err := os.Open(connTable.path)
			if errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("no IPVS connection table in this network namespace (%s does not exist): the ip_vs module is not loaded, or this is not the director's namespace", connTable.path)
			}
			if err != nil {
				return err
			}
			defer f.Close()
			return listConns(cmd.OutOrStdout(), cmd.ErrOrStderr(), f, flt, limit, asJSON)
		},
	}
	cmd.Flags().StringVar(&service, "service", "", "only connections to this virtual address, VIP or VIP:PORT ([VIP]:PORT for IPv6)")
	cmd.Flags().StringVar(&realServer, "real-server", "", "only connections to this real server, IP or IP:PORT")
	cmd.Flags().StringVar(&client, "client", "", "only connections from this client IP")
	cmd.Flags().StringVar(&state, "state", "", "only connections in this state (ESTABLISHED, SYN_RECV, FIN_WAIT, TIME_WAIT, CLOSE, UDP, NONE, ...)")
	cmd.Flags().IntVar(&limit, "limit", defaultConnLimit, "print at most this many connections; 0 prints all")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// listConns streams the table in r to out as text or JSON; bad lines go
// to errOut.
func listConns(out, errOut io.Writer, r io.Reader, f *connFilter, limit int, asJSON bool) error {
	w := bufio.NewWriter(out)
	var emit func(lvs.Conn) error
	if asJSON {
		w.WriteString(`{"connections":[`)
		sep := "\n  "
		emit = func(c lvs.Conn) error {
			b, err := json.Marshal(connJSONOf(c))
			if err != nil {
				return err
			}
			w.WriteString(sep)
			sep = ",\n  "
			_, err = w.Write(b)
			return err
		}
	} else {
		fmt.Fprintf(w, "%-6s %-6s %-12s %-22s %-22s %s\n", "PRO", "EXPIRE", "STATE", "CLIENT", "VIRTUAL", "REAL SERVER")
		emit = func(c lvs.Conn) error {
			line := fmt.Sprintf("%-6s %-6s %-12s %-22s %-22s %s", c.Protocol, formatExpire(c.Expires), c.State, c.Client, c.Virtual, c.Dest)
			if c.PEName != "" {
				line += " " + c.PEName + " " + c.PEData
			}
			_, err := fmt.Fprintln(w, line)
			return err
		}
	}
	res, err := scanConns(r, f, limit, emit)
	if err != nil {
		w.Flush()
		return fmt.Errorf("reading %s: %w", connTable.path, err)
	}
	switch {
	case asJSON:
		fmt.Fprintf(w, "\n],\n\"shown\":%d,\"matched\":%d,\"truncated\":%t,\"bad_lines\":%d}\n", res.Shown, res.Matched, res.Matched > res.Shown, res.Bad)
	case res.Matched > res.Shown:
		fmt.Fprintf(w, "%d of %d matching connections shown (--limit %d; --limit 0 shows all)\n", res.Shown, res.Matched, limit)
	case res.Matched == 0:
		fmt.Fprintln(w, "no connection matches")
	}
	if err := w.Flush(); err != nil {
		return err
	}
	for _, e := range res.BadErrs {
		fmt.Fprintf(errOut, "%s:%s\n", connTable.path, e)
	}
	if res.Bad > len(res.BadErrs) {
		fmt.Fprintf(errOut, "%s: %d more lines did not parse\n", connTable.path, res.Bad-len(res.BadErrs))
	}
	return nil
}
