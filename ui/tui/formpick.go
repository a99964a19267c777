package tui

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	tea "charm.land/bubbletea/v2"

	"github.com/kftray-go/kftray/localapi"
)

// The form offers what the cluster has: contexts of the kubeconfig,
// namespaces, Services and their ports, pod labels. Each list is asked for
// when its field gets the focus, for the kubeconfig, context and namespace
// the form has then; the field stays free text, and the list becomes its
// suggestions (tab completes, ctrl+n/ctrl+p cycle). When the daemon cannot
// list (RBAC forbids it, the cluster is unreachable) the field says why and
// the user types.

// listedMsg is a listing for one field of one form.
type listedMsg struct {
	serial  int // the form that asked (another form ignores it)
	field   string
	options []string
	note    string
}

// listFor returns the command that lists the options of field i, or nil.
func (m Model) listFor(f *form, i int) tea.Cmd {
	lister, ok := m.opts.Backend.(ClusterLister)
	if !ok || f == nil {
		return nil
	}
	key := f.fields[i].key
	val := func(k string) string { return strings.TrimSpace(f.fields[f.fieldIndex(k)].input.Value()) }
	kc, kctx, ns := val("kubeconfig"), val("context"), val("namespace")
	if ns == "" {
		ns = "default"
	}
	svc := val("service")
	ctx := m.ctx
	var run func(context.Context) ([]string, string, error)
	switch key {
	case "context":
		run = func(ctx context.Context) ([]string, string, error) {
			names, cur, err := lister.ClusterContexts(ctx, kc)
			note := ""
			if cur != "" {
				note = "current: " + cur
			}
			return names, note, err
		}
	case "namespace":
		run = func(ctx context.Context) ([]string, string, error) {
			names, err := lister.ClusterNamespaces(ctx, kc, kctx)
			return names, "", err
		}
	case "service":
		run = func(ctx context.Context) ([]string, string, error) {
			svcs, err := lister.ClusterServices(ctx, kc, kctx, ns)
			var names []string
			for _, s := range svcs {
				names = append(names, s.Name)
			}
			return names, "", err
		}
	case "target":
		run = func(ctx context.Context) ([]string, string, error) {
			pods, err := lister.ClusterPods(ctx, kc, kctx, ns)
			return podSelectors(pods), "", err
		}
	case "remote_port":
		switch f.workload() {
		case "service":
			if svc == "" {
				return nil
			}
			run = func(ctx context.Context) ([]string, string, error) {
				svcs, err := lister.ClusterServices(ctx, kc, kctx, ns)
				for _, s := range svcs {
					if s.Name == svc {
						return ports(s.Ports)
					}
				}
				if err == nil && len(svcs) > 0 {
					return nil, fmt.Sprintf("no Service %q in %s", svc, ns), nil
				}
				return nil, "", err
			}
		case "pod":
			sel := val("target")
			run = func(ctx context.Context) ([]string, string, error) {
				pods, err := lister.ClusterPods(ctx, kc, kctx, ns)
				var ps []PortInfo
				for _, p := range pods {
					if matchesSelector(p.Labels, sel) {
						ps = append(ps, p.Ports...)
					}
				}
				opts, note, _ := ports(ps)
				return opts, note, err
			}
		}
	}
	if run == nil {
		return nil
	}
	serial := f.serial
	what := map[string]string{"context": "contexts", "namespace": "namespaces", "service": "Services",
		"target": "pods", "remote_port": "ports"}[key]
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, requestTimeout)
		defer cancel()
		opts, note, err := run(ctx)
		if err != nil {
			return listedMsg{serial: serial, field: key, note: listError(what, err)}
		}
		slices.Sort(opts)
		opts = slices.Compact(opts)
		if len(opts) == 0 && note == "" {
			note = "the cluster has no " + what + " here; type it"
		}
		return listedMsg{serial: serial, field: key, options: opts, note: note}
	}
}

// listError says why a listing failed and that typing works.
func listError(what string, err error) string {
	var se *localapi.StatusError
	if errors.As(err, &se) {
		switch se.Code {
		case 403:
			return "listing " + what + " is forbidden (RBAC): type the name"
		case 502:
			return "the cluster is unreachable: type the name"
		}
	}
	return "cannot list " + what + " (" + oneLine(err.Error()) + "): type the name"
}

func ports(ps []PortInfo) ([]string, string, error) {
	var opts, desc []string
	for _, p := range ps {
		opts = append(opts, strconv.Itoa(p.Port))
		d := strconv.Itoa(p.Port)
		if p.Name != "" {
			d += " (" + p.Name + ")"
		}
		if p.Protocol != "" && p.Protocol != "TCP" {
			d += "/" + strings.ToLower(p.Protocol)
		}
		desc = append(desc, d)
	}
	if len(desc) == 0 {
		return nil, "no ports declared; type one", nil
	}
	return opts, strings.Join(desc, ", "), nil
}

// podSelectors offers each label of the pods as a one-label selector,
// most common first.
func podSelectors(pods []PodInfo) []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range pods {
		for k, v := range p.Labels {
			if k == "pod-template-hash" {
				continue
			}
			s := k + "=" + v
			if !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	return out
}

// matchesSelector handles the selectors the form offers: k=v joined by
// commas ("" matches every pod).
func matchesSelector(labels map[string]string, sel string) bool {
	for part := range strings.SplitSeq(sel, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		if labels[strings.TrimSpace(k)] != strings.TrimSpace(strings.TrimPrefix(v, "=")) {
			return false
		}
	}
	return true
}

func (m Model) onListed(msg listedMsg) Model {
	if m.form == nil || m.form.serial != msg.serial {
		return m
	}
	cp := *m.form
	cp.fields = slices.Clone(m.form.fields)
	cp.optsNote = cloneMap(m.form.optsNote)
	m.form = &cp
	i := cp.fieldIndex(msg.field)
	cp.fields[i].input.SetSuggestions(msg.options)
	note := msg.note
	if len(msg.options) > 0 {
		list := "in the cluster: " + strings.Join(msg.options, ", ")
		switch {
		case msg.field == "remote_port" && msg.note != "":
			list = "in the cluster: " + msg.note // the ports with their names
		case msg.note != "":
			list += " (" + msg.note + ")"
		}
		note = list + " · tab completes, ctrl+n next"
	}
	cp.optsNote[msg.field] = note
	return m
}
