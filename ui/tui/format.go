package tui

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"
)

// bytesShort renders a byte count in at most 5 cells: 0, 999, 1.0K, 12K,
// 1.5M, 3.2G.
func bytesShort(n int64) string {
	const unit = 1024
	if n < 1000 {
		return fmt.Sprint(n)
	}
	v, i := float64(n), 0
	for v >= 1000 && i < 4 {
		v /= unit
		i++
	}
	suffix := "KMGT"[i-1 : i]
	if v < 10 {
		return fmt.Sprintf("%.1f%s", v, suffix)
	}
	return fmt.Sprintf("%.0f%s", v, suffix)
}

// ago renders how long before now t was, coarsely (5s, 3m, 2h, 4d).
func ago(now, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return span(now.Sub(t))
}

// span renders a duration coarsely, never negative.
func span(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// fit truncates s to w cells (with …) and pads it to exactly w.
func fit(s string, w int) string {
	if w <= 0 {
		return ""
	}
	s = ansi.Truncate(s, w, "…")
	if pad := w - ansi.StringWidth(s); pad > 0 {
		s += strings.Repeat(" ", pad)
	}
	return s
}

// fitRight is fit, aligned right.
func fitRight(s string, w int) string {
	if w <= 0 {
		return ""
	}
	s = ansi.Truncate(s, w, "…")
	if pad := w - ansi.StringWidth(s); pad > 0 {
		s = strings.Repeat(" ", pad) + s
	}
	return s
}

// oneLine flattens an error message to one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
