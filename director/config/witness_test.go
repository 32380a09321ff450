package config

import (
	"strings"
	"testing"
	"time"
)

const ffConf = `version: 1
fast_failover:
  enabled: true
  witness_quorum: 2
  witness_wait: 250ms
vrrp_instances:
  - name: VI1
    interface: eth0
    virtual_router_id: 1
    virtual_ipaddress: [192.0.2.1]
`

func TestNativeWitnessKeys(t *testing.T) {
	c, err := ParseNative("d.yaml", []byte(ffConf))
	if err != nil {
		t.Fatal(err)
	}
	if f := c.FastFailover; f.WitnessQuorum != 2 || f.WitnessWait != 250*time.Millisecond {
		t.Errorf("fast_failover %+v", f)
	}
	b, err := MarshalNative(c)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "  witness_quorum: 2\n  witness_wait: 250ms\n") {
		t.Errorf("show-config lacks the witness keys:\n%s", b)
	}

	// Left out (and in every keepalived.conf): the defaults the code has
	// always used, not shown by show-config.
	d, err := ParseNative("d.yaml", []byte(strings.Replace(ffConf, "  witness_quorum: 2\n  witness_wait: 250ms\n", "", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if f := d.FastFailover; f.WitnessQuorum != 1 || f.WitnessWait != 100*time.Millisecond {
		t.Errorf("defaults %+v", f)
	}
	if b, _ := MarshalNative(d); strings.Contains(string(b), "witness") {
		t.Errorf("show-config prints defaults:\n%s", b)
	}
	k, err := ParseKeepalived("k.conf", []byte(alertConf("", "")))
	if err != nil {
		t.Fatal(err)
	}
	if f := k.FastFailover; f.WitnessQuorum != DefaultWitnessQuorum || f.WitnessWait != DefaultWitnessWait {
		t.Errorf("keepalived.conf fast_failover %+v", f)
	}
}

func TestNativeWitnessKeyErrors(t *testing.T) {
	for _, tt := range []struct{ from, to, want string }{
		{"witness_quorum: 2", "witness_quorum: -1", `d.yaml:4: key "fast_failover.witness_quorum": -1 is out of range 0..1000`},
		{"witness_quorum: 2", "witness_quorum: two", `d.yaml:4: key "fast_failover.witness_quorum"`},
		{"witness_wait: 250ms", "witness_wait: 0s", `d.yaml:5: key "fast_failover.witness_wait": 0s is out of range 1ms..10s`},
		{"witness_wait: 250ms", "witness_wait: 250", `d.yaml:5: key "fast_failover.witness_wait"`},
	} {
		t.Run(tt.to, func(t *testing.T) {
			_, err := ParseNative("d.yaml", []byte(strings.Replace(ffConf, tt.from, tt.to, 1)))
			if lines := errLines(err); len(lines) != 1 || !strings.HasPrefix(lines[0], tt.want) {
				t.Errorf("errors %q, want one starting with %q", lines, tt.want)
			}
		})
	}
}

// TestValidateWitness checks a model built in Go.
func TestValidateWitness(t *testing.T) {
	c, err := ParseNative("d.yaml", []byte(ffConf))
	if err != nil {
		t.Fatal(err)
	}
	c.FastFailover.WitnessWait = 0
	c.FastFailover.WitnessQuorum = 1001
	got := errLines(c.Validate())
	if len(got) != 2 || !strings.Contains(got[0], `fast_failover: keyword "witness_quorum": 1001 is out of range 0..1000`) ||
		!strings.Contains(got[1], `fast_failover: keyword "witness_wait": 0s is out of range 1ms..10s`) {
		t.Errorf("Validate: %q", got)
	}
}
