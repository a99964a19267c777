package tui

var (
	openers        = []string{"open"}
	clipboardTools = [][]string{{"pbcopy"}}
)
