package prodlab

import (
	"strings"
	"text/template"
)

// SeedConf6 is the IPv6 half of the IPv6 and dual-stack labs'
// keepalived.conf, written as an operator adds IPv6 to the seed's: a
// vrrp_instance of its own (VRRP v3: native_ipv6, no authentication block,
// the VIP6/64 on eth0 with preferred_lft 0, as an operator must: on the
// real servers' prefix a preferred VIP can become the source of the
// director's own health checks, and the real server, which has the VIP on
// lo, answers itself), otherwise the seed's instance settings (BACKUP,
// priority 100, nopreempt, advert_int 1), and the virtual_server VIP6 80
// (lc, DR, TCP) whose real servers (port 80, their IPv6 addresses) have
// the seed's HTTP_GET of /check.txt. With Global it is a whole file: the
// seed's global_defs first (an IPv6-only lab).
type SeedConf6 struct {
	// Global writes the seed's global_defs and Prelude before the
	// instance.
	Global bool
	// Name and VRID are the instance's name and virtual_router_id.
	Name string
	VRID int
	// SyncInterface is the instance's lvs_sync_daemon_interface; none when
	// empty (a dual-stack lab's IPv4 instance has it).
	SyncInterface string
	// TrackInterfaces go into a track_interface block; none when empty.
	TrackInterfaces []string
	// InstanceLines are put into the instance after track_interface,
	// without the final newline; nothing when empty.
	InstanceLines string
	// Prelude is written after global_defs (Global only).
	Prelude string
	// DelayLoop, ConnectTimeout, Retry and DelayBeforeRetry are as in
	// SeedConf (Retry and DelayBeforeRetry left out when 0).
	DelayLoop, ConnectTimeout, Retry, DelayBeforeRetry int
	// SorryServer is the virtual_server's sorry_server; none when empty.
	SorryServer string
	// RealServers are the virtual_server's real servers, in this order.
	RealServers []SeedRealServer
}

var seedConf6Text = template.Must(template.New("keepalived.conf6").Parse(`
{{- if .Global -}}
global_defs {
    notification_email {
        admin@example.com
    }
    notification_email_from keepalived@example.com
}

{{.Prelude}}
{{- end -}}
vrrp_instance {{.Name}} {
    state BACKUP
    interface eth0
    virtual_router_id {{.VRID}}
    priority 100
    nopreempt
    advert_int 1
    native_ipv6
{{- with .SyncInterface}}
    lvs_sync_daemon_interface {{.}}
{{- end}}
{{- with .TrackInterfaces}}
    track_interface {
{{- range .}}
        {{.}}
{{- end}}
    }
{{- end}}
{{- with .InstanceLines}}
{{.}}
{{- end}}
    virtual_ipaddress {
        {{.VIP}}/{{.PrefixLen}} dev eth0 preferred_lft 0
    }
}

virtual_server {{.VIP}} 80 {
    delay_loop {{.DelayLoop}}
    lb_algo lc
    lb_kind DR
    protocol TCP
{{- with .SorryServer}}
    sorry_server {{.}} 80
{{- end}}
{{range .RealServers}}
    real_server {{.Addr}} 80 {
        weight {{.Weight}}
        HTTP_GET {
            url {
              path /check.txt
              status_code 200
            }
            connect_timeout {{$.ConnectTimeout}}
{{- with $.Retry}}
            retry {{.}}
{{- end}}
{{- with $.DelayBeforeRetry}}
            delay_before_retry {{.}}
{{- end}}
        }
    }
{{- end}}
}
`))

// String is the keepalived.conf text.
func (c SeedConf6) String() string {
	var b strings.Builder
	if err := seedConf6Text.Execute(&b, struct {
		SeedConf6
		VIP       string
		PrefixLen int
	}{c, VIP6, Prefix6Len}); err != nil {
		panic(err) // the template and its data are fixed: a bug here
	}
	return b.String()
}

// SyncGroupConf is a vrrp_sync_group block named name over instances.
func SyncGroupConf(name string, instances ...string) string {
	var b strings.Builder
	b.WriteString("\nvrrp_sync_group " + name + " {\n    group {\n")
	for _, in := range instances {
		b.WriteString("        " + in + "\n")
	}
	b.WriteString("    }\n}\n")
	return b.String()
}
