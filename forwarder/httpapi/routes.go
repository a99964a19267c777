package httpapi

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/localapi"
)

// codedError gives a backend error its HTTP status.
type codedError struct {
	code int
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

// WithStatus marks err to be answered with HTTP status code (403 for an
// RBAC denial, 502 for an unreachable cluster...). Nil stays nil.
func WithStatus(code int, err error) error {
	if err == nil {
		return nil
	}
	return &codedError{code: code, err: err}
}

// maxConfigBody bounds one config in a request.
const maxConfigBody = 1 << 20

// routes registers the endpoints the interfaces (TUI, web UI, MCP) use
// beyond start/stop: config editing, cluster pickers, helper, relays,
// settings and the daemon log.
func (s *Server) routes() {
	v := localapi.Version
	s.mux.HandleFunc("GET "+v+"/configs/{ref}", s.getConfig)
	s.mux.HandleFunc("POST "+v+"/configs", s.createConfig)
	s.mux.HandleFunc("PUT "+v+"/configs/{ref}", s.updateConfig)
	s.mux.HandleFunc("POST "+v+"/configs/validate", s.validateConfig)
	s.mux.HandleFunc("POST "+v+"/forwards/restart", s.startStop(s.b.Restart))

	s.mux.HandleFunc("GET "+v+"/cluster/contexts", s.contexts)
	s.mux.HandleFunc("GET "+v+"/cluster/namespaces", s.namespaces)
	s.mux.HandleFunc("GET "+v+"/cluster/services", s.services)
	s.mux.HandleFunc("GET "+v+"/cluster/pods", s.pods)

	s.mux.HandleFunc("GET "+v+"/helper", s.helper)
	s.mux.HandleFunc("GET "+v+"/relays", s.relays)
	s.mux.HandleFunc("POST "+v+"/relays/clean", s.cleanRelays)
	s.mux.HandleFunc("GET "+v+"/settings", s.settings)
	s.mux.HandleFunc("PUT "+v+"/settings/{key}", s.setSetting)
	s.mux.HandleFunc("GET "+v+"/logs/daemon", s.daemonLog)

	s.mux.HandleFunc("POST "+v+"/ui/login", s.uiLogin)
	s.mux.HandleFunc("POST "+v+"/ui/logout", s.uiLogout)
}

// readConfig reads one kftray-JSON config from the request body.
func readConfig(w http.ResponseWriter, r *http.Request) (fwdconfig.Config, error) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxConfigBody))
	if err != nil {
		return fwdconfig.Config{}, WithStatus(http.StatusBadRequest, fmt.Errorf("request body: %w (one config, at most %d KiB)", err, maxConfigBody>>10))
	}
	cfg, err := fwdconfig.ParseConfig(data)
	if errors.Is(err, fwdconfig.ErrNotOneConfig) {
		err = fmt.Errorf("request body: %w; to add many at once use POST %s/configs/import", err, localapi.Version)
	}
	return cfg, err
}

func (s *Server) getConfig(w http.ResponseWriter, r *http.Request) {
	cfg, err := s.b.Config(r.Context(), r.PathValue("ref"))
	if err != nil {
		writeError(w, errStatus(err), err)
		return
	}
	w.Header().Set("ETag", localapi.ConfigETag(cfg.Revision))
	writeJSON(w, http.StatusOK, cfg)
}

func (s *Server) createConfig(w http.ResponseWriter, r *http.Request) {
	cfg, err := readConfig(w, r)
	if err != nil {
		writeError(w, errStatus(err), err)
		return
	}
	id, err := s.b.CreateConfig(r.Context(), cfg)
	if err != nil {
		writeError(w, errStatus(err), err)
		return
	}
	w.Header().Set("Location", fmt.Sprintf("%s/configs/%d", localapi.Version, id))
	writeJSON(w, http.StatusCreated, localapi.Created{ID: id})
}

func (s *Server) updateConfig(w http.ResponseWriter, r *http.Request) {
	cfg, err := readConfig(w, r)
	if err != nil {
		writeError(w, errStatus(err), err)
		return
	}
	if m := strings.TrimSpace(r.Header.Get("If-Match")); m != "" && m != "*" {
		if cfg.Revision = localapi.ParseConfigETag(m); cfg.Revision == 0 {
			writeError(w, http.StatusBadRequest, fmt.Errorf("If-Match %q is not a config's ETag; send the ETag of GET %s/configs/{ref}, or no If-Match", m, localapi.Version))
			return
		}
	}
	res, err := s.b.UpdateConfig(r.Context(), r.PathValue("ref"), cfg)
	answer(w, http.StatusOK, res, err)
}

func (s *Server) validateConfig(w http.ResponseWriter, r *http.Request) {
	cfg, err := readConfig(w, r)
	if err == nil {
		err = s.b.ValidateConfig(r.Context(), cfg)
	}
	if err != nil {
		writeError(w, errStatus(err), err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Valid bool `json:"valid"`
	}{true})
}

func clusterRef(r *http.Request) localapi.ClusterRef {
	q := r.URL.Query()
	return localapi.ClusterRef{Kubeconfig: q.Get("kubeconfig"), Context: q.Get("context")}
}

// namespaceParam is the required namespace of a namespaced listing.
func namespaceParam(w http.ResponseWriter, r *http.Request) (string, bool) {
	ns := strings.TrimSpace(r.URL.Query().Get("namespace"))
	if ns == "" {
		writeError(w, http.StatusBadRequest, errors.New("say which namespace: ?namespace=NAME"))
		return "", false
	}
	return ns, true
}

// writeList answers a cluster listing: a JSON array (never null), with
// the truncation header when it was cut.
func writeList[T any](w http.ResponseWriter, list []T, truncated bool, err error) {
	if err != nil {
		writeError(w, errStatus(err), err)
		return
	}
	if list == nil {
		list = []T{}
	}
	if truncated {
		w.Header().Set(localapi.TruncatedHeader, strconv.Itoa(localapi.MaxListItems))
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) contexts(w http.ResponseWriter, r *http.Request) {
	list, err := s.b.Contexts(r.Context(), r.URL.Query().Get("kubeconfig"))
	writeList(w, list, false, err)
}

func (s *Server) namespaces(w http.ResponseWriter, r *http.Request) {
	list, t, err := s.b.Namespaces(r.Context(), clusterRef(r))
	writeList(w, list, t, err)
}

func (s *Server) services(w http.ResponseWriter, r *http.Request) {
	ns, ok := namespaceParam(w, r)
	if !ok {
		return
	}
	list, t, err := s.b.Services(r.Context(), clusterRef(r), ns)
	writeList(w, list, t, err)
}

func (s *Server) pods(w http.ResponseWriter, r *http.Request) {
	ns, ok := namespaceParam(w, r)
	if !ok {
		return
	}
	list, t, err := s.b.Pods(r.Context(), clusterRef(r), ns, r.URL.Query().Get("selector"))
	writeList(w, list, t, err)
}

func (s *Server) helper(w http.ResponseWriter, r *http.Request) {
	h := s.b.Helper(r.Context())
	if h.NeededBy == nil {
		h.NeededBy = []string{}
	}
	writeJSON(w, http.StatusOK, h)
}

func (s *Server) relays(w http.ResponseWriter, r *http.Request) {
	q := localapi.RelayQuery{ClusterRef: clusterRef(r), Namespace: r.URL.Query().Get("namespace")}
	list, err := s.b.Relays(r.Context(), q)
	writeList(w, list, false, err)
}

func (s *Server) cleanRelays(w http.ResponseWriter, r *http.Request) {
	var q localapi.RelayQuery
	if err := ReadJSON(w, r, 1<<20, &q, "{\"kubeconfig\": PATHS, \"context\": NAME, \"namespace\": NAME} (each may be left out)"); err != nil {
		WriteError(w, err)
		return
	}
	list, err := s.b.CleanRelays(r.Context(), q)
	writeList(w, list, false, err)
}

func (s *Server) settings(w http.ResponseWriter, r *http.Request) {
	m, err := s.b.Settings(r.Context())
	answer(w, http.StatusOK, m, err)
}

func (s *Server) setSetting(w http.ResponseWriter, r *http.Request) {
	var v localapi.SettingValue
	if err := ReadJSON(w, r, 64<<10, &v, "{\"value\": \"...\"}"); err != nil {
		WriteError(w, err)
		return
	}
	if err := s.b.SetSetting(r.Context(), r.PathValue("key"), v.Value); err != nil {
		writeError(w, errStatus(err), err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
