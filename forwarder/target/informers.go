package target

import (
	"context"
	"sync"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/kftray-go/kftray/forwarder/kube"
)

// Informers are the watches of one namespace of one cluster, shared by every
// forward into that namespace: 100 forwards cost one watch per resource
// kind, not 100. Watches start when a resolver first asks for them.
type Informers struct {
	host      string
	namespace string
	factory   informers.SharedInformerFactory
	ctx       context.Context
	cancel    context.CancelFunc

	mu   sync.Mutex
	errs map[string]error // last list/watch error per resource, nil once it works
}

// NewInformers prepares watches of namespace; Close stops them.
func NewInformers(client kubernetes.Interface, host, namespace string) *Informers {
	ctx, cancel := context.WithCancel(context.Background())
	return &Informers{
		host:      host,
		namespace: namespace,
		factory:   informers.NewSharedInformerFactoryWithOptions(listWatchClient{client}, 0, informers.WithNamespace(namespace)),
		ctx:       ctx,
		cancel:    cancel,
		errs:      map[string]error{},
	}
}

// listWatchClient makes the informers use a plain list then watch instead
// of client-go's streaming watch-list. With the API server unreachable,
// the watch-list path retries "connection refused" inside the reflector,
// in a backoff sleep that ignores the stop channel and without calling the
// watch error handler: forwards stayed "starting" with no error shown, and
// Close waited out the sleep (up to ~10 s). A plain list fails at once,
// reports through the error handler, and honours the context.
type listWatchClient struct{ kubernetes.Interface }

// IsWatchListSemanticsUnSupported is what client-go's reflector asks
// (watchlist.DoesClientNotSupportWatchListSemantics).
func (listWatchClient) IsWatchListSemanticsUnSupported() bool { return true }

// Close stops the watches.
func (i *Informers) Close() {
	i.cancel()
	i.factory.Shutdown()
}

func (i *Informers) services() cache.SharedIndexInformer {
	return i.get("services", i.factory.Core().V1().Services().Informer())
}

func (i *Informers) endpointSlices() cache.SharedIndexInformer {
	return i.get("endpointslices", i.factory.Discovery().V1().EndpointSlices().Informer())
}

func (i *Informers) pods() cache.SharedIndexInformer {
	return i.get("pods", i.factory.Core().V1().Pods().Informer())
}

// get records list/watch failures for resource (RBAC, unreachable API) so
// resolvers can report them, then starts the informer if it is new.
func (i *Informers) get(resource string, inf cache.SharedIndexInformer) cache.SharedIndexInformer {
	// Fails harmlessly once the informer has started: the handler is then set.
	_ = inf.SetWatchErrorHandler(func(_ *cache.Reflector, err error) {
		i.mu.Lock()
		i.errs[resource] = kube.Explain(i.host, kube.Op{Verb: "list/watch", Resource: resource, Namespace: i.namespace}, err)
		i.mu.Unlock()
	})
	i.factory.Start(i.ctx.Done())
	return inf
}

// syncErr explains why resource is not available yet (nil when synced).
func (i *Informers) syncErr(resource string, inf cache.SharedIndexInformer) error {
	if inf.HasSynced() {
		return nil
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if err := i.errs[resource]; err != nil {
		return err
	}
	return ErrNotSynced
}
