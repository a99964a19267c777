// Package kube loads Kubernetes client configuration the way kubectl does and
// turns API errors into messages that say what is wrong and what to do.
//
// A Source names a cluster as a kftray config does: a kubeconfig path (empty
// or "default" for $KUBECONFIG, else ~/.kube/config; several paths joined by
// the OS list separator are merged like KUBECONFIG) and a context (empty for
// the current one). clientcmd does the loading, so exec credential plugins,
// proxy-url, client certificates and tokens all work as in kubectl.
package kube

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kftray-go/kftray/internal/envknob"
)

// ErrConfig marks problems in the user's configuration (missing kubeconfig,
// unknown context): retrying does not help, the user must act.
var ErrConfig = errors.New("kubernetes configuration")

// Source identifies a cluster: kubeconfig path(s) and context name.
type Source struct {
	Kubeconfig string
	Context    string
}

// String is a stable key, used to share one client per cluster.
func (s Source) String() string { return s.Kubeconfig + "\x00" + s.Context }

// Cluster is a loaded client for one Source.
type Cluster struct {
	Source  Source
	Context string // the context actually used (the current one when Source.Context is empty)
	Config  *rest.Config
	Client  kubernetes.Interface
}

// paths returns the kubeconfig files to merge, in precedence order.
func (s Source) paths() []string {
	p := s.Kubeconfig
	if p == "" || p == "default" {
		p = envknob.Get(envknob.Kubeconfig)
	}
	if p == "" {
		home := envknob.Get(envknob.Home)
		if home == "" {
			return nil
		}
		return []string{filepath.Join(home, ".kube", "config")}
	}
	var out []string
	for _, f := range filepath.SplitList(p) {
		if f != "" {
			out = append(out, expandHome(f))
		}
	}
	return out
}

func expandHome(p string) string {
	if strings.HasPrefix(p, "~/") {
		if home := envknob.Get(envknob.Home); home != "" {
			return filepath.Join(home, p[2:])
		}
	}
	return p
}

// Load reads the kubeconfig files and builds a client for the context.
func Load(src Source) (*Cluster, error) {
	paths := src.paths()
	if len(paths) == 0 {
		return nil, fmt.Errorf("%w: no kubeconfig: set KUBECONFIG, the config's kubeconfig field, or HOME", ErrConfig)
	}
	rules := &clientcmd.ClientConfigLoadingRules{Precedence: paths}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: src.Context}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
	raw, err := cc.RawConfig()
	if err != nil {
		return nil, fmt.Errorf("%w: read kubeconfig %s: %w", ErrConfig, strings.Join(paths, ","), err)
	}
	if len(raw.Contexts) == 0 {
		return nil, fmt.Errorf("%w: kubeconfig %s has no contexts (does the file exist?)", ErrConfig, strings.Join(paths, ","))
	}
	name := src.Context
	if name == "" {
		name = raw.CurrentContext
		if name == "" {
			return nil, fmt.Errorf("%w: kubeconfig %s has no current context; set one with kubectl config use-context, or set the config's context (existing: %s)",
				ErrConfig, strings.Join(paths, ","), contextList(raw.Contexts))
		}
	}
	if _, ok := raw.Contexts[name]; !ok {
		return nil, fmt.Errorf("%w: context %q not found in %s; existing contexts: %s",
			ErrConfig, name, strings.Join(paths, ","), contextList(raw.Contexts))
	}
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("%w: context %q: %w", ErrConfig, name, err)
	}
	// Port-forward streams are long-lived; the client's rate limits are
	// for API calls, which we make few of. Raise them so 100 forwards
	// starting at once are not throttled client-side.
	cfg.QPS, cfg.Burst = 50, 100
	return New(src, name, cfg)
}

// New builds a Cluster from an existing rest.Config (tests, in-cluster).
func New(src Source, contextName string, cfg *rest.Config) (*Cluster, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: context %q: build client: %w", ErrConfig, contextName, err)
	}
	return &Cluster{Source: src, Context: contextName, Config: cfg, Client: cs}, nil
}

func contextList[V any](m map[string]V) string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// Environment is the kubeconfig this process would use for a Source that
// names none: its KUBECONFIG path list (or ~/.kube/config), as absolute
// paths joined by the OS list separator, and the current context those
// files name ("" when they cannot be read or name none). A client sends it
// to the daemon, which would otherwise use its own environment: that of
// whoever started it. Only paths and a context name leave the process.
func Environment() Source {
	paths := Source{}.paths()
	for i, p := range paths {
		if abs, err := filepath.Abs(p); err == nil {
			paths[i] = abs
		}
	}
	src := Source{Kubeconfig: strings.Join(paths, string(filepath.ListSeparator))}
	if len(paths) == 0 {
		return src
	}
	rules := &clientcmd.ClientConfigLoadingRules{Precedence: paths}
	if raw, err := rules.Load(); err == nil {
		src.Context = raw.CurrentContext
	}
	return src
}
