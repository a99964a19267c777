package relayserver

import (
	"context"
	"io"
	"net"

	"github.com/rs/zerolog"
)

// relayTCP connects one forwarded stream to the remote and copies both ways.
// A clean EOF in one direction is passed on as a half-close, so
// request/response protocols that shut down their write side still work.
func (s *Server) relayTCP(ctx context.Context, c net.Conn, log zerolog.Logger) {
	defer c.Close()
	d := net.Dialer{Timeout: s.cfg.DialTimeout}
	up, err := d.DialContext(ctx, "tcp", s.cfg.Remote())
	if err != nil {
		log.Warn().Err(err).Str("remote", s.cfg.Remote()).Msg("cannot reach the remote; closing the forwarded stream")
		return
	}
	defer up.Close()
	done := make(chan result, 2)
	go pipe(up, c, "to_remote", done)
	go pipe(c, up, "from_remote", done)
	a, b := <-done, <-done
	log.Debug().Int64(a.dir, a.n).Int64(b.dir, b.n).Msg("stream closed")
}

type result struct {
	dir string
	n   int64
}

func pipe(dst, src net.Conn, dir string, done chan<- result) {
	n, err := io.Copy(dst, src)
	if cw, ok := dst.(interface{ CloseWrite() error }); ok && err == nil {
		cw.CloseWrite()
	} else {
		// An error (reset, forced shutdown) ends both directions at once.
		dst.Close()
		src.Close()
	}
	done <- result{dir, n}
}
