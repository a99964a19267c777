package localapi

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/kftray-go/kftray/fwdconfig"
)

// SyncSource is a kftray JSON file in a git repository that the daemon
// imports on an interval and on demand.
type SyncSource struct {
	ID   int64  `json:"id,omitempty"`  // set by the daemon
	URL  string `json:"url"`           // https://... or file://...
	Path string `json:"path"`          // the file inside the repository
	Ref  string `json:"ref,omitempty"` // branch; "" the default branch
	// TokenFile is a file (mode 0600) holding the token sent over https.
	// Only its path is kept; the token is read at each sync.
	TokenFile string `json:"token_file,omitempty"`
	// CAFile is a PEM bundle of extra CA roots for the server's
	// certificate. Verification is never turned off.
	CAFile string `json:"ca_file,omitempty"`
	// Interval between syncs, a Go duration ("10m"); "0" syncs only on
	// demand. Default 10m.
	Interval string `json:"interval,omitempty"`
	// Flush makes the file replace every stored config (configs it does
	// not have are deleted), instead of merging into them.
	Flush bool `json:"flush,omitempty"`
}

// SyncStatus is a source and how its last syncs went.
type SyncStatus struct {
	SyncSource
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	// Commit is the commit of the last good import.
	Commit string `json:"commit,omitempty"`
	// LastError is why the last attempt failed ("" when it worked); the
	// configs of the last good import stay as they were.
	LastError string                  `json:"last_error,omitempty"`
	Result    *fwdconfig.ImportResult `json:"result,omitempty"` // of the last good import
	NextSync  time.Time               `json:"next_sync,omitzero"`
}

// AddSyncSource registers a source and syncs it once; the answer is its
// status after that first sync (which may have failed: see LastError).
func (c *Client) AddSyncSource(ctx context.Context, s SyncSource) (SyncStatus, error) {
	var out SyncStatus
	return out, c.do(ctx, http.MethodPost, "/sync/sources", s, &out)
}

// SyncSources lists the sources with their status.
func (c *Client) SyncSources(ctx context.Context) ([]SyncStatus, error) {
	var out []SyncStatus
	return out, c.do(ctx, http.MethodGet, "/sync/sources", nil, &out)
}

// SyncNow syncs one source (id) or, id 0, every source, and returns their
// status afterwards.
func (c *Client) SyncNow(ctx context.Context, id int64) ([]SyncStatus, error) {
	var out []SyncStatus
	r := request{method: http.MethodPost, path: "/sync/now"}
	if id != 0 {
		r.query = url.Values{"id": {strconv.FormatInt(id, 10)}}
	}
	return out, c.doReq(ctx, r, &out)
}

// RemoveSyncSource forgets a source; the configs it imported stay.
func (c *Client) RemoveSyncSource(ctx context.Context, id int64) error {
	return c.do(ctx, http.MethodDelete, "/sync/sources/"+strconv.FormatInt(id, 10), nil, nil)
}
