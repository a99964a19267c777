package tui

import (
	"context"
	"os"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/localapi"
)

// Messages the commands send back to Update.
type (
	tickMsg       struct{}
	subscribedMsg struct {
		gen int
		ch  chan tea.Msg
	}
	eventMsg struct {
		gen int
		ev  localapi.Event
	}
	streamEndMsg struct {
		gen int
		err error
	}
	loadedMsg struct {
		fwds []localapi.Forward
		err  error
	}
	ensuredMsg struct{ err error }
	resultsMsg struct {
		verb string // start, stop, restart
		res  localapi.Results
		err  error
	}
	deletedMsg struct {
		ids   []int64
		names string
		err   error
	}
	importedMsg struct {
		path string
		res  fwdconfig.ImportResult
		err  error
	}
	exportedMsg struct {
		path string
		n    int
		err  error
	}
	desktopMsg struct {
		what string
		err  error
	}
)

// requestTimeout bounds one API call; start waits for each forward to
// listen, which includes dialing the cluster.
const requestTimeout = 60 * time.Second

// tickCmd advances the clock once a second (sparklines, "since" times).
// It asks the daemon nothing.
func tickCmd() tea.Cmd {
	return tea.Tick(time.Second, func(time.Time) tea.Msg { return tickMsg{} })
}

func loadCmd(ctx context.Context, b Backend) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, requestTimeout)
		defer cancel()
		fws, err := b.Forwards(ctx)
		return loadedMsg{fwds: fws, err: err}
	}
}

// subscribeCmd opens the event stream in a goroutine that hands each event
// to Update through ch (waitCmd); when Update lags, the goroutine waits and
// the daemon eventually drops the stream, and Update subscribes afresh.
func subscribeCmd(ctx context.Context, b Backend, gen int) tea.Cmd {
	return func() tea.Msg {
		ch := make(chan tea.Msg, 64)
		go func() {
			err := b.Events(ctx, func(ev localapi.Event) error {
				select {
				case ch <- eventMsg{gen: gen, ev: ev}:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			})
			if ctx.Err() != nil {
				return // kftui is quitting; nobody reads ch
			}
			ch <- streamEndMsg{gen: gen, err: err}
		}()
		return subscribedMsg{gen: gen, ch: ch}
	}
}

func waitCmd(ch chan tea.Msg) tea.Cmd {
	if ch == nil {
		return nil
	}
	return func() tea.Msg { return <-ch }
}

func ensureCmd(ctx context.Context, ensure func(context.Context) error) tea.Cmd {
	return func() tea.Msg { return ensuredMsg{err: ensure(ctx)} }
}

func startCmd(ctx context.Context, b Backend, refs []string) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, requestTimeout)
		defer cancel()
		res, err := b.Start(ctx, localapi.Selection{Refs: refs})
		return resultsMsg{verb: "start", res: res, err: err}
	}
}

func stopCmd(ctx context.Context, b Backend, refs []string) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, requestTimeout)
		defer cancel()
		res, err := b.Stop(ctx, localapi.Selection{Refs: refs})
		return resultsMsg{verb: "stop", res: res, err: err}
	}
}

// restartCmd restarts the forwards with their stored configs (a daemon
// without the restart endpoint: stop, then start).
func restartCmd(ctx context.Context, b Backend, refs []string) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, requestTimeout)
		defer cancel()
		if r, ok := b.(Restarter); ok {
			res, err := r.Restart(ctx, localapi.Selection{Refs: refs})
			return resultsMsg{verb: "restart", res: res, err: err}
		}
		if res, err := b.Stop(ctx, localapi.Selection{Refs: refs}); err != nil || res.Failed() > 0 {
			return resultsMsg{verb: "restart", res: res, err: err}
		}
		res, err := b.Start(ctx, localapi.Selection{Refs: refs})
		return resultsMsg{verb: "restart", res: res, err: err}
	}
}

func deleteCmd(ctx context.Context, b Backend, es []*entry) tea.Cmd {
	rs, ns := refs(es), names(es)
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, requestTimeout)
		defer cancel()
		var ids []int64
		for _, r := range rs {
			id, err := b.DeleteConfig(ctx, r)
			if err != nil {
				return deletedMsg{ids: ids, names: ns, err: err}
			}
			ids = append(ids, id)
		}
		return deletedMsg{ids: ids, names: ns}
	}
}

func importCmd(ctx context.Context, b Backend, path string) tea.Cmd {
	return func() tea.Msg {
		data, err := os.ReadFile(path)
		if err != nil {
			return importedMsg{path: path, err: err}
		}
		ctx, cancel := context.WithTimeout(ctx, requestTimeout)
		defer cancel()
		res, err := b.ImportConfigs(ctx, data)
		return importedMsg{path: path, res: res, err: err}
	}
}

func exportCmd(ctx context.Context, b Backend, path string) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, requestTimeout)
		defer cancel()
		data, err := b.ExportConfigs(ctx)
		if err != nil {
			return exportedMsg{path: path, err: err}
		}
		cfgs, err := fwdconfig.ParseConfigs(data)
		if err != nil {
			return exportedMsg{path: path, err: err}
		}
		if err := writeNew(path, data); err != nil {
			return exportedMsg{path: path, err: err}
		}
		return exportedMsg{path: path, n: len(cfgs)}
	}
}

// writeNew writes an export file, refusing to overwrite one: the user
// picks another name.
func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// copyCmd copies s with a local tool and with OSC 52 (the terminal's
// clipboard, which works over ssh too).
func copyCmd(d Desktop, s string) tea.Cmd {
	return tea.Batch(tea.SetClipboard(s), func() tea.Msg {
		if err := d.Copy(s); err != nil {
			// OSC 52 may still have worked: say what was tried.
			return desktopMsg{what: "copied " + s + " (terminal clipboard only: " + oneLine(err.Error()) + ")"}
		}
		return desktopMsg{what: "copied " + s}
	})
}

func openCmd(d Desktop, url string) tea.Cmd {
	return func() tea.Msg {
		if err := d.OpenURL(url); err != nil {
			return desktopMsg{what: "opening " + url, err: err}
		}
		return desktopMsg{what: "opened " + url}
	}
}
