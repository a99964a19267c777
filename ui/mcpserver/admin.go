package mcpserver

import (
	"context"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/kftray-go/kftray/localapi"
)

type relaysIn struct {
	Cluster
	Namespace string `json:"namespace,omitempty" jsonschema:"only this namespace; leave out for every namespace"`
	Page
}

type relaysOut struct {
	Relays []localapi.Relay `json:"relays" jsonschema:"kftray-server relay Deployments; status is in use, orphan (this user's, nothing uses it: clean_relays deletes it) or other owner (never touched)"`
	Listed
}

type cleanIn struct {
	Cluster
	Namespace string `json:"namespace,omitempty" jsonschema:"only this namespace; leave out for every namespace"`
}

type cleanOut struct {
	Deleted []localapi.Relay `json:"deleted" jsonschema:"the orphaned relays deleted"`
}

type helperOut struct {
	localapi.Helper
	NextStep string `json:"next_step" jsonschema:"what to tell the user; a command in it is for the user to run in a terminal (it asks for root), never for you"`
}

type statusOut struct {
	localapi.Status
}

func (s *server) adminTools() {
	add(s, &mcp.Tool{Name: "list_relays",
		Description: "List the kftray-server relay Deployments in a cluster (UDP and proxy forwards run one) and whose they are.",
		Annotations: readOnly("List relays", true)},
		func(ctx context.Context, c *localapi.Client, in relaysIn) (relaysOut, error) {
			list, err := c.Relays(ctx, localapi.RelayQuery{ClusterRef: s.ref(in.Cluster), Namespace: in.Namespace})
			if err != nil {
				return relaysOut{}, err
			}
			var out relaysOut
			out.Relays, out.Listed, err = page(list, in.Page)
			return out, err
		})

	add(s, &mcp.Tool{Name: "clean_relays",
		Description: "Delete this user's orphaned relays in a cluster (left by a daemon that was killed or lost the cluster at stop), as 'kftray relay clean' does. Relays in use and other users' are never touched.",
		Annotations: changes("Clean orphaned relays", true, true, true)},
		func(ctx context.Context, c *localapi.Client, in cleanIn) (cleanOut, error) {
			list, err := c.CleanRelays(ctx, localapi.RelayQuery{ClusterRef: s.ref(in.Cluster), Namespace: in.Namespace})
			if list == nil {
				list = []localapi.Relay{}
			}
			return cleanOut{Deleted: list}, err
		})

	add(s, &mcp.Tool{Name: "helper_status",
		Description: "Say whether the root helper (needed for local ports below 1024, own loopback addresses and hostnames) is installed, up to date and allowed for this user, which configs need it, and the exact command the user runs to install it.",
		Annotations: readOnly("Root helper status", false)},
		func(ctx context.Context, c *localapi.Client, _ noArgs) (helperOut, error) {
			h, err := c.Helper(ctx)
			if err != nil {
				return helperOut{}, err
			}
			if h.NeededBy == nil {
				h.NeededBy = []string{}
			}
			out := helperOut{Helper: h}
			switch {
			case h.InstallCommand != "":
				out.NextStep = "ask the user to run in a terminal: " + h.InstallCommand
			case h.Error != "":
				out.NextStep = "the status is incomplete: " + h.Error
			default:
				out.NextStep = "nothing to do"
			}
			return out, nil
		})

	add(s, &mcp.Tool{Name: "daemon_status",
		Description: "Show the kftray daemon: pid, version, start time, config directory, API socket and addresses (HTTP API, MCP endpoint) and how many forwards it runs.",
		Annotations: readOnly("Daemon status", false)},
		func(ctx context.Context, c *localapi.Client, _ noArgs) (statusOut, error) {
			st, err := c.Status(ctx)
			return statusOut{st}, err
		})
}
