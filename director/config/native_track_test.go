package config

import (
	"testing"
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
