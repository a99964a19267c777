// Package uicmd is `kftray ui`: open the daemon's web UI in a browser with
// a single-use login link.
package uicmd

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/kftray-go/kftray/internal/atomicfile"
	"github.com/kftray-go/kftray/internal/cli/cmdutil"
	"github.com/kftray-go/kftray/internal/cli/daemoncmd"
	"github.com/kftray-go/kftray/localapi"
)

// OpenFileName is the page in the config directory that sends the
// browser on to the login link.
const OpenFileName = "ui-open.html"

// NewCmdUI builds `kftray ui`.
func NewCmdUI(f *cmdutil.Factory) *cobra.Command {
	var print bool
	cmd := &cobra.Command{
		Use:   "ui",
		Short: "Open the web UI in a browser (starting the daemon if needed)",
		Long: "Open the daemon's web UI (served on 127.0.0.1) in your browser. The daemon makes a\n" +
			"login link that works once, for 2 minutes; the browser trades it for a session\n" +
			"cookie. The link is handed to the browser through a page in the config directory\n" +
			"(" + OpenFileName + ", readable by you only), never on a command line that other users\n" +
			"could read. With --print, the link is printed instead: open it yourself (for\n" +
			"example when your browser cannot read files in hidden directories).",
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := daemoncmd.EnsureDaemon(cmd, f)
			if err != nil {
				return err
			}
			defer c.Close()
			if print {
				link, err := c.UILogin(cmd.Context())
				if err != nil {
					return fmt.Errorf("asking the daemon for a login link: %w", err)
				}
				fmt.Fprintln(f.IO.Out, link.URL)
				return nil
			}
			dir, err := f.ConfigDir()
			if err != nil {
				return err
			}
			link, err := Open(cmd.Context(), c, dir)
			if errors.Is(err, errNoBrowser) {
				fmt.Fprintf(f.IO.ErrOut, "%v; open this link yourself (it works once, for %s):\n", err, time.Until(link.ExpiresAt).Round(time.Second))
				fmt.Fprintln(f.IO.Out, link.URL)
				return nil
			}
			if err != nil {
				return err
			}
			u, _ := url.Parse(link.URL)
			fmt.Fprintf(f.IO.ErrOut, "opened the kftray web UI (http://%s/ui/) in your browser\n", u.Host)
			return nil
		},
	}
	cmd.Flags().BoolVar(&print, "print", false, "print the single-use login link instead of opening a browser")
	return cmd
}

var errNoBrowser = errors.New("could not open a browser")

// Open asks the daemon for a login link and opens it in the desktop's
// browser through the redirect page in dir (the tray's "Open kftray"
// does this too). When no browser could be started the error wraps
// errNoBrowser and the link is returned for the user to open.
func Open(ctx context.Context, c *localapi.Client, dir string) (localapi.UILogin, error) {
	link, err := c.UILogin(ctx)
	if err != nil {
		return link, fmt.Errorf("asking the daemon for a login link: %w", err)
	}
	page, err := writeOpenPage(dir, link.URL)
	if err != nil {
		return link, err
	}
	if err := openBrowser(ctx, page); err != nil {
		return link, fmt.Errorf("%w (%v)", errNoBrowser, err)
	}
	return link, nil
}

// writeOpenPage writes the page that redirects to link, mode 0600: the
// login token then appears in no process's arguments.
func writeOpenPage(dir, link string) (string, error) {
	p := filepath.Join(dir, OpenFileName)
	l := html.EscapeString(link)
	page := `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="referrer" content="no-referrer">
<meta http-equiv="refresh" content="0;url=` + l + `"><title>Opening kftray…</title></head>
<body><p>Opening <a href="` + l + `">kftray</a>…</p></body></html>
`
	if err := atomicfile.WriteFile(p, []byte(page), 0o600); err != nil {
		return "", fmt.Errorf("writing %s: %w", p, err)
	}
	return p, nil
}

// openBrowser hands path to the desktop's opener. Openers may block while
// the browser runs: wait briefly for a failure, then let it be.
func openBrowser(ctx context.Context, path string) error {
	name, args := opener(path)
	if name == "" {
		return fmt.Errorf("no known way to open a browser on this system")
	}
	bin, err := exec.LookPath(name)
	if err != nil {
		return fmt.Errorf("%s not found: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, nil, nil
	cmd.Env = os.Environ()
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	case <-time.After(5 * time.Second):
		return nil
	case <-ctx.Done():
		return nil
	}
}
