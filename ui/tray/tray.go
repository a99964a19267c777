// Package tray is `kftray tray`: a tray icon (a StatusNotifierItem on
// Linux desktops, a menu-bar item on macOS) listing every forward with a
// check mark that toggles it, start all, stop all, open the web UI, quit;
// the icon shows when something is failing, and desktop notifications say
// when a forward fails or recovers. It is a client of the daemon's local
// API only (localapi): it links neither SQLite nor client-go.
package tray

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/localapi"
)

// Notifier shows desktop notifications. key identifies what a
// notification is about (a config id), so a newer one can replace it.
type Notifier interface {
	Notify(ctx context.Context, key int64, n Notification) error
}

// Notification is one desktop notification.
type Notification struct {
	Summary, Body string
	Urgent        bool // a failure, rather than good news
}

// Options configure the tray.
type Options struct {
	Client *localapi.Client
	// Open opens the web UI in a browser (what `kftray ui` does); nil:
	// no such menu item.
	Open func(ctx context.Context) error
	// Notify shows notifications; nil: none.
	Notify Notifier
	Log    zerolog.Logger
	// Now is the clock of the notification rate limit; default time.Now.
	Now func() time.Time
	// Refresh is how often the list of configs is read again (the event
	// stream carries states, not configs added or deleted elsewhere);
	// default 10 s.
	Refresh time.Duration
}

// Menu is what the tray shows: the model the platform code renders.
type Menu struct {
	Header   string // first, disabled line
	Tooltip  string
	Failing  bool // some forward is failed or retrying: the icon says so
	Live     bool // connected to the daemon
	Forwards []Entry
}

// Entry is one forward's menu item.
type Entry struct {
	ID      int64
	Label   string
	Checked bool // running, starting or retrying: a click stops it
}

// Action is a click on the tray's menu.
type Action struct {
	Kind ActionKind
	ID   int64 // ActionToggle
}

// ActionKind says which item was clicked.
type ActionKind int

// Menu items.
const (
	ActionToggle ActionKind = iota
	ActionStartAll
	ActionStopAll
	ActionOpen
	ActionQuit
)

func active(status string) bool {
	return status == localapi.StatusRunning || status == localapi.StatusStarting || status == localapi.StatusRetrying
}

func failing(f localapi.Forward) bool {
	return f.Status == localapi.StatusFailed || (f.Status == localapi.StatusRetrying && f.Attempt > 0)
}

// state is what the tray knows of the daemon, and what it told the user.
type state struct {
	mu       sync.Mutex
	live     bool
	forwards map[int64]localapi.Forward
	limit    *limiter
}

func newState(now func() time.Time) *state {
	return &state{forwards: map[int64]localapi.Forward{}, limit: newLimiter(now)}
}

// reset replaces what the tray knows with a fresh listing: changes seen
// from here on are news; what the listing shows is not.
func (s *state) reset(fs []localapi.Forward) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.live = true
	clear(s.forwards)
	for _, f := range fs {
		s.forwards[f.ID] = f
	}
}

// allow reports whether the rate limit lets a notification about id out
// now (and counts it).
func (s *state) allow(id int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.limit.allow(id)
}

func (s *state) down() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.live = false
}

// apply takes one state change and returns the notification it deserves,
// if any (the setting and the rate limit are the caller's to check).
func (s *state) apply(f localapi.Forward) (Notification, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	prev, seen := s.forwards[f.ID]
	if seen && (f.Config.Namespace == "" && prev.Config.Namespace != "") {
		// A state event for a config the daemon no longer holds in
		// memory carries only id and alias: keep the config we know.
		f.Config, f.Name = prev.Config, prev.Name
	}
	s.forwards[f.ID] = f
	if !seen {
		return Notification{}, false
	}
	return news(prev, f)
}

// news is what a change from prev to f tells the user: a forward failed,
// keeps failing to connect, or recovered after retrying.
func news(prev, f localapi.Forward) (Notification, bool) {
	switch {
	case f.Status == localapi.StatusFailed && prev.Status != localapi.StatusFailed:
		return Notification{Summary: f.Name + " failed", Body: orNone(f.LastError), Urgent: true}, true
	case f.Status == localapi.StatusRetrying && f.Attempt == retryNotice && prev.Attempt < retryNotice:
		return Notification{Summary: f.Name + " keeps failing to connect", Body: fmt.Sprintf("%s; retrying (attempt %d)", orNone(f.LastError), f.Attempt), Urgent: true}, true
	case f.Status == localapi.StatusRunning && failing(prev):
		body := "running on " + f.Address
		if f.Pod != "" {
			body += " → pod " + f.Pod
		}
		return Notification{Summary: f.Name + " recovered", Body: body}, true
	}
	return Notification{}, false
}

// retryNotice is the failed attempt that makes a retrying forward news
// (the first ones are often a pod being replaced).
const retryNotice = 3

func orNone(s string) string {
	if s == "" {
		return "(no error reported)"
	}
	return s
}

// menu renders the state.
func (s *state) menu() Menu {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.live {
		return Menu{Header: "kftray daemon not running; reconnecting…", Tooltip: "kftray: the daemon is not running"}
	}
	fs := slices.Collect(maps.Values(s.forwards))
	slices.SortFunc(fs, func(a, b localapi.Forward) int {
		if c := strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)); c != 0 {
			return c
		}
		return int(a.ID - b.ID)
	})
	m := Menu{Live: true}
	running := 0
	var bad []string
	for _, f := range fs {
		if f.Status == localapi.StatusRunning {
			running++
		}
		if failing(f) {
			m.Failing = true
			bad = append(bad, f.Name)
		}
		m.Forwards = append(m.Forwards, Entry{ID: f.ID, Label: label(f), Checked: active(f.Status)})
	}
	m.Header = fmt.Sprintf("kftray: %d of %d running", running, len(fs))
	m.Tooltip = m.Header
	if len(bad) > 0 {
		m.Header += fmt.Sprintf(", %d failing", len(bad))
		m.Tooltip = m.Header + ": " + strings.Join(bad, ", ")
	}
	return m
}

// label is a forward's menu line: its name and where it stands.
func label(f localapi.Forward) string {
	switch f.Status {
	case localapi.StatusRunning:
		return fmt.Sprintf("%s — %s", f.Name, f.Address)
	case localapi.StatusFailed, localapi.StatusRetrying:
		return fmt.Sprintf("%s — %s: %s", f.Name, f.Status, shorten(f.LastError, 60))
	}
	return fmt.Sprintf("%s — %s", f.Name, f.Status)
}

func shorten(s string, n int) string {
	if s == "" {
		return "no error reported"
	}
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// limiter keeps notifications rare: one per forward per perForward, and
// at most burst in any window across all forwards.
type limiter struct {
	now  func() time.Time
	last map[int64]time.Time
	sent []time.Time
}

const (
	perForward = 30 * time.Second
	window     = time.Minute
	burst      = 4
)

func newLimiter(now func() time.Time) *limiter {
	if now == nil {
		now = time.Now
	}
	return &limiter{now: now, last: map[int64]time.Time{}}
}

func (l *limiter) allow(id int64) bool {
	now := l.now()
	if t, ok := l.last[id]; ok && now.Sub(t) < perForward {
		return false
	}
	keep := l.sent[:0]
	for _, t := range l.sent {
		if now.Sub(t) < window {
			keep = append(keep, t)
		}
	}
	l.sent = keep
	if len(l.sent) >= burst {
		return false
	}
	l.sent = append(l.sent, now)
	l.last[id] = now
	return true
}

// controller runs the tray's logic against the daemon: it keeps the state
// from the event stream (reconnecting), renders the menu after every
// change, and carries out clicks.
type controller struct {
	opts   Options
	st     *state
	render func(Menu)
}

// run works until ctx ends.
func (c *controller) run(ctx context.Context, clicks <-chan Action, quit func()) {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.follow(ctx)
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case a := <-clicks:
			if a.Kind == ActionQuit {
				quit()
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.do(ctx, a)
			}()
		}
	}
}

// follow keeps the state current: a listing, then the event stream; again
// after any break, with a pause that grows to 10 s.
func (c *controller) follow(ctx context.Context) {
	pause := 500 * time.Millisecond
	for ctx.Err() == nil {
		err := c.session(ctx)
		if ctx.Err() != nil {
			return
		}
		c.st.down()
		c.render(c.st.menu())
		c.opts.Log.Debug().Err(err).Dur("retry_in", pause).Msg("tray: lost the daemon")
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		pause = min(pause*2, 10*time.Second)
	}
}

// session is one connection to the daemon: it ends with the stream.
func (c *controller) session(ctx context.Context) error {
	if err := c.reload(ctx); err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		t := time.NewTicker(c.opts.Refresh)
		defer t.Stop()
		for {
			select {
			case <-sctx.Done():
				return
			case <-t.C:
				if err := c.reload(sctx); err != nil {
					c.opts.Log.Debug().Err(err).Msg("tray: refresh")
				}
			}
		}
	}()
	return c.opts.Client.Events(sctx, func(ev localapi.Event) error {
		if ev.Type == "shutdown" {
			return errors.New("the daemon is stopping")
		}
		if ev.Forward == nil {
			return nil
		}
		if n, ok := c.st.apply(*ev.Forward); ok && c.opts.Notify != nil && c.notificationsOn(ctx) && c.st.allow(ev.Forward.ID) {
			if err := c.opts.Notify.Notify(ctx, ev.Forward.ID, n); err != nil {
				c.opts.Log.Warn().Err(err).Msg("tray: desktop notification")
			}
		}
		c.render(c.st.menu())
		return nil
	})
}

// notificationsOn reads the setting at the moment there is news, so a
// change in any interface counts at once (news is rare).
func (c *controller) notificationsOn(ctx context.Context) bool {
	m, err := c.opts.Client.Settings(ctx)
	if err != nil {
		return true // an older daemon without the setting
	}
	return m[fwdconfig.SettingNotificationsEnabled] != "false"
}

func (c *controller) reload(ctx context.Context) error {
	fs, err := c.opts.Client.Forwards(ctx)
	if err != nil {
		return err
	}
	c.st.reset(fs)
	c.render(c.st.menu())
	return nil
}

func (c *controller) do(ctx context.Context, a Action) {
	var err error
	var res localapi.Results
	switch a.Kind {
	case ActionToggle:
		c.st.mu.Lock()
		f, ok := c.st.forwards[a.ID]
		c.st.mu.Unlock()
		if !ok {
			return
		}
		sel := localapi.Selection{Refs: []string{fmt.Sprint(a.ID)}}
		if active(f.Status) {
			res, err = c.opts.Client.Stop(ctx, sel)
		} else {
			res, err = c.opts.Client.Start(ctx, sel)
		}
	case ActionStartAll:
		res, err = c.opts.Client.Start(ctx, localapi.Selection{All: true})
	case ActionStopAll:
		res, err = c.opts.Client.Stop(ctx, localapi.Selection{All: true})
	case ActionOpen:
		if c.opts.Open != nil {
			err = c.opts.Open(ctx)
		}
	}
	for _, r := range res.Results {
		if r.Error != "" {
			c.opts.Log.Warn().Str("forward", r.Ref).Str("error", r.Error).Msg("tray")
		}
	}
	if err != nil {
		c.opts.Log.Warn().Err(err).Msg("tray")
		if c.opts.Notify != nil {
			_ = c.opts.Notify.Notify(ctx, 0, Notification{Summary: "kftray", Body: err.Error(), Urgent: true})
		}
	}
}
