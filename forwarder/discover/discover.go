// Package discover turns annotated Kubernetes Services into port-forward
// configs, as kftray's "auto import" reads them: a Service annotated
// kftray.app/enabled: "true" gives one config per entry of
// kftray.app/configs ("alias-localPort-remotePort,..."), or, without that
// annotation, one config per Service port.
//
// It departs from kftray where kftray is wrong: an alias may contain
// hyphens (entries are split from the right), a remote port given by name
// is the Service port of that name (or whose targetPort has that name),
// stored as the Service port so the forward maps it to its targetPort,
// numeric or named, as kube-proxy does; and a bad entry is reported with
// its Service instead of being dropped silently.
package discover

import (
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/localapi"
)

// The annotations kftray reads.
const (
	EnabledAnnotation = "kftray.app/enabled"
	ConfigsAnnotation = "kftray.app/configs"
)

// Options say how discovered configs are filled in.
type Options struct {
	Context    string // stored in each config ("" = current context)
	Kubeconfig string
	// AliasAsDomain sets domain_enabled (the alias becomes a hosts name).
	AliasAsDomain bool
	// AutoLoopback sets auto_loopback_address (each forward on its own
	// loopback address).
	AutoLoopback bool
}

// Entry is one parsed entry of kftray.app/configs.
type Entry struct {
	Alias      string
	LocalPort  int
	RemotePort intstr.IntOrString
}

// ParseEntry reads "alias-localPort-remotePort". The alias may contain
// hyphens, and so may a remote port name (Service port names such as
// "grpc-web" do): the local port is the last all-digit field that has a
// field after it, or the field before a numeric remote port.
func ParseEntry(s string) (Entry, error) {
	s = strings.TrimSpace(s)
	f := strings.Split(s, "-")
	n := len(f)
	if n < 3 {
		return Entry{}, fmt.Errorf("%q is not alias-localPort-remotePort", s)
	}
	i := n - 2 // index of the local port
	if _, err := strconv.Atoi(f[n-1]); err != nil && f[n-1] != "" {
		for i = n - 2; i > 0 && !allDigits(f[i]); i-- {
		}
		if i == 0 {
			return Entry{}, fmt.Errorf("%q has no local port number (alias-localPort-remotePort)", s)
		}
	}
	alias, local, remote := strings.TrimSpace(strings.Join(f[:i], "-")), strings.TrimSpace(f[i]), strings.TrimSpace(strings.Join(f[i+1:], "-"))
	if alias == "" {
		return Entry{}, fmt.Errorf("%q has no alias before the ports (alias-localPort-remotePort)", s)
	}
	lp, err := strconv.Atoi(local)
	if err != nil || lp < 1 || lp > 65535 {
		return Entry{}, fmt.Errorf("%q: local port %q is not a port number (1-65535)", s, local)
	}
	e := Entry{Alias: alias, LocalPort: lp}
	switch n, err := strconv.Atoi(remote); {
	case remote == "":
		return Entry{}, fmt.Errorf("%q has no remote port (alias-localPort-remotePort)", s)
	case err == nil && (n < 1 || n > 65535):
		return Entry{}, fmt.Errorf("%q: remote port %d is not a port number (1-65535)", s, n)
	case err == nil:
		e.RemotePort = intstr.FromInt32(int32(n))
	default:
		e.RemotePort = intstr.FromString(remote)
	}
	return e, nil
}

func allDigits(s string) bool {
	s = strings.TrimSpace(s)
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// Enabled reports whether svc asks to be discovered.
func Enabled(svc *corev1.Service) bool {
	return strings.EqualFold(strings.TrimSpace(svc.Annotations[EnabledAnnotation]), "true")
}

// Result is what a set of Services gives.
type Result struct {
	Services []string           // namespace/name of every enabled Service
	Configs  []fwdconfig.Config // valid configs, in Service order
	Problems []localapi.DiscoverProblem
}

// FromServices builds the configs of the enabled Services among svcs.
// Aliases are unique in the result: a kftray.app/configs alias used twice
// is a problem; a default alias (the Service's name) that two Services
// share gets the namespace appended.
func FromServices(svcs []corev1.Service, opts Options) Result {
	var res Result
	used := map[string]string{} // lower-case alias -> namespace/name that took it
	for i := range svcs {
		svc := &svcs[i]
		if !Enabled(svc) {
			continue
		}
		id := svc.Namespace + "/" + svc.Name
		res.Services = append(res.Services, id)
		problem := func(entry, msg string) {
			res.Problems = append(res.Problems, localapi.DiscoverProblem{Namespace: svc.Namespace, Service: svc.Name, Entry: entry, Message: msg})
		}
		add := func(entry string, c fwdconfig.Config, defaultAlias bool) {
			key := strings.ToLower(c.Alias)
			if other, ok := used[key]; ok && defaultAlias {
				c.Alias += "-" + svc.Namespace
				key = strings.ToLower(c.Alias)
				_, ok = used[key]
				if ok {
					problem(entry, fmt.Sprintf("alias %q is already taken by %s; annotate the Service with %s to choose one", c.Alias, other, ConfigsAnnotation))
					return
				}
			} else if ok {
				problem(entry, fmt.Sprintf("alias %q is already used by %s; aliases must be unique", c.Alias, other))
				return
			}
			if err := c.Validate(); err != nil {
				problem(entry, err.Error())
				return
			}
			used[key] = id
			res.Configs = append(res.Configs, c)
		}
		base := fwdconfig.Config{Context: opts.Context, Kubeconfig: opts.Kubeconfig, Namespace: svc.Namespace,
			WorkloadType: fwdconfig.WorkloadService, Service: svc.Name,
			DomainEnabled: opts.AliasAsDomain, AutoLoopbackAddress: opts.AutoLoopback}

		if svc.Spec.Type == corev1.ServiceTypeExternalName {
			problem("", fmt.Sprintf("type ExternalName (%s) has no pods to forward to; forward it with a proxy config instead", svc.Spec.ExternalName))
			continue
		}
		raw, has := svc.Annotations[ConfigsAnnotation]
		if !has {
			if len(svc.Spec.Ports) == 0 {
				problem("", "has no ports; add ports or a "+ConfigsAnnotation+" annotation")
			}
			for _, p := range svc.Spec.Ports {
				c := base
				c.Alias, c.LocalPort, c.RemotePort = svc.Name, int(p.Port), int(p.Port)
				if len(svc.Spec.Ports) > 1 {
					c.Alias = svc.Name + "-" + portLabel(p)
				}
				proto, err := protocolOf(p)
				if err != nil {
					problem(portLabel(p), err.Error())
					continue
				}
				c.Protocol = proto
				add(portLabel(p), c, true)
			}
			continue
		}
		any := false
		for _, s := range strings.Split(raw, ",") {
			if strings.TrimSpace(s) == "" {
				continue
			}
			any = true
			e, err := ParseEntry(s)
			if err != nil {
				problem(strings.TrimSpace(s), err.Error())
				continue
			}
			p, err := ServicePort(svc, e.RemotePort)
			if err != nil {
				problem(strings.TrimSpace(s), err.Error())
				continue
			}
			c := base
			c.Alias, c.LocalPort = e.Alias, e.LocalPort
			c.RemotePort = e.RemotePort.IntValue()
			if p != nil {
				c.RemotePort = int(p.Port)
				if c.Protocol, err = protocolOf(*p); err != nil {
					problem(strings.TrimSpace(s), err.Error())
					continue
				}
			}
			add(strings.TrimSpace(s), c, false)
		}
		if !any {
			problem("", fmt.Sprintf("%s is empty; give alias-localPort-remotePort entries, or remove it to get one config per port", ConfigsAnnotation))
		}
	}
	return res
}

// ServicePort finds the Service port an entry's remote port means: a
// number is the Service port of that number; a name is the Service port
// of that name, else the one whose targetPort has that name. A number
// that is no Service port gives nil (the forward then uses it as the
// container port, kftray's rule); a name that matches nothing is an error.
func ServicePort(svc *corev1.Service, want intstr.IntOrString) (*corev1.ServicePort, error) {
	ports := svc.Spec.Ports
	if want.Type == intstr.Int {
		for i := range ports {
			if ports[i].Port == want.IntVal {
				return &ports[i], nil
			}
		}
		return nil, nil
	}
	for i := range ports {
		if ports[i].Name == want.StrVal {
			return &ports[i], nil
		}
	}
	var match []int
	for i := range ports {
		if ports[i].TargetPort.Type == intstr.String && ports[i].TargetPort.StrVal == want.StrVal {
			match = append(match, i)
		}
	}
	if len(match) == 1 {
		return &ports[match[0]], nil
	}
	var have []string
	for _, p := range ports {
		have = append(have, portLabel(p)+"="+strconv.Itoa(int(p.Port)))
	}
	if len(match) > 1 {
		return nil, fmt.Errorf("remote port %q is the targetPort of %d Service ports (%s); name the Service port instead", want.StrVal, len(match), strings.Join(have, ", "))
	}
	return nil, fmt.Errorf("remote port %q is neither the name nor the targetPort name of a port of the Service (ports: %s)", want.StrVal, strings.Join(have, ", "))
}

func portLabel(p corev1.ServicePort) string {
	if p.Name != "" {
		return p.Name
	}
	return strconv.Itoa(int(p.Port))
}

func protocolOf(p corev1.ServicePort) (string, error) {
	switch p.Protocol {
	case "", corev1.ProtocolTCP:
		return fwdconfig.ProtocolTCP, nil
	case corev1.ProtocolUDP:
		return fwdconfig.ProtocolUDP, nil
	}
	return "", fmt.Errorf("port %s is %s; only TCP and UDP are forwarded", portLabel(p), p.Protocol)
}
