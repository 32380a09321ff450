package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestMarshalTrackGolden writes testdata/native-track.conf (every block
// beyond the seed) as native YAML.
func TestMarshalTrackGolden(t *testing.T) {
	c, err := LoadWith("testdata/native-track.conf", ReadOptions{ConfigID: "lb1"})
	if err != nil {
		t.Fatal(err)
	}
	out, err := MarshalNative(c)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, t.Name(), out)
	roundTrip(t, c)
}

// TestMarshalMigration puts each warning of testdata/native-track.conf at
// the element it concerns, and the output reads back equal.
func TestMarshalMigration(t *testing.T) {
	c, err := LoadWith("testdata/native-track.conf", ReadOptions{ConfigID: "lb1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Warnings) == 0 {
		t.Fatal("no warnings: the test needs some")
	}
	out, err := MarshalMigration(c, "Migrated from testdata/native-track.conf.\nSecond line.")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, t.Name(), out)
	back, err := ParseNative("migrated.yaml", out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if diff := cmp.Diff(c, back, cmpNoPos...); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got := strings.Count(string(out), "# warning: "); got != len(c.Warnings) {
		t.Errorf("%d warning comments, want %d", got, len(c.Warnings))
	}
}

func TestCommentSafe(t *testing.T) {
	for in, want := range map[string]string{
		"plain: \"x\" 'y' #z": "plain: \"x\" 'y' #z",
		"a\nb\tc":             `a\nb\tc`,
		"line\u2028sep\u0085": `line\u2028sep\u0085`,
		"bad \xff byte":       "bad \ufffd byte",
	} {
		if got := commentSafe(in); got != want {
			t.Errorf("commentSafe(%q) = %q, want %q", in, got, want)
		}
	}
}
