// Package logging builds the zerolog loggers kftray's binaries use: quiet
// by default, human-readable on a terminal, JSON lines otherwise.
package logging

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/term"

	"github.com/kftray-go/kftray/internal/envknob"
)

// Level maps a -v count to a level: 0 warn, 1 info, 2 debug, 3+ trace.
// KFTRAY_LOG_LEVEL (a zerolog level name) wins when set.
func Level(verbosity int) (zerolog.Level, error) {
	if name := strings.TrimSpace(envknob.Get(envknob.LogLevel)); name != "" {
		l, err := zerolog.ParseLevel(strings.ToLower(name))
		if err != nil {
			return zerolog.WarnLevel, fmt.Errorf("%s=%q is not a log level (trace, debug, info, warn, error, disabled)", envknob.LogLevel, name)
		}
		return l, nil
	}
	switch {
	case verbosity <= 0:
		return zerolog.WarnLevel, nil
	case verbosity == 1:
		return zerolog.InfoLevel, nil
	case verbosity == 2:
		return zerolog.DebugLevel, nil
	default:
		return zerolog.TraceLevel, nil
	}
}

// New returns a logger writing to w at the level for verbosity: a console
// writer when w is a terminal, JSON lines otherwise (for journald, files,
// tests). A bad KFTRAY_LOG_LEVEL is reported on the logger and ignored.
func New(w io.Writer, verbosity int) zerolog.Logger {
	level, lerr := Level(verbosity)
	out := w
	if IsTerminal(w) {
		out = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
	}
	l := zerolog.New(out).Level(level).With().Timestamp().Logger()
	if lerr != nil {
		l.Warn().Err(lerr).Msg("ignoring log level")
	}
	return l
}

// IsTerminal reports whether w is a terminal.
func IsTerminal(w any) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}

// Stderr is New(os.Stderr, verbosity).
func Stderr(verbosity int) zerolog.Logger { return New(os.Stderr, verbosity) }
