package fwdconfig

// Workload types.
const (
	WorkloadService = "service" // a Service's port, resolved to a ready endpoint pod
	WorkloadPod     = "pod"     // a ready pod matching the label selector in Target
	WorkloadProxy   = "proxy"   // RemoteAddress:RemotePort reached through the relay pod
	WorkloadExpose  = "expose"  // a local port exposed into the cluster (reverse tunnel)
)

// Protocols.
const (
	ProtocolTCP = "tcp"
	ProtocolUDP = "udp"
)

// Defaults kftray applies to the HTTP log fields when a file leaves them out.
const (
	DefaultHTTPLogsMaxFileSize   = 10 << 20 // bytes
	DefaultHTTPLogsRetentionDays = 7
	MaxHTTPLogsMaxFileSize       = 100 << 20
	MaxHTTPLogsRetentionDays     = 365
)

// Config is one port-forward definition. JSON names are kftray's, so files
// exported by kftray import unchanged; see MarshalJSON/UnmarshalJSON in
// json.go for the accepted spellings (booleans as "true"/"false" strings,
// ingress_annotations as a JSON-encoded string).
//
// Normalized values, as the store hands them out:
//   - Context "" means the kubeconfig's current context (kftray's
//     "current-context" and a missing context both become "").
//   - Kubeconfig "" means the default kubeconfig (kftray's "default").
//   - LocalPort 0 means: pick a free port when the forward starts.
//   - LocalAddress "" means 127.0.0.1 (or an allocated loopback address when
//     AutoLoopbackAddress is set).
//   - Protocol and WorkloadType are lower case.
type Config struct {
	ID                  int64  `json:"id,omitempty"`
	Alias               string `json:"alias,omitempty"`
	Context             string `json:"context,omitempty"`
	Kubeconfig          string `json:"kubeconfig,omitempty"`
	Namespace           string `json:"namespace"`
	WorkloadType        string `json:"workload_type"` // service | pod | proxy | expose
	Protocol            string `json:"protocol"`      // tcp | udp
	Service             string `json:"service,omitempty"`
	Target              string `json:"target,omitempty"` // pod label selector
	RemoteAddress       string `json:"remote_address,omitempty"`
	RemotePort          int    `json:"remote_port,omitempty"`
	LocalAddress        string `json:"local_address,omitempty"`
	LocalPort           int    `json:"local_port,omitempty"` // 0: pick a free port
	AutoLoopbackAddress bool   `json:"auto_loopback_address,omitempty"`
	DomainEnabled       bool   `json:"domain_enabled,omitempty"`

	// HTTP traffic logging. A zero size or retention means kftray's default
	// (10 MiB, 7 days); the store fills them in on write.
	HTTPLogsEnabled       bool  `json:"http_logs_enabled,omitempty"`
	HTTPLogsMaxFileSize   int64 `json:"http_logs_max_file_size,omitempty"`
	HTTPLogsRetentionDays int   `json:"http_logs_retention_days,omitempty"`
	HTTPLogsAutoCleanup   bool  `json:"http_logs_auto_cleanup"` // JSON default: true

	// Expose workloads only.
	ExposureType       string            `json:"exposure_type,omitempty"` // public | internal
	CertManagerEnabled bool              `json:"cert_manager_enabled,omitempty"`
	CertIssuer         string            `json:"cert_issuer,omitempty"`
	CertIssuerKind     string            `json:"cert_issuer_kind,omitempty"`
	IngressClass       string            `json:"ingress_class,omitempty"`
	IngressAnnotations map[string]string `json:"ingress_annotations,omitempty"`

	// Revision counts the writes to this config. UpdateConfig refuses a
	// write whose Revision is not the stored one (someone else changed it
	// since it was read). Not part of kftray's JSON.
	Revision int64 `json:"-"`
}

// Name is how a config is shown to people: its alias, else what it targets.
func (c *Config) Name() string {
	for _, s := range []string{c.Alias, c.Service, c.Target, c.RemoteAddress} {
		if s != "" {
			return s
		}
	}
	return "unnamed"
}

// normalize brings equivalent spellings to one form and fills defaults, so
// that comparisons (import merging) and consumers see one meaning per value.
func (c *Config) normalize() {
	c.WorkloadType = lowerTrim(c.WorkloadType)
	c.Protocol = lowerTrim(c.Protocol)
	if c.Protocol == "" {
		c.Protocol = ProtocolTCP
	}
	c.Alias = trim(c.Alias)
	c.Context = trim(c.Context)
	if c.Context == "current-context" {
		c.Context = ""
	}
	c.Kubeconfig = trim(c.Kubeconfig)
	if c.Kubeconfig == "default" {
		c.Kubeconfig = ""
	}
	c.Namespace = trim(c.Namespace)
	c.Service = trim(c.Service)
	c.Target = trim(c.Target)
	c.RemoteAddress = trim(c.RemoteAddress)
	c.LocalAddress = trim(c.LocalAddress)
	c.ExposureType = lowerTrim(c.ExposureType)
	if c.HTTPLogsMaxFileSize == 0 {
		c.HTTPLogsMaxFileSize = DefaultHTTPLogsMaxFileSize
	}
	if c.HTTPLogsRetentionDays == 0 {
		c.HTTPLogsRetentionDays = DefaultHTTPLogsRetentionDays
	}
	if len(c.IngressAnnotations) == 0 {
		c.IngressAnnotations = nil
	}
}
