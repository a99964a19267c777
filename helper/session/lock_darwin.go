package session

// lockListener adds nothing on macOS, which has no lockable socket filter.
// The socket leaves as a listener, and XNU's connect() refuses a socket
// that has listened (SO_ACCEPTCONN: EOPNOTSUPP), with no AF_UNSPEC
// disconnect back to a connectable state. (Read from XNU's soconnectlock;
// not exercised here, where macOS cannot run.)
func lockListener(int) error { return nil }
