package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/kftray-go/kftray/forwarder/httpapi"
	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/gitsync"
	"github.com/kftray-go/kftray/localapi"
	"github.com/kftray-go/kftray/store"
)

// SyncFileName holds the git sync sources and their status in the config
// directory (mode 0600). Tokens are not in it: only their files' paths.
const SyncFileName = "gitsync.json"

// defaultSyncInterval is a source's interval when it names none.
const defaultSyncInterval = 10 * time.Minute

// syncTimeout bounds one sync (the fetch and the import).
const syncTimeout = 2 * time.Minute

// syncer keeps the git sync sources: it syncs each on its interval and on
// demand, one sync at a time. A failed sync changes no config.
type syncer struct {
	d    *daemon
	file string
	log  zerolog.Logger

	mu     sync.Mutex // guards list and nextID
	list   []localapi.SyncStatus
	nextID int64

	run  sync.Mutex // one sync at a time
	wake chan struct{}
}

func newSyncer(d *daemon, dir string, log zerolog.Logger) (*syncer, error) {
	s := &syncer{d: d, file: filepath.Join(dir, SyncFileName), log: log, wake: make(chan struct{}, 1)}
	b, err := os.ReadFile(s.file)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("reading the git sync sources: %w", err)
	}
	if err := json.Unmarshal(b, &s.list); err != nil {
		// The daemon runs the forwards even so: the file is set aside
		// (not overwritten by the next add) and the sources are lost.
		s.list = nil
		bad := s.file + ".bad"
		if rerr := os.Rename(s.file, bad); rerr != nil {
			return s, fmt.Errorf("reading the git sync sources %s: %w; fix or delete the file", s.file, err)
		}
		log.Error().Err(err).Str("file", bad).Msg("git sync: the sources file is corrupt; moved aside, add the sources again")
	}
	for _, st := range s.list {
		s.nextID = max(s.nextID, st.ID)
	}
	return s, nil
}

// saveLocked writes the sources; s.mu is held.
func (s *syncer) saveLocked() {
	b, err := json.MarshalIndent(s.list, "", "  ")
	if err == nil {
		err = writeFile0600(s.file, append(b, '\n'))
	}
	if err != nil {
		s.log.Error().Err(err).Str("file", s.file).Msg("git sync: saving the sources")
	}
}

func syncInterval(v string) (time.Duration, error) {
	if v == "" {
		return defaultSyncInterval, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("interval %q is not a duration (10m, 1h; 0 syncs only on demand)", v)
	}
	if d > 0 && d < time.Second {
		return 0, fmt.Errorf("interval %s is shorter than 1s; use 1m or more for a shared server", d)
	}
	return d, nil
}

func gitSource(s localapi.SyncSource) gitsync.Source {
	return gitsync.Source{URL: s.URL, Path: s.Path, Ref: s.Ref, TokenFile: s.TokenFile, CAFile: s.CAFile}
}

func (s *syncer) add(ctx context.Context, src localapi.SyncSource) (localapi.SyncStatus, error) {
	bad := func(err error) (localapi.SyncStatus, error) {
		return localapi.SyncStatus{}, httpapi.WithStatus(http.StatusBadRequest, err)
	}
	if _, err := syncInterval(src.Interval); err != nil {
		return bad(err)
	}
	for _, p := range []struct{ name, path string }{{"token_file", src.TokenFile}, {"ca_file", src.CAFile}} {
		if p.path != "" && !filepath.IsAbs(p.path) {
			return bad(fmt.Errorf("%s %q must be an absolute path (the daemon does not run in your directory)", p.name, p.path))
		}
	}
	if err := gitSource(src).Check(); err != nil {
		return bad(err)
	}
	s.mu.Lock()
	for _, o := range s.list {
		if o.URL == src.URL && o.Path == src.Path && o.Ref == src.Ref {
			s.mu.Unlock()
			return bad(fmt.Errorf("source %d already syncs %s %s; remove it first ('kftray config sync rm %d')", o.ID, src.URL, src.Path, o.ID))
		}
	}
	s.nextID++
	src.ID = s.nextID
	s.list = append(s.list, localapi.SyncStatus{SyncSource: src})
	s.saveLocked()
	s.mu.Unlock()
	s.log.Info().Int64("source", src.ID).Str("url", src.URL).Str("path", src.Path).Str("ref", src.Ref).Msg("git sync: source added")
	st, _ := s.syncOne(ctx, src.ID)
	s.poke() // the loop learns the new source's next sync
	return st, nil
}

func (s *syncer) remove(id int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, st := range s.list {
		if st.ID == id {
			s.list = append(s.list[:i], s.list[i+1:]...)
			s.saveLocked()
			s.log.Info().Int64("source", id).Msg("git sync: source removed")
			return nil
		}
	}
	return httpapi.WithStatus(http.StatusNotFound, fmt.Errorf("no git sync source %d (see 'kftray config sync status')", id))
}

func (s *syncer) statuses() []localapi.SyncStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := append([]localapi.SyncStatus{}, s.list...)
	return out
}

func (s *syncer) get(id int64) (localapi.SyncStatus, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.list {
		if st.ID == id {
			return st, true
		}
	}
	return localapi.SyncStatus{}, false
}

// record stores the outcome of a sync of id (if it still exists).
func (s *syncer) record(id int64, f func(*localapi.SyncStatus)) localapi.SyncStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.list {
		if s.list[i].ID == id {
			f(&s.list[i])
			s.saveLocked()
			return s.list[i]
		}
	}
	return localapi.SyncStatus{}
}

func (s *syncer) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// syncOne fetches and imports one source. A failure is recorded in its
// status (and returned); the stored configs stay as they were.
func (s *syncer) syncOne(ctx context.Context, id int64) (localapi.SyncStatus, error) {
	s.run.Lock()
	defer s.run.Unlock()
	st, ok := s.get(id)
	if !ok {
		return st, httpapi.WithStatus(http.StatusNotFound, fmt.Errorf("no git sync source %d (see 'kftray config sync status')", id))
	}
	ctx, cancel := context.WithTimeout(ctx, syncTimeout)
	defer cancel()
	started := time.Now()
	res, commit, err := s.importSource(ctx, st.SyncSource)
	interval, _ := syncInterval(st.Interval)
	out := s.record(id, func(cur *localapi.SyncStatus) {
		cur.LastAttempt = started
		cur.NextSync = time.Time{}
		if interval > 0 {
			cur.NextSync = started.Add(interval)
		}
		if err != nil {
			cur.LastError = err.Error()
			if cur.Commit != "" {
				cur.LastError += fmt.Sprintf(" (the configs of the last good sync, commit %.12s, are kept)", cur.Commit)
			}
			return
		}
		cur.LastError, cur.LastSuccess, cur.Commit, cur.Result = "", started, commit, &res
	})
	l := s.log.Info()
	if err != nil {
		l = s.log.Warn().Err(err)
	}
	l.Int64("source", id).Str("url", st.URL).Str("path", st.Path).Str("commit", commit).
		Int("added", len(res.Added)).Int("updated", len(res.Updated)).Msg("git sync")
	return out, err
}

func (s *syncer) importSource(ctx context.Context, src localapi.SyncSource) (fwdconfig.ImportResult, string, error) {
	f, err := gitsync.Fetch(ctx, gitSource(src))
	if err != nil {
		return fwdconfig.ImportResult{}, "", err
	}
	configs, err := fwdconfig.ParseConfigs(f.Data)
	var ie *fwdconfig.ImportError
	if errors.As(err, &ie) {
		ie.Source = fmt.Sprintf("%s at commit %.12s", src.Path, f.Commit)
	}
	if err != nil {
		return fwdconfig.ImportResult{}, f.Commit, fmt.Errorf("rejected %s at commit %.12s: %w", src.Path, f.Commit, err)
	}
	st := s.d.core.st
	if src.Flush {
		// Plan the whole replacement first: nothing is deleted unless the
		// import after it will succeed.
		_, plan, err := st.MergeConfigs(ctx, configs, store.MergeOptions{DryRun: true, Flush: true})
		if err != nil {
			return fwdconfig.ImportResult{}, f.Commit, fmt.Errorf("rejected %s at commit %.12s: %w", src.Path, f.Commit, err)
		}
		for _, ch := range plan {
			if ch.Action != fwdconfig.ChangeDelete {
				continue
			}
			// Through the core, so a forward it runs stops first.
			if _, err := s.d.core.DeleteConfig(ctx, strconv.FormatInt(ch.ID, 10)); err != nil && !errors.Is(err, fwdconfig.ErrNotFound) {
				return fwdconfig.ImportResult{}, f.Commit, fmt.Errorf("flush: deleting config %d: %w", ch.ID, err)
			}
		}
	}
	res, plan, err := st.MergeConfigs(ctx, configs, store.MergeOptions{})
	if err != nil {
		return res, f.Commit, fmt.Errorf("rejected %s at commit %.12s: %w", src.Path, f.Commit, err)
	}
	// Forwards this daemon runs for updated configs restart with them.
	for _, ch := range plan {
		if ch.Action != fwdconfig.ChangeUpdate {
			continue
		}
		select {
		case <-s.d.stop:
			return res, f.Commit, nil
		default:
		}
		if _, err := s.d.core.ApplyEdit(ctx, ch.Config); err != nil {
			s.log.Warn().Err(err).Int64("config", ch.ID).Msg("git sync: restarting an updated forward")
		}
	}
	return res, f.Commit, nil
}

// loop syncs each source when its interval is due (at start too), until
// ctx ends or the daemon stops.
func (s *syncer) loop(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.d.stop:
			return
		case <-s.wake:
		case <-timer.C:
		}
		now := time.Now()
		next := time.Time{}
		for _, st := range s.statuses() {
			interval, err := syncInterval(st.Interval)
			if err != nil || interval == 0 {
				continue
			}
			due := st.NextSync
			if due.IsZero() || !due.After(now) {
				if ctx.Err() != nil {
					return
				}
				up, _ := s.syncOne(ctx, st.ID)
				due = up.NextSync
			}
			if !due.IsZero() && (next.IsZero() || due.Before(next)) {
				next = due
			}
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = max(time.Until(next), 0)
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(wait)
	}
}

func (s *syncer) serveList(w http.ResponseWriter, r *http.Request) {
	httpapi.WriteJSON(w, http.StatusOK, s.statuses())
}

func (s *syncer) serveAdd(w http.ResponseWriter, r *http.Request) {
	var src localapi.SyncSource
	if err := httpapi.ReadJSON(w, r, 64<<10, &src, `{"url": URL, "path": FILE, "ref": BRANCH, "token_file": PATH, "ca_file": PATH, "interval": "10m", "flush": BOOL}`); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	st, err := s.add(r.Context(), src)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusCreated, st)
}

func (s *syncer) serveNow(w http.ResponseWriter, r *http.Request) {
	var ids []int64
	if v := r.URL.Query().Get("id"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			httpapi.WriteError(w, httpapi.WithStatus(http.StatusBadRequest, fmt.Errorf("id %q is not a source id (see 'kftray config sync status')", v)))
			return
		}
		ids = []int64{id}
	} else {
		for _, st := range s.statuses() {
			ids = append(ids, st.ID)
		}
	}
	out := []localapi.SyncStatus{}
	for _, id := range ids {
		st, err := s.syncOne(r.Context(), id)
		if st.ID == 0 && err != nil {
			httpapi.WriteError(w, err)
			return
		}
		out = append(out, st)
	}
	s.poke() // the next due times changed
	httpapi.WriteJSON(w, http.StatusOK, out)
}

func (s *syncer) serveRemove(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err == nil {
		err = s.remove(id)
	} else {
		err = httpapi.WithStatus(http.StatusBadRequest, fmt.Errorf("%q is not a source id (see 'kftray config sync status')", r.PathValue("id")))
	}
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
