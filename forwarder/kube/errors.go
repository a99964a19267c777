package kube

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"syscall"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Op describes an API operation for error messages: the RBAC verb and
// resource it needs and the object it is about.
type Op struct {
	Verb      string // get, list, watch, create
	Resource  string // services, endpointslices, pods, pods/portforward
	Namespace string
	Name      string // may be empty for list/watch
}

func (o Op) object() string {
	kind := strings.TrimSuffix(o.Resource, "s")
	if o.Resource == "endpointslices" {
		kind = "endpointslice"
	}
	if o.Name == "" {
		return fmt.Sprintf("%s in namespace %q", o.Resource, o.Namespace)
	}
	return fmt.Sprintf("%s %s/%s", kind, o.Namespace, o.Name)
}

// Explain wraps err from op with a message saying what went wrong and what
// to do next. The original error stays reachable with errors.Is/As.
func Explain(host string, op Op, err error) error {
	if err == nil {
		return nil
	}
	switch {
	case apierrors.IsForbidden(err) || looksForbidden(err):
		return fmt.Errorf("permission denied: you may not %s %s in namespace %q; ask a cluster admin for RBAC permission to %s %s: %w",
			op.Verb, op.Resource, op.Namespace, op.Verb, op.Resource, err)
	case apierrors.IsNotFound(err):
		return fmt.Errorf("%s not found; check the name and namespace in the config: %w", op.object(), err)
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("API server %s rejected the credentials (expired token or certificate?); log in again: %w", host, err)
	case IsUnreachable(err):
		return fmt.Errorf("API server %s unreachable; check the cluster is running and reachable (VPN, proxy): %w", host, err)
	}
	return fmt.Errorf("%s %s: %w", op.Verb, op.object(), err)
}

func looksForbidden(err error) bool {
	s := err.Error()
	return strings.Contains(s, "is forbidden") || strings.Contains(s, "403 Forbidden")
}

// IsUnreachable reports whether err means the API server could not be
// reached at all (as opposed to answering with an error).
func IsUnreachable(err error) bool {
	var (
		opErr   *net.OpError
		dnsErr  *net.DNSError
		urlErr  *url.Error
		certErr *tls.CertificateVerificationError
		unkAuth x509.UnknownAuthorityError
	)
	switch {
	case errors.As(err, &certErr), errors.As(err, &unkAuth):
		return false // reachable, but not trusted: a config problem
	case errors.As(err, &opErr), errors.As(err, &dnsErr),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH),
		errors.Is(err, context.DeadlineExceeded):
		return true
	case errors.As(err, &urlErr):
		return urlErr.Timeout()
	}
	s := err.Error()
	return strings.Contains(s, "connection refused") || strings.Contains(s, "i/o timeout") ||
		strings.Contains(s, "no such host") || strings.Contains(s, "connection reset")
}
