package tui

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	tea "charm.land/bubbletea/v2"
)

// The helper, settings and daemon log screens. Each reads from the daemon
// through an optional interface (extras.go); esc goes back to the list.

type helperMsg struct {
	info HelperInfo
	err  error
}

type settingsMsg struct {
	values map[string]string
	err    error
}

type settingSetMsg struct {
	key, value string
	err        error
}

// logState is the daemon log screen.
type logState struct {
	level  string // lowest level shown, "" all
	lines  []LogLine
	back   int // lines scrolled back from the end (0: follow)
	gen    int
	ch     chan tea.Msg
	err    string
	cancel context.CancelFunc
}

type logSubscribedMsg struct {
	gen    int
	ch     chan tea.Msg
	cancel context.CancelFunc
}

type logLineMsg struct {
	gen  int
	line LogLine
}

type logEndMsg struct {
	gen int
	err error
}

// logLevels are the filter's steps ("" shows every line).
var logLevels = []string{"", "debug", "info", "warn", "error"}

const maxLogLines = 2000

func (m Model) unsupported(what string) (Model, tea.Cmd) {
	return m.setFlash(true, "this kftray daemon does not offer %s over its API; update kftray and restart the daemon ('kftray daemon stop')", what), nil
}

func (m Model) openHelper() (Model, tea.Cmd) {
	api, ok := m.opts.Backend.(HelperAPI)
	if !ok {
		return m.unsupported("the helper's status")
	}
	m.mode, m.helper, m.helperErr = modeHelper, nil, ""
	ctx := m.ctx
	return m, func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, requestTimeout)
		defer cancel()
		info, err := api.HelperStatus(ctx)
		return helperMsg{info: info, err: err}
	}
}

func (m Model) helperLines() []string {
	out := []string{m.styles.title.Render("root helper") + " · esc back · ctrl+r again", ""}
	if m.helperErr != "" {
		return append(out, m.styles.err.Render("cannot read the helper's status: ")+m.helperErr)
	}
	h := m.helper
	if h == nil {
		return append(out, "asking the daemon…")
	}
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return m.styles.warn.Render("no")
	}
	inst := yes(h.Installed)
	if h.Installed && h.Version != "" {
		inst += ", version " + h.Version
	}
	if h.Want != "" {
		inst += " (this kftray needs " + h.Want + ")"
	}
	out = append(out, "installed:   "+inst)
	if h.Installed {
		out = append(out, "up to date:  "+yes(h.UpToDate), "you may use: "+yes(h.Allowed))
	}
	if h.Service != "" {
		out = append(out, "service:     "+h.Service)
	}
	if len(h.NeededBy) > 0 {
		out = append(out, "needed by:   "+strings.Join(h.NeededBy, ", ")+" (low ports, hostnames, own loopback addresses)")
	} else {
		out = append(out, "needed by:   none of your configs (high ports on 127.0.0.1 need no helper)")
	}
	if h.Error != "" {
		out = append(out, "", m.styles.err.Render(h.Error))
	}
	out = append(out, "")
	if h.InstallCommand != "" {
		out = append(out, "Run this in a terminal (it asks for your password; kftui never runs sudo):", "",
			"    "+m.styles.bold.Render(h.InstallCommand), "",
			"c copies it.")
	} else {
		out = append(out, m.styles.ok.Render("nothing to do"))
	}
	return out
}

func (m Model) updateHelper(msg tea.Msg) (Model, tea.Cmd) {
	if k, ok := msg.(tea.KeyPressMsg); ok {
		switch k.String() {
		case "ctrl+c":
			return m, tea.Quit
		case "esc", "q", "H":
			m.mode = modeList
		case "ctrl+r":
			return m.openHelper()
		case "c":
			if m.helper != nil && m.helper.InstallCommand != "" {
				return m, copyCmd(m.opts.Desktop, m.helper.InstallCommand)
			}
		}
	}
	return m, nil
}

func (m Model) openSettings() (Model, tea.Cmd) {
	api, ok := m.opts.Backend.(SettingsAPI)
	if !ok {
		return m.unsupported("settings")
	}
	m.mode, m.settingsErr, m.settingEdit = modeSettings, "", nil
	return m, loadSettingsCmd(m.ctx, api)
}

func loadSettingsCmd(ctx context.Context, api SettingsAPI) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, requestTimeout)
		defer cancel()
		v, err := api.Settings(ctx)
		return settingsMsg{values: v, err: err}
	}
}

func (m Model) settingKeys() []string {
	return slices.Sorted(maps.Keys(m.settings))
}

func (m Model) settingsLines() []string {
	out := []string{m.styles.title.Render("settings") + " (every interface's) · enter changes · esc back", ""}
	if m.settingsErr != "" {
		out = append(out, m.styles.err.Render(m.settingsErr), "")
	}
	if m.settings == nil {
		return append(out, "asking the daemon…")
	}
	keys := m.settingKeys()
	if len(keys) == 0 {
		out = append(out, "no settings")
	}
	for i, k := range keys {
		mark := "  "
		if i == m.settingCursor {
			mark = "> "
		}
		v := m.settings[k]
		if i == m.settingCursor && m.settingEdit != nil {
			v = m.settingEdit.View()
		}
		out = append(out, mark+fit(k, 32)+" "+v)
		if h := m.opts.SettingHelp; h != nil && i == m.settingCursor {
			if s := h(k); s != "" {
				out = append(out, "    "+m.styles.faint.Render(s))
			}
		}
	}
	return out
}

func (m Model) updateSettings(msg tea.Msg) (Model, tea.Cmd) {
	api := m.opts.Backend.(SettingsAPI)
	k, ok := msg.(tea.KeyPressMsg)
	if m.settingEdit != nil {
		if ok {
			switch k.String() {
			case "esc":
				m.settingEdit = nil
				return m, nil
			case "enter":
				key, val := m.settingKeys()[m.settingCursor], strings.TrimSpace(m.settingEdit.Value())
				m.settingEdit = nil
				return m, setSettingCmd(m.ctx, api, key, val)
			}
		}
		ti := *m.settingEdit
		var cmd tea.Cmd
		ti, cmd = ti.Update(msg)
		m.settingEdit = &ti
		return m, cmd
	}
	if !ok {
		return m, nil
	}
	keys := m.settingKeys()
	switch k.String() {
	case "ctrl+c":
		return m, tea.Quit
	case "esc", "q", ",":
		m.mode = modeList
	case "up", "k":
		m.settingCursor = max(m.settingCursor-1, 0)
	case "down", "j":
		m.settingCursor = min(m.settingCursor+1, max(len(keys)-1, 0))
	case "enter", "space":
		if len(keys) == 0 {
			return m, nil
		}
		key := keys[m.settingCursor]
		switch v := m.settings[key]; v {
		case "true", "false":
			return m, setSettingCmd(m.ctx, api, key, map[string]string{"true": "false", "false": "true"}[v])
		default:
			ti := newInput(v, "")
			m.settingEdit = &ti
			return m, m.settingEdit.Focus()
		}
	}
	return m, nil
}

func setSettingCmd(ctx context.Context, api SettingsAPI, key, value string) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, requestTimeout)
		defer cancel()
		return settingSetMsg{key: key, value: value, err: api.SetSetting(ctx, key, value)}
	}
}

func (m Model) openLog() (Model, tea.Cmd) {
	if _, ok := m.opts.Backend.(LogAPI); !ok {
		return m.unsupported("its log")
	}
	m.mode = modeLog
	m.log = &logState{level: "info"}
	return m.followLog()
}

// followLog (re)opens the log stream at the current level.
func (m Model) followLog() (Model, tea.Cmd) {
	api := m.opts.Backend.(LogAPI)
	lg := *m.log
	if lg.cancel != nil {
		lg.cancel()
	}
	lg.gen++
	lg.lines, lg.back, lg.err, lg.ch, lg.cancel = nil, 0, "", nil, nil
	m.log = &lg
	gen, level, parent := lg.gen, lg.level, m.ctx
	return m, func() tea.Msg {
		ctx, cancel := context.WithCancel(parent)
		ch := make(chan tea.Msg, 256)
		go func() {
			err := api.FollowDaemonLogLines(ctx, level, 200, func(l LogLine) error {
				select {
				case ch <- logLineMsg{gen: gen, line: l}:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			})
			if ctx.Err() != nil {
				return
			}
			ch <- logEndMsg{gen: gen, err: err}
		}()
		return logSubscribedMsg{gen: gen, ch: ch, cancel: cancel}
	}
}

func (m Model) onLogMsg(msg tea.Msg) (Model, tea.Cmd) {
	if m.log == nil {
		if s, ok := msg.(logSubscribedMsg); ok {
			s.cancel()
		}
		return m, nil
	}
	lg := *m.log
	m.log = &lg
	switch msg := msg.(type) {
	case logSubscribedMsg:
		if msg.gen != lg.gen {
			msg.cancel()
			return m, nil
		}
		lg.ch, lg.cancel = msg.ch, msg.cancel
		return m, waitCmd(msg.ch)
	case logLineMsg:
		if msg.gen != lg.gen {
			return m, nil
		}
		lg.lines = append(slices.Clip(lg.lines), msg.line)
		if len(lg.lines) > maxLogLines {
			lg.lines = lg.lines[len(lg.lines)-maxLogLines:]
		}
		if lg.back > 0 {
			lg.back++ // keep the view where the user scrolled it
		}
		return m, waitCmd(lg.ch)
	case logEndMsg:
		if msg.gen == lg.gen {
			lg.err = "the log stream ended"
			if msg.err != nil {
				lg.err = oneLine(msg.err.Error())
			}
		}
	}
	return m, nil
}

func (m Model) closeLog() Model {
	if m.log != nil && m.log.cancel != nil {
		m.log.cancel()
	}
	m.log, m.mode = nil, modeList
	return m
}

func (m Model) updateLog(msg tea.Msg) (Model, tea.Cmd) {
	k, ok := msg.(tea.KeyPressMsg)
	if !ok {
		if w, ok := msg.(tea.MouseWheelMsg); ok {
			lg := *m.log
			if w.Button == tea.MouseWheelUp {
				lg.back = min(lg.back+3, max(len(lg.lines)-1, 0))
			} else if w.Button == tea.MouseWheelDown {
				lg.back = max(lg.back-3, 0)
			}
			m.log = &lg
		}
		return m, nil
	}
	lg := *m.log
	m.log = &lg
	page := max(m.height-4, 1)
	switch k.String() {
	case "ctrl+c":
		return m, tea.Quit
	case "esc", "q", "L":
		return m.closeLog(), nil
	case "l":
		i := (slices.Index(logLevels, lg.level) + 1) % len(logLevels)
		lg.level = logLevels[i]
		return m.followLog()
	case "up", "k":
		lg.back = min(lg.back+1, max(len(lg.lines)-1, 0))
	case "down", "j":
		lg.back = max(lg.back-1, 0)
	case "pgup":
		lg.back = min(lg.back+page, max(len(lg.lines)-1, 0))
	case "pgdown":
		lg.back = max(lg.back-page, 0)
	case "end", "G", "f":
		lg.back = 0
	}
	return m, nil
}

func (m Model) logLines() []string {
	lg := m.log
	level := lg.level
	if level == "" {
		level = "all"
	}
	follow := "following"
	if lg.back > 0 {
		follow = fmt.Sprintf("%d lines back (f follows)", lg.back)
	}
	out := []string{m.styles.title.Render("daemon log") + fmt.Sprintf(" · level %s and up (l changes) · %s · esc back", level, follow)}
	if lg.err != "" {
		out = append(out, m.styles.err.Render(lg.err))
	}
	h := m.height - len(out) - 1
	end := len(lg.lines) - lg.back
	start := max(end-h, 0)
	for _, l := range lg.lines[start:end] {
		out = append(out, m.logLine(l))
	}
	if len(lg.lines) == 0 {
		out = append(out, "", "   nothing logged at this level yet")
	}
	for len(out) < m.height-1 {
		out = append(out, "")
	}
	return append(out[:m.height-1], m.footer())
}

func (m Model) logLine(l LogLine) string {
	ts := "        "
	if !l.Time.IsZero() {
		ts = l.Time.Local().Format("15:04:05")
	}
	lv := map[string]string{"trace": "TRC", "debug": "DBG", "info": "INF", "warn": "WRN", "error": "ERR", "fatal": "FTL", "panic": "PNC"}[l.Level]
	st := m.styles.faint
	switch l.Level {
	case "warn":
		st = m.styles.warn
	case "error", "fatal", "panic":
		st = m.styles.err
	case "info":
		st = m.styles.ok
	}
	var b strings.Builder
	b.WriteString(ts + " " + st.Render(fit(lv, 3)) + " " + l.Message)
	for _, k := range slices.Sorted(maps.Keys(l.Fields)) {
		fmt.Fprintf(&b, " %s=%v", m.styles.faint.Render(k), l.Fields[k])
	}
	return b.String()
}
