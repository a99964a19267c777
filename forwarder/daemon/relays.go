package daemon

import (
	"context"
	"time"

	"github.com/rs/zerolog"

	"github.com/kftray-go/kftray/forwarder/kube"
	"github.com/kftray-go/kftray/forwarder/relay"
	"github.com/kftray-go/kftray/store"
)

// reportOrphanRelays looks, once at start, for relays that this user's
// earlier daemons on this host left in the clusters and namespaces of the
// relay configs (a daemon killed with kill -9 cannot delete them), and says
// how to delete them. It deletes nothing itself: `kftray relay clean` does
// when the user asks. It returns how many it found.
func reportOrphanRelays(ctx context.Context, st *store.Store, load func(kube.Source) (*kube.Cluster, error), owner relay.Owner, log zerolog.Logger) int {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cfgs, err := st.ListConfigs(ctx)
	if err != nil {
		log.Debug().Err(err).Msg("looking for orphaned relays: listing configs")
		return 0
	}
	type place struct {
		src kube.Source
		ns  string
	}
	seen := map[place]bool{}
	total := 0
	for _, cfg := range cfgs {
		p := place{kube.Source{Kubeconfig: cfg.Kubeconfig, Context: cfg.Context}, cfg.Namespace}
		if !relay.Needed(cfg) || seen[p] {
			continue
		}
		seen[p] = true
		cl, err := load(p.src)
		if err != nil {
			log.Debug().Err(err).Msg("looking for orphaned relays: loading the cluster")
			continue
		}
		list, err := relay.List(ctx, cl.Client, cl.Config.Host, p.ns)
		if err != nil {
			log.Debug().Err(err).Str("namespace", p.ns).Msg("looking for orphaned relays")
			continue
		}
		if n := len(owner.Orphans(list)); n > 0 {
			total += n
			log.Warn().Int("relays", n).Str("context", cl.Context).Str("namespace", p.ns).
				Msg("found relays left by an earlier kftray daemon; delete them with `kftray relay clean`")
		}
	}
	return total
}
