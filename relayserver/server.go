package relayserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/kftray-go/kftray/internal/buildinfo"
)

// Server is one relay: a listener for forwarded streams, handled per Mode.
type Server struct {
	cfg Config
	log zerolog.Logger

	ready   atomic.Bool
	streams atomic.Int64 // open forwarded streams
	flows   atomic.Int64 // open UDP flows across streams
	total   atomic.Uint64

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// New checks cfg and returns a Server that logs to log.
func New(cfg Config, log zerolog.Logger) (*Server, error) {
	cfg.setDefaults()
	if cfg.ListenAddr == "" {
		cfg.ListenAddr = fmt.Sprintf(":%d", DefaultLocalPort)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Server{cfg: cfg, log: log, conns: make(map[net.Conn]struct{})}, nil
}

// Run listens on the configured addresses and serves until ctx ends, then
// shuts down gracefully.
func (s *Server) Run(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("listen for forwarded streams on %s: %w", s.cfg.ListenAddr, err)
	}
	if s.cfg.HealthAddr != "" {
		hln, err := lc.Listen(ctx, "tcp", s.cfg.HealthAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("listen for health checks on %s (set --health-addr to another address or empty to disable): %w", s.cfg.HealthAddr, err)
		}
		hs := &http.Server{Handler: s.HealthHandler(), ReadHeaderTimeout: 5 * time.Second}
		go hs.Serve(hln)
		defer hs.Close()
		s.log.Info().Str("addr", hln.Addr().String()).Msg("health endpoint listening")
	}
	return s.Serve(ctx, ln)
}

// Serve accepts forwarded streams on ln until ctx ends. Then it stops
// accepting, gives open streams ShutdownGrace to finish, closes the rest and
// returns nil. Serve closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.log.Info().Str("version", buildinfo.Get().Version).Str("mode", s.cfg.Mode).Str("listen", ln.Addr().String()).
		Str("remote", s.cfg.Remote()).Dur("udp_idle_timeout", s.cfg.UDPIdleTimeout).
		Msg("kftray-server relaying")
	s.ready.Store(true)

	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var acceptErr error
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() == nil {
				acceptErr = fmt.Errorf("accept forwarded stream on %s: %w", ln.Addr(), err)
			}
			break
		}
		s.track(c, true)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.track(c, false)
			s.handle(ctx, c)
		}()
	}
	s.ready.Store(false)
	ln.Close()
	s.shutdown()
	return acceptErr
}

func (s *Server) handle(ctx context.Context, c net.Conn) {
	id := s.total.Add(1)
	log := s.log.With().Uint64("stream", id).Str("peer", c.RemoteAddr().String()).Logger()
	s.streams.Add(1)
	defer s.streams.Add(-1)
	log.Debug().Msg("stream opened")
	switch s.cfg.Mode {
	case ModeTCP:
		s.relayTCP(ctx, c, log)
	case ModeUDP:
		s.relayUDP(ctx, c, log)
	}
}

func (s *Server) track(c net.Conn, add bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		s.conns[c] = struct{}{}
	} else {
		delete(s.conns, c)
	}
}

// shutdown waits up to ShutdownGrace for open streams, then closes them.
func (s *Server) shutdown() {
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	s.mu.Lock()
	open := len(s.conns)
	s.mu.Unlock()
	if open > 0 {
		s.log.Info().Int("streams", open).Dur("grace", s.cfg.ShutdownGrace).Msg("shutting down: waiting for open streams")
	}
	select {
	case <-done:
	case <-time.After(s.cfg.ShutdownGrace):
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		<-done
	}
	s.log.Info().Msg("kftray-server stopped")
}

// Stats is what the health endpoint reports.
type Stats struct {
	Status  string `json:"status"`
	Version string `json:"version"`
	Mode    string `json:"mode"`
	Remote  string `json:"remote"`
	Streams int64  `json:"streams"`
	Flows   int64  `json:"udp_flows"`
	Total   uint64 `json:"streams_total"`
}

// Stats returns the current counters.
func (s *Server) Stats() Stats {
	st := Stats{Status: "ok", Version: buildinfo.Get().Version, Mode: s.cfg.Mode, Remote: s.cfg.Remote(),
		Streams: s.streams.Load(), Flows: s.flows.Load(), Total: s.total.Load()}
	if !s.ready.Load() {
		st.Status = "not serving"
	}
	return st
}

// HealthHandler serves /healthz (liveness: the process answers) and /readyz
// (readiness: accepting streams), both with the Stats as JSON.
func (s *Server) HealthHandler() http.Handler {
	mux := http.NewServeMux()
	write := func(w http.ResponseWriter, code int) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(s.Stats())
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { write(w, http.StatusOK) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if s.ready.Load() {
			write(w, http.StatusOK)
		} else {
			write(w, http.StatusServiceUnavailable)
		}
	})
	return mux
}

// isClosed reports errors that just mean "the other side or we closed".
func isClosed(err error) bool {
	return errors.Is(err, net.ErrClosed)
}
