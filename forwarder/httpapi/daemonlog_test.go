package httpapi

import (
	"strings"
	"testing"
)

// TestLineBuffer: what a follower reads becomes whole lines, however the
// writes were cut.
func TestLineBuffer(t *testing.T) {
	long := strings.Repeat("x", maxLogLine+1)
	for _, tc := range []struct {
		name  string
		reads []string
		want  []string
	}{
		{"whole lines", []string{"a\nb\n"}, []string{"a", "b"}},
		{"a line in two reads", []string{`{"message":"ha`, "lf\"}\n"}, []string{`{"message":"half"}`}},
		{"a line in three reads", []string{"a", "b", "c\nd"}, []string{"abc"}},
		{"empty lines left out", []string{"\n \na\n\n"}, []string{"a"}},
		{"a runaway line dropped, the next kept", []string{long[:maxLogLine/2], long[maxLogLine/2:], "tail\nnext\n"}, []string{"next"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b lineBuffer
			var got []string
			for _, r := range tc.reads {
				for _, l := range b.feed([]byte(r)) {
					got = append(got, string(l))
				}
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Fatalf("lines %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseLogLine(t *testing.T) {
	l := parseLogLine([]byte(`{"level":"warn","time":"2026-01-02T03:04:05Z","message":"m","pid":7}`))
	if l.Level != "warn" || l.Message != "m" || l.Time.Year() != 2026 || len(l.Fields) != 1 || l.Fields["pid"] != float64(7) {
		t.Fatalf("%+v", l)
	}
	if l := parseLogLine([]byte("goroutine 1 [running]:")); l.Level != "" || l.Message != "goroutine 1 [running]:" {
		t.Fatalf("a line that is not JSON: %+v", l)
	}
}
