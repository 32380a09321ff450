package prodlab

import (
	"strings"
	"text/template"
)

// SeedConf is a keepalived.conf shaped like the seed's
// (docs/examples/keepalived.conf) on the lab's addresses: global_defs with
// the notification e-mail; one vrrp_instance VI0 (BACKUP, eth0, router id
// 100, priority 100, nopreempt, advert_int 1, PASS authentication, VIP
// 10.99.0.100/24 on eth0); one virtual_server VIP:80 (lc, DR, TCP) whose
// real servers (port 80) each have an HTTP_GET check of /check.txt wanting
// 200. The fields are what the labs change; String writes the text.
type SeedConf struct {
	// RouterID is global_defs' router_id; none when empty.
	RouterID string
	// SyncInterface is the vrrp_instance's lvs_sync_daemon_interface.
	SyncInterface string
	// TrackInterfaces go into the vrrp_instance's track_interface block;
	// no block when empty.
	TrackInterfaces []string
	// DelayLoop is the virtual_server's delay_loop, in seconds.
	DelayLoop int
	// SorryServer is the address of the virtual_server's sorry_server
	// (port 80); none when empty.
	SorryServer string
	// RealServers are the virtual_server's real servers, in this order.
	RealServers []SeedRealServer
	// ConnectTimeout is every HTTP_GET's connect_timeout, in seconds.
	ConnectTimeout int
	// Retry and DelayBeforeRetry (seconds) are every HTTP_GET's retry and
	// delay_before_retry; each is left out when 0.
	Retry, DelayBeforeRetry int
	// Extra is appended after the virtual_server block (more
	// virtual_server blocks, say).
	Extra string
	// Prelude is top-level text put before the vrrp_instance (vrrp_script
	// blocks, say); it should end with a blank line. Nothing when empty.
	Prelude string
	// InstanceLines are lines put into the vrrp_instance after its
	// track_interface block (a track_script block, say), without the
	// final newline. Nothing when empty.
	InstanceLines string
}

// SeedRealServer is one real_server of a SeedConf.
type SeedRealServer struct {
	Addr   string
	Weight int
}

// seedConfText is SeedConf's text; VIP is the lab's.
var seedConfText = template.Must(template.New("keepalived.conf").Parse(`global_defs {
    notification_email {
        admin@example.com
    }
    notification_email_from keepalived@example.com
{{- with .RouterID}}
    router_id {{.}}
{{- end}}
}

{{.Prelude}}vrrp_instance VI0 {
    state BACKUP
    interface eth0
    virtual_router_id 100
    priority 100
    nopreempt
    advert_int 1
    lvs_sync_daemon_interface {{.SyncInterface}}
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
    authentication {
        auth_type PASS
        auth_pass password
    }
    virtual_ipaddress {
        {{.VIP}}/24 dev eth0
    }
}

virtual_server {{.VIP}} 80 {
    delay_loop {{.DelayLoop}}
    lb_algo lc
    lb_kind DR
    protocol TCP
{{with .SorryServer}}
    sorry_server {{.}} 80
{{end}}
{{- range .RealServers}}
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
{{.Extra}}`))

// String is the keepalived.conf text.
func (c SeedConf) String() string {
	var b strings.Builder
	if err := seedConfText.Execute(&b, struct {
		SeedConf
		VIP string
	}{c, VIP}); err != nil {
		panic(err) // the template and its data are fixed: a bug here
	}
	return b.String()
}
