package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/kftray-go/kftray/localapi"
)

// HTTPLogBackend is what the HTTP traffic log endpoints need; a Backend
// that implements it gets them (docs/api.md, "HTTP traffic logs").
type HTTPLogBackend interface {
	// HTTPForward resolves a forward's alias or id to its config id.
	HTTPForward(ctx context.Context, ref string) (int64, error)
	HTTPExchanges(ctx context.Context, ref string, q localapi.HTTPQuery) ([]localapi.HTTPExchange, error)
	HTTPExchange(ctx context.Context, ref string, id int64) (localapi.HTTPExchange, error)
	SetHTTPLog(ctx context.Context, ref string, s localapi.HTTPLogSettings) (localapi.HTTPLogStatus, error)
	ReplayHTTP(ctx context.Context, ref string, id int64) (localapi.HTTPExchange, error)
	// HTTPHAR returns a HAR 1.2 document (encoded as JSON).
	HTTPHAR(ctx context.Context, ref string, q localapi.HTTPQuery) (any, error)
	// PurgeHTTPLogs deletes a forward's .http files (every forward's for "").
	PurgeHTTPLogs(ctx context.Context, ref string) (localapi.HTTPPurged, error)
	// SubscribeHTTP streams new exchanges of one forward (0: all) until
	// cancel is called or the channel is closed.
	SubscribeHTTP(forward int64) (<-chan localapi.HTTPExchange, func())
}

func (s *Server) httpLogRoutes(b HTTPLogBackend) {
	v := localapi.Version
	s.mux.HandleFunc("GET "+v+"/forwards/{ref}/http", func(w http.ResponseWriter, r *http.Request) {
		q, ok := httpQuery(w, r)
		if !ok {
			return
		}
		list, err := b.HTTPExchanges(r.Context(), r.PathValue("ref"), q)
		writeList(w, list, false, err)
	})
	s.mux.HandleFunc("PUT "+v+"/forwards/{ref}/http", func(w http.ResponseWriter, r *http.Request) {
		var set localapi.HTTPLogSettings
		if err := ReadJSON(w, r, 64<<10, &set, "{\"enabled\": true|false, \"redact\": true|false} (redact may be left out)"); err != nil {
			WriteError(w, err)
			return
		}
		st, err := b.SetHTTPLog(r.Context(), r.PathValue("ref"), set)
		answer(w, http.StatusOK, st, err)
	})
	s.mux.HandleFunc("DELETE "+v+"/forwards/{ref}/http", func(w http.ResponseWriter, r *http.Request) {
		s.purge(w, r, b, r.PathValue("ref"))
	})
	s.mux.HandleFunc("DELETE "+v+"/http", func(w http.ResponseWriter, r *http.Request) { s.purge(w, r, b, "") })
	s.mux.HandleFunc("GET "+v+"/forwards/{ref}/http/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, ok := exchangeID(w, r)
		if !ok {
			return
		}
		e, err := b.HTTPExchange(r.Context(), r.PathValue("ref"), id)
		answer(w, http.StatusOK, e, err)
	})
	s.mux.HandleFunc("POST "+v+"/forwards/{ref}/http/{id}/replay", func(w http.ResponseWriter, r *http.Request) {
		id, ok := exchangeID(w, r)
		if !ok {
			return
		}
		e, err := b.ReplayHTTP(r.Context(), r.PathValue("ref"), id)
		answer(w, http.StatusOK, e, err)
	})
	s.mux.HandleFunc("GET "+v+"/forwards/{ref}/http.har", func(w http.ResponseWriter, r *http.Request) {
		q, ok := httpQuery(w, r)
		if !ok {
			return
		}
		har, err := b.HTTPHAR(r.Context(), r.PathValue("ref"), q)
		answer(w, http.StatusOK, har, err)
	})
	s.mux.HandleFunc("GET "+v+"/forwards/{ref}/http/events", func(w http.ResponseWriter, r *http.Request) {
		id, err := b.HTTPForward(r.Context(), r.PathValue("ref"))
		if err != nil {
			writeError(w, errStatus(err), err)
			return
		}
		s.httpEvents(w, r, b, id)
	})
	s.mux.HandleFunc("GET "+v+"/http/events", func(w http.ResponseWriter, r *http.Request) { s.httpEvents(w, r, b, 0) })
}

func httpQuery(w http.ResponseWriter, r *http.Request) (localapi.HTTPQuery, bool) {
	q, err := localapi.ParseHTTPQuery(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return q, false
	}
	return q, true
}

func exchangeID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		writeError(w, http.StatusBadRequest, fmt.Errorf("%q is not an exchange id (a number from GET %s/forwards/{ref}/http)", r.PathValue("id"), localapi.Version))
		return 0, false
	}
	return id, true
}

func (s *Server) purge(w http.ResponseWriter, r *http.Request, b HTTPLogBackend, ref string) {
	res, err := b.PurgeHTTPLogs(r.Context(), ref)
	answer(w, http.StatusOK, res, err)
}

// httpEvents streams new exchanges as server-sent events ("event: http"),
// filtered like the list. It is its own stream: a busy log never pushes a
// client off the state events.
func (s *Server) httpEvents(w http.ResponseWriter, r *http.Request, b HTTPLogBackend, forward int64) {
	q, ok := httpQuery(w, r)
	if !ok {
		return
	}
	fl, ok := flusher(w)
	if !ok {
		return
	}
	ch, cancel := b.SubscribeHTTP(forward)
	defer cancel()
	beginSSE(w)
	fl.Flush()
	tick := time.NewTicker(s.opts.KeepAlive)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.closing:
			return
		case <-tick.C:
			if keepAlive(w) != nil {
				return
			}
		case e, ok := <-ch:
			if !ok {
				return
			}
			if !q.Match(&e) {
				continue
			}
			if writeSSE(w, "http", e) != nil {
				return
			}
		}
		fl.Flush()
	}
}
