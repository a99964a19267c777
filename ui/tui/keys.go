package tui

import "charm.land/bubbles/v2/key"

// keyMap is every binding of the list screen; the help overlay (?) and
// docs/cli.md list them in this order.
type keyMap struct {
	Up, Down, PageUp, PageDown, Top, Bottom key.Binding
	Pages, Ends                             key.Binding // help lines for the two pairs above
	Collapse, Expand                        key.Binding
	Select, SelectAll                       key.Binding
	Toggle, Start, Stop, StartAll, StopAll  key.Binding
	Restart, Delete                         key.Binding
	Add, Edit, Duplicate                    key.Binding
	CopyAddr, CopyURL, Browse               key.Binding
	Filter, Group, Sort, Refresh            key.Binding
	Import, Export                          key.Binding
	Helper, Settings, Log                   key.Binding
	Help, Quit                              key.Binding
}

func newKeyMap() keyMap {
	b := func(keys []string, k, help string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(k, help))
	}
	return keyMap{
		Up:        b([]string{"up", "k"}, "↑/k", "move up"),
		Down:      b([]string{"down", "j"}, "↓/j", "move down"),
		PageUp:    b([]string{"pgup", "ctrl+b"}, "pgup", "page up"),
		PageDown:  b([]string{"pgdown", "ctrl+f"}, "pgdn", "page down"),
		Top:       b([]string{"home"}, "home", "first row"),
		Bottom:    b([]string{"end", "G"}, "end/G", "last row"),
		Pages:     b([]string{"pgup", "pgdown"}, "pgup/dn", "page up, down"),
		Ends:      b([]string{"home", "end"}, "home/G", "first, last row"),
		Collapse:  b([]string{"left", "h"}, "←/h", "collapse group"),
		Expand:    b([]string{"right", "l"}, "→/l", "expand group"),
		Select:    b([]string{"space"}, "space", "select / unselect"),
		SelectAll: b([]string{"ctrl+a"}, "ctrl+a", "select all shown, or none"),
		Toggle:    b([]string{"enter"}, "enter", "start or stop; fold a group"),
		Start:     b([]string{"s"}, "s", "start"),
		Stop:      b([]string{"x"}, "x", "stop"),
		StartAll:  b([]string{"S"}, "S", "start all"),
		StopAll:   b([]string{"X"}, "X", "stop all"),
		Restart:   b([]string{"r"}, "r", "restart"),
		Delete:    b([]string{"d", "delete"}, "d", "delete (asks first)"),
		Add:       b([]string{"a"}, "a", "add a config"),
		Edit:      b([]string{"e"}, "e", "edit the config"),
		Duplicate: b([]string{"D"}, "D", "duplicate the config"),
		CopyAddr:  b([]string{"c"}, "c", "copy host:port"),
		CopyURL:   b([]string{"C"}, "C", "copy http://host:port/"),
		Browse:    b([]string{"w"}, "w", "open in the browser"),
		Filter:    b([]string{"/"}, "/", "filter"),
		Group:     b([]string{"g"}, "g", "group by context, namespace"),
		Sort:      b([]string{"o"}, "o", "sort by name, status, ns, port"),
		Refresh:   b([]string{"ctrl+r"}, "ctrl+r", "reload; start the daemon"),
		Import:    b([]string{"i"}, "i", "import kftray JSON"),
		Export:    b([]string{"E"}, "E", "export kftray JSON"),
		Helper:    b([]string{"H"}, "H", "root helper status"),
		Settings:  b([]string{","}, ",", "settings"),
		Log:       b([]string{"L"}, "L", "daemon log (l: level)"),
		Help:      b([]string{"?"}, "?", "help"),
		Quit:      b([]string{"q", "ctrl+c"}, "q", "quit (forwards keep running)"),
	}
}

// helpSections groups the bindings for the help overlay.
func (k keyMap) helpSections() []struct {
	title string
	keys  []key.Binding
} {
	return []struct {
		title string
		keys  []key.Binding
	}{
		{"move", []key.Binding{k.Up, k.Down, k.Pages, k.Ends, k.Collapse, k.Expand}},
		{"select", []key.Binding{k.Select, k.SelectAll, k.Filter}},
		{"forwards", []key.Binding{k.Toggle, k.Start, k.Stop, k.StartAll, k.StopAll, k.Restart}},
		{"configs", []key.Binding{k.Add, k.Edit, k.Duplicate, k.Delete, k.Import, k.Export}},
		{"use", []key.Binding{k.CopyAddr, k.CopyURL, k.Browse}},
		{"view", []key.Binding{k.Group, k.Sort, k.Refresh, k.Help, k.Quit}},
		{"daemon", []key.Binding{k.Helper, k.Settings, k.Log}},
	}
}
