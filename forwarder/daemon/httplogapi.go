package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"

	"github.com/kftray-go/kftray/forwarder/httpapi"
	"github.com/kftray-go/kftray/forwarder/httplog"
	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/internal/buildinfo"
	"github.com/kftray-go/kftray/localapi"
)

// runningConfig is the config a forward of this process runs with.
func (c *Core) runningConfig(id int64) (fwdconfig.Config, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cfg, ok := c.cfgs[id]
	return cfg, ok
}

// applyHTTPLogEdit applies an edit of only the http_logs_* fields to the
// running forward without restarting it, and reports whether it did.
func (c *Core) applyHTTPLogEdit(cfg fwdconfig.Config) bool {
	c.mu.Lock()
	old, ok := c.cfgs[cfg.ID]
	if !ok || !onlyHTTPLogsDiffer(old, cfg) {
		c.mu.Unlock()
		return false
	}
	c.cfgs[cfg.ID] = cfg
	c.mu.Unlock()
	c.http.apply(cfg)
	c.log.Info().Int64("config", cfg.ID).Bool("http_logs", cfg.HTTPLogsEnabled).Msg("HTTP log settings applied without a restart")
	return true
}

// applyHTTPLogToggle gives a forward running here the http_logs_enabled of
// cfg (just stored) at once, without a restart. When the running config
// differs from the stored one in more than its logs (edited elsewhere),
// it takes only the toggle and keeps its revision, so the next start
// still applies the rest.
func (c *Core) applyHTTPLogToggle(cfg fwdconfig.Config) {
	if c.applyHTTPLogEdit(cfg) {
		return
	}
	c.mu.Lock()
	run, running := c.cfgs[cfg.ID]
	if running {
		run.HTTPLogsEnabled = cfg.HTTPLogsEnabled
		c.cfgs[cfg.ID] = run
	}
	c.mu.Unlock()
	if running {
		c.http.apply(run)
	}
}

func onlyHTTPLogsDiffer(a, b fwdconfig.Config) bool {
	for _, c := range []*fwdconfig.Config{&a, &b} {
		c.HTTPLogsEnabled, c.HTTPLogsMaxFileSize, c.HTTPLogsRetentionDays, c.HTTPLogsAutoCleanup, c.Revision = false, 0, 0, false, 0
	}
	return reflect.DeepEqual(a, b)
}

// applyHTTPLogDefault applies a change of the global default to every
// forward running here.
func (c *Core) applyHTTPLogDefault() {
	for _, s := range c.eng.States() {
		if cfg, ok := c.runningConfig(s.ID); ok {
			c.http.apply(cfg)
		}
	}
}

// RunHTTPLogSweeper enforces HTTP log retention and the total cap at once
// and every SweepPeriod until ctx ends.
func (c *Core) RunHTTPLogSweeper(ctx context.Context) { c.http.runSweeper(ctx) }

// httpLog finds the config ref names and its log.
func (d *daemon) httpLog(ctx context.Context, ref string) (fwdconfig.Config, *httplog.Log, error) {
	cfg, err := d.core.st.LookupConfig(ctx, ref)
	if err != nil {
		return cfg, nil, err
	}
	l := d.core.http.get(cfg.ID)
	if l == nil {
		return cfg, nil, httpapi.WithStatus(http.StatusNotFound, fmt.Errorf("%s has no HTTP log in this daemon: turn it on with 'kftray logs http %s --enable' (or set http_logs_enabled) and send traffic", cfg.Name(), ref))
	}
	return cfg, l, nil
}

func (d *daemon) HTTPForward(ctx context.Context, ref string) (int64, error) {
	cfg, err := d.core.st.LookupConfig(ctx, ref)
	return cfg.ID, err
}

func (d *daemon) HTTPExchanges(ctx context.Context, ref string, q localapi.HTTPQuery) ([]localapi.HTTPExchange, error) {
	cfg, err := d.core.st.LookupConfig(ctx, ref)
	if err != nil {
		return nil, err
	}
	l := d.core.http.get(cfg.ID)
	if l == nil {
		return []localapi.HTTPExchange{}, nil
	}
	out := []localapi.HTTPExchange{}
	for _, e := range l.Recent(matcher(q), q.Limit) {
		out = append(out, exchangeAPI(e, false, l.Redact()))
	}
	return out, nil
}

func (d *daemon) HTTPExchange(ctx context.Context, ref string, id int64) (localapi.HTTPExchange, error) {
	cfg, l, err := d.httpLog(ctx, ref)
	if err != nil {
		return localapi.HTTPExchange{}, err
	}
	e := l.Get(id)
	if e == nil {
		return localapi.HTTPExchange{}, httpapi.WithStatus(http.StatusNotFound, fmt.Errorf("%s has no exchange %d (the log keeps the last %d); list them with 'kftray logs http %s'", cfg.Name(), id, httplog.DefaultRingSize, ref))
	}
	return exchangeAPI(e, true, l.Redact()), nil
}

func (d *daemon) SetHTTPLog(ctx context.Context, ref string, s localapi.HTTPLogSettings) (localapi.HTTPLogStatus, error) {
	cur, err := d.core.st.LookupConfig(ctx, ref)
	if err != nil {
		return localapi.HTTPLogStatus{}, err
	}
	if !loggable(cur) {
		return localapi.HTTPLogStatus{}, &fwdconfig.ValidationError{Name: cur.Name(), Problems: []fwdconfig.FieldError{{Field: "http_logs_enabled",
			Msg: fmt.Sprintf("HTTP logs are for TCP forwards to services and pods; this one is %s over %s", cur.WorkloadType, cur.Protocol)}}}
	}
	if s.Redact != nil {
		if err := d.core.http.setRedact(ctx, cur.ID, *s.Redact); err != nil {
			return localapi.HTTPLogStatus{}, err
		}
	}
	cfg, err := d.core.st.ModifyConfig(ctx, cur.ID, func(c *fwdconfig.Config) error {
		c.HTTPLogsEnabled = s.Enabled
		return nil
	})
	if err != nil {
		return localapi.HTTPLogStatus{}, err
	}
	d.core.applyHTTPLogToggle(cfg)
	d.core.log.Info().Int64("config", cfg.ID).Bool("enabled", s.Enabled).Msg("HTTP log toggled through the API")
	if st := d.core.http.status(cfg.ID); st != nil {
		return *st, nil
	}
	return localapi.HTTPLogStatus{Enabled: false, Redact: !d.core.http.noRedact(cfg.ID)}, nil
}

func (d *daemon) ReplayHTTP(ctx context.Context, ref string, id int64) (localapi.HTTPExchange, error) {
	cfg, l, err := d.httpLog(ctx, ref)
	if err != nil {
		return localapi.HTTPExchange{}, err
	}
	f := d.core.eng.Forward(cfg.ID)
	if f == nil {
		return localapi.HTTPExchange{}, httpapi.WithStatus(http.StatusConflict, fmt.Errorf("%s is not running in this daemon; start it first: kftray start %s", cfg.Name(), ref))
	}
	e, err := l.Replay(ctx, id, f.Addr().String())
	if errors.Is(err, httplog.ErrNoExchange) {
		return localapi.HTTPExchange{}, httpapi.WithStatus(http.StatusNotFound, err)
	}
	if errors.Is(err, httplog.ErrNotReplayable) {
		return localapi.HTTPExchange{}, httpapi.WithStatus(http.StatusBadRequest, err)
	}
	if err != nil {
		return localapi.HTTPExchange{}, httpapi.WithStatus(http.StatusBadGateway, err)
	}
	return exchangeAPI(e, true, l.Redact()), nil
}

func (d *daemon) HTTPHAR(ctx context.Context, ref string, q localapi.HTTPQuery) (any, error) {
	cfg, err := d.core.st.LookupConfig(ctx, ref)
	if err != nil {
		return nil, err
	}
	addr := ""
	if f := d.core.eng.Forward(cfg.ID); f != nil {
		addr = f.Addr().String()
	}
	l := d.core.http.get(cfg.ID)
	if l == nil {
		l = httplog.New(httplog.Options{}) // an empty log
	}
	return l.HAR(matcher(q), q.Limit, addr, buildinfo.Get().Version), nil
}

func (d *daemon) PurgeHTTPLogs(ctx context.Context, ref string) (localapi.HTTPPurged, error) {
	var id int64
	if ref != "" {
		cfg, err := d.core.st.LookupConfig(ctx, ref)
		if err != nil {
			return localapi.HTTPPurged{}, err
		}
		id = cfg.ID
	}
	res, err := d.core.http.purge(id)
	if err == nil {
		d.core.log.Info().Int64("config", id).Int("files", res.Files).Msg("HTTP log files purged through the API")
	}
	return res, err
}

func (d *daemon) SubscribeHTTP(forward int64) (<-chan localapi.HTTPExchange, func()) {
	return d.core.http.hub.Subscribe(forward)
}
