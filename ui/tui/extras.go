package tui

import (
	"context"
	"time"

	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/localapi"
)

// Newer daemons offer more than Backend: single-config endpoints, cluster
// listings for the form's pickers, restart, the helper's status, settings
// and the daemon's log. kftui asks its Backend for each with a type
// assertion and leaves out what the daemon cannot do, saying so.

// ConfigAPI reads, creates, updates and validates single configs.
type ConfigAPI interface {
	// Config returns a config with its Revision, so that UpdateConfig
	// refuses to overwrite someone else's change (409).
	Config(ctx context.Context, ref string) (fwdconfig.Config, error)
	CreateConfig(ctx context.Context, c fwdconfig.Config) (int64, error)
	UpdateConfig(ctx context.Context, ref string, c fwdconfig.Config) error
	ValidateConfig(ctx context.Context, c fwdconfig.Config) error
}

// Restarter restarts forwards with their stored configs.
type Restarter interface {
	Restart(ctx context.Context, sel localapi.Selection) (localapi.Results, error)
}

// ClusterLister lists what a cluster has, for the form's pickers. An error
// with HTTP code 403 means RBAC forbids the listing: the form says so and
// the user types the name.
type ClusterLister interface {
	ClusterContexts(ctx context.Context, kubeconfig string) (names []string, current string, err error)
	ClusterNamespaces(ctx context.Context, kubeconfig, kubeContext string) ([]string, error)
	ClusterServices(ctx context.Context, kubeconfig, kubeContext, namespace string) ([]ServiceInfo, error)
	ClusterPods(ctx context.Context, kubeconfig, kubeContext, namespace string) ([]PodInfo, error)
}

// ServiceInfo is a Service and its ports.
type ServiceInfo struct {
	Name  string
	Ports []PortInfo
}

// PodInfo is a pod, its labels and declared ports.
type PodInfo struct {
	Name   string
	Ready  bool
	Labels map[string]string
	Ports  []PortInfo
}

// PortInfo is a port in the cluster.
type PortInfo struct {
	Name     string
	Port     int
	Protocol string // TCP, UDP
}

// HelperInfo is the root helper's status, as `kftray helper status` says.
type HelperInfo struct {
	Installed, UpToDate, Allowed bool
	Version, Want, Service       string
	NeededBy                     []string
	InstallCommand, Error        string
}

// HelperAPI reports the root helper's status.
type HelperAPI interface {
	HelperStatus(ctx context.Context) (HelperInfo, error)
}

// SettingsAPI reads and changes the global settings.
type SettingsAPI interface {
	Settings(ctx context.Context) (map[string]string, error)
	SetSetting(ctx context.Context, key, value string) error
}

// LogLine is one line of the daemon's log.
type LogLine struct {
	Time    time.Time
	Level   string // "" for a line that is not JSON (a crash's output)
	Message string
	Fields  map[string]any
}

// LogAPI reads and follows the daemon's log, from a level up ("" all).
type LogAPI interface {
	FollowDaemonLogLines(ctx context.Context, level string, tail int, f func(LogLine) error) error
}
