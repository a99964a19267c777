// Package fdpass sends and receives length-prefixed frames over a unix stream
// socket, with file descriptors (SCM_RIGHTS) attached to a frame's first byte.
//
// The reader never buffers: a plain read over a byte that carries descriptors
// would make the kernel drop them, so every read is a ReadMsgUnix that stops
// at the frame boundary. Descriptors anywhere but the first byte, more than
// MaxFDs per frame, or a truncated control message are errors, and any
// descriptor received in such a frame is closed.
package fdpass

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"

	"golang.org/x/sys/unix"
)

const (
	// MaxFDs bounds the descriptors one frame may carry.
	MaxFDs = 4
	// MaxBody bounds a frame body; frames are small control messages.
	MaxBody   = 1 << 20
	headerLen = 4
)

// ErrTruncated reports a control message the kernel had to truncate
// (MSG_CTRUNC): descriptors were lost, so the frame cannot be trusted.
var ErrTruncated = errors.New("fdpass: control message truncated (too many descriptors)")

// Conn frames messages on a unix stream socket. Writes are serialized;
// reads must come from one goroutine at a time.
type Conn struct {
	c  *net.UnixConn
	wm sync.Mutex
}

// New wraps c. The caller keeps ownership of c.
func New(c *net.UnixConn) *Conn { return &Conn{c: c} }

// Close closes the underlying socket.
func (c *Conn) Close() error { return c.c.Close() }

// Write sends body as one frame with fds attached to its first byte. The
// caller keeps its copies of fds (the kernel duplicates them into the peer).
func (c *Conn) Write(body []byte, fds ...int) error {
	if len(body) > MaxBody {
		return fmt.Errorf("fdpass: frame body of %d bytes exceeds %d", len(body), MaxBody)
	}
	if len(fds) > MaxFDs {
		return fmt.Errorf("fdpass: %d descriptors exceed %d per frame", len(fds), MaxFDs)
	}
	frame := make([]byte, headerLen+len(body))
	binary.BigEndian.PutUint32(frame, uint32(len(body)))
	copy(frame[headerLen:], body)

	c.wm.Lock()
	defer c.wm.Unlock()
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	n, oobn, err := c.c.WriteMsgUnix(frame[:1], oob, nil)
	if err != nil {
		return fmt.Errorf("fdpass: write frame head: %w", err)
	}
	if n != 1 || oobn != len(oob) {
		return fmt.Errorf("fdpass: short write of frame head (%d/%d bytes, %d/%d oob)", n, 1, oobn, len(oob))
	}
	if _, err := c.c.Write(frame[1:]); err != nil {
		return fmt.Errorf("fdpass: write frame: %w", err)
	}
	return nil
}

// Read receives one frame. On error every descriptor received so far is
// closed. io.EOF means the peer closed cleanly between frames.
func (c *Conn) Read() (body []byte, fds []int, err error) {
	defer func() {
		if err != nil {
			CloseFDs(fds)
			fds = nil
		}
	}()
	oob := make([]byte, unix.CmsgSpace(MaxFDs*4))
	var hdr [headerLen]byte

	// First byte alone: the only byte allowed to carry descriptors.
	n, oobn, flags, _, err := c.c.ReadMsgUnix(hdr[:1], oob)
	if oobn > 0 {
		got, perr := parseRights(oob[:oobn])
		fds = append(fds, got...)
		if perr != nil {
			return nil, fds, perr
		}
	}
	if err != nil {
		if n == 0 && errors.Is(err, io.EOF) {
			return nil, fds, io.EOF
		}
		return nil, fds, fmt.Errorf("fdpass: read frame head: %w", err)
	}
	if n == 0 {
		return nil, fds, io.EOF
	}
	if flags&unix.MSG_CTRUNC != 0 {
		return nil, fds, ErrTruncated
	}
	if err := c.readExact(hdr[1:], &fds); err != nil {
		return nil, fds, err
	}
	size := binary.BigEndian.Uint32(hdr[:])
	if size > MaxBody {
		return nil, fds, fmt.Errorf("fdpass: frame body of %d bytes exceeds %d", size, MaxBody)
	}
	body = make([]byte, size)
	if err := c.readExact(body, &fds); err != nil {
		return nil, fds, err
	}
	return body, fds, nil
}

// readExact fills buf without reading past it. Descriptors arriving here are
// not on a frame's first byte: they are closed and the frame refused.
func (c *Conn) readExact(buf []byte, fds *[]int) error {
	oob := make([]byte, unix.CmsgSpace(MaxFDs*4))
	for off := 0; off < len(buf); {
		n, oobn, flags, _, err := c.c.ReadMsgUnix(buf[off:], oob)
		if oobn > 0 || flags&unix.MSG_CTRUNC != 0 {
			stray, _ := parseRights(oob[:oobn])
			*fds = append(*fds, stray...)
			return errors.New("fdpass: descriptors attached inside a frame body")
		}
		off += n
		if err != nil {
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("fdpass: peer closed mid-frame: %w", io.ErrUnexpectedEOF)
			}
			return fmt.Errorf("fdpass: read frame: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("fdpass: peer closed mid-frame: %w", io.ErrUnexpectedEOF)
		}
	}
	return nil
}

func parseRights(oob []byte) ([]int, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("fdpass: parse control message: %w", err)
	}
	var fds []int
	var bad error
	for i := range msgs {
		got, err := unix.ParseUnixRights(&msgs[i])
		if err != nil {
			// Not SCM_RIGHTS (credentials etc.): nothing to close, but unexpected.
			bad = fmt.Errorf("fdpass: unexpected control message: %w", err)
			continue
		}
		for _, fd := range got {
			// Linux sets close-on-exec via MSG_CMSG_CLOEXEC; elsewhere do it now,
			// before any exec can leak the descriptor.
			unix.CloseOnExec(fd)
		}
		fds = append(fds, got...)
	}
	if bad == nil && len(fds) > MaxFDs {
		bad = fmt.Errorf("fdpass: %d descriptors exceed %d per frame", len(fds), MaxFDs)
	}
	return fds, bad
}

// CloseFDs closes descriptors a caller did not expect or no longer needs.
func CloseFDs(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// Socketpair returns both ends of a connected unix stream socket pair as
// *net.UnixConn, close-on-exec.
func Socketpair() (*net.UnixConn, *net.UnixConn, error) {
	fds, err := socketpair()
	if err != nil {
		return nil, nil, fmt.Errorf("fdpass: socketpair: %w", err)
	}
	a, err := FileConn(fds[0], "fdpass-a")
	if err != nil {
		unix.Close(fds[1])
		return nil, nil, err
	}
	b, err := FileConn(fds[1], "fdpass-b")
	if err != nil {
		a.Close()
		return nil, nil, err
	}
	return a, b, nil
}

// FileConn turns a unix socket descriptor into a *net.UnixConn, taking
// ownership of fd (it is closed in all cases).
func FileConn(fd int, name string) (*net.UnixConn, error) {
	f := osNewFile(fd, name)
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("fdpass: descriptor %d is not a socket: %w", fd, err)
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("fdpass: descriptor %d is a %T, not a unix socket", fd, c)
	}
	return uc, nil
}
