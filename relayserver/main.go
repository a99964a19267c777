package relayserver

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rs/zerolog"
)

// Main is the whole kftray-server program: it parses args over the
// environment, serves until SIGTERM or SIGINT and returns the exit code.
func Main(args []string, getenv func(string) string, stderr io.Writer) int {
	cfg, err := ParseArgs(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "kftray-server: %v\n", err)
		return 2
	}
	level := zerolog.InfoLevel
	if cfg.LogLevel != "" {
		if level, err = zerolog.ParseLevel(cfg.LogLevel); err != nil {
			fmt.Fprintf(stderr, "kftray-server: log level %q: use debug, info, warn or error\n", cfg.LogLevel)
			return 2
		}
	}
	zerolog.TimeFieldFormat = time.RFC3339Nano
	log := zerolog.New(stderr).Level(level).With().Timestamp().Logger()
	if os.Geteuid() == 0 {
		log.Warn().Msg("running as root; the relay needs no privileges (the image runs as uid 65532)")
	}
	s, err := New(cfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "kftray-server: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := s.Run(ctx); err != nil {
		log.Error().Err(err).Msg("kftray-server failed")
		return 1
	}
	return 0
}
