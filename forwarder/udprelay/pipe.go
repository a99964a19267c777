package udprelay

import (
	"context"
	"io"
	"net"
)

// PipeStream adapts a forwarder that copies between a net.Conn and the
// relay's port (like relay.Target.Forward) into an
// OpenStream: each call starts forward on one end of a net.Pipe and returns
// the other. When forward ends, its end is closed, so the client sees the
// stream break and reopens it.
func PipeStream(forward func(ctx context.Context, relay net.Conn) error) OpenStream {
	return func(ctx context.Context) (io.ReadWriteCloser, error) {
		local, remote := net.Pipe()
		go func() {
			forward(ctx, remote) // its error is the stream's end, seen as EOF by the client
			remote.Close()
		}()
		return local, nil
	}
}
