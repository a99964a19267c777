package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kftray-go/kftray/forwarder/discover"
	"github.com/kftray-go/kftray/forwarder/httpapi"
	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/localapi"
	"github.com/kftray-go/kftray/store"
)

// registerSources adds the config-source endpoints (discover, git sync)
// and starts the git sync loop; the function it returns stops the loop
// and waits for it. They live here, beside the API's core, so the two
// change apart.
func (d *daemon) registerSources(ctx context.Context, srv *httpapi.Server) (stop func(), err error) {
	s, err := newSyncer(d, d.dir, d.core.log)
	if err != nil {
		return nil, err
	}
	v := localapi.Version
	srv.Handle("POST "+v+"/configs/discover", d.serveDiscover)
	srv.Handle("GET "+v+"/sync/sources", s.serveList)
	srv.Handle("POST "+v+"/sync/sources", s.serveAdd)
	srv.Handle("DELETE "+v+"/sync/sources/{id}", s.serveRemove)
	srv.Handle("POST "+v+"/sync/now", s.serveNow)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); s.loop(ctx) }()
	return func() { cancel(); <-done }, nil
}

func (d *daemon) serveDiscover(w http.ResponseWriter, r *http.Request) {
	var req localapi.DiscoverRequest
	if err := httpapi.ReadJSON(w, r, 64<<10, &req, `{"context": NAME, "namespaces": [NAME...], "alias_as_domain": BOOL, "auto_loopback": BOOL, "dry_run": BOOL}`); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	res, err := d.Discover(r.Context(), req)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, res)
}

// Discover scans req's cluster for Services annotated kftray.app/enabled
// and merges the configs they give into the store by identity (as an
// import does), all or nothing. Problems with single Services or entries
// are reported in the result, not failed on.
func (d *daemon) Discover(ctx context.Context, req localapi.DiscoverRequest) (localapi.DiscoverResult, error) {
	lctx, cancel := context.WithTimeout(ctx, clusterTimeout)
	defer cancel()
	scan := localapi.ClusterRef{Kubeconfig: req.Kubeconfig, Context: req.Context}
	if scan.Kubeconfig == "" && req.Kube != nil {
		scan.Kubeconfig = req.Kube.Kubeconfig
	}
	cl, err := d.cluster(scan)
	if err != nil {
		return localapi.DiscoverResult{}, err
	}
	namespaces := req.Namespaces
	if len(namespaces) == 0 {
		namespaces = []string{metav1.NamespaceAll}
	}
	var svcs []corev1.Service
	for _, ns := range namespaces {
		list, err := cl.Client.CoreV1().Services(ns).List(lctx, metav1.ListOptions{})
		if err != nil {
			return localapi.DiscoverResult{}, listError(lctx, cl, "services", ns, "the namespaces to scan with -n", err)
		}
		svcs = append(svcs, list.Items...)
	}
	sort.SliceStable(svcs, func(i, j int) bool {
		if svcs[i].Namespace != svcs[j].Namespace {
			return svcs[i].Namespace < svcs[j].Namespace
		}
		return svcs[i].Name < svcs[j].Name
	})
	found := discover.FromServices(svcs, discover.Options{Context: req.Context, Kubeconfig: req.Kubeconfig,
		AliasAsDomain: req.AliasAsDomain, AutoLoopback: req.AutoLoopback})
	out := localapi.DiscoverResult{DryRun: req.DryRun, Services: found.Services, Problems: found.Problems}
	if len(found.Configs) > 0 {
		res, plan, err := d.core.st.MergeConfigs(ctx, found.Configs, store.MergeOptions{DryRun: req.DryRun})
		var ie *fwdconfig.ImportError
		if errors.As(err, &ie) {
			ie.Source = fmt.Sprintf("the configs discovered in context %q", req.Context)
		}
		if err != nil {
			return out, err
		}
		out.Result, out.Changes = res, plan
	}
	if out.Services == nil {
		out.Services = []string{}
	}
	if out.Problems == nil {
		out.Problems = []localapi.DiscoverProblem{}
	}
	d.core.log.Info().Int("services", len(out.Services)).Int("added", len(out.Result.Added)).Int("updated", len(out.Result.Updated)).
		Int("problems", len(out.Problems)).Bool("dry_run", req.DryRun).Msg("discovered configs from Service annotations")
	return out, nil
}
