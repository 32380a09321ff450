package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPreprocessor(t *testing.T) {
	vips := func(c *Config) []string {
		var out []string
		for _, v := range c.VRRP[0].VirtualIPs {
			out = append(out, v.Prefix.String())
		}
		return out
	}
	for _, tt := range []struct {
		name, id, in string
		prio         int
		vips         []string
	}{
		{"conditional lines, this id", "main",
			"vrrp_instance VI {\ninterface eth0\nvirtual_router_id 1\n@main priority 240\n@backup priority 200\nvirtual_ipaddress {\n@^main 192.0.2.2\n@^backup 192.0.2.1\n}\n}\n",
			240, []string{"192.0.2.1/32"}},
		{"conditional lines, other id", "backup",
			"vrrp_instance VI {\ninterface eth0\nvirtual_router_id 1\n@main priority 240\n@backup priority 200\nvirtual_ipaddress {\n@^main 192.0.2.2\n@^backup 192.0.2.1\n}\n}\n",
			200, []string{"192.0.2.2/32"}},
		{"parameters, braces and recursion", "x",
			"$BASE=192.0.${SUB}\n$SUB=2\n$PRIO=150\nvrrp_instance VI {\ninterface eth0\nvirtual_router_id 1\npriority $PRIO\nvirtual_ipaddress {\n${BASE}.10/32\n}\n}\n",
			150, []string{"192.0.2.10/32"}},
		{"conditional definition", "b",
			"@a $P=10\n@b $P=20\nvrrp_instance VI {\ninterface eth0\nvirtual_router_id 1\npriority $P\nvirtual_ipaddress {\n192.0.2.1\n}\n}\n",
			20, []string{"192.0.2.1/32"}},
		{"sequence", "x",
			"vrrp_instance VI {\ninterface eth0\nvirtual_router_id 1\nvirtual_ipaddress {\n~SEQ(N, 1, 3) 192.0.2.${N}\n}\n}\n",
			100, []string{"192.0.2.1/32", "192.0.2.2/32", "192.0.2.3/32"}},
		{"hex sequence and list", "x",
			"vrrp_instance VI {\ninterface eth0\nvirtual_router_id 1\nvirtual_ipaddress {\n~SEQx(N, 0x9, 0x1, 0xb) 2001:db8::${N}\n}\n}\n",
			100, []string{"2001:db8::9/128", "2001:db8::a/128", "2001:db8::b/128"}},
		{"multi-line parameter", "hi",
			"$VI= \\\nvrrp_instance VI_${N} { \\\ninterface eth0 \\\nvirtual_router_id ${N} \\\n@hi priority 130 \\\n@lo priority 120 \\\nvirtual_ipaddress { \\\n192.0.2.${N} \\\n} \\\n}\n$N=1\n$VI\n",
			130, []string{"192.0.2.1/32"}},
		{"undefined parameters stay", "x",
			"vrrp_instance VI {\ninterface eth0\nvirtual_router_id 1\nnotify_master \"/bin/echo $1 ${UNDEF}\"\nvirtual_ipaddress {\n192.0.2.1\n}\n}\n",
			100, []string{"192.0.2.1/32"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseKeepalived("t.conf", []byte(tt.in), noFS{}, ReadOptions{ConfigID: tt.id})
			if err != nil {
				t.Fatal(err)
			}
			if c.VRRP[0].Priority != tt.prio {
				t.Errorf("priority %d, want %d", c.VRRP[0].Priority, tt.prio)
			}
			if diff := cmp.Diff(tt.vips, vips(c)); diff != "" {
				t.Errorf("VIPs (-want +got):\n%s", diff)
			}
		})
	}
	// Line numbers are kept: the line after a sequence is where it was.
	c, err := parseKeepalived("t.conf", []byte("vrrp_instance VI {\ninterface eth0\nvirtual_router_id 1\nvirtual_ipaddress {\n~SEQ(N, 1, 2) 192.0.2.${N}\n}\npriority 7\n}\n"), noFS{})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.VRRP[0].VirtualIPs[1].Pos.Line; got != 5 {
		t.Errorf("sequence line %d, want 5", got)
	}
	if c.VRRP[0].Priority != 7 {
		t.Errorf("priority %d", c.VRRP[0].Priority)
	}
}

func TestPreprocessorErrors(t *testing.T) {
	for _, tt := range []struct{ name, in, want string }{
		{"self reference", "$A=${A}x\nvrrp_instance $A {\n}\n", "t.conf:2: parameters refer to each other more than 16 deep"},
		{"sequence too long", "~SEQ(N, 1, 100000) x\n", "t.conf:1: ~SEQ gives more than 65536 values"},
		{"bad sequence", "~SEQ(N, a) x\n", `t.conf:1: ~SEQ: "a" is not an integer`},
		{"open multi-line", "$A= \\\nx \\\n", "t.conf:2: parameter $A: the multi-line definition does not end"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseKeepalived("t.conf", []byte(tt.in), noFS{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}
