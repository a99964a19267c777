//go:build !darwin

package tui

var (
	openers        = []string{"xdg-open", "sensible-browser"}
	clipboardTools = [][]string{{"wl-copy"}, {"xclip", "-selection", "clipboard"}, {"xsel", "--clipboard", "--input"}}
)
