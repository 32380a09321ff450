package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// alertConf is a keepalived.conf with global_defs g and two instances, VI1
// with instance keywords i1 and VI2 with none.
func alertConf(g, i1 string) string {
	return `global_defs {
  notification_email {
    ops@example.com
  }
  notification_email_from lb1@example.com
  smtp_server 127.0.0.1 2525
  smtp_connect_timeout 5
` + g + `
}
vrrp_instance VI1 {
  interface eth0
  virtual_router_id 1
  virtual_ipaddress {
    192.0.2.1
  }
` + i1 + `
}
vrrp_instance VI2 {
  interface eth0
  virtual_router_id 2
  virtual_ipaddress {
    192.0.2.2
  }
}
`
}

// TestKeepalivedSMTPAlert checks keepalived's resolution of smtp_alert:
// the instance's own keyword, else global smtp_alert_vrrp, else global
// smtp_alert, else off.
func TestKeepalivedSMTPAlert(t *testing.T) {
	for _, tt := range []struct {
		name     string
		global   string
		instance string
		want     [2]bool // VI1, VI2
		noFaults bool
	}{
		{"none", "", "", [2]bool{false, false}, false},
		{"instance only", "", "smtp_alert", [2]bool{true, false}, false},
		{"instance off", "smtp_alert", "smtp_alert off", [2]bool{false, true}, false},
		{"global", "smtp_alert", "", [2]bool{true, true}, false},
		{"global vrrp wins over global", "smtp_alert\nsmtp_alert_vrrp false", "", [2]bool{false, false}, false},
		{"global vrrp on", "smtp_alert_vrrp yes", "smtp_alert no", [2]bool{false, true}, false},
		{"no_email_faults", "no_email_faults\nsmtp_alert", "", [2]bool{true, true}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseKeepalived("k.conf", []byte(alertConf(tt.global, tt.instance)))
			if err != nil {
				t.Fatal(err)
			}
			got := [2]bool{c.VRRP[0].SMTPAlert, c.VRRP[1].SMTPAlert}
			if got != tt.want {
				t.Errorf("SMTPAlert VI1, VI2 = %v, want %v", got, tt.want)
			}
			if c.Notification.NoEmailFaults != tt.noFaults {
				t.Errorf("NoEmailFaults = %v", c.Notification.NoEmailFaults)
			}
			if c.Notification.SMTPServer != "127.0.0.1:2525" || c.Notification.From != "lb1@example.com" {
				t.Errorf("notification %+v", c.Notification)
			}
			// show-config keeps the meaning.
			b, err := MarshalNative(c)
			if err != nil {
				t.Fatal(err)
			}
			back, err := ParseNative("show.yaml", b)
			if err != nil {
				t.Fatalf("%v\n%s", err, b)
			}
			if diff := cmp.Diff(c, back, cmpNoPos...); diff != "" {
				t.Errorf("show-config round trip (-keepalived +native)\n%s\n%s", diff, b)
			}
		})
	}
}

func TestKeepalivedSMTPAlertErrors(t *testing.T) {
	for _, tt := range []struct {
		name, global, instance, want string
		// warning: want is a warning (the file loads), not an error.
		warning bool
	}{
		{"bad bool", "", "smtp_alert maybe", `k.conf:16: keyword "smtp_alert": "maybe" is not on, off, true, false, yes or no`, false},
		{"twice", "", "smtp_alert\nsmtp_alert off", `k.conf:17: keyword "smtp_alert" is given twice in vrrp_instance (first at k.conf:16)`, true},
		{"no_email_faults takes no value", "no_email_faults yes", "", `k.conf:8: keyword "no_email_faults": extra words "yes"`, true},
		{"checker alerts", "smtp_alert_checker", "", `k.conf:8: keyword "smtp_alert_checker" (in global_defs)`, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseKeepalived("k.conf", []byte(alertConf(tt.global, tt.instance)))
			lines := errLines(err)
			if tt.warning {
				if err != nil {
					t.Fatalf("error %v, want a warning", err)
				}
				lines = errLines(c.Warnings)
			}
			if len(lines) != 1 || !strings.HasPrefix(lines[0], tt.want) {
				t.Fatalf("messages %q, want one starting with %q", lines, tt.want)
			}
		})
	}
}

func TestNativeSMTPAlert(t *testing.T) {
	const good = `version: 1
notification:
  email: [ops@example.com]
  smtp_server: 127.0.0.1
  no_email_faults: true
vrrp_instances:
  - name: VI1
    interface: eth0
    virtual_router_id: 1
    virtual_ipaddress: [192.0.2.1]
    smtp_alert: true
`
	c, err := ParseNative("d.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if !c.VRRP[0].SMTPAlert || !c.Notification.NoEmailFaults || c.Notification.SMTPServer != "127.0.0.1:25" {
		t.Errorf("got SMTPAlert %v, notification %+v", c.VRRP[0].SMTPAlert, c.Notification)
	}
	b, err := MarshalNative(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"  no_email_faults: true\n", "    smtp_alert: true\n"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("show-config lacks %q:\n%s", want, b)
		}
	}
	_, err = ParseNative("d.yaml", []byte(strings.Replace(good, "smtp_alert: true", "smtp_alert: often", 1)))
	if lines := errLines(err); len(lines) != 1 || !strings.HasPrefix(lines[0], `d.yaml:11: key "vrrp_instances[0].smtp_alert"`) {
		t.Errorf("errors %q, want one for line 11", lines)
	}
}

// TestDiffSMTPAlert: turning an instance's smtp_alert on is a notification
// change; the instance does not restart.
func TestDiffSMTPAlert(t *testing.T) {
	old, err := ParseKeepalived("k.conf", []byte(alertConf("", "")))
	if err != nil {
		t.Fatal(err)
	}
	cur, err := ParseKeepalived("k.conf", []byte(alertConf("", "smtp_alert")))
	if err != nil {
		t.Fatal(err)
	}
	ch := Diff(old, cur)
	if !ch.Notification || len(ch.VRRPChanged) != 0 {
		t.Errorf("Diff = %+v, want a notification change and no instance change", ch)
	}
	if ch.String() != "notification" {
		t.Errorf("summary %q", ch.String())
	}
}
