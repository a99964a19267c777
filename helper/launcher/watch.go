package launcher

import (
	"context"
	"os"
	"syscall"
	"time"

	"github.com/kftray-go/kftray/helper/config"
)

// Reload re-reads the config now (SIGHUP) and ends the sessions of every
// uid it no longer allows.
func (s *Service) Reload() {
	select {
	case s.reload <- struct{}{}:
	default: // one is pending already
	}
}

// configStamp identifies a version of the config file: a rewrite (rename
// or in place), chmod or chown changes one of these.
type configStamp struct {
	dev, ino, uid, gid uint64
	size               int64
	mtime              time.Time
	mode               os.FileMode
	missing            bool
}

func stampOf(path string) configStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return configStamp{missing: true}
	}
	st := fi.Sys().(*syscall.Stat_t)
	return configStamp{
		dev: uint64(st.Dev), ino: uint64(st.Ino), uid: uint64(st.Uid), gid: uint64(st.Gid),
		size: fi.Size(), mtime: fi.ModTime(), mode: fi.Mode(),
	}
}

// watchConfig checks the config file every ConfigCheckInterval (a stat,
// cheap) and on Reload; when it changed it enforces the new config on the
// live sessions. New connections read the config anyway.
func (s *Service) watchConfig(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(s.opts.ConfigCheckInterval)
	defer t.Stop()
	last := stampOf(s.opts.ConfigPath)
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.reload:
		case <-t.C:
			if stampOf(s.opts.ConfigPath) == last {
				continue
			}
		}
		last = stampOf(s.opts.ConfigPath)
		s.enforceConfig()
	}
}

// enforceConfig ends every live session whose uid the config no longer
// allows. A config that cannot be loaded (gone, untrusted, malformed)
// allows nobody: its sessions end too, as its connections are refused.
func (s *Service) enforceConfig() {
	cfg, err := config.Load(s.opts.ConfigPath, os.Geteuid() == 0)
	if err != nil {
		s.opts.Log.Error().Err(err).Msg("config changed and is unusable; ending every session")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, ls := range s.sessions {
		if err != nil || !cfg.Allowed(ls.uid) {
			s.opts.Log.Warn().Uint32("uid", ls.uid).Str("session", id).Msg("uid no longer allowed by the config; ending its session")
			ls.cancel()
		}
	}
}
