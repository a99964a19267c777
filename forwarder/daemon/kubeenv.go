package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"

	"github.com/rs/zerolog"

	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/localapi"
	"github.com/kftray-go/kftray/store"
)

// KubeKey is the setting holding, per config id, the kubeconfig a client
// meant when it started a config that names none (a JSON object: id ->
// localapi.KubeEnv), so the next daemon restores it with the same one.
const KubeKey = "daemon.kube"

// usesDefaultKubeconfig reports whether cfg leaves the kubeconfig to its
// environment: KUBECONFIG, else ~/.kube/config.
func usesDefaultKubeconfig(cfg fwdconfig.Config) bool {
	return cfg.Kubeconfig == "" || cfg.Kubeconfig == "default"
}

// withKube is cfg as the engine runs it with the client's kubeconfig env:
// its files, and its current context unless cfg names one.
func withKube(cfg fwdconfig.Config, env localapi.KubeEnv) fwdconfig.Config {
	cfg.Kubeconfig = env.Kubeconfig
	if cfg.Context == "" {
		cfg.Context = env.Context
	}
	return cfg
}

// kubeEnvs are the client kubeconfigs of the forwards this process started
// for configs that name none. The daemon's own environment is whoever
// started it (a shell long gone, perhaps with another KUBECONFIG): each
// forward uses the one its client meant, and a restore uses it again.
type kubeEnvs struct {
	st      *store.Store
	persist bool // keep them in the store for the next daemon (the daemon does)
	log     zerolog.Logger

	mu   sync.Mutex // serializes changes to the setting
	live map[int64]localapi.KubeEnv
}

func newKubeEnvs(st *store.Store, persist bool, log zerolog.Logger) *kubeEnvs {
	return &kubeEnvs{st: st, persist: persist, log: log, live: map[int64]localapi.KubeEnv{}}
}

// get returns the env config id runs with, if it was started with one.
func (k *kubeEnvs) get(id int64) *localapi.KubeEnv {
	if k == nil {
		return nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if e, ok := k.live[id]; ok {
		return &e
	}
	return nil
}

// recorded reads the envs kept in the store.
func (k *kubeEnvs) recorded(ctx context.Context) (map[int64]localapi.KubeEnv, error) {
	out := map[int64]localapi.KubeEnv{}
	if k == nil || k.st == nil {
		return out, nil
	}
	v, ok, err := k.st.GetSetting(ctx, KubeKey)
	if err != nil || !ok || v == "" {
		return out, err
	}
	var m map[string]localapi.KubeEnv
	if err := json.Unmarshal([]byte(v), &m); err != nil {
		k.log.Warn().Err(err).Msg("ignoring a malformed " + KubeKey + " setting")
		return out, nil
	}
	for s, e := range m {
		if id, err := strconv.ParseInt(s, 10, 64); err == nil {
			out[id] = e
		}
	}
	return out, nil
}

// set records env for ids (nil forgets them), here and, when persisting,
// in the store.
func (k *kubeEnvs) set(ctx context.Context, ids []int64, env *localapi.KubeEnv) error {
	if len(ids) == 0 {
		return nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, id := range ids {
		if env != nil {
			k.live[id] = *env
		} else {
			delete(k.live, id)
		}
	}
	if !k.persist {
		return nil
	}
	m, err := k.recorded(ctx)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if env != nil {
			m[id] = *env
		} else {
			delete(m, id)
		}
	}
	out := make(map[string]localapi.KubeEnv, len(m))
	for id, e := range m {
		out[strconv.FormatInt(id, 10)] = e
	}
	b, _ := json.Marshal(out)
	if err := k.st.SetSetting(ctx, KubeKey, string(b)); err != nil {
		return fmt.Errorf("remembering which kubeconfig the forwards use: %w", err)
	}
	return nil
}
