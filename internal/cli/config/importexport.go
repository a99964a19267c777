package config

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/internal/atomicfile"
	"github.com/kftray-go/kftray/internal/cli/cmdutil"
	"github.com/kftray-go/kftray/store"
)

// ImportOptions are the inputs of `kftray config import`.
type ImportOptions struct {
	Factory *cmdutil.Factory
	File    string // "-" for stdin
}

// NewCmdImport builds `kftray config import`.
func NewCmdImport(f *cmdutil.Factory, runF func(*cobra.Command, *ImportOptions) error) *cobra.Command {
	opts := &ImportOptions{Factory: f}
	return &cobra.Command{
		Use:   "import FILE|-",
		Short: "Import configs from a kftray JSON file",
		Long: "Import configs from a kftray JSON file (an array of configs or one config; '-' reads\n" +
			"stdin), or from the kftray desktop app's configs.db (read only). An entry that is the\n" +
			"same forward as a stored config (same context, namespace, workload type, protocol and\n" +
			"service/target/remote address) updates it instead of adding a duplicate. A file with\n" +
			"any problem is rejected whole, listing every problem.",
		Example: "  kftray config import ~/Downloads/configs.json\n" +
			"  curl -s https://example.com/team.json | kftray config import -\n" +
			"  kftray --config-dir ~/.config/kftray-go config import ~/.kftray/configs.db",
		Args: cmdutil.ExactArgs(1, "one FILE (or - for stdin)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.File = args[0]
			if runF != nil {
				return runF(cmd, opts)
			}
			return runImport(cmd, opts)
		},
	}
}

func runImport(cmd *cobra.Command, opts *ImportOptions) error {
	var (
		data []byte
		err  error
		name = opts.File
	)
	if opts.File == "-" {
		name = "stdin"
		data, err = io.ReadAll(opts.Factory.IO.In)
	} else {
		data, err = os.ReadFile(opts.File)
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", name, err)
	}
	ctx := cmd.Context()
	if store.IsSQLite(data) && opts.File != "-" {
		// The kftray desktop app's configs.db: read its configs.
		if data, err = store.ReadKftrayAppDB(ctx, opts.File); err != nil {
			return err
		}
	}
	s, err := opts.Factory.Store(ctx)
	if err != nil {
		return err
	}
	res, err := s.ImportConfigs(ctx, data)
	var ie *fwdconfig.ImportError
	if errors.As(err, &ie) {
		ie.Source = name
	}
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(opts.Factory.IO.Out, "imported %s: %d added, %d updated, %d unchanged\n",
		name, len(res.Added), len(res.Updated), len(res.Unchanged))
	return err
}

// ExportOptions are the inputs of `kftray config export`.
type ExportOptions struct {
	Factory *cmdutil.Factory
	File    string // "" or "-" for stdout
}

// NewCmdExport builds `kftray config export`.
func NewCmdExport(f *cmdutil.Factory, runF func(*cobra.Command, *ExportOptions) error) *cobra.Command {
	opts := &ExportOptions{Factory: f}
	return &cobra.Command{
		Use:   "export [FILE]",
		Short: "Export every config as a kftray JSON file",
		Long: "Export every config as a pretty JSON array that kftray (and this kftray) can import:\n" +
			"ids are left out, and so are fields at kftray's defaults. Without FILE, or with '-',\n" +
			"it writes to stdout. An existing FILE is replaced atomically.",
		Args: cmdutil.MaximumArgs(1, "one FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.File = args[0]
			}
			if runF != nil {
				return runF(cmd, opts)
			}
			return runExport(cmd, opts)
		},
	}
}

func runExport(cmd *cobra.Command, opts *ExportOptions) error {
	ctx := cmd.Context()
	s, err := opts.Factory.Store(ctx)
	if err != nil {
		return err
	}
	data, err := s.ExportConfigs(ctx)
	if err != nil {
		return err
	}
	if opts.File == "" || opts.File == "-" {
		_, err := opts.Factory.IO.Out.Write(data)
		return err
	}
	if err := atomicfile.WriteFile(opts.File, data, 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", opts.File, err)
	}
	return nil
}
