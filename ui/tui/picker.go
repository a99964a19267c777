package tui

import (
	"path/filepath"

	"charm.land/bubbles/v2/filepicker"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
)

// picker is the import and export screen: a file picker (bubbles
// filepicker) and, for export, the file name to write.
type picker struct {
	fp        filepicker.Model
	name      textinput.Model // export: the file to write
	focusName bool
}

const exportName = "kftray-configs.json"

func (m Model) openPicker(md mode) (Model, tea.Cmd) {
	dir := m.opts.StartDir
	if dir == "" {
		dir = "."
	}
	fp := filepicker.New()
	fp.CurrentDirectory = dir
	fp.AutoHeight = false
	fp.ShowPermissions = false
	p := &picker{fp: fp}
	if md == modeImport {
		p.fp.AllowedTypes = []string{".json"}
	} else {
		p.fp.FileAllowed = false
		p.fp.DirAllowed = true
		p.name = textinput.New()
		p.name.Prompt = "export to: "
		p.name.SetValue(filepath.Join(dir, exportName))
		p.name.SetWidth(max(m.width-14, 20))
		p.focusName = true
	}
	p.resize(m.listHeight())
	m.mode, m.picker = md, p
	cmds := []tea.Cmd{p.fp.Init()}
	if p.focusName {
		cmds = append(cmds, p.name.Focus())
	}
	return m, tea.Batch(cmds...)
}

func (p *picker) resize(h int) { p.fp.SetHeight(max(h-1, 3)) }

func (m Model) updatePicker(msg tea.Msg) (Model, tea.Cmd) {
	p := *m.picker
	m.picker = &p
	if k, ok := msg.(tea.KeyPressMsg); ok {
		switch k.String() {
		case "ctrl+c":
			return m, tea.Quit
		case "esc", "q":
			if k.String() == "q" && p.focusName {
				break
			}
			m.mode, m.picker = modeList, nil
			return m, nil
		case "tab":
			if m.mode == modeExport {
				p.focusName = !p.focusName
				if p.focusName {
					return m, p.name.Focus()
				}
				p.name.Blur()
				return m, nil
			}
		case "enter":
			if p.focusName {
				path := p.name.Value()
				m.mode, m.picker = modeList, nil
				return m.setFlash(false, "exporting to %s…", path), exportCmd(m.ctx, m.opts.Backend, path)
			}
		}
		if p.focusName {
			var cmd tea.Cmd
			p.name, cmd = p.name.Update(msg)
			return m, cmd
		}
	}
	var cmd tea.Cmd
	before := p.fp.CurrentDirectory
	p.fp, cmd = p.fp.Update(msg)
	if m.mode == modeImport {
		if ok, path := p.fp.DidSelectFile(msg); ok {
			m.mode, m.picker = modeList, nil
			return m.setFlash(false, "importing %s…", path), importCmd(m.ctx, m.opts.Backend, path)
		}
		if ok, path := p.fp.DidSelectDisabledFile(msg); ok {
			return m.setFlash(true, "%s is not a .json file", path), cmd
		}
	} else if p.fp.CurrentDirectory != before {
		p.name.SetValue(filepath.Join(p.fp.CurrentDirectory, filepath.Base(p.name.Value())))
	}
	return m, cmd
}

func (m Model) pickerLines() []string {
	p := m.picker
	var out []string
	if m.mode == modeImport {
		out = append(out, m.styles.title.Render("import")+" kftray JSON into the daemon's configs (merged by identity)",
			"in "+p.fp.CurrentDirectory+"  ·  enter picks or opens · ←/h up a directory · esc cancels")
	} else {
		out = append(out, m.styles.title.Render("export")+" every config as kftray JSON (an existing file is not overwritten)",
			p.name.View(),
			"tab: browse directories / edit the name · enter writes · esc cancels")
	}
	out = append(out, "")
	for _, l := range splitLines(p.fp.View()) {
		out = append(out, l)
	}
	for len(out) < m.height-1 {
		out = append(out, "")
	}
	out = out[:m.height-1]
	return append(out, m.footer())
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}
