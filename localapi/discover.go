package localapi

import (
	"context"
	"net/http"

	"github.com/kftray-go/kftray/fwdconfig"
)

// DiscoverRequest is the body of POST /v1/configs/discover: which cluster
// to scan for Services annotated kftray.app/enabled: "true", and how to
// fill in the configs they give.
type DiscoverRequest struct {
	Kubeconfig string `json:"kubeconfig,omitempty"` // "" the daemon's default
	Context    string `json:"context,omitempty"`    // "" the kubeconfig's current context
	// Namespaces to scan; empty scans every namespace.
	Namespaces    []string `json:"namespaces,omitempty"`
	AliasAsDomain bool     `json:"alias_as_domain,omitempty"`
	AutoLoopback  bool     `json:"auto_loopback,omitempty"`
	// Kube is the caller's kubeconfig, used for the scan when Kubeconfig
	// is empty (the configs then name none, as configs added by hand).
	Kube *KubeEnv `json:"kube,omitempty"`
	// DryRun plans the merge and changes nothing.
	DryRun bool `json:"dry_run,omitempty"`
}

// DiscoverProblem is an annotated Service, or one entry of its
// kftray.app/configs, that gave no config, and why.
type DiscoverProblem struct {
	Namespace string `json:"namespace"`
	Service   string `json:"service"`
	Entry     string `json:"entry,omitempty"` // the entry (or port) at fault; "" the whole Service
	Message   string `json:"message"`
}

// DiscoverResult is the answer to POST /v1/configs/discover. The
// discovered configs are merged into the stored ones by identity, as an
// import is; Changes says what that did (or, DryRun, would do).
type DiscoverResult struct {
	DryRun   bool                   `json:"dry_run"`
	Services []string               `json:"services"` // namespace/name of each annotated Service
	Changes  []fwdconfig.Change     `json:"changes"`
	Result   fwdconfig.ImportResult `json:"result"`
	Problems []DiscoverProblem      `json:"problems"`
}

// DiscoverConfigs scans a cluster for annotated Services and merges the
// configs they give into the stored ones (see DiscoverRequest).
func (c *Client) DiscoverConfigs(ctx context.Context, req DiscoverRequest) (DiscoverResult, error) {
	var out DiscoverResult
	return out, c.do(ctx, http.MethodPost, "/configs/discover", req, &out)
}
