package tui

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/localapi"
)

// apiClient is a *localapi.Client with kftui's names for what it offers
// beyond Backend (extras.go): the cluster listings, the helper and the log
// in kftui's types, and refused configs as *FieldsError.
type apiClient struct{ *localapi.Client }

// ClientBackend is the Backend kftui uses for a daemon client.
func ClientBackend(c *localapi.Client) Backend { return apiClient{c} }

// SettingHelp says what a known setting does.
func SettingHelp(key string) string {
	if s, ok := fwdconfig.LookupSetting(key); ok {
		return s.Help
	}
	return ""
}

var (
	_ ConfigAPI     = apiClient{}
	_ Restarter     = apiClient{}
	_ ClusterLister = apiClient{}
	_ HelperAPI     = apiClient{}
	_ SettingsAPI   = apiClient{}
	_ LogAPI        = apiClient{}
)

// older says so when the daemon does not know an endpoint: it runs an
// older kftray than kftui (the mux's plain "404 page not found").
func older(err error, what string) error {
	var se *localapi.StatusError
	if errors.As(err, &se) && se.Code == 404 && strings.Contains(se.Msg, "page not found") {
		return fmt.Errorf("the running kftray daemon is older than kftui and cannot %s; restart it with 'kftray daemon stop' (its forwards are restored)", what)
	}
	return err
}

func fieldsError(err error) error {
	err = older(err, "save configs")
	fields := localapi.FieldErrors(err)
	if len(fields) == 0 {
		return err
	}
	fe := &FieldsError{Msg: err.Error()}
	for _, f := range fields {
		fe.Problems = append(fe.Problems, fwdconfig.FieldError{Field: f.Field, Msg: f.Problem})
	}
	return fe
}

func (c apiClient) CreateConfig(ctx context.Context, cfg fwdconfig.Config) (int64, error) {
	id, err := c.Client.CreateConfig(ctx, cfg)
	return id, fieldsError(err)
}

func (c apiClient) UpdateConfig(ctx context.Context, ref string, cfg fwdconfig.Config) error {
	return fieldsError(c.Client.UpdateConfig(ctx, ref, cfg))
}

func (c apiClient) ClusterContexts(ctx context.Context, kubeconfig string) ([]string, string, error) {
	kcs, err := c.Contexts(ctx, kubeconfig)
	err = older(err, "list contexts")
	var names []string
	cur := ""
	for _, k := range kcs {
		names = append(names, k.Name)
		if k.Current {
			cur = k.Name
		}
	}
	return names, cur, err
}

func (c apiClient) ClusterNamespaces(ctx context.Context, kubeconfig, kctx string) ([]string, error) {
	nss, _, err := c.Namespaces(ctx, localapi.ClusterRef{Kubeconfig: kubeconfig, Context: kctx})
	err = older(err, "list namespaces")
	var names []string
	for _, n := range nss {
		names = append(names, n.Name)
	}
	return names, err
}

func (c apiClient) ClusterServices(ctx context.Context, kubeconfig, kctx, ns string) ([]ServiceInfo, error) {
	svcs, _, err := c.Services(ctx, localapi.ClusterRef{Kubeconfig: kubeconfig, Context: kctx}, ns)
	err = older(err, "list Services")
	var out []ServiceInfo
	for _, s := range svcs {
		si := ServiceInfo{Name: s.Name}
		for _, p := range s.Ports {
			si.Ports = append(si.Ports, PortInfo{Name: p.Name, Port: int(p.Port), Protocol: p.Protocol})
		}
		out = append(out, si)
	}
	return out, err
}

func (c apiClient) ClusterPods(ctx context.Context, kubeconfig, kctx, ns string) ([]PodInfo, error) {
	pods, _, err := c.Pods(ctx, localapi.ClusterRef{Kubeconfig: kubeconfig, Context: kctx}, ns, "")
	err = older(err, "list pods")
	var out []PodInfo
	for _, p := range pods {
		pi := PodInfo{Name: p.Name, Ready: p.Ready, Labels: p.Labels}
		for _, pp := range p.Ports {
			pi.Ports = append(pi.Ports, PortInfo{Name: pp.Name, Port: int(pp.Port), Protocol: pp.Protocol})
		}
		out = append(out, pi)
	}
	return out, err
}

func (c apiClient) HelperStatus(ctx context.Context) (HelperInfo, error) {
	h, err := c.Helper(ctx)
	err = older(err, "report the helper's status")
	return HelperInfo{Installed: h.Installed, UpToDate: h.UpToDate, Allowed: h.Allowed, Version: h.Version, Want: h.Want,
		Service: h.Service, NeededBy: h.NeededBy, InstallCommand: h.InstallCommand, Error: h.Error}, err
}

func (c apiClient) FollowDaemonLogLines(ctx context.Context, level string, tail int, f func(LogLine) error) error {
	return older(c.FollowDaemonLog(ctx, localapi.LogQuery{Level: level, Tail: tail}, func(l localapi.LogLine) error {
		return f(LogLine{Time: l.Time, Level: l.Level, Message: l.Message, Fields: l.Fields})
	}), "show its log")
}

func (c apiClient) Config(ctx context.Context, ref string) (fwdconfig.Config, error) {
	cfg, err := c.Client.Config(ctx, ref)
	return cfg, older(err, "edit configs")
}

func (c apiClient) Restart(ctx context.Context, sel localapi.Selection) (localapi.Results, error) {
	res, err := c.Client.Restart(ctx, sel)
	return res, older(err, "restart forwards")
}

func (c apiClient) Settings(ctx context.Context) (map[string]string, error) {
	v, err := c.Client.Settings(ctx)
	return v, older(err, "show settings")
}
