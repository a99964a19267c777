package daemon

import (
	"context"
	"encoding/json"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/kftray-go/kftray/forwarder"
	"github.com/kftray-go/kftray/forwarder/httpapi"
	"github.com/kftray-go/kftray/forwarder/httplog"
	"github.com/kftray-go/kftray/forwarder/inspect"
	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/localapi"
	"github.com/kftray-go/kftray/store"
)

// noRedactKey holds the ids of the configs whose HTTP logs show sensitive
// headers (a JSON array); redaction is on for every other.
const noRedactKey = "http_logs.no_redact"

// SweepPeriod is how often HTTP log retention and the total cap are
// enforced (and once at start).
const SweepPeriod = time.Hour

// httpLogs owns the HTTP traffic logs of a Core's forwards: one
// httplog.Log per config that has logged, kept across restarts of its
// forward and toggles, so its recent exchanges stay readable.
type httpLogs struct {
	dir string // <config dir>/http_logs
	st  *store.Store
	log zerolog.Logger
	hub *httpapi.HTTPHub
	// cfg is the config a forward runs with; fwd the running forward.
	cfg func(id int64) (fwdconfig.Config, bool)
	fwd func(id int64) *forwarder.Forward

	mu   sync.Mutex
	logs map[int64]*httplog.Log
}

func newHTTPLogs(st *store.Store, log zerolog.Logger) *httpLogs {
	return &httpLogs{dir: filepath.Join(filepath.Dir(st.Path()), httplog.DirName), st: st, log: log,
		hub: httpapi.NewHTTPHub(), logs: map[int64]*httplog.Log{}}
}

// loggable: HTTP logs are for TCP forwards to services and pods.
func loggable(cfg fwdconfig.Config) bool {
	w := cfg.WorkloadType
	return (w == "" || w == fwdconfig.WorkloadService || w == fwdconfig.WorkloadPod) &&
		(cfg.Protocol == "" || cfg.Protocol == fwdconfig.ProtocolTCP)
}

// enabled: the config's http_logs_enabled, or the global default.
func (h *httpLogs) enabled(cfg fwdconfig.Config) bool {
	if cfg.HTTPLogsEnabled {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v, ok, err := h.st.GetSetting(ctx, fwdconfig.SettingHTTPLogsDefaultEnabled)
	if err != nil {
		h.log.Warn().Err(err).Msg("reading " + fwdconfig.SettingHTTPLogsDefaultEnabled)
		return false
	}
	on, _ := strconv.ParseBool(v)
	return ok && on
}

// inspectorFor is the engine's Options.Inspector: a forward starting gets
// its log's inspector when its logs are on.
func (h *httpLogs) inspectorFor(id int64, local net.Addr) inspect.Inspector {
	cfg, ok := h.cfg(id)
	if !ok || !loggable(cfg) {
		return nil
	}
	if !h.enabled(cfg) {
		if l := h.get(id); l != nil {
			l.Disable()
		}
		return nil
	}
	return h.ensure(cfg, local).Enable()
}

func (h *httpLogs) get(id int64) *httplog.Log {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.logs[id]
}

// ensure returns cfg's Log, creating it, and points its file at the
// forward's port.
func (h *httpLogs) ensure(cfg fwdconfig.Config, local net.Addr) *httplog.Log {
	port := cfg.LocalPort
	if ta, ok := local.(*net.TCPAddr); ok && ta.Port != 0 {
		port = ta.Port
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	l := h.logs[cfg.ID]
	if l == nil {
		var nl *httplog.Log
		nl = httplog.New(httplog.Options{ForwardID: cfg.ID, Redact: !h.noRedact(cfg.ID), Log: h.log,
			Publish: func(e *httplog.Exchange) { h.hub.Publish(exchangeAPI(e, false, nl.Redact())) }})
		l = nl
		h.logs[cfg.ID] = l
	}
	if f := l.File(); f == nil || filepath.Base(f.Path()) != httplog.FileName(cfg.ID, port) {
		l.SetFile(httplog.NewFile(h.dir, cfg.ID, port, cfg.HTTPLogsMaxFileSize))
	} else {
		f.SetMaxSize(cfg.HTTPLogsMaxFileSize)
	}
	return l
}

// apply makes a running forward's logging match cfg (and the default),
// without restarting it.
func (h *httpLogs) apply(cfg fwdconfig.Config) {
	f := h.fwd(cfg.ID)
	if f == nil {
		return
	}
	in := h.inspectorFor(cfg.ID, f.Addr())
	f.SetInspector(in)
	if in == nil {
		// Off: the forward no longer opens connections to it; those open
		// are logged up to now.
		if l := h.get(cfg.ID); l != nil {
			l.Disable()
		}
	}
}

// status is a forward's log status, nil when it never logged.
func (h *httpLogs) status(id int64) *localapi.HTTPLogStatus {
	l := h.get(id)
	if l == nil {
		return nil
	}
	s := statusAPI(l.Status())
	return &s
}

func (h *httpLogs) noRedact(id int64) bool {
	return slices.Contains(h.noRedactIDs(), id)
}

func (h *httpLogs) noRedactIDs() []int64 {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v, ok, err := h.st.GetSetting(ctx, noRedactKey)
	if err != nil || !ok {
		return nil
	}
	var ids []int64
	if json.Unmarshal([]byte(v), &ids) != nil {
		h.log.Warn().Str("value", v).Msg("ignoring a malformed " + noRedactKey + " setting")
	}
	return ids
}

func (h *httpLogs) setRedact(ctx context.Context, id int64, on bool) error {
	ids := h.noRedactIDs()
	ids = slices.DeleteFunc(ids, func(x int64) bool { return x == id })
	if !on {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	b, _ := json.Marshal(ids)
	if err := h.st.SetSetting(ctx, noRedactKey, string(b)); err != nil {
		return err
	}
	if l := h.get(id); l != nil {
		l.SetRedact(on)
	}
	return nil
}

// sweep enforces retention (configs' http_logs_retention_days with
// http_logs_auto_cleanup; the defaults for deleted configs) and the total
// cap, and closes the logs of deleted configs.
func (h *httpLogs) sweep(ctx context.Context) {
	cfgs, err := h.st.ListConfigs(ctx)
	if err != nil {
		h.log.Warn().Err(err).Msg("http log sweep: listing configs")
		return
	}
	byID := make(map[int64]fwdconfig.Config, len(cfgs))
	for _, c := range cfgs {
		byID[c.ID] = c
	}
	total := int64(1 << 30)
	if v, ok, err := h.st.GetSetting(ctx, fwdconfig.SettingHTTPLogsMaxTotalSize); err == nil && ok {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
			total = n
		}
	}
	h.mu.Lock()
	for id, l := range h.logs {
		if _, ok := byID[id]; !ok {
			l.Close()
			delete(h.logs, id)
			continue
		}
		if f := l.File(); f != nil {
			f.Release()
		}
	}
	h.mu.Unlock()
	removed, err := httplog.Sweep(h.dir, time.Now(), func(id int64) httplog.Retention {
		if c, ok := byID[id]; ok {
			return httplog.Retention{Days: c.HTTPLogsRetentionDays, AutoCleanup: c.HTTPLogsAutoCleanup}
		}
		return httplog.Retention{Days: fwdconfig.DefaultHTTPLogsRetentionDays, AutoCleanup: true}
	}, total)
	if err != nil {
		h.log.Warn().Err(err).Msg("http log sweep")
	}
	if len(removed) > 0 {
		var bytes int64
		for _, f := range removed {
			bytes += f.Size
		}
		h.log.Info().Int("files", len(removed)).Int64("bytes", bytes).Msg("removed old HTTP log files")
	}
}

// runSweeper sweeps at once and every SweepPeriod until ctx ends.
func (h *httpLogs) runSweeper(ctx context.Context) {
	t := time.NewTicker(SweepPeriod)
	defer t.Stop()
	for {
		h.sweep(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// purge deletes the files of one config (all for 0) and forgets their
// recent exchanges.
func (h *httpLogs) purge(id int64) (localapi.HTTPPurged, error) {
	h.mu.Lock()
	for lid, l := range h.logs {
		if id == 0 || lid == id {
			if f := l.File(); f != nil {
				f.Release()
			}
			l.Forget()
		}
	}
	h.mu.Unlock()
	n, b, err := httplog.Purge(h.dir, id)
	return localapi.HTTPPurged{Files: n, Bytes: b}, err
}

// close stops every log and the event streams.
func (h *httpLogs) close() {
	h.hub.Close()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, l := range h.logs {
		l.Close()
	}
}
