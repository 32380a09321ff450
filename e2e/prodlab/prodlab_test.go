package prodlab

import (
	"testing"
	"time"
)

func TestLogTime(t *testing.T) {
	out := `time=2025-01-02T10:00:00.100Z level=INFO msg="agent heard" rs=10.99.0.11
not a log line with msg="agent heard" rs=10.99.0.11
time=2025-01-02T10:00:01.200Z level=INFO msg="agent state" rs=10.99.0.11
time=2025-01-02T10:00:02.300Z level=INFO msg="agent state" rs=10.99.0.12
time=bad level=INFO msg="agent state" rs=10.99.0.12
`
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, c := range []struct {
		since time.Time
		subs  []string
		want  time.Time
	}{
		{time.Time{}, []string{`msg="agent heard"`}, at("2025-01-02T10:00:00.100Z")},
		{at("2025-01-02T10:00:00.100Z"), []string{`msg="agent heard"`}, at("2025-01-02T10:00:00.100Z")},
		{at("2025-01-02T10:00:00.101Z"), []string{`msg="agent heard"`}, time.Time{}},
		{time.Time{}, []string{`msg="agent state"`, "rs=10.99.0.12"}, at("2025-01-02T10:00:02.300Z")},
		{time.Time{}, nil, at("2025-01-02T10:00:00.100Z")},
		{time.Time{}, []string{"rs=10.99.0.13"}, time.Time{}},
	} {
		if got := LogTime(out, c.since, c.subs...); !got.Equal(c.want) {
			t.Errorf("LogTime(since %v, %q) = %v, want %v", c.since, c.subs, got, c.want)
		}
	}
}
