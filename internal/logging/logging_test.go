package logging

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/rs/zerolog"
)

func TestLevel(t *testing.T) {
	tests := []struct {
		env     string
		v       int
		want    zerolog.Level
		wantErr bool
	}{
		{v: 0, want: zerolog.WarnLevel},
		{v: 1, want: zerolog.InfoLevel},
		{v: 2, want: zerolog.DebugLevel},
		{v: 5, want: zerolog.TraceLevel},
		{env: "DEBUG", v: 0, want: zerolog.DebugLevel},
		{env: "error", v: 3, want: zerolog.ErrorLevel},
		{env: "loud", want: zerolog.WarnLevel, wantErr: true},
	}
	for _, tt := range tests {
		t.Setenv("KFTRAY_LOG_LEVEL", tt.env)
		got, err := Level(tt.v)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("Level(%d) with %q = %v, %v; want %v", tt.v, tt.env, got, err, tt.want)
		}
	}
}

func TestNewWritesJSONWhenNotATerminal(t *testing.T) {
	t.Setenv("KFTRAY_LOG_LEVEL", "")
	var buf bytes.Buffer
	l := New(&buf, 1)
	l.Debug().Msg("hidden")
	l.Info().Str("k", "v").Msg("shown")
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatalf("not one JSON line: %q", buf.String())
	}
	if m["message"] != "shown" || m["k"] != "v" || m["level"] != "info" {
		t.Errorf("logged %v", m)
	}
}
