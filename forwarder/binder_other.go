//go:build !linux && !darwin

package forwarder

func unprivilegedPortStart() int      { return 1024 }
func addressNeedsHelper(string) error { return nil }
