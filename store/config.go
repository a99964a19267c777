// Package store keeps kftray's configs, runtime state and settings in a
// SQLite file shared by the daemon, the CLI and the UIs.
package store

// Config is one port-forward definition. JSON names are kftray's, so files
// exported by kftray import unchanged.
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

	HTTPLogsEnabled       bool `json:"http_logs_enabled,omitempty"`
	HTTPLogsMaxFileSize   int  `json:"http_logs_max_file_size,omitempty"`
	HTTPLogsRetentionDays int  `json:"http_logs_retention_days,omitempty"`
	HTTPLogsAutoCleanup   bool `json:"http_logs_auto_cleanup,omitempty"`

	ExposureType       string            `json:"exposure_type,omitempty"`
	CertManagerEnabled bool              `json:"cert_manager_enabled,omitempty"`
	CertIssuer         string            `json:"cert_issuer,omitempty"`
	CertIssuerKind     string            `json:"cert_issuer_kind,omitempty"`
	IngressClass       string            `json:"ingress_class,omitempty"`
	IngressAnnotations map[string]string `json:"ingress_annotations,omitempty"`
}
