package tui

import (
	"fmt"
	"path/filepath"
	"strings"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/localapi"
)

// View renders the screen.
func (m Model) View() tea.View {
	v := tea.NewView(m.Render())
	v.AltScreen = true
	v.MouseMode = tea.MouseModeCellMotion
	v.WindowTitle = "kftui"
	return v // the text inputs draw their own (virtual) cursor
}

// Render is the screen as text, exactly width × height cells.
func (m Model) Render() string {
	var body []string
	switch m.mode {
	case modeHelp:
		body = m.helpLines()
	case modeImport, modeExport:
		body = m.pickerLines()
	case modeForm:
		body = m.formLines()
	case modeHelper:
		body = m.helperLines()
	case modeSettings:
		body = m.settingsLines()
	case modeLog:
		body = m.logLines()
	default:
		body = m.listScreen()
	}
	lines := make([]string, m.height)
	for i := range lines {
		s := ""
		if i < len(body) {
			s = body[i]
		}
		lines[i] = fit(s, m.width)
	}
	return strings.Join(lines, "\n")
}

// column widths of the list, for one screen width.
type columns struct {
	name, status, addr, pod, conns, in, out, spark int
}

const prefixWidth = 3 // cursor mark, selection mark, space

func layout(width int) columns {
	c := columns{status: 8, conns: 7, in: 5, out: 5, spark: sparkWidth}
	fixed := func() int {
		n := prefixWidth + c.status + 1
		for _, w := range []int{c.conns, c.in, c.out, c.spark} {
			if w > 0 {
				n += w + 1
			}
		}
		return n + 2 // the gaps after name and address
	}
	// Narrow screens drop the least needed columns first; the detail
	// pane still shows them for the current row.
	for _, drop := range []*int{&c.conns, &c.out, &c.in, &c.spark} {
		if width-fixed() >= 12+15+18 {
			break
		}
		*drop = 0
	}
	rest := max(width-fixed(), 12)
	c.name = min(max(rest*3/10, 10), 24)
	c.addr = min(max(rest*3/10, 15), 24)
	c.pod = max(rest-c.name-c.addr, 1)
	if c.pod > 40 {
		// Give the surplus back to the name and the address.
		extra := c.pod - 40
		c.pod = 40
		c.name = min(c.name+extra/2, 32)
		c.addr += extra - extra/2
	}
	return c
}

func (c columns) row(name, status, addr, pod, conns, in, out, spark string) string {
	var b strings.Builder
	b.WriteString(fit(name, c.name))
	b.WriteString(" ")
	b.WriteString(status)
	b.WriteString(" ")
	b.WriteString(fit(addr, c.addr))
	b.WriteString(" ")
	b.WriteString(fit(pod, c.pod))
	for _, col := range []struct {
		w int
		s string
	}{{c.conns, conns}, {c.in, in}, {c.out, out}} {
		if col.w > 0 {
			b.WriteString(" ")
			b.WriteString(fitRight(col.s, col.w))
		}
	}
	if c.spark > 0 {
		b.WriteString(" ")
		b.WriteString(fit(spark, c.spark))
	}
	return b.String()
}

func (m Model) listScreen() []string {
	items := m.items()
	c := layout(m.width)
	out := []string{m.titleLine(), strings.Repeat(" ", prefixWidth) +
		m.styles.header.Render(c.row("NAME", fit("STATUS", c.status), "ADDRESS", "POD", "CONNS", "IN", "OUT", "TRAFFIC"))}

	h := m.listHeight()
	switch {
	case len(m.entries) == 0 && m.conn == connDown:
		out = append(out, "")
		for _, l := range wrapTo(m.downLines(), m.width-3, 6) {
			if l != "" {
				out = append(out, "   "+l)
			}
		}
	case len(m.entries) == 0 && m.conn == connConnecting:
		out = append(out, "", "   connecting to the kftray daemon…")
	case len(m.entries) == 0 && m.conn == connLive:
		out = append(out, "", "   no configs yet: press a to add one, i to import")
	case len(items) == 0 && len(m.entries) > 0:
		out = append(out, "", fmt.Sprintf("   nothing matches %q (esc clears the filter)", m.filter.Value()))
	}
	rows := 0
	for i := m.offset; i < len(items) && rows < h; i++ {
		out = append(out, m.itemLine(items[i], c, i == m.cursorIdx))
		rows++
	}
	for len(out) < 2+h {
		out = append(out, "")
	}
	out = out[:2+h]
	out = append(out, m.styles.faint.Render(strings.Repeat("─", m.width)))
	out = append(out, m.detailLines()...)
	return append(out, m.footer())
}

func (m Model) titleLine() string {
	running, n := 0, len(m.entries)
	for _, e := range m.entries {
		if e.f.Status == localapi.StatusRunning {
			running++
		}
	}
	left := m.styles.title.Render("kftui") + fmt.Sprintf(" · %s · %d running · sort: %s", plural(n, "config"), running, m.sortBy)
	if m.grouped {
		left += " · grouped"
	}
	if f := m.filter.Value(); f != "" && m.mode != modeFilter {
		left += fmt.Sprintf(" · filter %q", f)
	}
	var right string
	switch m.conn {
	case connDown:
		right = m.styles.err.Render("daemon unreachable")
	case connConnecting:
		right = "connecting…"
	default:
		right = "? help"
	}
	gap := m.width - ansi.StringWidth(left) - ansi.StringWidth(right)
	if gap < 1 {
		return left
	}
	return left + strings.Repeat(" ", gap) + right
}

func (m Model) itemLine(it item, c columns, isCursor bool) string {
	mark := " "
	if isCursor {
		mark = ">"
	}
	var line string
	switch it.kind {
	case itemContext, itemNamespace:
		fold := "▾"
		if m.collapsed[it.key] {
			fold = "▸"
		}
		line = mark + "  " + strings.Repeat("  ", it.depth) + m.styles.group.Render(fold+" "+it.label) +
			m.styles.faint.Render(fmt.Sprintf("  %d/%d running", it.live, it.total))
	default:
		f := it.e.f
		sel := " "
		if m.selected[f.ID] {
			sel = "*"
		}
		name := strings.Repeat("  ", it.depth) + f.Name
		status := m.styles.forStatus(f.Status).Render(fit(f.Status, c.status))
		addr, pod, conns, in, out, spark := hostPort(f), "", "", "", "", ""
		if addr == "" {
			addr = m.styles.faint.Render(plannedAddress(f.Config))
		}
		if isActive(f.Status) {
			pod = f.Pod
			conns = fmt.Sprintf("%d/%d", f.ActiveConns, f.TotalConns)
			in, out = bytesShort(f.BytesFromPod), bytesShort(f.BytesToPod)
			spark = sparkline(it.e.tr.rate(m.now))
		}
		line = mark + sel + " " + c.row(name, status, addr, pod, conns, in, out, spark)
	}
	if isCursor {
		return m.styles.cursor.Render(fit(line, m.width))
	}
	return line
}

// plannedAddress is where a stopped forward will listen.
func plannedAddress(c fwdconfig.Config) string {
	host := c.LocalAddress
	if c.DomainEnabled && c.Alias != "" {
		host = c.Alias
	} else if host == "" {
		host = "127.0.0.1"
		if c.AutoLoopbackAddress {
			host = "127.x"
		}
	}
	port := "auto" // a free port, picked at start
	if c.LocalPort != 0 {
		port = fmt.Sprint(c.LocalPort)
	}
	return host + ":" + port
}

// what describes a config's target in words.
func what(c fwdconfig.Config) string {
	port := ""
	if c.RemotePort != 0 {
		port = fmt.Sprintf(" port %d", c.RemotePort)
	}
	proto := ""
	if c.Protocol == fwdconfig.ProtocolUDP {
		proto = " (udp)"
	}
	switch c.WorkloadType {
	case fwdconfig.WorkloadService:
		return "service " + c.Service + port + proto
	case fwdconfig.WorkloadPod:
		return "pods " + c.Target + port + proto
	case fwdconfig.WorkloadProxy:
		return fmt.Sprintf("%s:%d through the relay%s", c.RemoteAddress, c.RemotePort, proto)
	case fwdconfig.WorkloadExpose:
		return fmt.Sprintf("local port %d exposed as %s", c.LocalPort, c.Alias)
	}
	return c.WorkloadType
}

func (m Model) detailLines() []string {
	if m.conn == connDown && len(m.entries) > 0 {
		return wrapTo(m.downLines(), m.width, 3)
	}
	it, ok := m.current()
	if !ok {
		return []string{"", "", ""}
	}
	if it.e == nil {
		return []string{
			m.styles.group.Render(it.label) + fmt.Sprintf(": %s, %d running", plural(it.total, "config"), it.live),
			"enter or click folds it; s, x start and stop all of it; space selects all of it",
			"",
		}
	}
	f, c := it.e.f, it.e.f.Config
	kc := c.Kubeconfig
	if kc == "" {
		kc = "default"
	}
	l1 := fmt.Sprintf("%s: %s in %s · context %s · kubeconfig %s", m.styles.bold.Render(f.Name), what(c), c.Namespace, contextLabel(c.Context), kc)

	st := m.styles.forStatus(f.Status).Render(f.Status)
	var l2 string
	switch f.Status {
	case localapi.StatusRunning, localapi.StatusStarting:
		l2 = st
		if s := ago(m.now, f.Since); s != "" {
			l2 += " for " + s
		}
		if a := hostPort(f); a != "" {
			l2 += " on " + a
			if a != f.Address {
				l2 += " (" + f.Address + ")"
			}
		}
		if f.Pod != "" {
			l2 += " → pod " + f.Pod
		}
		if f.Transport != "" {
			l2 += " via " + f.Transport
		}
	case localapi.StatusRetrying:
		l2 = st
		var parts []string
		if f.Attempt > 0 {
			parts = append(parts, fmt.Sprintf("attempt %d", f.Attempt))
		}
		if d := f.NextTry.Sub(m.now); !f.NextTry.IsZero() && d > 0 {
			parts = append(parts, "next try in "+span(d))
		} else if !f.NextTry.IsZero() {
			parts = append(parts, "trying now")
		}
		if len(parts) > 0 {
			l2 += " (" + strings.Join(parts, ", ") + ")"
		}
		if f.LastError != "" {
			l2 += ": " + oneLine(f.LastError)
		}
	case localapi.StatusFailed:
		l2 = st + ": " + oneLine(f.LastError)
	default:
		l2 = st + " · will listen on " + plannedAddress(c) + " · enter or s starts it"
	}
	var l3 string
	if isActive(f.Status) || f.TotalConns > 0 {
		l3 = fmt.Sprintf("connections %d active, %d total · in %s · out %s · reconnects %d",
			f.ActiveConns, f.TotalConns, bytesShort(f.BytesFromPod), bytesShort(f.BytesToPod), f.Reconnects)
		if f.PID != 0 {
			l3 += fmt.Sprintf(" · pid %d", f.PID)
		}
	}
	if l3 == "" {
		// Room for a long error on two lines.
		return wrapTo([]string{l1, l2}, m.width, 3)
	}
	return []string{l1, l2, l3}
}

// downLines say that the daemon cannot be reached, why, and what to do.
func (m Model) downLines() []string {
	log := "daemon.log in the kftray config directory"
	if m.opts.ConfigDir != "" {
		log = filepath.Join(m.opts.ConfigDir, "daemon.log")
	}
	how := "run 'kftray daemon start'"
	if m.opts.Ensure != nil {
		how = "ctrl+r starts it (its forwards are restored)"
	}
	return []string{
		m.styles.err.Render("cannot reach the kftray daemon: ") + m.connErr,
		how + "; q quits; its log: " + log,
	}
}

// wrapTo wraps each paragraph to width and keeps n lines, the first
// paragraph getting what the later ones leave.
func wrapTo(paras []string, width, n int) []string {
	var wrapped [][]string
	for _, p := range paras {
		wrapped = append(wrapped, strings.Split(ansi.Wrap(p, width, ""), "\n"))
	}
	out := make([]string, 0, n)
	for i, w := range wrapped {
		room := n - len(out) - (len(wrapped) - i - 1) // keep a line for each later paragraph
		if room <= 0 {
			break
		}
		if len(w) > room {
			w = w[:room]
			w[room-1] = ansi.Truncate(w[room-1], width-1, "") + "…"
		}
		out = append(out, w...)
	}
	for len(out) < n {
		out = append(out, "")
	}
	return out
}

func plural(n int, word string) string { // "1 config", "2 configs"
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func (m Model) footer() string {
	switch m.mode {
	case modeFilter:
		return m.filter.View()
	case modeConfirm:
		return m.styles.warn.Render(m.confirm.question)
	}
	if m.flash != "" {
		if m.flashErr {
			return m.styles.err.Render(m.flash)
		}
		return m.flash
	}
	hint := "enter start/stop · space select · / filter · g group · a add · ? help · q quit"
	if n := len(m.selected); n > 0 {
		hint = fmt.Sprintf("%d selected · s start · x stop · d delete · esc unselect", n)
	}
	return m.styles.faint.Render(hint)
}

func (m Model) helpLines() []string {
	out := []string{m.styles.title.Render("kftui") + " keys (any key closes this)", ""}
	// Two columns, split between sections near the middle.
	var secs [][]string
	total := 0
	for _, s := range m.keys.helpSections() {
		lines := []string{m.styles.group.Render(s.title)}
		for _, b := range s.keys {
			h := b.Help()
			lines = append(lines, " "+m.styles.key.Render(fit(h.Key, 8))+" "+h.Desc)
		}
		secs = append(secs, lines)
		total += len(lines)
	}
	var col [2][]string
	c := 0
	for _, lines := range secs {
		if c == 0 && len(col[0])+len(lines) > (total+1)/2+2 {
			c = 1
		}
		col[c] = append(col[c], lines...)
	}
	w := m.width / 2
	for i := 0; i < max(len(col[0]), len(col[1])); i++ {
		var l, r string
		if i < len(col[0]) {
			l = col[0][i]
		}
		if i < len(col[1]) {
			r = col[1][i]
		}
		out = append(out, fit(l, w)+r)
	}
	out = append(out, "Forwards keep running in the daemon when kftui quits (unless --stop-on-exit).")
	return out
}
