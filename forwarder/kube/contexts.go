package kube

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"k8s.io/client-go/tools/clientcmd"
)

// ContextInfo is one context of a kubeconfig.
type ContextInfo struct {
	Name      string
	Cluster   string
	Namespace string // the context's default namespace, "" if none
	Current   bool
}

// Contexts lists the contexts of the kubeconfig files that kubeconfig
// names (as Source.Kubeconfig: "" for $KUBECONFIG or ~/.kube/config, or a
// path list), merged as kubectl merges them, sorted by name. It is an
// ErrConfig error when none of the files exists or one cannot be parsed.
func Contexts(kubeconfig string) ([]ContextInfo, error) {
	paths := Source{Kubeconfig: kubeconfig}.paths()
	if len(paths) == 0 {
		return nil, fmt.Errorf("%w: no kubeconfig: set KUBECONFIG, pass a kubeconfig path, or set HOME", ErrConfig)
	}
	exists := false
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			exists = true
		}
	}
	if !exists {
		return nil, fmt.Errorf("%w: no kubeconfig file at %s; check the path", ErrConfig, strings.Join(paths, ", "))
	}
	raw, err := (&clientcmd.ClientConfigLoadingRules{Precedence: paths}).Load()
	if err != nil {
		return nil, fmt.Errorf("%w: read kubeconfig %s: %w", ErrConfig, strings.Join(paths, ","), err)
	}
	out := make([]ContextInfo, 0, len(raw.Contexts))
	for name, c := range raw.Contexts {
		out = append(out, ContextInfo{Name: name, Cluster: c.Cluster, Namespace: c.Namespace, Current: name == raw.CurrentContext})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
