package tui

import (
	"context"

	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/localapi"
)

// Backend is what kftui asks of the daemon: the subset of
// *localapi.Client's methods it calls. Model tests pass an in-memory one.
type Backend interface {
	Status(ctx context.Context) (localapi.Status, error)
	Forwards(ctx context.Context) ([]localapi.Forward, error)
	Start(ctx context.Context, sel localapi.Selection) (localapi.Results, error)
	Stop(ctx context.Context, sel localapi.Selection) (localapi.Results, error)
	DeleteConfig(ctx context.Context, ref string) (int64, error)
	ImportConfigs(ctx context.Context, data []byte) (fwdconfig.ImportResult, error)
	ExportConfigs(ctx context.Context) ([]byte, error)
	// Events calls f for each event until ctx ends, the stream ends or f
	// fails (see localapi.Client.Events).
	Events(ctx context.Context, f func(localapi.Event) error) error
}

var _ Backend = (*localapi.Client)(nil)

// Desktop is what kftui asks of the user's desktop, outside the daemon:
// a browser and a clipboard. Tests record the calls instead.
type Desktop interface {
	// OpenURL opens url in the user's browser (xdg-open, open).
	OpenURL(url string) error
	// Copy puts s on the system clipboard with a local tool (wl-copy,
	// xclip, xsel, pbcopy). kftui also sends OSC 52, which reaches the
	// clipboard of the terminal's machine over ssh; Copy's error only
	// says that no local tool was found.
	Copy(s string) error
}
