package mcpserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/kftray-go/kftray/localapi"
)

// Resource URIs.
const (
	configsURI       = "kftray://configs"
	forwardsURI      = "kftray://forwards"
	forwardURIPrefix = "kftray://forwards/"
	forwardTemplate  = "kftray://forwards/{ref}"
)

func (s *server) resources() {
	s.mcp.AddResource(&mcp.Resource{URI: configsURI, Name: "configs", Title: "kftray configs", MIMEType: "application/json",
		Description: "Every config (kftray's JSON fields, with id) and its forward's status."},
		s.readJSON(func(ctx context.Context, c *localapi.Client, _ string) (any, error) {
			fs, err := c.Forwards(ctx)
			rows := make([]ConfigRow, 0, len(fs))
			for _, f := range fs {
				rows = append(rows, ConfigRow{ID: f.ID, Name: f.Name, Status: f.Status, Address: f.Address, Config: f.Config})
			}
			return rows, err
		}))
	s.mcp.AddResource(&mcp.Resource{URI: forwardsURI, Name: "forwards", Title: "kftray forwards", MIMEType: "application/json",
		Description: "Where every forward stands: status, local address, pod, last error, counters."},
		s.readJSON(func(ctx context.Context, c *localapi.Client, _ string) (any, error) {
			fs, err := c.Forwards(ctx)
			list := make([]ForwardState, 0, len(fs))
			for _, f := range fs {
				list = append(list, stateOf(f))
			}
			return list, err
		}))
	s.mcp.AddResourceTemplate(&mcp.ResourceTemplate{URITemplate: forwardTemplate, Name: "forward", Title: "kftray forward", MIMEType: "application/json",
		Description: "One forward by config alias or id: its config, status, local address, pod, last error and counters."},
		s.readJSON(func(ctx context.Context, c *localapi.Client, uri string) (any, error) {
			ref, err := url.PathUnescape(strings.TrimPrefix(uri, forwardURIPrefix))
			if err != nil || ref == "" || strings.Contains(ref, "/") {
				return nil, mcp.ResourceNotFoundError(uri)
			}
			f, err := c.Forward(ctx, ref)
			var se *localapi.StatusError
			if errors.As(err, &se) && se.Code == http.StatusNotFound {
				return nil, mcp.ResourceNotFoundError(uri)
			}
			return f, err
		}))
}

// readJSON serves a resource as JSON, capped like tool answers.
func (s *server) readJSON(get func(ctx context.Context, c *localapi.Client, uri string) (any, error)) mcp.ResourceHandler {
	return func(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		uri := req.Params.URI
		v, err := call(ctx, s, func(c *localapi.Client) (any, error) { return get(ctx, c, uri) })
		if err != nil {
			var je *jsonrpc.Error
			if errors.As(err, &je) {
				return nil, err
			}
			return nil, explain(err)
		}
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return nil, err
		}
		if len(b) > maxAnswer {
			return nil, fmt.Errorf("%s is %d KiB, more than this server sends at once (%d KiB); use the list tools, which page", uri, len(b)>>10, maxAnswer>>10)
		}
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: uri, MIMEType: "application/json", Text: string(b)}}}, nil
	}
}
