// Package cmdutil holds what every kftray command shares: the Factory
// (streams, config directory, logger, store), usage errors and argument
// checks.
package cmdutil

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/kftray-go/kftray/internal/logging"
	"github.com/kftray-go/kftray/internal/paths"
	"github.com/kftray-go/kftray/store"
)

// IOStreams are the command's standard streams.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer

	stdinTTY *bool // test override
}

// System returns the process's own streams.
func System() *IOStreams { return &IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr} }

// StdinIsTerminal reports whether In is a terminal (prompts are allowed).
func (s *IOStreams) StdinIsTerminal() bool {
	if s.stdinTTY != nil {
		return *s.stdinTTY
	}
	return logging.IsTerminal(s.In)
}

// SetStdinTTY overrides terminal detection (tests of interactive paths).
func (s *IOStreams) SetStdinTTY(v bool) { s.stdinTTY = &v }

// Factory gives commands what they need, lazily: the store is opened only
// by commands that use it, once.
type Factory struct {
	IO *IOStreams

	// Set from global flags before any command runs.
	ConfigDirFlag string
	Verbosity     int

	logOnce sync.Once
	log     zerolog.Logger

	storeMu sync.Mutex
	store   *store.Store
}

// Logger returns the logger for the chosen verbosity (stderr).
func (f *Factory) Logger() *zerolog.Logger {
	f.logOnce.Do(func() { f.log = logging.New(f.IO.ErrOut, f.Verbosity) })
	return &f.log
}

// ConfigDir is the config directory: --config-dir, else kftray's rule.
func (f *Factory) ConfigDir() (string, error) { return paths.ConfigDir(f.ConfigDirFlag) }

// Store opens the store on first use.
func (f *Factory) Store(ctx context.Context) (*store.Store, error) {
	f.storeMu.Lock()
	defer f.storeMu.Unlock()
	if f.store != nil {
		return f.store, nil
	}
	dir, err := f.ConfigDir()
	if err != nil {
		return nil, err
	}
	f.Logger().Debug().Str("dir", dir).Msg("opening store")
	s, err := store.Open(ctx, dir)
	if err != nil {
		return nil, err
	}
	f.store = s
	return s, nil
}

// Close releases what the factory opened.
func (f *Factory) Close() error {
	f.storeMu.Lock()
	defer f.storeMu.Unlock()
	if f.store == nil {
		return nil
	}
	err := f.store.Close()
	f.store = nil
	return err
}

// FlagError is a usage mistake (exit code 2): a bad flag, a wrong number of
// arguments, an unknown command.
type FlagError struct{ Err error }

func (e *FlagError) Error() string { return e.Err.Error() }
func (e *FlagError) Unwrap() error { return e.Err }

// FlagErrorf makes a FlagError.
func FlagErrorf(format string, args ...any) error {
	return &FlagError{Err: fmt.Errorf(format, args...)}
}

// ErrSilent means the command already reported the failure; exit 1 without
// printing more.
var ErrSilent = errors.New("silent error")

// ExactArgs requires n arguments, named in the message.
func ExactArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return FlagErrorf("%s takes %s (got %d argument(s))", cmd.CommandPath(), names, len(args))
		}
		return nil
	}
}

// MinimumArgs requires at least n arguments.
func MinimumArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return FlagErrorf("%s needs %s", cmd.CommandPath(), names)
		}
		return nil
	}
}

// MaximumArgs allows at most n arguments.
func MaximumArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) > n {
			return FlagErrorf("%s takes at most %s (got %q)", cmd.CommandPath(), names, strings.Join(args, " "))
		}
		return nil
	}
}

// NoArgs rejects arguments.
func NoArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return FlagErrorf("%s takes no arguments (got %q)", cmd.CommandPath(), strings.Join(args, " "))
	}
	return nil
}

// GroupCommand is a command that only holds subcommands: alone it prints
// help; with an unknown subcommand it is a usage error.
func GroupCommand(cmd *cobra.Command) *cobra.Command {
	cmd.Args = func(c *cobra.Command, args []string) error {
		if len(args) > 0 {
			return FlagErrorf("unknown command %q for %q", args[0], c.CommandPath())
		}
		return nil
	}
	cmd.RunE = func(c *cobra.Command, args []string) error { return c.Help() }
	return cmd
}

// WriteJSON writes v as indented JSON and a newline (for --json output).
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
