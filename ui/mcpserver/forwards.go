package mcpserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/localapi"
)

// ForwardState is where one forward stands, without its whole config.
type ForwardState struct {
	ID        int64     `json:"id" jsonschema:"the config's id"`
	Name      string    `json:"name" jsonschema:"the config's alias, else what it targets; tools take it (or the id) as ref"`
	Target    string    `json:"target" jsonschema:"what it forwards to"`
	Status    string    `json:"status" jsonschema:"starting, running (listening and connected to a pod), retrying (listening, reconnecting: see last_error), failed or stopped"`
	Desired   bool      `json:"desired" jsonschema:"it should run: the daemon restores it when it starts"`
	Address   string    `json:"address,omitempty" jsonschema:"the local host:port to connect to"`
	Pod       string    `json:"pod,omitempty" jsonschema:"the pod it forwards to now"`
	Transport string    `json:"transport,omitempty" jsonschema:"websocket or spdy"`
	Attempt   int       `json:"attempt,omitempty" jsonschema:"failed attempts since the last success"`
	LastError string    `json:"last_error,omitempty" jsonschema:"why it is retrying or failed"`
	NextTry   time.Time `json:"next_try,omitzero" jsonschema:"when it tries again (retrying)"`
	Since     time.Time `json:"since,omitzero" jsonschema:"when it entered its status"`
	PID       int       `json:"pid,omitempty" jsonschema:"the process forwarding it: the daemon, or a 'kftray run' in a terminal"`

	ActiveConns  int64 `json:"active_conns" jsonschema:"local connections open now"`
	TotalConns   int64 `json:"total_conns" jsonschema:"local connections since it started"`
	BytesToPod   int64 `json:"bytes_to_pod"`
	BytesFromPod int64 `json:"bytes_from_pod"`
	Reconnects   int64 `json:"reconnects" jsonschema:"connections to a pod made after the first (pod restarts, network loss)"`
}

func stateOf(f localapi.Forward) ForwardState {
	return ForwardState{ID: f.ID, Name: f.Name, Target: describeTarget(f.Config), Status: f.Status, Desired: f.Desired,
		Address: f.Address, Pod: f.Pod, Transport: f.Transport, Attempt: f.Attempt, LastError: f.LastError,
		NextTry: f.NextTry, Since: f.Since, PID: f.PID, ActiveConns: f.ActiveConns, TotalConns: f.TotalConns,
		BytesToPod: f.BytesToPod, BytesFromPod: f.BytesFromPod, Reconnects: f.Reconnects}
}

// describeTarget says in a few words what a config forwards to.
func describeTarget(c fwdconfig.Config) string {
	var s string
	switch c.WorkloadType {
	case fwdconfig.WorkloadService:
		s = fmt.Sprintf("service %s/%s port %d", c.Namespace, c.Service, c.RemotePort)
	case fwdconfig.WorkloadPod:
		s = fmt.Sprintf("pods %s/{%s} port %d", c.Namespace, c.Target, c.RemotePort)
	case fwdconfig.WorkloadProxy:
		s = fmt.Sprintf("%s:%d through a relay pod in %s", c.RemoteAddress, c.RemotePort, c.Namespace)
	case fwdconfig.WorkloadExpose:
		s = fmt.Sprintf("local port %d exposed into %s as %s", c.LocalPort, c.Namespace, c.Alias)
	default:
		s = c.WorkloadType + " in " + c.Namespace
	}
	if c.Protocol == fwdconfig.ProtocolUDP {
		s = "udp " + s
	}
	if c.Context != "" {
		s += " (context " + c.Context + ")"
	}
	return s
}

// Outcome is what happened to one forward.
type Outcome struct {
	Ref     string        `json:"ref" jsonschema:"as given"`
	Error   string        `json:"error,omitempty" jsonschema:"why this one did not start or stop"`
	Forward *ForwardState `json:"forward,omitempty"`
}

type outcomes struct {
	Results []Outcome `json:"results"`
	Failed  int       `json:"failed" jsonschema:"how many results have an error"`
}

func outcomesOf(r localapi.Results) outcomes {
	out := outcomes{Results: []Outcome{}, Failed: r.Failed()}
	for _, x := range r.Results {
		o := Outcome{Ref: x.Ref, Error: x.Error}
		if x.Forward != nil {
			st := stateOf(*x.Forward)
			o.Forward = &st
		}
		out.Results = append(out.Results, o)
	}
	return out
}

type refIn struct {
	Ref string `json:"ref" jsonschema:"a config's alias or id (list_configs lists them)"`
}

type listForwardsIn struct {
	IncludeStopped bool `json:"include_stopped,omitempty" jsonschema:"also list stopped and failed forwards (every config)"`
	Page
}

type listForwardsOut struct {
	Forwards []ForwardState `json:"forwards"`
	Listed
}

type startIn struct {
	Refs   []string     `json:"refs,omitempty" jsonschema:"configs to start, by alias or id"`
	Config ConfigObject `json:"config,omitempty" jsonschema:"a new config to create and start (instead of refs); see create_config"`
	// WaitSeconds bounds the wait for a pod connection.
	WaitSeconds int `json:"wait_seconds,omitempty" jsonschema:"wait up to this many seconds (0..120) for each forward to be running (connected to a pod); 0 returns once each listens"`
}

type stopIn struct {
	Refs []string `json:"refs" jsonschema:"configs to stop, by alias or id"`
}

type restartIn struct {
	Refs []string `json:"refs,omitempty" jsonschema:"configs to restart, by alias or id"`
	All  bool     `json:"all,omitempty" jsonschema:"restart every forward that should run (instead of refs)"`
}

type noArgs struct{}

func (s *server) forwardTools() {
	add(s, &mcp.Tool{Name: "list_active_port_forwards",
		Description: "List the forwards that run (starting, running, retrying) with their status, local address, pod and counters; include_stopped lists every config's forward.",
		Annotations: readOnly("List active port forwards", false)},
		func(ctx context.Context, c *localapi.Client, in listForwardsIn) (listForwardsOut, error) {
			fs, err := c.Forwards(ctx)
			if err != nil {
				return listForwardsOut{}, err
			}
			var list []ForwardState
			for _, f := range fs {
				if in.IncludeStopped || active(f.Status) {
					list = append(list, stateOf(f))
				}
			}
			var out listForwardsOut
			out.Forwards, out.Listed, err = page(list, in.Page)
			return out, err
		})

	add(s, &mcp.Tool{Name: "get_port_forward",
		Description: "Show one forward: its config, status, local address, pod, last error and counters.",
		Annotations: readOnly("Get a port forward", false)},
		func(ctx context.Context, c *localapi.Client, in refIn) (localapi.Forward, error) {
			if err := needRef(in.Ref); err != nil {
				return localapi.Forward{}, err
			}
			return c.Forward(ctx, in.Ref)
		})

	add(s, &mcp.Tool{Name: "start_port_forward",
		Description: "Start forwards in the daemon: existing configs (refs), or a new config (config) that is created first. Returns once each listens (or failed); with wait_seconds, once each is connected to a pod. Starting a running forward changes nothing.",
		Annotations: changes("Start port forwards", false, false, true)},
		func(ctx context.Context, c *localapi.Client, in startIn) (outcomes, error) {
			if (len(in.Refs) > 0) == (len(in.Config) > 0) {
				return outcomes{}, errors.New("give refs (configs to start) or config (a new config to create and start), one of the two")
			}
			if in.WaitSeconds < 0 || in.WaitSeconds > 120 {
				return outcomes{}, fmt.Errorf("wait_seconds %d is out of range 0..120", in.WaitSeconds)
			}
			refs := in.Refs
			if len(in.Config) > 0 {
				id, err := createConfig(ctx, c, in.Config)
				if err != nil {
					return outcomes{}, err
				}
				refs = []string{strconv.FormatInt(id, 10)}
			}
			r, err := s.start(ctx, c, localapi.Selection{Refs: refs})
			if err != nil {
				return outcomes{}, err
			}
			if in.WaitSeconds > 0 {
				waitRunning(ctx, c, &r, time.Duration(in.WaitSeconds)*time.Second)
			}
			return outcomesOf(r), nil
		})

	add(s, &mcp.Tool{Name: "stop_port_forward",
		Description: "Stop forwards (their local listeners close, open connections drop) and forget them as running, so the daemon does not restore them.",
		Annotations: changes("Stop port forwards", true, true, false)},
		func(ctx context.Context, c *localapi.Client, in stopIn) (outcomes, error) {
			if len(in.Refs) == 0 {
				return outcomes{}, errors.New("refs is empty: name the configs to stop (list_active_port_forwards lists the running ones), or use stop_all_port_forwards")
			}
			r, err := c.Stop(ctx, localapi.Selection{Refs: in.Refs})
			return outcomesOf(r), err
		})

	add(s, &mcp.Tool{Name: "stop_all_port_forwards",
		Description: "Stop every forward (open connections drop) and forget them as running.",
		Annotations: changes("Stop all port forwards", true, true, false)},
		func(ctx context.Context, c *localapi.Client, _ noArgs) (outcomes, error) {
			r, err := c.Stop(ctx, localapi.Selection{All: true})
			return outcomesOf(r), err
		})

	add(s, &mcp.Tool{Name: "restart_port_forward",
		Description: "Stop and start forwards again with their stored configs (a stopped one is started); all restarts every forward that should run. Open connections drop.",
		Annotations: changes("Restart port forwards", true, false, true)},
		func(ctx context.Context, c *localapi.Client, in restartIn) (outcomes, error) {
			if in.All == (len(in.Refs) > 0) {
				return outcomes{}, errors.New("give refs (configs to restart) or all: true, one of the two")
			}
			r, err := c.Restart(ctx, localapi.Selection{Refs: in.Refs, All: in.All})
			return outcomesOf(r), err
		})
}

// start starts sel with the client's kubeconfig for configs that name
// none. A daemon older than that field refuses it: it gets the start
// without it and uses its own environment, as it always did.
func (s *server) start(ctx context.Context, c *localapi.Client, sel localapi.Selection) (localapi.Results, error) {
	if s.opts.Kube != nil {
		sel.Kube = s.opts.Kube()
	}
	r, err := c.Start(ctx, sel)
	var se *localapi.StatusError
	if sel.Kube != nil && errors.As(err, &se) && se.Code == http.StatusBadRequest && strings.Contains(se.Msg, `unknown field "kube"`) {
		s.opts.Log.Warn().Msg("the running daemon is older and uses its own KUBECONFIG for configs that name none; restart it with 'kftray daemon stop'")
		sel.Kube = nil
		r, err = c.Start(ctx, sel)
	}
	return r, err
}

func active(status string) bool {
	switch status {
	case localapi.StatusStarting, localapi.StatusRunning, localapi.StatusRetrying:
		return true
	}
	return false
}

func needRef(ref string) error {
	if ref == "" {
		return errors.New("ref is required: a config's alias or id (list_configs lists them)")
	}
	return nil
}

// waitRunning polls each started forward until it runs (connected to a
// pod), fails, or d passes, and puts its last state in r.
func waitRunning(ctx context.Context, c *localapi.Client, r *localapi.Results, d time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for i := range r.Results {
		x := &r.Results[i]
		for x.Error == "" && x.Forward != nil {
			if s := x.Forward.Status; (s == localapi.StatusRunning && x.Forward.Pod != "") || s == localapi.StatusFailed || s == localapi.StatusStopped {
				break
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			f, err := c.Forward(ctx, strconv.FormatInt(x.Forward.ID, 10))
			if err != nil {
				if ctx.Err() == nil {
					x.Error = err.Error()
				}
				break
			}
			x.Forward = &f
		}
	}
}
