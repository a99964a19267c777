package tui

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/kftray-go/kftray/localapi"
)

// Options configure a Model.
type Options struct {
	Backend Backend
	Desktop Desktop
	// Now is the clock (tests fix it); default time.Now.
	Now func() time.Time
	// Ensure starts the daemon when none runs (ctrl+r after it stopped);
	// nil: kftui can only say how to start it.
	Ensure func(ctx context.Context) error
	// ConfigDir is the kftray config directory, shown in messages (where
	// the daemon's log is).
	ConfigDir string
	// StartDir is where the import and export file pickers open.
	StartDir string
	// NoColor renders without colors (NO_COLOR, --no-color).
	NoColor bool
	// Started are forwards already started for this session (--auto-start),
	// stopped on exit with StopOnExit.
	Started []int64
	// SettingHelp says what a setting does ("" unknown).
	SettingHelp func(key string) string
}

type mode int

const (
	modeList mode = iota
	modeFilter
	modeHelp
	modeConfirm
	modeImport
	modeExport
	modeForm
	modeHelper
	modeSettings
	modeLog
)

// connState is how kftui stands with the daemon.
type connState int

const (
	connConnecting connState = iota
	connLive
	connDown
)

// Model is kftui's state. It is a value: Update returns a new one.
type Model struct {
	opts   Options
	ctx    context.Context
	keys   keyMap
	styles styles

	width, height int
	now           time.Time

	entries   map[int64]*entry
	selected  map[int64]bool
	collapsed map[string]bool
	grouped   bool
	sortBy    sortKey
	filter    textinput.Model

	cursorKey string // identity of the row under the cursor
	cursorIdx int    // its index, the fallback when it disappears
	moved     bool   // the user moved the cursor: until then it stays on the first row
	wantKey   string // a row to put the cursor on once it appears (a config just added)
	offset    int    // first visible list row

	mode    mode
	confirm *confirmation
	picker  *picker
	form    *form
	// formSerial counts the forms opened, so that a cluster listing lands
	// in the form that asked for it.
	formSerial int

	flash    string
	flashErr bool
	flashAt  time.Time

	conn    connState
	connErr string
	sub     chan tea.Msg // the current event subscription
	subGen  int
	retried bool // resubscribed once after the stream ended by itself

	helper    *HelperInfo
	helperErr string

	settings      map[string]string
	settingsErr   string
	settingCursor int
	settingEdit   *textinput.Model

	log *logState

	started map[int64]bool // started from this session (for --stop-on-exit)
	busy    int            // requests under way
}

// confirmation is a yes/no question in the footer.
type confirmation struct {
	question string
	yes      tea.Cmd
}

// New returns the model; ctx bounds its commands (the event stream).
func New(ctx context.Context, opts Options) Model {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Desktop == nil {
		opts.Desktop = SystemDesktop{}
	}
	fi := textinput.New()
	fi.Prompt = "/"
	fi.Placeholder = "name, service, namespace, context, host"
	m := Model{
		opts: opts, ctx: ctx, keys: newKeyMap(), styles: newStyles(opts.NoColor),
		width: 80, height: 24, now: opts.Now(),
		entries: map[int64]*entry{}, selected: map[int64]bool{}, collapsed: map[string]bool{},
		filter: fi, started: map[int64]bool{},
	}
	for _, id := range opts.Started {
		m.started[id] = true
	}
	return m
}

// StartedHere returns the forwards started from this session, for
// --stop-on-exit.
func (m Model) StartedHere() []int64 {
	return slices.Sorted(maps.Keys(m.started))
}

// Running counts the forwards the daemon runs (any status but stopped
// and failed), for the goodbye message.
func (m Model) Running() int {
	n := 0
	for _, e := range m.entries {
		if e.f.Status != localapi.StatusStopped && e.f.Status != localapi.StatusFailed {
			n++
		}
	}
	return n
}

// Init loads the list and subscribes to the event stream.
func (m Model) Init() tea.Cmd {
	return tea.Batch(loadCmd(m.ctx, m.opts.Backend), subscribeCmd(m.ctx, m.opts.Backend, 1), tickCmd())
}

// Update handles one message.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	m2, cmd := m.update(msg)
	m2.fixCursor()
	return m2, cmd
}

func (m Model) update(msg tea.Msg) (Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		if m.picker != nil {
			m.picker.resize(m.listHeight())
		}
		return m, nil
	case tickMsg:
		m.now = m.opts.Now()
		if m.flash != "" && !m.flashErr && m.now.Sub(m.flashAt) > 5*time.Second {
			m.flash = ""
		}
		return m, tickCmd()
	case subscribedMsg:
		if msg.gen != m.subGen+1 && m.subGen != 0 {
			return m, nil
		}
		m.subGen, m.sub = msg.gen, msg.ch
		return m, waitCmd(msg.ch)
	case eventMsg:
		if msg.gen != m.subGen {
			return m, nil
		}
		m.now = m.opts.Now()
		m.conn, m.connErr, m.retried = connLive, "", false
		switch msg.ev.Type {
		case "forward":
			if msg.ev.Forward != nil {
				m.apply(*msg.ev.Forward)
			}
		case "shutdown":
			m.conn, m.connErr = connDown, "the kftray daemon stopped"
		}
		return m, waitCmd(m.sub)
	case streamEndMsg:
		if msg.gen != m.subGen {
			return m, nil
		}
		m.sub = nil
		if m.conn == connLive && !m.retried && msg.err == nil {
			// The daemon ended the stream without saying it stops (it
			// drops clients that fall behind): once more, fresh.
			m.retried = true
			return m, tea.Batch(loadCmd(m.ctx, m.opts.Backend), subscribeCmd(m.ctx, m.opts.Backend, m.subGen+1))
		}
		m.conn = connDown
		if msg.err != nil {
			m.connErr = oneLine(msg.err.Error())
		} else if m.connErr == "" {
			m.connErr = "the daemon closed the event stream"
		}
		return m, nil
	case loadedMsg:
		m.busy = max(m.busy-1, 0)
		if msg.err != nil {
			m.conn, m.connErr = connDown, oneLine(msg.err.Error())
			return m, nil
		}
		if m.conn == connConnecting {
			m.conn = connLive
		}
		m.replace(msg.fwds)
		return m, nil
	case ensuredMsg:
		if msg.err != nil {
			m.conn, m.connErr = connDown, oneLine(msg.err.Error())
			return m.setFlash(true, "could not start the daemon: %s", oneLine(msg.err.Error())), nil
		}
		m.conn, m.connErr, m.retried = connConnecting, "", false
		return m, tea.Batch(loadCmd(m.ctx, m.opts.Backend), subscribeCmd(m.ctx, m.opts.Backend, m.subGen+1))
	case resultsMsg:
		return m.onResults(msg)
	case deletedMsg:
		if msg.err != nil {
			m = m.setFlash(true, "deleting %s: %s", msg.names, oneLine(msg.err.Error()))
		} else {
			m = m.setFlash(false, "deleted %s", msg.names)
		}
		for _, id := range msg.ids {
			delete(m.entries, id)
			delete(m.selected, id)
			delete(m.started, id)
		}
		return m, loadCmd(m.ctx, m.opts.Backend)
	case importedMsg:
		if msg.err != nil {
			return m.setFlash(true, "import %s: %s", msg.path, oneLine(msg.err.Error())), nil
		}
		r := msg.res
		m = m.setFlash(false, "imported %s: %d added, %d updated, %d unchanged", msg.path, len(r.Added), len(r.Updated), len(r.Unchanged))
		return m, loadCmd(m.ctx, m.opts.Backend)
	case exportedMsg:
		if msg.err != nil {
			return m.setFlash(true, "export: %s", oneLine(msg.err.Error())), nil
		}
		return m.setFlash(false, "exported %d configs to %s", msg.n, msg.path), nil
	case desktopMsg:
		if msg.err != nil {
			return m.setFlash(true, "%s: %s", msg.what, oneLine(msg.err.Error())), nil
		}
		return m.setFlash(false, "%s", msg.what), nil
	case savedMsg:
		return m.onSaved(msg)
	case configLoadedMsg:
		if msg.err != nil {
			return m.setFlash(true, "reading %s: %s", msg.name, oneLine(msg.err.Error())), nil
		}
		return m.showForm(newForm(msg.cfg.ID, msg.cfg))
	case listedMsg:
		return m.onListed(msg), nil
	case helperMsg:
		if msg.err != nil {
			m.helperErr = oneLine(msg.err.Error())
		} else {
			m.helper, m.helperErr = &msg.info, ""
		}
		return m, nil
	case settingsMsg:
		if msg.err != nil {
			m.settingsErr = oneLine(msg.err.Error())
			if m.settings == nil {
				m.settings = map[string]string{}
			}
			return m, nil
		}
		m.settings, m.settingsErr = msg.values, ""
		m.settingCursor = min(m.settingCursor, max(len(msg.values)-1, 0))
		return m, nil
	case settingSetMsg:
		if msg.err != nil {
			m.settingsErr = "setting " + msg.key + ": " + oneLine(msg.err.Error())
			return m, nil
		}
		m.settingsErr = ""
		m = m.setFlash(false, "%s = %s", msg.key, msg.value)
		if api, ok := m.opts.Backend.(SettingsAPI); ok {
			return m, loadSettingsCmd(m.ctx, api)
		}
		return m, nil
	case logSubscribedMsg, logLineMsg, logEndMsg:
		return m.onLogMsg(msg)
	}

	switch m.mode {
	case modeHelp:
		if k, ok := msg.(tea.KeyPressMsg); ok {
			if key.Matches(k, m.keys.Quit) && k.String() == "ctrl+c" {
				return m, tea.Quit
			}
			m.mode = modeList
		}
		if _, ok := msg.(tea.MouseClickMsg); ok {
			m.mode = modeList
		}
		return m, nil
	case modeConfirm:
		if k, ok := msg.(tea.KeyPressMsg); ok {
			c := m.confirm
			m.mode, m.confirm = modeList, nil
			if k.String() == "y" || k.String() == "Y" {
				return m, c.yes
			}
			return m.setFlash(false, "nothing deleted"), nil
		}
		return m, nil
	case modeFilter:
		return m.updateFilter(msg)
	case modeImport, modeExport:
		return m.updatePicker(msg)
	case modeForm:
		return m.updateForm(msg)
	case modeHelper:
		return m.updateHelper(msg)
	case modeSettings:
		return m.updateSettings(msg)
	case modeLog:
		return m.updateLog(msg)
	}

	switch msg := msg.(type) {
	case tea.KeyPressMsg:
		return m.onKey(msg)
	case tea.MouseClickMsg:
		return m.onClick(msg)
	case tea.MouseWheelMsg:
		switch msg.Button {
		case tea.MouseWheelUp:
			m.moveCursor(-3)
		case tea.MouseWheelDown:
			m.moveCursor(3)
		}
	}
	return m, nil
}

func (m Model) setFlash(isErr bool, format string, args ...any) Model {
	m.flash, m.flashErr, m.flashAt = fmt.Sprintf(format, args...), isErr, m.opts.Now()
	return m
}

// apply takes one forward's new state from the event stream.
func (m *Model) apply(f localapi.Forward) {
	e := m.entries[f.ID]
	if e != nil && f.UpdatedAt.Before(e.f.UpdatedAt) {
		// Older than what we show: a snapshot event or a list read
		// before a start or stop answer that already arrived.
		return
	}
	if e == nil {
		e = &entry{}
		m.entries[f.ID] = e
	} else if f.Config.Namespace == "" && e.f.Config.Namespace != "" {
		// An event about a forward whose config the daemon no longer has
		// cached carries only its id and alias: keep what we know.
		f.Config = e.f.Config
		if f.Name == "" || f.Name == "unnamed" {
			f.Name = e.f.Name
		}
	}
	e.f = f
	e.tr.observe(m.now, f.BytesToPod+f.BytesFromPod)
}

// replace takes the full list: configs gone from it are dropped. A row
// that an event or a start/stop answer updated since the list was read
// (not older than the list's) keeps its state: the list request may have
// been answered before them and arrive after.
func (m *Model) replace(fwds []localapi.Forward) {
	seen := map[int64]bool{}
	for _, f := range fwds {
		seen[f.ID] = true
		if e := m.entries[f.ID]; e != nil && !e.f.UpdatedAt.Before(f.UpdatedAt) {
			e.f.Config, e.f.Name, e.f.Desired = f.Config, f.Name, f.Desired
			continue
		}
		m.apply(f)
	}
	for id := range m.entries {
		if !seen[id] {
			delete(m.entries, id)
			delete(m.selected, id)
		}
	}
}

func (m Model) items() []item {
	return buildItems(m.entries, m.filter.Value(), m.sortBy, m.grouped, m.collapsed)
}

// listHeight is how many list rows fit: the screen less the title, the
// column header, the detail pane (rule + 3 lines) and the footer.
func (m Model) listHeight() int {
	return max(m.height-7, 1)
}

// fixCursor keeps the cursor on its row (by identity) and in view.
func (m *Model) fixCursor() {
	items := m.items()
	if m.wantKey != "" {
		for _, it := range items {
			if it.key == m.wantKey {
				m.cursorKey, m.wantKey, m.moved = it.key, "", true
			}
		}
	}
	idx := -1
	for i, it := range items {
		if it.key == m.cursorKey && m.moved {
			idx = i
			break
		}
	}
	if idx < 0 {
		idx = min(m.cursorIdx, len(items)-1)
	}
	if idx < 0 {
		m.cursorKey, m.cursorIdx, m.offset = "", 0, 0
		return
	}
	m.cursorIdx, m.cursorKey = idx, items[idx].key
	h := m.listHeight()
	if m.offset > idx {
		m.offset = idx
	}
	if idx >= m.offset+h {
		m.offset = idx - h + 1
	}
	m.offset = max(min(m.offset, len(items)-h), 0)
}

func (m *Model) moveCursor(d int) {
	items := m.items()
	if len(items) == 0 {
		return
	}
	i := min(max(m.cursorIdx+d, 0), len(items)-1)
	m.cursorIdx, m.cursorKey, m.moved = i, items[i].key, true
}

// current returns the item under the cursor.
func (m Model) current() (item, bool) {
	items := m.items()
	if m.cursorIdx < 0 || m.cursorIdx >= len(items) {
		return item{}, false
	}
	return items[m.cursorIdx], true
}

// targets are what an action applies to: the selection if any, else the
// forward under the cursor, else every forward of the group under it.
func (m Model) targets() []*entry {
	var out []*entry
	if len(m.selected) > 0 {
		for id := range m.selected {
			if e := m.entries[id]; e != nil {
				out = append(out, e)
			}
		}
	} else if it, ok := m.current(); ok {
		if it.e != nil {
			out = append(out, it.e)
		} else {
			out = m.groupEntries(it)
		}
	}
	slices.SortFunc(out, compareEntries(sortName))
	return out
}

// groupEntries are the forwards (matching the filter) under a group
// header, folded or not.
func (m Model) groupEntries(it item) []*entry {
	var out []*entry
	for _, e := range m.entries {
		if !e.matches(m.filter.Value()) {
			continue
		}
		c := e.f.Config
		if (it.kind == itemContext && it.key == "c:"+c.Context) || (it.kind == itemNamespace && it.key == "n:"+c.Context+"/"+c.Namespace) {
			out = append(out, e)
		}
	}
	return out
}

func refs(es []*entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = strconv.FormatInt(e.f.ID, 10)
	}
	return out
}

func names(es []*entry) string {
	ns := make([]string, len(es))
	for i, e := range es {
		ns[i] = e.f.Name
	}
	if len(ns) > 3 {
		return fmt.Sprintf("%s and %d more", strings.Join(ns[:3], ", "), len(ns)-3)
	}
	return strings.Join(ns, ", ")
}

func isActive(status string) bool {
	switch status {
	case localapi.StatusRunning, localapi.StatusRetrying, localapi.StatusStarting:
		return true
	}
	return false
}

func (m Model) onKey(k tea.KeyPressMsg) (Model, tea.Cmd) {
	ks := m.keys
	switch {
	case key.Matches(k, ks.Quit):
		return m, tea.Quit
	case key.Matches(k, ks.Help):
		m.mode = modeHelp
	case key.Matches(k, ks.Up):
		m.moveCursor(-1)
	case key.Matches(k, ks.Down):
		m.moveCursor(1)
	case key.Matches(k, ks.PageUp):
		m.moveCursor(-m.listHeight())
	case key.Matches(k, ks.PageDown):
		m.moveCursor(m.listHeight())
	case key.Matches(k, ks.Top):
		m.moveCursor(-1 << 30)
	case key.Matches(k, ks.Bottom):
		m.moveCursor(1 << 30)
	case key.Matches(k, ks.Collapse), key.Matches(k, ks.Expand):
		if it, ok := m.current(); ok && it.e == nil {
			m.collapsed[it.key] = key.Matches(k, ks.Collapse)
		} else if ok && key.Matches(k, ks.Collapse) && m.grouped {
			// On a forward: fold its namespace and land on its header.
			c := it.e.f.Config
			nk := "n:" + c.Context + "/" + c.Namespace
			m.collapsed[nk], m.cursorKey, m.moved = true, nk, true
		}
	case key.Matches(k, ks.Select):
		if it, ok := m.current(); ok && it.e != nil {
			if m.selected[it.e.f.ID] {
				delete(m.selected, it.e.f.ID)
			} else {
				m.selected[it.e.f.ID] = true
			}
			m.moveCursor(1)
		} else if ok {
			for _, e := range m.groupEntries(it) {
				m.selected[e.f.ID] = true
			}
		}
	case key.Matches(k, ks.SelectAll):
		shown := 0
		for _, e := range m.entries {
			if e.matches(m.filter.Value()) {
				shown++
			}
		}
		if len(m.selected) >= shown && shown > 0 {
			clear(m.selected)
		} else {
			for _, e := range m.entries {
				if e.matches(m.filter.Value()) {
					m.selected[e.f.ID] = true
				}
			}
		}
	case k.String() == "esc":
		switch {
		case len(m.selected) > 0:
			clear(m.selected)
		case m.filter.Value() != "":
			m.filter.SetValue("")
		}
		m.flash = ""
	case key.Matches(k, ks.Toggle):
		it, ok := m.current()
		if !ok {
			return m, nil
		}
		if it.e == nil && len(m.selected) == 0 {
			m.collapsed[it.key] = !m.collapsed[it.key]
			return m, nil
		}
		ts := m.targets()
		var start, stop []*entry
		for _, e := range ts {
			if isActive(e.f.Status) {
				stop = append(stop, e)
			} else {
				start = append(start, e)
			}
		}
		return m.act(start, stop)
	case key.Matches(k, ks.Start):
		return m.act(m.targets(), nil)
	case key.Matches(k, ks.Stop):
		return m.act(nil, m.targets())
	case key.Matches(k, ks.StartAll), key.Matches(k, ks.StopAll):
		var all []*entry
		for _, e := range m.entries {
			if e.matches(m.filter.Value()) {
				all = append(all, e)
			}
		}
		slices.SortFunc(all, compareEntries(sortName))
		if key.Matches(k, ks.StartAll) {
			return m.act(all, nil)
		}
		return m.act(nil, all)
	case key.Matches(k, ks.Restart):
		ts := m.targets()
		if len(ts) == 0 {
			return m, nil
		}
		m.busy++
		for _, e := range ts {
			m.started[e.f.ID] = true
		}
		return m.setFlash(false, "restarting %s…", names(ts)), restartCmd(m.ctx, m.opts.Backend, refs(ts))
	case key.Matches(k, ks.Delete):
		ts := m.targets()
		if len(ts) == 0 {
			return m, nil
		}
		q := fmt.Sprintf("delete %s? its forward stops and the config is gone. y/n", names(ts))
		if len(ts) > 1 {
			q = fmt.Sprintf("delete %d configs (%s)? their forwards stop and the configs are gone. y/n", len(ts), names(ts))
		}
		m.mode, m.confirm = modeConfirm, &confirmation{question: q, yes: deleteCmd(m.ctx, m.opts.Backend, ts)}
	case key.Matches(k, ks.CopyAddr), key.Matches(k, ks.CopyURL), key.Matches(k, ks.Browse):
		it, ok := m.current()
		if !ok || it.e == nil {
			return m, nil
		}
		addr := hostPort(it.e.f)
		if addr == "" {
			return m.setFlash(true, "%s has no address: it is not listening (start it with s)", it.e.f.Name), nil
		}
		url := "http://" + addr + "/"
		switch {
		case key.Matches(k, ks.CopyAddr):
			return m, copyCmd(m.opts.Desktop, addr)
		case key.Matches(k, ks.CopyURL):
			return m, copyCmd(m.opts.Desktop, url)
		}
		return m, openCmd(m.opts.Desktop, url)
	case key.Matches(k, ks.Filter):
		m.mode = modeFilter
		return m, m.filter.Focus()
	case key.Matches(k, ks.Group):
		m.grouped = !m.grouped
	case key.Matches(k, ks.Sort):
		m.sortBy = (m.sortBy + 1) % sortKeys
		m = m.setFlash(false, "sorted by %s", m.sortBy)
	case key.Matches(k, ks.Refresh):
		if m.conn == connDown && m.opts.Ensure != nil {
			m.conn = connConnecting
			return m.setFlash(false, "starting the kftray daemon…"), ensureCmd(m.ctx, m.opts.Ensure)
		}
		m.busy++
		return m, loadCmd(m.ctx, m.opts.Backend)
	case key.Matches(k, ks.Import):
		return m.openPicker(modeImport)
	case key.Matches(k, ks.Export):
		return m.openPicker(modeExport)
	case key.Matches(k, ks.Add):
		return m.openForm(nil)
	case key.Matches(k, ks.Edit):
		if it, ok := m.current(); ok && it.e != nil {
			return m.openForm(it.e)
		}
	case key.Matches(k, ks.Helper):
		return m.openHelper()
	case key.Matches(k, ks.Settings):
		return m.openSettings()
	case key.Matches(k, ks.Log):
		return m.openLog()
	case key.Matches(k, ks.Duplicate):
		if it, ok := m.current(); ok && it.e != nil {
			return m.duplicate(it.e)
		}
	}
	return m, nil
}

// act starts and stops forwards.
func (m Model) act(start, stop []*entry) (Model, tea.Cmd) {
	var cmds []tea.Cmd
	if len(start) > 0 {
		for _, e := range start {
			m.started[e.f.ID] = true
			if !isActive(e.f.Status) {
				e.f.Status = localapi.StatusStarting
			}
		}
		m.busy++
		cmds = append(cmds, startCmd(m.ctx, m.opts.Backend, refs(start)))
	}
	if len(stop) > 0 {
		m.busy++
		cmds = append(cmds, stopCmd(m.ctx, m.opts.Backend, refs(stop)))
	}
	return m, tea.Batch(cmds...)
}

func (m Model) onResults(msg resultsMsg) (Model, tea.Cmd) {
	m.busy = max(m.busy-1, 0)
	if msg.err != nil {
		return m.setFlash(true, "%s: %s", msg.verb, oneLine(msg.err.Error())), nil
	}
	var failed []string
	ok := 0
	for _, r := range msg.res.Results {
		if r.Forward != nil {
			m.apply(*r.Forward)
		}
		if r.Error != "" {
			name := r.Ref
			if r.Forward != nil {
				name = r.Forward.Name
			}
			failed = append(failed, strings.TrimPrefix(oneLine(r.Error), name+": ")+" ("+name+")")
		} else {
			ok++
		}
	}
	if len(failed) > 0 {
		return m.setFlash(true, "%s failed: %s", msg.verb, strings.Join(failed, "; ")), nil
	}
	done := map[string]string{"start": "started", "stop": "stopped", "restart": "restarted"}[msg.verb]
	if ok == 1 && len(msg.res.Results) == 1 && msg.res.Results[0].Forward != nil {
		return m.setFlash(false, "%s %s", msg.res.Results[0].Forward.Name, done), nil
	}
	return m.setFlash(false, "%s %s", done, plural(ok, "forward")), nil
}

func (m Model) updateFilter(msg tea.Msg) (Model, tea.Cmd) {
	if k, ok := msg.(tea.KeyPressMsg); ok {
		switch k.String() {
		case "enter", "down", "up":
			m.mode = modeList
			m.filter.Blur()
			if k.String() != "enter" {
				return m.onKey(k)
			}
			return m, nil
		case "esc":
			m.mode = modeList
			m.filter.Blur()
			m.filter.SetValue("")
			return m, nil
		case "ctrl+c":
			return m, tea.Quit
		}
	}
	var cmd tea.Cmd
	m.filter, cmd = m.filter.Update(msg)
	m.cursorKey = "" // the first match
	m.cursorIdx = 0
	return m, cmd
}

// onClick moves the cursor to the clicked row; a click on a group header
// folds or unfolds it.
func (m Model) onClick(c tea.MouseClickMsg) (Model, tea.Cmd) {
	if c.Button != tea.MouseLeft {
		return m, nil
	}
	row := c.Y - 2 // below the title and the column header
	if row < 0 || row >= m.listHeight() {
		return m, nil
	}
	items := m.items()
	i := m.offset + row
	if i >= len(items) {
		return m, nil
	}
	m.cursorIdx, m.cursorKey, m.moved = i, items[i].key, true
	if items[i].e == nil {
		m.collapsed[items[i].key] = !m.collapsed[items[i].key]
	}
	return m, nil
}

// hostPort is the address to reach a forward at: its hostname when it has
// one (domain_enabled), else the bound address.
func hostPort(f localapi.Forward) string {
	if f.Address == "" || !isActive(f.Status) {
		return ""
	}
	if f.Config.DomainEnabled && f.Config.Alias != "" {
		if i := strings.LastIndexByte(f.Address, ':'); i >= 0 {
			return f.Config.Alias + f.Address[i:]
		}
	}
	return f.Address
}
