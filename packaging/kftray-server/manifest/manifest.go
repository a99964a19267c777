// Package manifest renders the Deployment that runs a kftray-server relay
// for one forward. The template is embedded and may be overridden by a file
// in the user's config directory (kftray keeps editable templates there too);
// the labels that let kftray find and delete its relays are enforced after
// rendering, so an edited template cannot lose them.
package manifest

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/kftray-go/kftray/internal/buildinfo"
)

//go:embed deployment.yaml.tmpl
var defaultTemplate string

// TemplateFile is the name of the user's override in the config directory.
const TemplateFile = "relay-deployment.yaml.tmpl"

// Version and Repository name the relay image this build deploys by default:
// Repository:Version. Version defaults to the build's version
// (internal/buildinfo.Version, which build.sh stamps into the relay too), so
// a forwarder deploys the relay of its own release.
var (
	Version    = ""
	Repository = "ghcr.io/kftray-go/kftray-server"
)

// Labels kftray puts on every relay. Selecting on LabelManagedBy=ManagedBy
// plus the owner labels finds a daemon's relays, including orphans.
const (
	LabelName         = "app.kubernetes.io/name"
	LabelInstance     = "app.kubernetes.io/instance"
	LabelManagedBy    = "app.kubernetes.io/managed-by"
	LabelConfigID     = "kftray.dev/config-id"
	LabelOwnerUser    = "kftray.dev/owner-user"
	LabelOwnerHost    = "kftray.dev/owner-host"
	LabelOwnerSession = "kftray.dev/owner-session"
	ManagedBy         = "kftray"
	AppName           = "kftray-server"
)

// Params describe one relay.
type Params struct {
	Name      string // Deployment name; see Name()
	Namespace string
	Image     string // "" means DefaultImage()

	Mode           string // "tcp" or "udp"
	RemoteAddress  string
	RemotePort     int
	LocalPort      int           // relay's listen port; 0 means 8080
	HealthPort     int           // 0 means 8081
	UDPIdleTimeout time.Duration // 0 means 2m

	ConfigID     int64
	OwnerUser    string // full values go to annotations; labels get a sanitised copy
	OwnerHost    string
	OwnerSession string // identifies the daemon run that created it, for orphan detection

	// PodAnnotations go on the relay pod (a setting: e.g. a service mesh's
	// opt-out, or the dev cluster's backend address in e2e tests).
	PodAnnotations map[string]string
}

// DefaultImage is the image this build deploys: never :latest.
func DefaultImage() string {
	return Repository + ":" + imageTag()
}

func imageTag() string {
	v := Version
	if v == "" {
		v = buildinfo.Get().Version
	}
	return strings.ReplaceAll(v, "+", "-") // image tags may not contain '+'
}

// Name returns a Deployment name for a config's relay, unique per config and
// owner session: "kftray-relay-<config id>-<session>".
func Name(configID int64, session string) string {
	n := "kftray-relay-" + strconv.FormatInt(configID, 10)
	if s := LabelValue(session); s != "" {
		n += "-" + strings.ToLower(s)
	}
	n = strings.Trim(invalidName.ReplaceAllString(n, "-"), "-")
	if len(n) > 63 {
		n = strings.TrimRight(n[:63], "-")
	}
	return n
}

var invalidName = regexp.MustCompile(`[^a-z0-9-]+`)

// DefaultTemplate returns the embedded template text.
func DefaultTemplate() string { return defaultTemplate }

// LoadTemplate returns the user's template from dir if there is one, else the
// embedded default, and says which it used.
func LoadTemplate(dir string) (text, source string, err error) {
	p := filepath.Join(dir, TemplateFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return defaultTemplate, "built-in", nil
	}
	if err != nil {
		return "", "", fmt.Errorf("read relay template %s: %w", p, err)
	}
	return string(b), p, nil
}

// WriteDefaultTemplate puts an editable copy of the default template in dir,
// unless the user already has one.
func WriteDefaultTemplate(dir string) (string, error) {
	p := filepath.Join(dir, TemplateFile)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("create config directory for the relay template: %w", err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return p, nil
	}
	if err != nil {
		return "", fmt.Errorf("write relay template %s: %w", p, err)
	}
	if _, err := f.WriteString(defaultTemplate); err != nil {
		f.Close()
		return "", fmt.Errorf("write relay template %s: %w", p, err)
	}
	return p, f.Close()
}

// Render fills tmpl (from LoadTemplate) with p and returns the Deployment,
// with kftray's identity enforced. source names the template in errors.
func Render(tmpl, source string, p Params) (*appsv1.Deployment, error) {
	if err := p.fill(); err != nil {
		return nil, err
	}
	t, err := template.New(source).Option("missingkey=error").Funcs(template.FuncMap{
		"json": func(v any) (string, error) {
			b, err := json.Marshal(v)
			return string(b), err
		},
	}).Parse(tmpl)
	if err != nil {
		return nil, fmt.Errorf("relay template %s: %w", source, err)
	}
	data := struct {
		Params
		Labels  map[string]string
		Version string
	}{p, p.labels(), imageTag()}
	var out bytes.Buffer
	if err := t.Execute(&out, data); err != nil {
		return nil, fmt.Errorf("relay template %s: %w", source, err)
	}
	var d appsv1.Deployment
	if err := yaml.UnmarshalStrict(out.Bytes(), &d); err != nil {
		return nil, fmt.Errorf("relay template %s does not render to a valid Deployment (fix or delete the file): %w", source, err)
	}
	if d.APIVersion != "apps/v1" || d.Kind != "Deployment" {
		return nil, fmt.Errorf("relay template %s renders %s %s; it must render an apps/v1 Deployment", source, d.APIVersion, d.Kind)
	}
	if len(d.Spec.Template.Spec.Containers) == 0 {
		return nil, fmt.Errorf("relay template %s renders a Deployment with no containers", source)
	}
	p.enforce(&d)
	return &d, nil
}

func (p *Params) fill() error {
	if p.Image == "" {
		p.Image = DefaultImage()
	}
	if p.LocalPort == 0 {
		p.LocalPort = 8080
	}
	if p.HealthPort == 0 {
		p.HealthPort = 8081
	}
	if p.UDPIdleTimeout == 0 {
		p.UDPIdleTimeout = 2 * time.Minute
	}
	switch {
	case p.Name == "" || len(validation.IsDNS1123Label(p.Name)) > 0:
		return fmt.Errorf("relay name %q is not a valid Kubernetes name: %s", p.Name, strings.Join(validation.IsDNS1123Label(p.Name), "; "))
	case p.Namespace == "":
		return errors.New("relay namespace is empty: set the config's namespace")
	case p.Mode != "tcp" && p.Mode != "udp":
		return fmt.Errorf("relay mode %q: use tcp or udp", p.Mode)
	case p.RemoteAddress == "":
		return errors.New("relay needs a remote address (the host the cluster should reach)")
	case p.RemotePort < 1 || p.RemotePort > 65535:
		return fmt.Errorf("relay remote port %d is out of range 1-65535", p.RemotePort)
	case p.LocalPort == p.HealthPort:
		return fmt.Errorf("relay port and health port are both %d", p.LocalPort)
	}
	return checkImage(p.Image)
}

// checkImage refuses floating tags: the relay must match the forwarder's
// protocol version, so it is pinned to a tag or digest, never :latest.
func checkImage(image string) error {
	if strings.Contains(image, "@sha256:") {
		return nil
	}
	slash := strings.LastIndex(image, "/")
	colon := strings.LastIndex(image, ":")
	if colon <= slash {
		return fmt.Errorf("relay image %q has no tag: pin a version (e.g. %s), never :latest", image, DefaultImage())
	}
	if image[colon+1:] == "latest" {
		return fmt.Errorf("relay image %q uses :latest: pin a version (e.g. %s)", image, DefaultImage())
	}
	return nil
}

func (p Params) labels() map[string]string {
	l := map[string]string{
		LabelName:      AppName,
		LabelInstance:  p.Name,
		LabelManagedBy: ManagedBy,
		LabelConfigID:  strconv.FormatInt(p.ConfigID, 10),
	}
	for k, v := range map[string]string{LabelOwnerUser: p.OwnerUser, LabelOwnerHost: p.OwnerHost, LabelOwnerSession: p.OwnerSession} {
		if s := LabelValue(v); s != "" {
			l[k] = s
		}
	}
	return l
}

// enforce sets what kftray relies on, whatever the template said.
func (p Params) enforce(d *appsv1.Deployment) {
	d.Name, d.Namespace = p.Name, p.Namespace
	one := int32(1)
	d.Spec.Replicas = &one
	if d.Annotations == nil {
		d.Annotations = map[string]string{}
	}
	d.Annotations["kftray.dev/owner-user"] = p.OwnerUser
	d.Annotations["kftray.dev/owner-host"] = p.OwnerHost
	labels := p.labels()
	if d.Labels == nil {
		d.Labels = map[string]string{}
	}
	if d.Spec.Template.Labels == nil {
		d.Spec.Template.Labels = map[string]string{}
	}
	for k, v := range labels {
		d.Labels[k] = v
		d.Spec.Template.Labels[k] = v
	}
	d.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{LabelName: AppName, LabelInstance: p.Name}}
}

var invalidLabel = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// LabelValue makes s a valid label value (63 chars of [A-Za-z0-9._-],
// alphanumeric at both ends); the exact value stays in an annotation.
func LabelValue(s string) string {
	s = invalidLabel.ReplaceAllString(s, "_")
	if len(s) > 63 {
		s = s[:63]
	}
	return strings.Trim(s, "._-")
}
