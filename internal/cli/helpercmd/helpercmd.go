// Package helpercmd is `kftray helper install|uninstall|status`. The work is
// in helper/install; this only parses flags and, when not root, re-runs the
// same kftray binary through sudo or pkexec (an argv, never a shell string).
package helpercmd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/kftray-go/kftray/helper/config"
	"github.com/kftray-go/kftray/helper/install"
	"github.com/kftray-go/kftray/internal/buildinfo"
	"github.com/kftray-go/kftray/internal/cli/cmdutil"
	"github.com/kftray-go/kftray/internal/envknob"
)

// Options come from the kftray build.
type Options struct {
	// Version of kftray; the helper must carry the same. Empty for dev
	// builds (any signed version is accepted).
	Version string
}

// New returns the `helper` command.
func New(opts Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "helper",
		Short: "Install, remove or inspect the root helper that binds low ports and edits /etc/hosts",
	}
	cmd.AddCommand(installCmd(opts), uninstallCmd(opts), statusCmd(opts))
	return cmd
}

type flags struct {
	root, binary, signature, init string
	insecure                      bool
	allowUID                      int
	allowSuffixes                 []string
	allowSingleLabel              bool
}

func (f *flags) options(opts Options, cmd *cobra.Command) (install.Options, error) {
	keys, err := install.BuiltinKeys()
	if err != nil {
		return install.Options{}, err
	}
	o := install.Options{
		Root: f.root, Binary: f.binary, Signature: f.signature, TrustedKeys: keys,
		Version: opts.Version, InsecureSkipSignature: f.insecure, Init: f.init, Out: cmd.OutOrStdout(),
		AllowSuffixes: f.allowSuffixes, AllowSingleLabel: f.allowSingleLabel,
	}
	for _, sfx := range f.allowSuffixes {
		if err := config.ValidateSuffix(sfx); err != nil {
			return o, cmdutil.FlagErrorf("--allow-suffix: %v", err)
		}
	}
	if o.Binary == "" {
		o.Binary, err = defaultBinary()
		if err != nil {
			return o, err
		}
	}
	return o, nil
}

// defaultBinary is the kftray-helper shipped next to kftray.
func defaultBinary() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	exe, _ = filepath.EvalSymlinks(exe)
	for _, p := range []string{
		filepath.Join(filepath.Dir(exe), "kftray-helper"),
		filepath.Join(filepath.Dir(exe), "..", "libexec", "kftray", "kftray-helper"),
	} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("cannot find kftray-helper next to kftray; pass --binary PATH")
}

func (f *flags) register(cmd *cobra.Command, withBinary bool) {
	cmd.Flags().StringVar(&f.root, "root", "", "install under this directory instead of / (for tests and packaging)")
	cmd.Flags().StringVar(&f.init, "init", "", "service manager: systemd, launchd or none (default: detect)")
	cmd.Flags().IntVar(&f.allowUID, "allow-uid", -1, "uid to allow (default: the user who ran sudo)")
	if withBinary {
		cmd.Flags().StringVar(&f.binary, "binary", "", "kftray-helper binary to install (default: next to kftray)")
		cmd.Flags().StringVar(&f.signature, "signature", "", "its minisign signature (default: BINARY.minisig)")
		cmd.Flags().BoolVar(&f.insecure, "insecure-skip-signature", false, "DEVELOPMENT ONLY: install an unverified binary as root")
		cmd.Flags().StringArrayVar(&f.allowSuffixes, "allow-suffix", nil, "also allow hosts names ending in `SUFFIX` (e.g. .local, .internal, .corp.example); repeatable; .test is always allowed")
		cmd.Flags().BoolVar(&f.allowSingleLabel, "allow-single-label", false, "also allow dotless hosts names such as grafana (kftray's example aliases); any allowed user can then redirect such a name for every user of this machine")
	}
}

// escalate re-runs this kftray as root with the same arguments plus the
// caller's uid. It returns handled=false when no escalation is needed.
func escalate(cmd *cobra.Command, f *flags, binary string) (bool, error) {
	if os.Geteuid() == 0 || f.root != "" {
		return false, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return true, err
	}
	var tool string
	for _, t := range []string{"/usr/bin/sudo", "/usr/bin/pkexec"} {
		if _, err := os.Stat(t); err == nil {
			tool = t
			break
		}
	}
	if tool == "" {
		return true, fmt.Errorf("this needs root and neither sudo nor pkexec is installed; run it as root with --allow-uid %d", os.Getuid())
	}
	args := []string{exe, "helper", cmd.Name(), "--allow-uid", strconv.Itoa(os.Getuid())}
	if binary != "" {
		abs, err := filepath.Abs(binary)
		if err != nil {
			return true, err
		}
		args = append(args, "--binary", abs)
	}
	if f.signature != "" {
		abs, _ := filepath.Abs(f.signature)
		args = append(args, "--signature", abs)
	}
	if f.insecure {
		args = append(args, "--insecure-skip-signature")
	}
	if f.init != "" {
		args = append(args, "--init", f.init)
	}
	for _, sfx := range f.allowSuffixes {
		args = append(args, "--allow-suffix", sfx)
	}
	if f.allowSingleLabel {
		args = append(args, "--allow-single-label")
	}
	if tool == "/usr/bin/sudo" {
		args = append([]string{"--"}, args...)
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "kftray: asking for root with %s to %s the helper\n", tool, cmd.Name())
	c := exec.CommandContext(cmd.Context(), tool, args...)
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, cmd.OutOrStdout(), cmd.ErrOrStderr()
	return true, c.Run()
}

// allowUID picks the user to allow: the flag, else whoever ran sudo/pkexec.
func allowUID(f *flags) (uint32, error) {
	if f.allowUID >= 0 {
		return uint32(f.allowUID), nil
	}
	for _, name := range []string{envknob.SudoUID, envknob.PkexecUID} {
		if v := envknob.Get(name); v != "" {
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				return 0, fmt.Errorf("%s=%q is not a uid; pass --allow-uid", name, v)
			}
			return uint32(n), nil
		}
	}
	if f.root != "" || os.Geteuid() != 0 {
		return uint32(os.Getuid()), nil
	}
	return 0, errors.New("cannot tell which user to allow: run `kftray helper install` as that user (it asks for sudo), or pass --allow-uid")
}

func installCmd(opts Options) *cobra.Command {
	f := &flags{}
	cmd := &cobra.Command{
		Use:   "install",
		Short: "Verify and install the root helper, and allow this user to use it",
		Args:  cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o, err := f.options(opts, cmd)
			if err != nil {
				return err
			}
			if done, err := escalate(cmd, f, o.Binary); done {
				return err
			}
			if o.AllowUID, err = allowUID(f); err != nil {
				return err
			}
			return install.Install(cmd.Context(), o)
		},
	}
	f.register(cmd, true)
	return cmd
}

func uninstallCmd(opts Options) *cobra.Command {
	f := &flags{}
	cmd := &cobra.Command{
		Use:   "uninstall",
		Short: "Stop and remove the root helper and every kftray line in /etc/hosts",
		Args:  cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o := install.Options{Root: f.root, Init: f.init, Out: cmd.OutOrStdout()}
			if done, err := escalate(cmd, f, ""); done {
				return err
			}
			return install.Uninstall(cmd.Context(), o)
		},
	}
	f.register(cmd, false)
	return cmd
}

func statusCmd(opts Options) *cobra.Command {
	f := &flags{}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the installed helper's version, service state and whether this user may use it",
		Args:  cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o := install.Options{Root: f.root, Version: opts.Version, Init: f.init}
			s := install.GetStatus(context.WithoutCancel(cmd.Context()), o, uint32(os.Getuid()))
			fmt.Fprint(cmd.OutOrStdout(), s.String())
			return nil
		},
	}
	cmd.Flags().StringVar(&f.root, "root", "", "inspect an installation under this directory")
	cmd.Flags().StringVar(&f.init, "init", "", "service manager: systemd, launchd or none (default: detect)")
	return cmd
}

// NewCmdHelper is `kftray helper` for the CLI root. A kftray built with
// -X .../internal/buildinfo.Version=vX requires a helper signed as vX;
// development builds accept any signed version.
func NewCmdHelper(f *cmdutil.Factory) *cobra.Command {
	return cmdutil.GroupCommand(New(Options{Version: buildinfo.Version}))
}
