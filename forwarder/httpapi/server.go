// Package httpapi serves the kftray daemon's local API (wire types in
// localapi, documented in docs/api.md): on the unix socket, callers are
// checked by the kernel's peer uid; on 127.0.0.1, by the bearer token or a
// browser session of the web UI (browser.go), and a loopback Host header.
// Backend is what the daemon implements.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/ipc/peercred"
	"github.com/kftray-go/kftray/localapi"
)

// Backend is what the API serves: the daemon.
type Backend interface {
	Status(ctx context.Context) localapi.Status
	Forwards(ctx context.Context) ([]localapi.Forward, error)
	// Forward finds one config by alias or id; the error wraps
	// fwdconfig.ErrNotFound when there is none.
	Forward(ctx context.Context, ref string) (localapi.Forward, error)
	Start(ctx context.Context, sel localapi.Selection) (localapi.Results, error)
	Stop(ctx context.Context, sel localapi.Selection) (localapi.Results, error)
	// Subscribe returns state-change events until cancel is called or the
	// channel is closed (the daemon is stopping, or the reader fell behind).
	Subscribe() (events <-chan localapi.Event, cancel func())
	// ImportConfigs merges kftray JSON (an array or one object) into the
	// configs, all or nothing; the error is a *fwdconfig.ImportError listing
	// every problem when the input is bad.
	ImportConfigs(ctx context.Context, data []byte) (fwdconfig.ImportResult, error)
	// ExportConfigs returns every config as kftray JSON.
	ExportConfigs(ctx context.Context) ([]byte, error)
	// DeleteConfig stops the config's forward and deletes the config.
	DeleteConfig(ctx context.Context, ref string) (int64, error)
	// Shutdown asks the daemon to stop; it returns at once.
	Shutdown()

	// Config returns one config by alias or id, with its Revision.
	Config(ctx context.Context, ref string) (fwdconfig.Config, error)
	// CreateConfig stores a new config (its ID is ignored) and returns its
	// id; a refused config is a *fwdconfig.ValidationError.
	CreateConfig(ctx context.Context, cfg fwdconfig.Config) (int64, error)
	// UpdateConfig replaces the config ref names; a forward the daemon
	// runs for it restarts. A non-zero cfg.Revision must be the stored one
	// (else the error wraps fwdconfig.ErrConflict).
	UpdateConfig(ctx context.Context, ref string, cfg fwdconfig.Config) (localapi.Updated, error)
	// ValidateConfig checks cfg as CreateConfig (or UpdateConfig, when
	// cfg.ID is set) would, saving nothing.
	ValidateConfig(ctx context.Context, cfg fwdconfig.Config) error
	// Restart stops and starts the selected forwards.
	Restart(ctx context.Context, sel localapi.Selection) (localapi.Results, error)

	// Cluster pickers. Errors carry their HTTP status (WithStatus):
	// 403 when RBAC forbids the listing, 502 when the cluster cannot be
	// reached. truncated says a list was cut at localapi.MaxListItems.
	Contexts(ctx context.Context, kubeconfig string) ([]localapi.KubeContext, error)
	Namespaces(ctx context.Context, ref localapi.ClusterRef) (list []localapi.Namespace, truncated bool, err error)
	Services(ctx context.Context, ref localapi.ClusterRef, namespace string) (list []localapi.Service, truncated bool, err error)
	Pods(ctx context.Context, ref localapi.ClusterRef, namespace, selector string) (list []localapi.Pod, truncated bool, err error)

	// Helper reports the root helper's status; it never changes anything.
	Helper(ctx context.Context) localapi.Helper
	// Relays lists kftray relays in a cluster; CleanRelays deletes this
	// user's orphans among them and returns them.
	Relays(ctx context.Context, q localapi.RelayQuery) ([]localapi.Relay, error)
	CleanRelays(ctx context.Context, q localapi.RelayQuery) ([]localapi.Relay, error)
	// Settings returns every known setting's value (its default when
	// unset); SetSetting validates and stores one (a bad key or value is a
	// *fwdconfig.SettingError).
	Settings(ctx context.Context) (map[string]string, error)
	SetSetting(ctx context.Context, key, value string) error
	// LogPath is the daemon's JSON-lines log file.
	LogPath() string
}

// ServerOptions say who may call the API.
type ServerOptions struct {
	// UID is the only peer uid accepted on unix sockets (the daemon's own).
	UID uint32
	// Token is the bearer token TCP callers must present. Empty refuses
	// every TCP request.
	Token string
	Log   zerolog.Logger
	// KeepAlive is the period of SSE comments that keep idle event streams
	// open through proxies; default 15 s.
	KeepAlive time.Duration
	// LogPoll is how often a daemon log follower looks for new lines;
	// default 250 ms.
	LogPoll time.Duration
	// UI serves the web UI's files under /ui/ on TCP listeners (package
	// ui/web). nil: no web UI, and no browser sessions.
	UI http.Handler
	// Now is the clock of browser sessions (tests); default time.Now.
	Now func() time.Time
}

// Server serves the API on unix and TCP listeners.
type Server struct {
	b    Backend
	opts ServerOptions
	mux  *http.ServeMux

	mu      sync.Mutex
	servers []*http.Server
	// closing ends long-lived streams (daemon log follow) at Shutdown,
	// which waits for requests in flight.
	closing   chan struct{}
	closeOnce sync.Once

	browser *sessions
	tcpAddr string // the TCP listener's address, for login links
}

// NewServer returns a server for b.
func NewServer(b Backend, opts ServerOptions) *Server {
	if opts.KeepAlive <= 0 {
		opts.KeepAlive = 15 * time.Second
	}
	if opts.LogPoll <= 0 {
		opts.LogPoll = 250 * time.Millisecond
	}
	s := &Server{b: b, opts: opts, mux: http.NewServeMux(), closing: make(chan struct{}), browser: newSessions(opts.Now)}
	s.mux.HandleFunc("GET "+localapi.Version+"/status", s.status)
	s.mux.HandleFunc("GET "+localapi.Version+"/forwards", s.forwards)
	s.mux.HandleFunc("GET "+localapi.Version+"/forwards/{ref}", s.forward)
	s.mux.HandleFunc("POST "+localapi.Version+"/forwards/start", s.startStop(b.Start))
	s.mux.HandleFunc("POST "+localapi.Version+"/forwards/stop", s.startStop(b.Stop))
	s.mux.HandleFunc("GET "+localapi.Version+"/events", s.events)
	s.mux.HandleFunc("POST "+localapi.Version+"/shutdown", s.shutdown)
	s.mux.HandleFunc("POST "+localapi.Version+"/configs/import", s.importConfigs)
	s.mux.HandleFunc("GET "+localapi.Version+"/configs/export", s.exportConfigs)
	s.mux.HandleFunc("DELETE "+localapi.Version+"/configs/{ref}", s.deleteConfig)
	s.routes()
	if hb, ok := b.(HTTPLogBackend); ok {
		s.httpLogRoutes(hb)
	}
	return s
}

type credKey struct{}

// credResult is the peer identity of a unix connection, or why it is unknown.
type credResult struct {
	cred peercred.Cred
	err  error
}

// Serve answers requests on ln until Shutdown. Unix listeners check the
// peer's uid from the kernel; TCP listeners check the bearer token or a
// browser session, and that the request was addressed to a loopback host
// (no DNS rebinding) from no other origin (tcpHandler).
func (s *Server) Serve(ln net.Listener) error {
	hs := &http.Server{ReadHeaderTimeout: 10 * time.Second, ErrorLog: nil}
	switch ln.(type) {
	case *net.UnixListener:
		hs.Handler = s.unixAuth(s.mux)
		hs.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
			var r credResult
			if uc, ok := c.(*net.UnixConn); ok {
				r.cred, r.err = peercred.Get(uc)
			} else {
				r.err = fmt.Errorf("connection is %T, not a unix socket", c)
			}
			return context.WithValue(ctx, credKey{}, r)
		}
	default:
		hs.Handler = s.tcpHandler(s.mux)
		s.mu.Lock()
		if s.tcpAddr == "" {
			s.tcpAddr = ln.Addr().String()
		}
		s.mu.Unlock()
	}
	s.mu.Lock()
	s.servers = append(s.servers, hs)
	s.mu.Unlock()
	err := hs.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting, ends event streams and waits (until ctx ends)
// for requests in flight.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closeOnce.Do(func() { close(s.closing) })
	s.mu.Lock()
	servers := s.servers
	s.mu.Unlock()
	var errs []error
	for _, hs := range servers {
		errs = append(errs, hs.Shutdown(ctx))
	}
	return errors.Join(errs...)
}

func (s *Server) unixAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cr, _ := r.Context().Value(credKey{}).(credResult)
		if cr.err != nil {
			s.opts.Log.Warn().Err(cr.err).Msg("api: refusing a caller whose identity is unknown")
			writeError(w, http.StatusForbidden, fmt.Errorf("cannot read the caller's credentials: %w", cr.err))
			return
		}
		if cr.cred.UID != s.opts.UID {
			s.opts.Log.Warn().Uint32("peer_uid", cr.cred.UID).Int32("peer_pid", cr.cred.PID).Msg("api: refusing another user")
			writeError(w, http.StatusForbidden, fmt.Errorf("this kftray daemon belongs to uid %d; uid %d may not use it (run your own: kftray daemon)", s.opts.UID, cr.cred.UID))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// loopbackHost reports whether a Host header names this machine's loopback.
func loopbackHost(host string) bool {
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		h = host
	}
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(h, "[]"))
	return ip != nil && ip.IsLoopback()
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.b.Status(r.Context()))
}

func (s *Server) forwards(w http.ResponseWriter, r *http.Request) {
	fs, err := s.b.Forwards(r.Context())
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	if fs == nil {
		fs = []localapi.Forward{}
	}
	writeJSON(w, http.StatusOK, fs)
}

func (s *Server) forward(w http.ResponseWriter, r *http.Request) {
	f, err := s.b.Forward(r.Context(), r.PathValue("ref"))
	answer(w, http.StatusOK, f, err)
}

func (s *Server) startStop(do func(context.Context, localapi.Selection) (localapi.Results, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var sel localapi.Selection
		if err := ReadJSON(w, r, 1<<20, &sel, "{\"refs\": [\"NAME\", ...]} or {\"all\": true}"); err != nil {
			WriteError(w, err)
			return
		}
		if sel.All == (len(sel.Refs) > 0) {
			writeError(w, http.StatusBadRequest, errors.New("name forwards in \"refs\" or set \"all\": true (one of the two)"))
			return
		}
		if sel.Kube != nil {
			// Paths as the client resolved them: a relative one would be
			// read from the daemon's working directory, not the client's.
			for _, p := range filepath.SplitList(sel.Kube.Kubeconfig) {
				if !filepath.IsAbs(p) {
					writeError(w, http.StatusBadRequest, fmt.Errorf("kube.kubeconfig: %q is not an absolute path; send the KUBECONFIG list with absolute paths", p))
					return
				}
			}
		}
		res, err := do(r.Context(), sel)
		answer(w, http.StatusOK, res, err)
	}
}

// events streams state changes as server-sent events: first the current
// state of every forward, then each change.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	fl, ok := flusher(w)
	if !ok {
		return
	}
	ch, cancel := s.b.Subscribe()
	defer cancel()
	fs, err := s.b.Forwards(r.Context())
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	beginSSE(w)
	for i := range fs {
		if writeSSE(w, "forward", localapi.Event{Type: "forward", Forward: &fs[i]}) != nil {
			return
		}
	}
	fl.Flush()
	tick := time.NewTicker(s.opts.KeepAlive)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
			if keepAlive(w) != nil {
				return
			}
		case ev, ok := <-ch:
			if !ok {
				return
			}
			if writeSSE(w, ev.Type, ev) != nil {
				return
			}
		}
		fl.Flush()
	}
}

func (s *Server) shutdown(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusAccepted, struct {
		Status string `json:"status"`
	}{"stopping"})
	s.b.Shutdown()
}

func (s *Server) importConfigs(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxImport))
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("request body: %w (at most %d MiB of kftray JSON)", err, maxImport>>20))
		return
	}
	res, err := s.b.ImportConfigs(r.Context(), data)
	answer(w, http.StatusOK, res, err)
}

// maxImport bounds an imported file.
const maxImport = 8 << 20

func (s *Server) exportConfigs(w http.ResponseWriter, r *http.Request) {
	data, err := s.b.ExportConfigs(r.Context())
	if err != nil {
		writeError(w, errStatus(err), err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(data)
}

func (s *Server) deleteConfig(w http.ResponseWriter, r *http.Request) {
	id, err := s.b.DeleteConfig(r.Context(), r.PathValue("ref"))
	if err != nil {
		writeError(w, errStatus(err), err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Deleted int64 `json:"deleted"`
	}{id})
}

func errStatus(err error) int {
	var ve *fwdconfig.ValidationError
	var ie *fwdconfig.ImportError
	var se *fwdconfig.SettingError
	var ce *codedError
	switch {
	case errors.As(err, &ce):
		return ce.code
	case errors.Is(err, fwdconfig.ErrNotFound):
		return http.StatusNotFound
	case errors.As(err, &ve), errors.As(err, &ie), errors.As(err, &se), errors.Is(err, fwdconfig.ErrNotOneConfig):
		return http.StatusBadRequest
	case errors.Is(err, fwdconfig.ErrConflict):
		return http.StatusConflict
	case errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// answer writes v with code, or err with its status (errStatus).
func answer(w http.ResponseWriter, code int, v any, err error) {
	if err != nil {
		writeError(w, errStatus(err), err)
		return
	}
	writeJSON(w, code, v)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, err error) {
	e := localapi.Error{Error: err.Error()}
	var ve *fwdconfig.ValidationError
	if errors.As(err, &ve) {
		for _, p := range ve.Problems {
			e.Fields = append(e.Fields, localapi.FieldError{Field: p.Field, Problem: p.Msg})
		}
	}
	writeJSON(w, code, e)
}
