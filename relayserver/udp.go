package relayserver

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/kftray-go/kftray/relaywire"
)

// udpStream is one forwarded stream in udp mode: many flows, each with its
// own connected UDP socket to the remote, so replies reach only the local peer
// that owns the flow and any number of them may come back.
type udpStream struct {
	s   *Server
	c   net.Conn
	w   *relaywire.Writer
	log zerolog.Logger

	mu    sync.Mutex
	flows map[uint32]*udpFlow
	wg    sync.WaitGroup
	full  bool // flow cap reached; logged once
}

type udpFlow struct {
	id   uint32
	up   net.Conn
	last time.Time // last datagram either way; guarded by udpStream.mu
}

func (s *Server) relayUDP(ctx context.Context, c net.Conn, log zerolog.Logger) {
	st := &udpStream{s: s, c: c, w: relaywire.NewWriter(c), log: log, flows: make(map[uint32]*udpFlow)}
	err := st.run(ctx)
	st.w.Close()
	c.Close()
	st.closeAll()
	st.wg.Wait()
	switch {
	case err == nil || errors.Is(err, io.EOF) || isClosed(err) || errors.Is(err, syscall.ECONNRESET):
		log.Debug().Err(err).Msg("stream closed")
	case errors.Is(err, relaywire.ErrProtocol):
		log.Warn().Err(err).Msg("closing UDP relay stream: bad input from the forwarder")
	default:
		log.Info().Err(err).Msg("UDP relay stream ended")
	}
}

func (st *udpStream) run(ctx context.Context) error {
	if err := relaywire.WriteStreamHeader(st.c); err != nil {
		return err
	}
	if err := relaywire.ReadStreamHeader(st.c); err != nil {
		return err
	}
	janitorDone := make(chan struct{})
	defer close(janitorDone)
	go st.expireIdle(janitorDone)

	r := relaywire.NewReader(st.c)
	for {
		f, err := r.Next()
		if err != nil {
			return err
		}
		switch f.Type {
		case relaywire.FrameClose:
			st.mu.Lock()
			fl := st.flows[f.Flow]
			st.mu.Unlock()
			if fl != nil {
				st.drop(fl, false)
			}
		case relaywire.FrameData:
			fl := st.flow(ctx, f.Flow)
			if fl == nil {
				continue
			}
			// A refused earlier datagram (ICMP port unreachable) shows up as an
			// error here; UDP is lossy, so log and keep the flow.
			if _, err := fl.up.Write(f.Payload); err != nil && !isClosed(err) {
				st.log.Debug().Err(err).Uint32("flow", f.Flow).Msg("send to remote failed")
			}
		}
	}
}

// flow returns the flow for id, opening its upstream socket on first use.
func (st *udpStream) flow(ctx context.Context, id uint32) *udpFlow {
	now := time.Now()
	st.mu.Lock()
	if fl, ok := st.flows[id]; ok {
		fl.last = now
		st.mu.Unlock()
		return fl
	}
	if len(st.flows) >= st.s.cfg.MaxFlowsPerStream {
		if !st.full {
			st.full = true
			st.log.Warn().Int("max_flows", st.s.cfg.MaxFlowsPerStream).Msg("too many UDP flows on one stream; dropping datagrams of new flows until some expire")
		}
		st.mu.Unlock()
		return nil
	}
	st.mu.Unlock()

	// Dial outside the lock: resolving the remote name can take a while.
	dctx, cancel := context.WithTimeout(ctx, st.s.cfg.DialTimeout)
	up, err := (&net.Dialer{}).DialContext(dctx, "udp", st.s.cfg.Remote())
	cancel()
	if err != nil {
		st.log.Warn().Err(err).Str("remote", st.s.cfg.Remote()).Uint32("flow", id).Msg("cannot open UDP socket to the remote; dropping datagram")
		return nil
	}
	fl := &udpFlow{id: id, up: up, last: now}
	st.mu.Lock()
	st.flows[id] = fl
	st.mu.Unlock()
	st.s.flows.Add(1)
	st.log.Debug().Uint32("flow", id).Str("upstream", up.LocalAddr().String()).Msg("flow opened")
	st.wg.Add(1)
	go st.readUpstream(fl)
	return fl
}

// readUpstream sends every datagram the remote returns on fl back over the
// stream, read straight into the frame buffer.
func (st *udpStream) readUpstream(fl *udpFlow) {
	defer st.wg.Done()
	buf := make([]byte, relaywire.MaxFrameLen+1) // +1 detects datagrams over the limit
	for {
		n, err := fl.up.Read(buf[relaywire.HeaderLen:])
		if err != nil {
			if isClosed(err) {
				return
			}
			if errors.Is(err, syscall.ECONNREFUSED) {
				continue // ICMP for an earlier datagram; the remote may come back
			}
			st.log.Debug().Err(err).Uint32("flow", fl.id).Msg("read from remote failed; closing flow")
			st.drop(fl, true)
			return
		}
		if n > relaywire.MaxPayload {
			st.log.Warn().Uint32("flow", fl.id).Msg("remote sent a datagram over 65507 bytes; dropped")
			continue
		}
		st.mu.Lock()
		fl.last = time.Now()
		st.mu.Unlock()
		if err := st.w.WriteData(buf, fl.id, n); err != nil {
			st.c.Close() // the stream is broken; run() ends and cleans up
			return
		}
	}
}

// expireIdle drops flows with no traffic for UDPIdleTimeout and tells the
// forwarder, which then forgets its side of the flow too.
func (st *udpStream) expireIdle(done <-chan struct{}) {
	idle := st.s.cfg.UDPIdleTimeout
	t := time.NewTicker(min(max(idle/4, 10*time.Millisecond), 15*time.Second))
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case now := <-t.C:
			var expired []*udpFlow
			st.mu.Lock()
			for id, fl := range st.flows {
				if now.Sub(fl.last) >= idle {
					expired = append(expired, fl)
					delete(st.flows, id)
				}
			}
			st.full = st.full && len(st.flows) >= st.s.cfg.MaxFlowsPerStream
			st.mu.Unlock()
			for _, fl := range expired {
				st.log.Debug().Uint32("flow", fl.id).Dur("idle", idle).Msg("flow expired")
				st.closeFlow(fl, true)
			}
		}
	}
}

// drop removes fl if it is still the flow registered under its id (a
// datagram after expiry opens a new flow with the same id) and closes it;
// tell says whether the forwarder must hear about it.
func (st *udpStream) drop(fl *udpFlow, tell bool) {
	st.mu.Lock()
	cur, ok := st.flows[fl.id]
	if ok && cur == fl {
		delete(st.flows, fl.id)
		st.full = st.full && len(st.flows) >= st.s.cfg.MaxFlowsPerStream
	}
	st.mu.Unlock()
	if ok && cur == fl {
		st.closeFlow(fl, tell)
	}
}

func (st *udpStream) closeFlow(fl *udpFlow, tell bool) {
	fl.up.Close()
	st.s.flows.Add(-1)
	if tell {
		st.w.WriteClose(fl.id) // a failure here means the stream is gone anyway
	}
}

func (st *udpStream) closeAll() {
	st.mu.Lock()
	flows := st.flows
	st.flows = map[uint32]*udpFlow{}
	st.mu.Unlock()
	for _, fl := range flows {
		fl.up.Close()
		st.s.flows.Add(-1)
	}
}
