package tui

import (
	"charm.land/lipgloss/v2"

	"github.com/kftray-go/kftray/localapi"
)

// styles are the looks of kftui. With NO_COLOR they keep only bold,
// faint and reverse, which carry no color; the cursor and the selection
// also have marks of their own (> and *) so they read in plain text.
type styles struct {
	title, header, faint, bold, cursor, err, ok, warn, group, key, box lipgloss.Style
	status                                                             map[string]lipgloss.Style
}

func newStyles(noColor bool) styles {
	s := lipgloss.NewStyle
	st := styles{
		title:  s().Bold(true),
		header: s().Bold(true).Underline(true),
		faint:  s().Faint(true),
		bold:   s().Bold(true),
		cursor: s().Reverse(true),
		err:    s().Bold(true),
		ok:     s(),
		warn:   s(),
		group:  s().Bold(true),
		key:    s().Bold(true),
		box:    s().Border(lipgloss.RoundedBorder()).Padding(0, 1),
		status: map[string]lipgloss.Style{},
	}
	if noColor {
		return st
	}
	red, green, yellow, blue, grey := lipgloss.Color("1"), lipgloss.Color("2"), lipgloss.Color("3"), lipgloss.Color("4"), lipgloss.Color("8")
	st.title = st.title.Foreground(blue)
	st.err = st.err.Foreground(red)
	st.ok = st.ok.Foreground(green)
	st.warn = st.warn.Foreground(yellow)
	st.group = st.group.Foreground(blue)
	st.key = st.key.Foreground(blue)
	st.box = st.box.BorderForeground(blue)
	st.faint = st.faint.Foreground(grey)
	st.status = map[string]lipgloss.Style{
		localapi.StatusRunning:  s().Foreground(green),
		localapi.StatusStarting: s().Foreground(yellow),
		localapi.StatusRetrying: s().Foreground(yellow),
		localapi.StatusFailed:   s().Foreground(red).Bold(true),
		localapi.StatusStopped:  s().Foreground(grey),
	}
	return st
}

func (s styles) forStatus(status string) lipgloss.Style {
	if st, ok := s.status[status]; ok {
		return st
	}
	return lipgloss.NewStyle()
}
