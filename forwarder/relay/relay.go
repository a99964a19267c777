// Package relay manages the kftray-server relays in the cluster for UDP and
// proxy forwards: deploy one Deployment per forward from the (user-editable)
// template, wait until its pod is ready with errors that say why not, delete
// it on stop, and find relays whose owning daemon is gone (kftray issue #519:
// orphaned relay pods).
//
// Every relay carries app.kubernetes.io/managed-by=kftray and the owner's
// user, host and session (one session per daemon run), so a daemon can tell
// its own live relays from leftovers of a previous run on the same machine.
package relay

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"github.com/kftray-go/kftray/forwarder/kube"
	"github.com/kftray-go/kftray/packaging/kftray-server/manifest"
)

// Owner identifies the daemon run that creates relays.
type Owner struct {
	User    string
	Host    string
	Session string // unique per daemon run
}

// Spec is what one forward needs from its relay.
type Spec struct {
	ConfigID       int64
	Namespace      string
	Mode           string // "tcp" or "udp"
	RemoteAddress  string
	RemotePort     int
	UDPIdleTimeout time.Duration
}

// Relay is a deployed relay.
type Relay struct {
	Namespace string
	Name      string
	Port      int // the relay's port inside its pod: forward streams here
}

// Deployer creates and removes relays in one cluster.
type Deployer struct {
	Client      kubernetes.Interface
	Host        string // API server, for error messages
	Owner       Owner
	TemplateDir string // config directory holding the user's template; "" uses the built-in one
	Image       string // image setting; "" uses manifest.DefaultImage()
	// PodAnnotations go on every relay pod (setting).
	PodAnnotations map[string]string
	Log            zerolog.Logger
}

// Deploy creates the relay's Deployment. A Deployment of the same name from
// this same session (a retry) is updated in place; one owned by anybody else
// is an error, never taken over.
func (d *Deployer) Deploy(ctx context.Context, s Spec) (*Relay, error) {
	tmpl, source, err := "", "built-in", error(nil)
	if d.TemplateDir != "" {
		if tmpl, source, err = manifest.LoadTemplate(d.TemplateDir); err != nil {
			return nil, err
		}
	} else {
		tmpl = manifest.DefaultTemplate()
	}
	p := manifest.Params{
		Name: manifest.Name(s.ConfigID, d.Owner.Session), Namespace: s.Namespace, Image: d.Image,
		Mode: s.Mode, RemoteAddress: s.RemoteAddress, RemotePort: s.RemotePort, UDPIdleTimeout: s.UDPIdleTimeout,
		ConfigID: s.ConfigID, OwnerUser: d.Owner.User, OwnerHost: d.Owner.Host, OwnerSession: d.Owner.Session,
		PodAnnotations: d.PodAnnotations,
	}
	dep, err := manifest.Render(tmpl, source, p)
	if err != nil {
		return nil, err
	}
	port := 8080
	for _, cp := range dep.Spec.Template.Spec.Containers[0].Ports {
		if cp.Name == "relay" {
			port = int(cp.ContainerPort)
		}
	}
	r := &Relay{Namespace: dep.Namespace, Name: dep.Name, Port: port}
	deps := d.Client.AppsV1().Deployments(dep.Namespace)
	_, err = deps.Create(ctx, dep, metav1.CreateOptions{FieldManager: "kftray"})
	if apierrors.IsAlreadyExists(err) {
		cur, gerr := deps.Get(ctx, dep.Name, metav1.GetOptions{})
		if gerr != nil {
			return nil, kube.Explain(d.Host, kube.Op{Verb: "get", Resource: "deployments", Namespace: dep.Namespace, Name: dep.Name}, gerr)
		}
		if cur.Labels[manifest.LabelManagedBy] != manifest.ManagedBy || cur.Labels[manifest.LabelOwnerSession] != dep.Labels[manifest.LabelOwnerSession] {
			return nil, fmt.Errorf("deployment %s/%s already exists and is not this kftray session's relay; delete it or rename it", dep.Namespace, dep.Name)
		}
		dep.ResourceVersion = cur.ResourceVersion
		_, err = deps.Update(ctx, dep, metav1.UpdateOptions{FieldManager: "kftray"})
		if err != nil {
			return nil, kube.Explain(d.Host, kube.Op{Verb: "update", Resource: "deployments", Namespace: dep.Namespace, Name: dep.Name}, err)
		}
	} else if err != nil {
		return nil, kube.Explain(d.Host, kube.Op{Verb: "create", Resource: "deployments", Namespace: dep.Namespace, Name: dep.Name}, err)
	}
	d.Log.Info().Str("relay", r.Namespace+"/"+r.Name).Str("image", dep.Spec.Template.Spec.Containers[0].Image).
		Str("remote", fmt.Sprintf("%s:%d", s.RemoteAddress, s.RemotePort)).Msg("relay deployed")
	return r, nil
}

// Exists reports whether the relay's Deployment is still there (the engine
// redeploys it if somebody deleted it).
func (d *Deployer) Exists(ctx context.Context, r *Relay) (bool, error) {
	_, err := d.Client.AppsV1().Deployments(r.Namespace).Get(ctx, r.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, kube.Explain(d.Host, kube.Op{Verb: "get", Resource: "deployments", Namespace: r.Namespace, Name: r.Name}, err)
	}
	return true, nil
}

// Delete removes the relay and, in the background, its pods. Deleting a
// relay that is already gone is not an error.
func (d *Deployer) Delete(ctx context.Context, r *Relay) error {
	return deleteDeployment(ctx, d.Client, d.Host, r.Namespace, r.Name)
}

func deleteDeployment(ctx context.Context, c kubernetes.Interface, host, ns, name string) error {
	bg := metav1.DeletePropagationBackground
	err := c.AppsV1().Deployments(ns).Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &bg})
	if err != nil && !apierrors.IsNotFound(err) {
		return kube.Explain(host, kube.Op{Verb: "delete", Resource: "deployments", Namespace: ns, Name: name}, err)
	}
	return nil
}

// pollEvery is how often WaitReady looks at the relay's pods. A relay starts
// once per forward, so polling costs little and cannot miss a state the way
// an expired watch can.
const pollEvery = 250 * time.Millisecond

// WaitReady waits up to timeout for a ready relay pod and returns its name.
// It gives up early on failures that do not fix themselves (the image cannot
// be pulled, the container keeps crashing) and says what to do.
func (d *Deployer) WaitReady(ctx context.Context, r *Relay, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	sel := labels.Set{manifest.LabelName: manifest.AppName, manifest.LabelInstance: r.Name}.String()
	var last error
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	for {
		pods, err := d.Client.CoreV1().Pods(r.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
		switch {
		case err != nil && (ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "would exceed context deadline")):
			// Our own deadline, not a cluster problem: keep the last reason.
		case err != nil:
			err = kube.Explain(d.Host, kube.Op{Verb: "list", Resource: "pods", Namespace: r.Namespace}, err)
			if apierrors.IsForbidden(err) {
				return "", err
			}
			last = err
		case len(pods.Items) == 0:
			last = d.noPodsReason(ctx, r)
		default:
			name, perr := readyPod(pods.Items)
			if name != "" {
				return name, nil
			}
			if perr != nil {
				var fatal *fatalError
				if errors.As(perr, &fatal) {
					return "", fmt.Errorf("relay %s/%s: %w", r.Namespace, r.Name, perr)
				}
				last = perr
			}
		}
		select {
		case <-ctx.Done():
			if last == nil {
				last = errors.New("no relay pod was created (check the Deployment's events: quota, admission policy?)")
			}
			return "", fmt.Errorf("relay %s/%s not ready after %s: %w", r.Namespace, r.Name, timeout, last)
		case <-t.C:
		}
	}
}

// noPodsReason asks the Deployment why it has no pods: a failed ReplicaSet
// (quota, admission webhook, pod security) shows up as its ReplicaFailure
// condition.
func (d *Deployer) noPodsReason(ctx context.Context, r *Relay) error {
	dep, err := d.Client.AppsV1().Deployments(r.Namespace).Get(ctx, r.Name, metav1.GetOptions{})
	if err != nil {
		return nil
	}
	for _, c := range dep.Status.Conditions {
		if c.Type == appsv1.DeploymentReplicaFailure && c.Status == corev1.ConditionTrue {
			return fmt.Errorf("the cluster refuses to create the relay pod (%s: %s)", c.Reason, c.Message)
		}
	}
	return nil
}

// fatalError marks pod problems that waiting will not fix.
type fatalError struct{ msg string }

func (e *fatalError) Error() string { return e.msg }

// readyPod returns a ready, not terminating pod, or the most telling reason
// none is ready.
func readyPod(pods []corev1.Pod) (string, error) {
	sort.Slice(pods, func(i, j int) bool { return pods[i].CreationTimestamp.After(pods[j].CreationTimestamp.Time) })
	var why error
	for i := range pods {
		p := &pods[i]
		if p.DeletionTimestamp != nil {
			if why == nil {
				why = fmt.Errorf("pod %s is terminating and has no replacement yet", p.Name)
			}
			continue
		}
		if isReady(p) {
			return p.Name, nil
		}
		if err := podProblem(p); err != nil && why == nil {
			why = err
		}
	}
	return "", why
}

func isReady(p *corev1.Pod) bool {
	if p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// podProblem explains why p is not ready, if its status says.
func podProblem(p *corev1.Pod) error {
	for _, cs := range p.Status.ContainerStatuses {
		w := cs.State.Waiting
		if w == nil {
			continue
		}
		msg := strings.TrimSpace(w.Message)
		switch w.Reason {
		case "ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull":
			e := fmt.Sprintf("pod %s cannot pull the relay image %s (%s: %s); check the relay image setting and that the cluster can reach the registry", p.Name, cs.Image, w.Reason, msg)
			if w.Reason == "ErrImagePull" {
				return errors.New(e) // may be a passing registry hiccup; the kubelet retries
			}
			return &fatalError{e}
		case "CrashLoopBackOff":
			last := ""
			if t := cs.LastTerminationState.Terminated; t != nil {
				last = fmt.Sprintf(" (last exit code %d: %s %s)", t.ExitCode, t.Reason, strings.TrimSpace(t.Message))
			}
			return &fatalError{fmt.Sprintf("pod %s: the relay keeps crashing%s; see kubectl logs -n %s %s", p.Name, last, p.Namespace, p.Name)}
		case "CreateContainerConfigError", "CreateContainerError", "RunContainerError":
			return &fatalError{fmt.Sprintf("pod %s: the relay container cannot start (%s: %s)", p.Name, w.Reason, msg)}
		case "":
		default:
			return fmt.Errorf("pod %s: relay container waiting: %s %s", p.Name, w.Reason, msg)
		}
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			return fmt.Errorf("pod %s cannot be scheduled (%s: %s)", p.Name, c.Reason, c.Message)
		}
	}
	if p.Status.Phase == corev1.PodPending {
		return fmt.Errorf("pod %s is pending", p.Name)
	}
	if p.Status.Phase == corev1.PodRunning {
		return fmt.Errorf("pod %s is running but not ready yet (health check /readyz)", p.Name)
	}
	return fmt.Errorf("pod %s is %s", p.Name, p.Status.Phase)
}

// Info describes one relay found in the cluster.
type Info struct {
	Namespace    string
	Name         string
	ConfigID     string
	OwnerUser    string
	OwnerHost    string
	OwnerSession string
	Created      time.Time
	Ready        int32
}

// List finds kftray relays in namespace ("" for all namespaces).
func List(ctx context.Context, c kubernetes.Interface, host, namespace string) ([]Info, error) {
	sel := labels.Set{manifest.LabelManagedBy: manifest.ManagedBy, manifest.LabelName: manifest.AppName}.String()
	list, err := c.AppsV1().Deployments(namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, kube.Explain(host, kube.Op{Verb: "list", Resource: "deployments", Namespace: namespace}, err)
	}
	out := make([]Info, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, info(&list.Items[i]))
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

func info(d *appsv1.Deployment) Info {
	user, host := d.Annotations["kftray.dev/owner-user"], d.Annotations["kftray.dev/owner-host"]
	if user == "" {
		user = d.Labels[manifest.LabelOwnerUser]
	}
	if host == "" {
		host = d.Labels[manifest.LabelOwnerHost]
	}
	return Info{
		Namespace: d.Namespace, Name: d.Name, ConfigID: d.Labels[manifest.LabelConfigID],
		OwnerUser: user, OwnerHost: host, OwnerSession: d.Labels[manifest.LabelOwnerSession],
		Created: d.CreationTimestamp.Time, Ready: d.Status.ReadyReplicas,
	}
}

// Orphans returns the relays in list that o's user on o's host created in
// an earlier daemon session. One daemon runs per user, so those have no
// owner left. Relays of other users or hosts are never included: their
// daemons may well be alive.
func (o Owner) Orphans(list []Info) []Info {
	var out []Info
	for _, r := range list {
		// Sessions are compared as label values, which is how they are stored.
		if r.OwnerUser == o.User && r.OwnerHost == o.Host && r.OwnerSession != manifest.LabelValue(o.Session) {
			out = append(out, r)
		}
	}
	return out
}

// Status is what a relay found in the cluster is to one user on one host.
type Status string

const (
	InUse      Status = "in use"      // a live daemon of this user forwards through it
	Orphan     Status = "orphan"      // this user's and host's, and nothing uses it
	OtherOwner Status = "other owner" // another user's or host's: never cleaned from here
	// OtherSession is this user's and host's, from a process that may be
	// alive and that this config directory cannot speak for: another
	// config directory's daemon. Never cleaned from here.
	OtherSession Status = "other session"
)

// Classify says whether r is o's relay and, if so, whether inUse (a live
// daemon forwards through it) or an orphan.
func (o Owner) Classify(r Info, inUse func(Info) bool) Status {
	if r.OwnerUser != o.User || r.OwnerHost != o.Host {
		return OtherOwner
	}
	if inUse != nil && inUse(r) {
		return InUse
	}
	return Orphan
}

// ServesPod reports whether pod belongs to relay r: its pods are named
// after the Deployment (<name>-<replicaset hash>-<suffix>).
func (r Info) ServesPod(pod string) bool { return strings.HasPrefix(pod, r.Name+"-") }

// LocalOwner is this user on this host, with session (empty for "any").
func LocalOwner(session string) Owner {
	o := Owner{Session: session}
	if u, err := user.Current(); err == nil {
		o.User = u.Username
	} else {
		o.User = "uid" + strconv.Itoa(os.Getuid())
	}
	o.Host, _ = os.Hostname()
	return o
}

// Clean deletes the given relays and returns the first error after trying
// them all.
func Clean(ctx context.Context, c kubernetes.Interface, host string, relays []Info) error {
	var errs []error
	for _, r := range relays {
		if err := deleteDeployment(ctx, c, host, r.Namespace, r.Name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
