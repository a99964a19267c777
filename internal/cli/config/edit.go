package config

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/internal/cli/cmdutil"
	"github.com/kftray-go/kftray/internal/envknob"
)

// EditOptions are the inputs of `kftray config edit`.
type EditOptions struct {
	Factory *cmdutil.Factory
	Ref     string
	Editor  string // command line; default $VISUAL, $EDITOR, vi
}

// NewCmdEdit builds `kftray config edit`.
func NewCmdEdit(f *cmdutil.Factory, runF func(*cobra.Command, *EditOptions) error) *cobra.Command {
	opts := &EditOptions{Factory: f}
	return &cobra.Command{
		Use:   "edit NAME|ID",
		Short: "Edit one config in $EDITOR",
		Long: "Open one config as JSON in $VISUAL or $EDITOR (default vi). When the editor exits\n" +
			"the config is validated and saved. If it is invalid you are asked to edit again (on a\n" +
			"terminal) or the command fails listing the problems; your edited copy is kept and its\n" +
			"path printed. If someone else changed the config meanwhile, nothing is overwritten.",
		Args: cmdutil.ExactArgs(1, "one config NAME or ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Ref = args[0]
			if opts.Editor == "" {
				opts.Editor = editorCommand()
			}
			if runF != nil {
				return runF(cmd, opts)
			}
			return runEdit(cmd, opts)
		},
	}
}

func editorCommand() string {
	for _, name := range []string{envknob.Visual, envknob.Editor} {
		if e := strings.TrimSpace(envknob.Get(name)); e != "" {
			return e
		}
	}
	return "vi"
}

func runEdit(cmd *cobra.Command, opts *EditOptions) error {
	ctx := cmd.Context()
	io := opts.Factory.IO
	s, err := opts.Factory.Store(ctx)
	if err != nil {
		return err
	}
	cur, err := lookup(ctx, s, opts.Ref)
	if err != nil {
		return err
	}
	orig := cur
	orig.ID = 0 // the id is not editable; leave it out of the file
	text, err := json.MarshalIndent(orig, "", "  ")
	if err != nil {
		return err
	}
	text = append(text, '\n')

	tmp, err := os.CreateTemp("", "kftray-edit-*.json")
	if err != nil {
		return fmt.Errorf("creating the file to edit: %w", err)
	}
	path := tmp.Name()
	_, err = tmp.Write(text)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	keep := false
	defer func() {
		if !keep {
			os.Remove(path)
		}
	}()

	for {
		if err := runEditor(ctx, opts, path); err != nil {
			keep = true
			return fmt.Errorf("%w; your edited copy is in %s", err, path)
		}
		edited, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Equal(bytes.TrimSpace(edited), bytes.TrimSpace(text)) {
			fmt.Fprintln(io.ErrOut, "edit cancelled: no changes")
			return nil
		}
		next, err := parseEdited(edited)
		if err == nil {
			next.ID, next.Revision = cur.ID, cur.Revision
			err = s.UpdateConfig(ctx, &next)
			if err == nil {
				fmt.Fprintf(io.Out, "updated %s\n", describe(&next))
				return nil
			}
		}
		if errors.Is(err, fwdconfig.ErrConflict) {
			keep = true
			return fmt.Errorf("%v\nsomeone changed it while you were editing, so nothing was saved; "+
				"your edited copy is in %s. Run 'kftray config edit %s' again", err, path, opts.Ref)
		}
		var ve *fwdconfig.ValidationError
		var ie *fwdconfig.ImportError
		if !errors.As(err, &ve) && !errors.As(err, &ie) {
			keep = true
			return fmt.Errorf("%w; your edited copy is in %s", err, path)
		}
		fmt.Fprintf(io.ErrOut, "error: %v\n", err)
		if !io.StdinIsTerminal() || !askYes(io, "Edit again? [Y/n] ") {
			keep = true
			fmt.Fprintf(io.ErrOut, "nothing was saved; your edited copy is in %s\n", path)
			return cmdutil.ErrSilent
		}
	}
}

// parseEdited reads the edited file: exactly one config.
func parseEdited(data []byte) (fwdconfig.Config, error) {
	configs, err := fwdconfig.ParseConfigs(data)
	var ie *fwdconfig.ImportError
	if errors.As(err, &ie) {
		ie.Source = "the edited config"
		if len(ie.Entries) == 1 {
			// One config: say "invalid config", not "entry 1".
			return fwdconfig.Config{}, &fwdconfig.ValidationError{Name: ie.Entries[0].Name, Problems: ie.Entries[0].Problems}
		}
	}
	if err != nil {
		return fwdconfig.Config{}, err
	}
	if len(configs) != 1 {
		return fwdconfig.Config{}, &fwdconfig.ImportError{Source: "the edited config",
			Err: fmt.Errorf("it holds %d configs; edit exactly one JSON object", len(configs))}
	}
	return configs[0], nil
}

func runEditor(ctx context.Context, opts *EditOptions, path string) error {
	if strings.TrimSpace(opts.Editor) == "" {
		return errors.New("no editor: set EDITOR")
	}
	// Through the shell, as git does, so EDITOR may hold arguments and
	// quotes ("code --wait", "emacs -nw").
	c := exec.CommandContext(ctx, "/bin/sh", "-c", opts.Editor+` "$@"`, opts.Editor, path)
	c.Stdout, c.Stderr = opts.Factory.IO.Out, opts.Factory.IO.ErrOut
	// Only a real file (the terminal) goes to the editor: a pipe or buffer
	// would be drained by it, losing the answer to "Edit again?".
	if in, ok := opts.Factory.IO.In.(*os.File); ok {
		c.Stdin = in
	}
	if err := c.Run(); err != nil {
		return fmt.Errorf("editor %q failed: %w", opts.Editor, err)
	}
	return nil
}

func askYes(io *cmdutil.IOStreams, prompt string) bool {
	fmt.Fprint(io.ErrOut, prompt)
	line, err := bufio.NewReader(io.In).ReadString('\n')
	if err != nil && line == "" {
		return false
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "", "y", "yes":
		return true
	}
	return false
}
