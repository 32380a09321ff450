package config

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const trackConf = `global_defs {
    script_user keepalived_script
    enable_script_security
}
vrrp_script chk_haproxy {
    script "/usr/bin/killall -0 haproxy"
    interval 2
    timeout 1
    weight -20
    fall 3
    rise 2
}
vrrp_script chk_file {
    script "/bin/test -f /run/up"
    weight 10 reverse
    init_fail
    user nobody nogroup
}
vrrp_track_process haproxy {
    process haproxy -f /etc/haproxy.cfg
    param_match initial
    quorum 2
    quorum_max 4
    weight 5
    delay 1.5
    terminate_delay 3
}
vrrp_track_file offset {
    file /run/offset
    weight -2
    init_file 10 overwrite
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    virtual_ipaddress {
        192.0.2.10/24
    }
    virtual_ipaddress_excluded {
        198.51.100.5 dev eth1
    }
    virtual_routes {
        src 192.0.2.10 to 203.0.113.0/24 via 192.0.2.1 dev eth0 table 100 metric 5
        blackhole 10.9.0.0/16
    }
    virtual_rules {
        from 192.0.2.10 table 100 priority 50
        to 203.0.113.0/24 lookup 100
    }
    track_script {
        chk_haproxy
        chk_file weight -30 reverse
        missing_one
    }
    track_process {
        haproxy
    }
    track_file {
        offset weight 3
    }
}
vrrp_instance VI_2 {
    interface eth1
    virtual_router_id 52
    virtual_ipaddress {
        192.0.2.11
    }
}
vrrp_sync_group G {
    group {
        VI_1
        VI_2
        VI_9
    }
    notify_master "/bin/true master"
    track_script {
        chk_haproxy
    }
    global_tracking
}
static_ipaddress {
    10.1.1.1/24 dev eth0 scope link
}
static_routes {
    default via 10.1.1.254 dev eth0
}
static_rules {
    from 10.1.1.0/24 table 200
}
`

func TestKeepalivedTracking(t *testing.T) {
	c, err := parseKeepalived("t.conf", []byte(trackConf), noFS{})
	if err != nil {
		t.Fatal(err)
	}
	wantScripts := []VRRPScript{
		{Name: "chk_haproxy", Script: "/usr/bin/killall -0 haproxy", Interval: 2 * time.Second, Timeout: time.Second, Weight: -20, Rise: 2, Fall: 3},
		{Name: "chk_file", Script: "/bin/test -f /run/up", Interval: time.Second, Weight: 10, Reverse: true, Rise: 1, Fall: 1, User: "nobody", Group: "nogroup", InitFail: true},
	}
	if diff := cmp.Diff(wantScripts, c.Scripts, cmpNoPos...); diff != "" {
		t.Errorf("scripts (-want +got):\n%s", diff)
	}
	ten := 10
	wantProc := []TrackProcess{{Name: "haproxy", Process: "haproxy", Param: "-f /etc/haproxy.cfg", ParamMatch: "initial", Quorum: 2, QuorumMax: 4,
		Weight: 5, Delay: 1500 * time.Millisecond, ForkDelay: 1500 * time.Millisecond, TermDelay: 3 * time.Second}}
	if diff := cmp.Diff(wantProc, c.TrackProcesses, cmpNoPos...); diff != "" {
		t.Errorf("processes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]TrackFile{{Name: "offset", File: "/run/offset", Weight: -2, InitFile: &ten, Overwrite: true}}, c.TrackFiles, cmpNoPos...); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	in := c.VRRP[0]
	wantTrack := Tracking{
		Scripts:   []TrackRef{{Name: "chk_haproxy"}, {Name: "chk_file", Weight: -30, WeightSet: true, Reverse: true}},
		Processes: []TrackRef{{Name: "haproxy"}},
		Files:     []TrackRef{{Name: "offset", Weight: 3, WeightSet: true}},
	}
	if diff := cmp.Diff(wantTrack, in.Track, cmpNoPos...); diff != "" {
		t.Errorf("instance tracking (-want +got):\n%s", diff)
	}
	if got := in.ExcludedVIPs; len(got) != 1 || got[0].Dev != "eth1" || got[0].Prefix != netip.MustParsePrefix("198.51.100.5/32") {
		t.Errorf("excluded %v", got)
	}
	wantRoutes := []Route{
		{Dst: netip.MustParsePrefix("203.0.113.0/24"), Src: netip.MustParseAddr("192.0.2.10"), Via: netip.MustParseAddr("192.0.2.1"), Dev: "eth0", Table: 100, Metric: 5},
		{Type: "blackhole", Dst: netip.MustParsePrefix("10.9.0.0/16")},
	}
	if diff := cmp.Diff(wantRoutes, in.VirtualRoutes, cmpNoPos...); diff != "" {
		t.Errorf("routes (-want +got):\n%s", diff)
	}
	wantRules := []Rule{
		{From: netip.MustParsePrefix("192.0.2.10/32"), Table: 100, Priority: 50},
		{To: netip.MustParsePrefix("203.0.113.0/24"), Table: 100},
	}
	if diff := cmp.Diff(wantRules, in.VirtualRules, cmpNoPos...); diff != "" {
		t.Errorf("rules (-want +got):\n%s", diff)
	}
	if len(c.SyncGroups) != 1 || !cmp.Equal(c.SyncGroups[0].Members, []string{"VI_1", "VI_2"}) || c.SyncGroups[0].Notify.Master != "/bin/true master" ||
		!c.SyncGroups[0].GlobalTracking || len(c.SyncGroups[0].Track.Scripts) != 1 {
		t.Errorf("sync group %+v", c.SyncGroups)
	}
	if c.ScriptUser != "keepalived_script" || !c.ScriptSecurity {
		t.Errorf("script user %q security %v", c.ScriptUser, c.ScriptSecurity)
	}
	if len(c.Static.Addresses) != 1 || len(c.Static.Routes) != 1 || c.Static.Routes[0].Dst != netip.MustParsePrefix("0.0.0.0/0") || len(c.Static.Rules) != 1 {
		t.Errorf("static %+v", c.Static)
	}
	var warns []string
	for _, w := range c.Warnings {
		warns = append(warns, w.Error())
	}
	all := strings.Join(warns, "\n")
	for _, want := range []string{
		`vrrp_instance "VI_1": keyword "track_script": "missing_one" is not defined: keepalived ignores it, and so does Tandem`,
		`vrrp_sync_group "G": keyword "group": "VI_9" is not a vrrp_instance`,
		`keyword "global_tracking" is keepalived's deprecated name of sync_group_tracking_weight`,
		`keyword "static_ipaddress": option "scope link" of 10.1.1.1/24`,
		`vrrp_script "chk_haproxy": keyword "script": /usr/bin/killall does not exist`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("no warning %q in:\n%s", want, all)
		}
	}
}

func TestKeepalivedServiceGroupAndCheckers(t *testing.T) {
	const conf = `virtual_server_group WEB {
    192.0.2.1-3 80
    fwmark 7
}
vrrp_track_file tf {
    file /run/x
}
virtual_server group WEB {
    protocol TCP
    lb_kind DR
    real_server 192.0.2.50 80 {
        MISC_CHECK {
            misc_path "/usr/local/bin/check.sh arg"
            misc_timeout 4
            misc_dynamic
            user nobody
        }
        UDP_CHECK {
            payload 01 02 ab
            require_reply 0x xa
            max_reply_length 100
        }
        DNS_CHECK {
            type a
            name example.org
        }
        SMTP_CHECK {
            helo_name lb.example.org
        }
        PING_CHECK {
        }
        FILE_CHECK {
            track_file tf
            weight 3 reverse
            dynamic
        }
    }
}
`
	c, err := parseKeepalived("t.conf", []byte(conf), noFS{})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for i := range c.Services {
		keys = append(keys, c.Services[i].Key())
		if c.Services[i].Group != "WEB" {
			t.Errorf("service %s group %q", c.Services[i].Key(), c.Services[i].Group)
		}
	}
	want := []string{"TCP 192.0.2.1:80", "TCP 192.0.2.2:80", "TCP 192.0.2.3:80", "FWM 7"}
	if diff := cmp.Diff(want, keys); diff != "" {
		t.Errorf("services (-want +got):\n%s", diff)
	}
	ch := c.Services[0].RealServers[0].Checks
	if len(ch) != 6 {
		t.Fatalf("%d checks", len(ch))
	}
	if m := ch[0]; m.Type != MiscCheck || m.MiscPath != "/usr/local/bin/check.sh arg" || m.MiscTimeout != 4*time.Second || !m.MiscDynamic || m.User != "nobody" || m.Retry != 0 {
		t.Errorf("misc %+v", m)
	}
	if u := ch[1]; u.Payload != "01 02 ab" || !u.RequireReply || u.ReplyHex != "0x xa" || u.MaxReplyLength != 100 {
		t.Errorf("udp %+v", u)
	}
	if d := ch[2]; d.DNSType != "A" || d.DNSName != "example.org" || d.Retry != 3 {
		t.Errorf("dns %+v", d)
	}
	if s := ch[3]; s.HeloName != "lb.example.org" {
		t.Errorf("smtp %+v", s)
	}
	if f := ch[5]; f.TrackFile != "tf" || f.Weight != 3 || !f.Reverse || !f.Dynamic {
		t.Errorf("file %+v", f)
	}
	// The group's block is read once per service, its messages once.
	if _, err := parseKeepalived("t.conf", []byte(strings.Replace(conf, "misc_timeout 4", "misc_timeout x", 1)), noFS{}); err == nil ||
		strings.Count(err.Error(), "misc_timeout") != 1 {
		t.Errorf("error once: %v", err)
	}
	if _, err := parseKeepalived("t.conf", []byte("virtual_server group NOPE {\n}\n"), noFS{}); err == nil || !strings.Contains(err.Error(), `virtual_server_group "NOPE" is not defined`) {
		t.Errorf("undefined group: %v", err)
	}
}

func TestAddrRange(t *testing.T) {
	for _, tt := range []struct {
		in   string
		n    int
		last string
		bad  bool
	}{
		{"192.0.2.1-10", 10, "192.0.2.10", false},
		{"192.0.2.250-192.0.3.1", 8, "192.0.3.1", false},
		{"192.0.2.8/29", 8, "192.0.2.15", false},
		{"2001:db8::1-a", 10, "2001:db8::a", false},
		{"192.0.2.10-1", 0, "", true},
		{"10.0.0.0/8", 0, "", true},
		{"x-1", 0, "", true},
	} {
		got, m := parseAddrRange(tt.in)
		if (m != "") != tt.bad || len(got) != tt.n || (tt.n > 0 && got[len(got)-1].String() != tt.last) {
			t.Errorf("%s: %d addrs, msg %q", tt.in, len(got), m)
		}
	}
}

// TestKeepalivedPlainIncludeMissing: keepalived's plain include skips a
// file it cannot read; Tandem warns and goes on.
func TestKeepalivedPlainIncludeMissing(t *testing.T) {
	c, err := parseKeepalived("t.conf", []byte("include /nothere.conf\n"+vrrpConf("")), noFS{})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0].Error(), `t.conf:1: keyword "include": cannot read /nothere.conf`) {
		t.Errorf("warnings %v", c.Warnings)
	}
}
