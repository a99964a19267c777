package localapi

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// Restart stops the selected forwards and starts them again with their
// stored configs (a stopped one is started). With All it restarts the
// forwards that should run (Forward.Desired). It returns as Start does.
func (c *Client) Restart(ctx context.Context, sel Selection) (Results, error) {
	var r Results
	return r, c.do(ctx, http.MethodPost, "/forwards/restart", sel, &r)
}

// Helper is what the root helper looks like to this user: what `kftray
// helper status` shows, and which configs need it.
type Helper struct {
	Installed bool   `json:"installed"`
	Version   string `json:"version,omitempty"` // of the installed helper
	Want      string `json:"want,omitempty"`    // the version this kftray needs; "" any (development build)
	UpToDate  bool   `json:"up_to_date"`
	Allowed   bool   `json:"allowed"`           // this user may use it
	Service   string `json:"service,omitempty"` // e.g. "active", "socket reachable", "not running"
	// NeededBy names the configs that cannot run without it (low ports,
	// hostnames, allocated loopback addresses).
	NeededBy []string `json:"needed_by"`
	// InstallCommand is what the user runs in a terminal to install,
	// update or allow it; "" when nothing needs doing. Interfaces show it;
	// they never run it (it asks for root).
	InstallCommand string `json:"install_command,omitempty"`
	Error          string `json:"error,omitempty"` // why the status is incomplete, or what is wrong
}

// Helper reports the root helper's status.
func (c *Client) Helper(ctx context.Context) (Helper, error) {
	var h Helper
	return h, c.do(ctx, http.MethodGet, "/helper", nil, &h)
}

// Relay statuses, as `kftray relay list` shows them.
const (
	RelayInUse      = "in use"      // a live kftray process of this user forwards through it
	RelayOrphan     = "orphan"      // this user's and host's, and nothing uses it
	RelayOtherOwner = "other owner" // another user's or host's: never cleaned from here
	// RelayOtherSession is this user's and host's, from another config
	// directory's daemon, which may be alive: never cleaned from here.
	RelayOtherSession = "other session"
)

// Relay is one kftray-server relay Deployment found in a cluster.
type Relay struct {
	Namespace    string    `json:"namespace"`
	Name         string    `json:"name"`
	ConfigID     string    `json:"config_id"` // as labelled: the id in its owner's store
	OwnerUser    string    `json:"owner_user"`
	OwnerHost    string    `json:"owner_host"`
	OwnerSession string    `json:"owner_session"`
	Created      time.Time `json:"created"`
	Ready        int32     `json:"ready"` // ready replicas
	Status       string    `json:"status"`
}

// RelayQuery says where to look for relays.
type RelayQuery struct {
	ClusterRef
	Namespace string `json:"namespace,omitempty"` // "" all namespaces
}

// Relays lists the kftray relays in a cluster (what `kftray relay list`
// shows).
func (c *Client) Relays(ctx context.Context, q RelayQuery) ([]Relay, error) {
	v := q.query()
	if q.Namespace != "" {
		v.Set("namespace", q.Namespace)
	}
	var out []Relay
	return out, c.doReq(ctx, request{method: http.MethodGet, path: "/relays", query: v}, &out)
}

// CleanRelays deletes this user's orphaned relays in a cluster (what
// `kftray relay clean` does) and returns the ones deleted.
func (c *Client) CleanRelays(ctx context.Context, q RelayQuery) ([]Relay, error) {
	var out []Relay
	return out, c.do(ctx, http.MethodPost, "/relays/clean", q, &out)
}

// SettingValue is the body of PUT /v1/settings/{key}.
type SettingValue struct {
	Value string `json:"value"`
}

// Settings returns every known global setting with its value (its default
// when unset). fwdconfig.KnownSettings describes them (kind, default, help).
func (c *Client) Settings(ctx context.Context) (map[string]string, error) {
	var out map[string]string
	return out, c.do(ctx, http.MethodGet, "/settings", nil, &out)
}

// SetSetting sets a global setting. An unknown key or a bad value is a
// 400 *StatusError saying what is accepted.
func (c *Client) SetSetting(ctx context.Context, key, value string) error {
	return c.do(ctx, http.MethodPut, "/settings/"+url.PathEscape(key), SettingValue{Value: value}, nil)
}

// UILogin is a single-use link that opens the web UI in a browser.
type UILogin struct {
	URL       string    `json:"url"` // http://127.0.0.1:PORT/ui/login?token=...
	ExpiresAt time.Time `json:"expires_at"`
}

// UILogin asks the daemon for a login link to its web UI (what `kftray ui`
// opens). It works once, for a short time; a browser session cannot ask
// for one.
func (c *Client) UILogin(ctx context.Context) (UILogin, error) {
	var l UILogin
	return l, c.do(ctx, http.MethodPost, "/ui/login", struct{}{}, &l)
}
