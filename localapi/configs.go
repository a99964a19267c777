package localapi

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/kftray-go/kftray/fwdconfig"
)

// Created is the answer to POST /v1/configs.
type Created struct {
	ID int64 `json:"id"`
}

// Updated is the answer to PUT /v1/configs/{ref}.
type Updated struct {
	ID int64 `json:"id"`
	// Restarted is true when the daemon was running the forward: it
	// restarted with the new config.
	Restarted bool `json:"restarted"`
}

// Config returns one config (by alias or id). Its Revision is set from
// the answer's ETag, so passing the config (edited) to UpdateConfig fails
// with 409 Conflict if someone changed it meanwhile.
func (c *Client) Config(ctx context.Context, ref string) (fwdconfig.Config, error) {
	r := request{method: http.MethodGet, path: "/configs/" + url.PathEscape(ref)}
	resp, err := c.sendReq(ctx, r)
	if err != nil {
		return fwdconfig.Config{}, err
	}
	defer resp.Body.Close()
	var cfg fwdconfig.Config
	if err := c.decode(resp, r, &cfg); err != nil {
		return cfg, err
	}
	cfg.Revision = ParseConfigETag(resp.Header.Get("ETag"))
	return cfg, nil
}

// CreateConfig validates cfg (kftray's JSON fields; its ID is ignored)
// and stores it as a new config, returning its id. A refused config is a
// *StatusError with code 400 whose FieldErrors name each problem.
func (c *Client) CreateConfig(ctx context.Context, cfg fwdconfig.Config) (int64, error) {
	cfg.ID = 0
	var out Created
	return out.ID, c.do(ctx, http.MethodPost, "/configs", cfg, &out)
}

// UpdateConfig replaces the config ref names with cfg; a forward the
// daemon runs for it restarts with the new config. When cfg.Revision is
// set (Config sets it), the update is refused with 409 if the stored
// config changed since it was read. Refused configs are as CreateConfig's.
func (c *Client) UpdateConfig(ctx context.Context, ref string, cfg fwdconfig.Config) error {
	r := request{method: http.MethodPut, path: "/configs/" + url.PathEscape(ref), body: cfg}
	if cfg.Revision != 0 {
		r.header = http.Header{"If-Match": {ConfigETag(cfg.Revision)}}
	}
	return c.doReq(ctx, r, nil)
}

// ValidateConfig checks cfg as CreateConfig would (or as UpdateConfig
// would, when cfg.ID names an existing config: its own alias is then no
// clash) without saving anything.
func (c *Client) ValidateConfig(ctx context.Context, cfg fwdconfig.Config) error {
	return c.do(ctx, http.MethodPost, "/configs/validate", cfg, nil)
}

// ConfigETag is the entity tag of a config revision (GET /v1/configs/{ref}
// sends it; PUT takes it in If-Match).
func ConfigETag(rev int64) string { return fmt.Sprintf(`"%d"`, rev) }

// ParseConfigETag reads a config revision from an entity tag; 0 if it is
// none.
func ParseConfigETag(s string) int64 {
	s = strings.TrimPrefix(strings.TrimSpace(s), "W/")
	n, err := strconv.ParseInt(strings.Trim(s, `"`), 10, 64)
	if err != nil {
		return 0
	}
	return n
}
