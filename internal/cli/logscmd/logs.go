// Package logscmd is `kftray logs`: the HTTP traffic logs of forwards
// (`kftray logs http`), read from the daemon's API.
package logscmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kftray-go/kftray/forwarder/httplog"
	"github.com/kftray-go/kftray/internal/cli/cmdutil"
	"github.com/kftray-go/kftray/localapi"
)

// NewCmdLogs builds `kftray logs`.
func NewCmdLogs(f *cmdutil.Factory) *cobra.Command {
	cmd := cmdutil.GroupCommand(&cobra.Command{
		Use:   "logs",
		Short: "Show logs: the HTTP traffic of forwards",
	})
	cmd.AddCommand(newCmdHTTP(f))
	return cmd
}

type httpOptions struct {
	follow, asJSON   bool
	method, status   string
	path, since      string
	limit            int
	show, replay     int64
	har              string
	enable, disable  bool
	redact, noRedact bool
}

func newCmdHTTP(f *cmdutil.Factory) *cobra.Command {
	o := &httpOptions{}
	cmd := &cobra.Command{
		Use:   "http NAME",
		Short: "Show, follow, replay or export a forward's HTTP traffic",
		Long: "Show the recent HTTP exchanges of a forward (alias or id) that the daemon logged:\n" +
			"one line each (id, time, method, path, status, duration, size). Logging is per\n" +
			"forward: --enable/--disable turn it on and off at once, without restarting the\n" +
			"forward (stored in the config's http_logs_enabled); the setting\n" +
			"http_logs_default_enabled turns it on for every forward. Every exchange is also\n" +
			"written to <config dir>/http_logs/<config id>_<local port>.http (REST-client format).\n" +
			"Sensitive headers (Authorization, Cookie, Set-Cookie, Proxy-Authorization) are\n" +
			"redacted unless --no-redact.",
		Example: "  kftray logs http web --enable\n  kftray logs http web -f --status 5xx\n  kftray logs http web --show 12\n" +
			"  kftray logs http web --replay 12\n  kftray logs http web --har web.har\n  kftray logs http purge web",
		Args: cmdutil.ExactArgs(1, "a forward's name (alias or id)"),
		RunE: func(cmd *cobra.Command, args []string) error { return runHTTP(cmd, f, o, args[0]) },
	}
	fl := cmd.Flags()
	fl.BoolVarP(&o.follow, "follow", "f", false, "after the recent exchanges, print new ones as they happen")
	fl.BoolVar(&o.asJSON, "json", false, "print JSON (one exchange per line with -f)")
	fl.StringVar(&o.method, "method", "", "only this method")
	fl.StringVar(&o.status, "status", "", "only this status (404) or class (5xx)")
	fl.StringVar(&o.path, "path", "", "only request targets containing this")
	fl.StringVar(&o.since, "since", "", "only exchanges since this long ago (10m) or this RFC 3339 time")
	fl.IntVar(&o.limit, "limit", 0, "only the last N matching exchanges")
	fl.Int64Var(&o.show, "show", 0, "print exchange ID in full: headers and bodies")
	fl.Int64Var(&o.replay, "replay", 0, "send exchange ID again through the forward and print the answer")
	fl.StringVar(&o.har, "har", "", "write the matching exchanges as a HAR 1.2 file (- for standard output)")
	fl.BoolVar(&o.enable, "enable", false, "turn the forward's HTTP log on")
	fl.BoolVar(&o.disable, "disable", false, "turn the forward's HTTP log off")
	fl.BoolVar(&o.redact, "redact", false, "with --enable: hide sensitive headers (the default)")
	fl.BoolVar(&o.noRedact, "no-redact", false, "with --enable: show sensitive headers in this forward's log")
	cmd.AddCommand(newCmdPurge(f))
	return cmd
}

// client is the running daemon's; HTTP logs live there.
func client(f *cmdutil.Factory) (*localapi.Client, error) {
	dir, err := f.ConfigDir()
	if err != nil {
		return nil, err
	}
	return localapi.NewUnixClient(localapi.PathsIn(dir).Socket), nil
}

func notRunning(err error) error {
	if errors.Is(err, localapi.ErrNotRunning) {
		return fmt.Errorf("%w: HTTP logs are kept by the daemon; start the forward with 'kftray start NAME' (past logs are the .http files in the config directory's http_logs)", err)
	}
	return err
}

func runHTTP(cmd *cobra.Command, f *cmdutil.Factory, o *httpOptions, ref string) error {
	ctx := cmd.Context()
	actions := 0
	for _, set := range []bool{o.enable || o.disable, o.show != 0, o.replay != 0, o.har != ""} {
		if set {
			actions++
		}
	}
	if actions > 1 || (o.enable && o.disable) || (o.redact && o.noRedact) {
		return cmdutil.FlagErrorf("choose one of --enable, --disable, --show, --replay, --har")
	}
	if (o.redact || o.noRedact) && !o.enable {
		return cmdutil.FlagErrorf("--redact and --no-redact go with --enable")
	}
	q := localapi.HTTPQuery{Method: o.method, Status: o.status, Path: o.path, Limit: o.limit}
	if o.status != "" {
		if _, _, err := localapi.StatusRange(o.status); err != nil {
			return cmdutil.FlagErrorf("--status: %v", err)
		}
	}
	if o.since != "" {
		pq, err := localapi.ParseHTTPQuery(map[string][]string{"since": {o.since}})
		if err != nil {
			return cmdutil.FlagErrorf("--since: %v", err)
		}
		q.Since = pq.Since
	}
	c, err := client(f)
	if err != nil {
		return err
	}
	defer c.Close()
	out := f.IO.Out
	switch {
	case o.enable || o.disable:
		s := localapi.HTTPLogSettings{Enabled: o.enable}
		if o.redact || o.noRedact {
			v := o.redact
			s.Redact = &v
		}
		st, err := c.SetHTTPLog(ctx, ref, s)
		if err != nil {
			return notRunning(err)
		}
		if o.asJSON {
			return cmdutil.WriteJSON(out, st)
		}
		if st.Enabled {
			fmt.Fprintf(out, "HTTP log of %s: on (redaction %s), writing %s\n", ref, onOff(st.Redact), orDash(st.File))
		} else {
			fmt.Fprintf(out, "HTTP log of %s: off\n", ref)
		}
		return nil
	case o.show != 0:
		e, err := c.HTTPExchange(ctx, ref, o.show)
		if err != nil {
			return notRunning(err)
		}
		if o.asJSON {
			return cmdutil.WriteJSON(out, e)
		}
		writeFull(out, e)
		return nil
	case o.replay != 0:
		e, err := c.ReplayHTTP(ctx, ref, o.replay)
		if err != nil {
			return notRunning(err)
		}
		if o.asJSON {
			return cmdutil.WriteJSON(out, e)
		}
		writeFull(out, e)
		return nil
	case o.har != "":
		data, err := c.HTTPHAR(ctx, ref, q)
		if err != nil {
			return notRunning(err)
		}
		if o.har == "-" {
			_, err = out.Write(append(data, '\n'))
			return err
		}
		if err := os.WriteFile(o.har, data, 0o600); err != nil {
			return fmt.Errorf("writing the HAR file: %w", err)
		}
		fmt.Fprintf(f.IO.ErrOut, "wrote %s\n", o.har)
		return nil
	}
	list, err := c.HTTPExchanges(ctx, ref, q)
	if err != nil {
		return notRunning(err)
	}
	if o.asJSON && !o.follow {
		return cmdutil.WriteJSON(out, list)
	}
	for _, e := range list {
		if err := writeLine(out, e, o.asJSON); err != nil {
			return err
		}
	}
	if !o.follow {
		if len(list) == 0 && !o.asJSON {
			if fw, err := c.Forward(ctx, ref); err == nil && (fw.HTTPLog == nil || !fw.HTTPLog.Enabled) {
				fmt.Fprintf(f.IO.ErrOut, "No exchanges: the HTTP log of %s is off; turn it on with 'kftray logs http %s --enable'.\n", ref, ref)
			}
		}
		return nil
	}
	last := int64(0)
	if len(list) > 0 {
		last = list[len(list)-1].ID
	}
	q.Limit, q.Since = 0, time.Time{}
	err = c.FollowHTTP(ctx, ref, q, func(e localapi.HTTPExchange) error {
		if e.ID <= last {
			return nil // already printed
		}
		return writeLine(out, e, o.asJSON)
	})
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return notRunning(err)
}

func newCmdPurge(f *cmdutil.Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "purge [NAME]",
		Short: "Delete the .http files of a forward, or of every forward",
		Long: "Delete the HTTP log files (current and rotated) of the named forward, or of every\n" +
			"forward, and forget the daemon's recent exchanges. Works without a running daemon.",
		Args: cmdutil.MaximumArgs(1, "one forward's name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			ref := ""
			if len(args) == 1 {
				ref = args[0]
			}
			c, err := client(f)
			if err != nil {
				return err
			}
			defer c.Close()
			res, err := c.PurgeHTTPLogs(ctx, ref)
			if errors.Is(err, localapi.ErrNotRunning) {
				res, err = purgeFiles(ctx, f, ref)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(f.IO.Out, "removed %d HTTP log file(s), %s\n", res.Files, size(res.Bytes))
			return nil
		},
	}
}

// purgeFiles removes the files itself when no daemon runs.
func purgeFiles(ctx context.Context, f *cmdutil.Factory, ref string) (localapi.HTTPPurged, error) {
	dir, err := f.ConfigDir()
	if err != nil {
		return localapi.HTTPPurged{}, err
	}
	var id int64
	if ref != "" {
		st, err := f.Store(ctx)
		if err != nil {
			return localapi.HTTPPurged{}, err
		}
		cfg, err := st.LookupConfig(ctx, ref)
		if err != nil {
			return localapi.HTTPPurged{}, err
		}
		id = cfg.ID
	}
	n, b, err := httplog.Purge(filepath.Join(dir, httplog.DirName), id)
	return localapi.HTTPPurged{Files: n, Bytes: b}, err
}

// writeLine prints one exchange on one line (or as one JSON line).
func writeLine(w io.Writer, e localapi.HTTPExchange, asJSON bool) error {
	if asJSON {
		b, err := json.Marshal(e)
		if err != nil {
			return err
		}
		_, err = w.Write(append(b, '\n'))
		return err
	}
	status := "---"
	if e.Status != 0 {
		status = strconv.Itoa(e.Status)
	}
	var extra []string
	if e.Proto == "HTTP/2" {
		extra = append(extra, "h2")
	}
	if e.GRPCStatus != "" {
		extra = append(extra, "grpc-status "+e.GRPCStatus)
	}
	if e.Upgrade != "" {
		extra = append(extra, "upgrade "+e.Upgrade)
	}
	if e.Replay {
		extra = append(extra, fmt.Sprintf("replay of %d", e.ReplayOf))
	}
	if e.Note != "" {
		extra = append(extra, e.Note)
	}
	respSize := int64(0)
	if e.Response != nil {
		respSize = e.Response.BodySize
	}
	tail := ""
	if len(extra) > 0 {
		tail = "  (" + strings.Join(extra, "; ") + ")"
	}
	_, err := fmt.Fprintf(w, "%5d  %s  %-7s %s  %s  %.1fms  %s%s\n", e.ID, e.RequestAt.Local().Format("15:04:05.000"), e.Method, e.Path,
		status, e.DurationMS, size(respSize), tail)
	return err
}

// writeFull prints an exchange like its entry in the .http file.
func writeFull(w io.Writer, e localapi.HTTPExchange) {
	fmt.Fprintf(w, "# Exchange %d  Trace ID: %s\n# Request at: %s", e.ID, e.TraceID, e.RequestAt.Format(time.RFC3339Nano))
	if e.Pod != "" {
		fmt.Fprintf(w, "  pod %s", e.Pod)
	}
	fmt.Fprintln(w)
	if e.Replay {
		fmt.Fprintf(w, "# Replay of: %d\n", e.ReplayOf)
	}
	fmt.Fprintf(w, "%s %s %s\n", e.Method, e.Path, e.Proto)
	writeMessage(w, e.Request)
	if e.Response == nil {
		fmt.Fprintf(w, "\n# No response: %s\n", orDash(e.Note))
		return
	}
	fmt.Fprintf(w, "\n# Took: %.1f ms\n", e.DurationMS)
	if e.Note != "" {
		fmt.Fprintf(w, "# Note: %s\n", e.Note)
	}
	fmt.Fprintf(w, "%s %d %s\n", e.Proto, e.Status, e.Reason)
	writeMessage(w, *e.Response)
}

func writeMessage(w io.Writer, m localapi.HTTPMessage) {
	for _, h := range m.Headers {
		fmt.Fprintf(w, "%s: %s\n", h.Name, h.Value)
	}
	fmt.Fprintln(w)
	if m.Body != "" {
		fmt.Fprintln(w, m.Body)
	}
	if m.BodyNote != "" {
		fmt.Fprintf(w, "# <%s>\n", m.BodyNote)
	}
	for _, h := range m.Trailers {
		fmt.Fprintf(w, "# Trailer: %s: %s\n", h.Name, h.Value)
	}
}

func size(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
