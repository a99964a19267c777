package fwdconfig

import (
	"fmt"
	"net"
	"strings"
	"unicode"
)

// FieldError is one problem with one field of a config.
type FieldError struct {
	Field string // kftray JSON name
	Msg   string
}

func (e FieldError) Error() string { return e.Field + ": " + e.Msg }

// ValidationError lists every problem found in one config.
type ValidationError struct {
	Name     string // Config.Name()
	Problems []FieldError
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "invalid config %q:", e.Name)
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.Error())
	}
	return b.String()
}

// Validate normalizes c and reports every problem with it, or nil.
func (c *Config) Validate() error {
	c.normalize()
	if errs := c.problems(); len(errs) > 0 {
		return &ValidationError{Name: c.Name(), Problems: errs}
	}
	return nil
}

// problems checks a normalized config. The rules are kftray's import rules
// plus what a forward needs to start (a remote port, a valid selector).
func (c *Config) problems() []FieldError {
	var errs []FieldError
	add := func(field, format string, args ...any) {
		errs = append(errs, FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}

	if c.Namespace == "" {
		add("namespace", "required")
	} else if msg := checkDNS1123Label(c.Namespace); msg != "" {
		add("namespace", "%q is not a valid namespace name: %s", c.Namespace, msg)
	}
	switch c.Protocol {
	case ProtocolTCP, ProtocolUDP:
	default:
		add("protocol", "%q is not one of tcp, udp", c.Protocol)
	}

	needRemotePort := true
	switch c.WorkloadType {
	case WorkloadService:
		if c.Service == "" {
			add("service", "required for workload_type service (the Service's name)")
		} else if msg := checkDNS1035Label(c.Service); msg != "" {
			add("service", "%q is not a valid Service name: %s", c.Service, msg)
		}
	case WorkloadPod:
		if c.Target == "" {
			add("target", "required for workload_type pod (a label selector such as app=web)")
		} else if n, err := checkSelector(c.Target); err != nil {
			add("target", "%q is not a valid label selector: %v", c.Target, err)
		} else if n == 0 {
			add("target", "%q selects every pod; give at least one label", c.Target)
		}
	case WorkloadProxy:
		if c.RemoteAddress == "" {
			add("remote_address", "required for workload_type proxy (the host or IP to reach from the cluster)")
		} else if !validHost(c.RemoteAddress) {
			add("remote_address", "%q is not a hostname or IP address", c.RemoteAddress)
		}
	case WorkloadExpose:
		needRemotePort = false
		if c.Alias == "" {
			add("alias", "required for workload_type expose (the domain to expose)")
		}
		if c.LocalPort == 0 {
			add("local_port", "required for workload_type expose (the local port to expose)")
		}
		switch c.ExposureType {
		case "", "public", "internal":
		default:
			add("exposure_type", "%q is not one of public, internal", c.ExposureType)
		}
		if c.ExposureType == "public" && c.CertManagerEnabled && c.CertIssuer == "" {
			add("cert_issuer", "required when cert_manager_enabled is true")
		}
	case "":
		needRemotePort = false
		add("workload_type", "required: one of service, pod, proxy, expose")
	default:
		needRemotePort = false
		add("workload_type", "%q is not one of service, pod, proxy, expose", c.WorkloadType)
	}

	if c.RemotePort == 0 && needRemotePort {
		add("remote_port", "required for workload_type %s (the port in the cluster, 1..65535)", c.WorkloadType)
	} else if c.RemotePort < 0 || c.RemotePort > 65535 {
		add("remote_port", "%d is out of range 1..65535", c.RemotePort)
	}
	if c.LocalPort < 0 || c.LocalPort > 65535 {
		add("local_port", "%d is out of range 1..65535 (or leave it out to pick a free port)", c.LocalPort)
	}
	if c.LocalAddress != "" && c.LocalAddress != "localhost" && net.ParseIP(c.LocalAddress) == nil {
		add("local_address", "%q is not an IP address", c.LocalAddress)
	}

	if c.Alias != "" {
		switch {
		case strings.IndexFunc(c.Alias, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }) >= 0:
			add("alias", "%q contains spaces or control characters", c.Alias)
		case strings.Trim(c.Alias, "0123456789") == "":
			add("alias", "%q is all digits, which reads as a config id; add a letter", c.Alias)
		case c.DomainEnabled && !validHostname(c.Alias):
			add("alias", "%q is not a valid hostname, which domain_enabled needs (letters, digits, '-' and '.'; labels up to 63 characters)", c.Alias)
		}
	} else if c.DomainEnabled {
		add("alias", "required when domain_enabled is true (it is the hostname)")
	}

	if c.HTTPLogsMaxFileSize < 1 || c.HTTPLogsMaxFileSize > MaxHTTPLogsMaxFileSize {
		add("http_logs_max_file_size", "%d bytes is out of range 1..%d (100 MiB)", c.HTTPLogsMaxFileSize, MaxHTTPLogsMaxFileSize)
	}
	if c.HTTPLogsRetentionDays < 1 || c.HTTPLogsRetentionDays > MaxHTTPLogsRetentionDays {
		add("http_logs_retention_days", "%d is out of range 1..%d", c.HTTPLogsRetentionDays, MaxHTTPLogsRetentionDays)
	}
	return errs
}

func validHostname(s string) bool {
	return checkDNS1123Subdomain(strings.ToLower(s)) == ""
}

func validHost(s string) bool {
	return net.ParseIP(s) != nil || validHostname(s)
}

func trim(s string) string      { return strings.TrimSpace(s) }
func lowerTrim(s string) string { return strings.ToLower(strings.TrimSpace(s)) }
