package forwarder

import "errors"

func unprivilegedPortStart() int { return 1024 }

// On macOS only 127.0.0.1 exists on lo0 until an alias is added (root).
func addressNeedsHelper(ip string) error {
	if ip == "127.0.0.1" || ip == "::1" || ip == "localhost" {
		return nil
	}
	return errors.New("loopback addresses other than 127.0.0.1 need an lo0 alias")
}
