package session

import "golang.org/x/sys/unix"

// lockListener makes a TCP socket useless for connecting out. listen()
// alone is not enough: connect(AF_UNSPEC) turns a listener back into a
// closed socket that keeps its bound port, and a connect() from it then
// originates traffic from a privileged source port. A socket filter that
// drops every incoming SYN-ACK (TCP flags SYN|ACK set) stops any handshake
// the socket starts, while a listener and the connections it accepts never
// receive one; SO_LOCK_FILTER keeps the forwarder from removing it.
func lockListener(fd int) error {
	const (
		tcpFlagsOffset = 13 // the filter sees the TCP header at offset 0
		synAck         = 0x12
	)
	prog := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_B | unix.BPF_ABS, K: tcpFlagsOffset},
		{Code: unix.BPF_ALU | unix.BPF_AND | unix.BPF_K, K: synAck},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 1, K: synAck},
		{Code: unix.BPF_RET | unix.BPF_K, K: 0},          // drop
		{Code: unix.BPF_RET | unix.BPF_K, K: 0xffffffff}, // keep the whole packet
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog); err != nil {
		return err
	}
	return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_LOCK_FILTER, 1)
}
