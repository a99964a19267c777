package daemon

import (
	"context"
	"time"

	"github.com/rs/zerolog"

	"github.com/kftray-go/kftray/forwarder/kube"
	"github.com/kftray-go/kftray/forwarder/relay"
	"github.com/kftray-go/kftray/internal/proc"
	"github.com/kftray-go/kftray/store"
)

// RelaySessionKey is the setting holding the relay owner session of the
// daemon that runs now (see relay.DaemonSession), so that `kftray relay
// list` can tell its relays from those of dead daemons.
const RelaySessionKey = "daemon.relay_session"

// relaySweeper deletes the relays that dead kftray processes of this user
// on this host left in the cluster (a process killed with kill -9 cannot
// delete its own), in the clusters and namespaces of the relay configs. A
// relay is deleted only when its owner is provably gone
// (relay.Owner.DeadSession): an earlier daemon of this config directory,
// whose lock this daemon holds, or a `kftray run` whose process is dead.
// The others of this user and host (another config directory's daemon, a
// live `kftray run`, an older kftray) are left, and counted: `kftray relay
// list` shows them.
type relaySweeper struct {
	st     *store.Store
	load   func(kube.Source) (*kube.Cluster, error)
	owner  relay.Owner // this daemon's: its session is alive
	dirKey string      // relay.DirKey of the config directory whose lock we hold
	kube   *kubeEnvs   // the kubeconfigs of configs that name none
	log    zerolog.Logger
	// deleteTimeout bounds each deletion; a sweep as a whole is bounded
	// by sweepTimeout.
	deleteTimeout time.Duration
}

const sweepTimeout = 60 * time.Second

// sweep runs once: it returns how many relays it deleted, and how many of
// this user's and host's other sessions it left.
func (s *relaySweeper) sweep(ctx context.Context) (deleted, left int) {
	ctx, cancel := context.WithTimeout(ctx, sweepTimeout)
	defer cancel()
	cfgs, err := s.st.ListConfigs(ctx)
	if err != nil {
		s.log.Debug().Err(err).Msg("looking for orphaned relays: listing configs")
		return 0, 0
	}
	envs, err := s.kube.recorded(ctx)
	if err != nil {
		s.log.Debug().Err(err).Msg("looking for orphaned relays: reading kubeconfigs")
	}
	type place struct {
		src kube.Source
		ns  string
	}
	seen := map[place]bool{}
	for _, cfg := range cfgs {
		if !relay.Needed(cfg) {
			continue
		}
		// Where the forward runs: the config's kubeconfig, else the one its
		// client meant, else this process's.
		run := cfg
		if usesDefaultKubeconfig(cfg) {
			if e := s.kube.get(cfg.ID); e != nil {
				run = withKube(cfg, *e)
			} else if e, ok := envs[cfg.ID]; ok {
				run = withKube(cfg, e)
			}
		}
		p := place{kube.Source{Kubeconfig: run.Kubeconfig, Context: run.Context}, cfg.Namespace}
		if seen[p] {
			continue
		}
		seen[p] = true
		cl, err := s.load(p.src)
		if err != nil {
			s.log.Debug().Err(err).Msg("looking for orphaned relays: loading the cluster")
			continue
		}
		list, err := relay.List(ctx, cl.Client, cl.Config.Host, p.ns)
		if err != nil {
			s.log.Debug().Err(err).Str("namespace", p.ns).Msg("looking for orphaned relays")
			continue
		}
		for _, r := range s.owner.Orphans(list) {
			if !s.owner.DeadSession(r, s.dirKey, proc.Alive) {
				left++
				continue
			}
			dctx, cancel := context.WithTimeout(ctx, s.deleteTimeout)
			err := relay.Clean(dctx, cl.Client, cl.Config.Host, []relay.Info{r})
			cancel()
			if err != nil {
				s.log.Warn().Err(err).Str("relay", r.Namespace+"/"+r.Name).Msg("could not delete a relay left by a dead kftray process; the next sweep tries again")
				continue
			}
			deleted++
			s.log.Info().Str("relay", r.Namespace+"/"+r.Name).Str("session", r.OwnerSession).Str("context", cl.Context).
				Msg("deleted a relay left by a dead kftray process")
		}
	}
	if left > 0 {
		s.log.Info().Int("relays", left).Msg("left relays of this user on this host whose owner may be alive (another config directory's daemon, a running `kftray run`, an older kftray); `kftray relay list` shows them, `kftray relay clean` deletes them")
	}
	return deleted, left
}

// run sweeps at once, then every period, until ctx ends.
func (s *relaySweeper) run(ctx context.Context, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		s.sweep(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
