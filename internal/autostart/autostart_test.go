package autostart

import (
	"bytes"
	"encoding/xml"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// An awkward config directory: spaces, quotes, specifiers, variables.
const oddDir = `/home/me/my "kftray" 100% $HOME\x`

// TestSystemdUnitVerifies: systemd's own checker accepts the unit (its
// warnings count as failures too).
func TestSystemdUnitVerifies(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	unit := SystemdUnit(Spec{Exe: exe, ConfigDir: oddDir})
	for _, want := range []string{
		`ExecStart="` + exe + `" --config-dir "/home/me/my \"kftray\" 100%% $$HOME\\x" daemon`,
		"Restart=on-abnormal", "WantedBy=default.target",
	} {
		if !strings.Contains(unit, want+"\n") {
			t.Errorf("unit lacks %q:\n%s", want, unit)
		}
	}
	bin, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("no systemd-analyze here; the unit's text was checked")
	}
	dir := t.TempDir()
	p := filepath.Join(dir, UnitName)
	if err := os.WriteFile(p, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	run := t.TempDir()
	cmd := exec.Command(bin, "verify", "--user", p)
	cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+run)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify --user: %v\n%s\n%s", err, out, unit)
	}
	// And a broken unit does fail that check (so it can fail).
	if err := os.WriteFile(p, []byte(strings.Replace(unit, "Type=simple", "Type=simplex", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command(bin, "verify", "--user", p)
	cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+run)
	if out, _ := cmd.CombinedOutput(); len(bytes.TrimSpace(out)) == 0 {
		t.Fatal("systemd-analyze verify said nothing about Type=simplex: the check above proves nothing")
	}
}

// TestDesktopEntry: the autostart entry and its Exec quoting (the Desktop
// Entry Specification's two levels of escaping).
func TestDesktopEntry(t *testing.T) {
	e := DesktopEntry(Spec{Exe: "/opt/kf tray/kftray", ConfigDir: oddDir})
	want := `Exec="/opt/kf tray/kftray" --config-dir "/home/me/my \\"kftray\\" 100%% \\$HOME\\\\x" tray`
	if !strings.Contains(e, "\n"+want+"\n") || !strings.HasPrefix(e, "[Desktop Entry]\nType=Application\n") {
		t.Fatalf("desktop entry:\n%s\nwant the line %s", e, want)
	}
	if bin, err := exec.LookPath("desktop-file-validate"); err == nil {
		p := filepath.Join(t.TempDir(), DesktopName)
		os.WriteFile(p, []byte(e), 0o644)
		if out, err := exec.Command(bin, p).CombinedOutput(); err != nil || len(out) > 0 {
			t.Fatalf("desktop-file-validate: %v %s", err, out)
		}
	}
}

// plistValue is a parsed property-list value.
type plistValue struct {
	kind  string // string, true, false, array, dict, integer
	str   string
	items []plistValue          // array
	keys  []string              // dict, in order
	dict  map[string]plistValue // dict
}

// parsePlist reads a property list as plutil -lint does: the XML
// declaration, Apple's DOCTYPE, <plist version="1.0"> around one value,
// dicts of alternating <key> and value.
func parsePlist(t *testing.T, doc string) plistValue {
	t.Helper()
	if !strings.HasPrefix(doc, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">`) {
		t.Fatalf("no XML declaration and plist DOCTYPE:\n%s", doc)
	}
	d := xml.NewDecoder(strings.NewReader(doc))
	d.Strict = true
	next := func() xml.Token {
		for {
			tok, err := d.Token()
			if err != nil {
				t.Fatalf("plist XML: %v", err)
			}
			switch v := tok.(type) {
			case xml.CharData:
				if len(bytes.TrimSpace(v)) == 0 {
					continue
				}
			case xml.ProcInst, xml.Directive, xml.Comment:
				continue
			}
			return xml.CopyToken(tok)
		}
	}
	var value func(start xml.StartElement) plistValue
	text := func(name string) string {
		var b strings.Builder
		for {
			tok, err := d.Token()
			if err != nil {
				t.Fatal(err)
			}
			switch v := tok.(type) {
			case xml.CharData:
				b.Write(v)
			case xml.EndElement:
				if v.Name.Local != name {
					t.Fatalf("</%s> in <%s>", v.Name.Local, name)
				}
				return b.String()
			default:
				t.Fatalf("element inside <%s>", name)
			}
		}
	}
	value = func(start xml.StartElement) plistValue {
		switch start.Name.Local {
		case "string", "integer":
			return plistValue{kind: start.Name.Local, str: text(start.Name.Local)}
		case "true", "false":
			if end, ok := next().(xml.EndElement); !ok || end.Name.Local != start.Name.Local {
				t.Fatalf("<%s/> is not empty", start.Name.Local)
			}
			return plistValue{kind: start.Name.Local}
		case "array":
			v := plistValue{kind: "array"}
			for {
				switch tok := next().(type) {
				case xml.EndElement:
					return v
				case xml.StartElement:
					v.items = append(v.items, value(tok))
				}
			}
		case "dict":
			v := plistValue{kind: "dict", dict: map[string]plistValue{}}
			for {
				switch tok := next().(type) {
				case xml.EndElement:
					return v
				case xml.StartElement:
					if tok.Name.Local != "key" {
						t.Fatalf("<%s> where a <key> belongs in a dict", tok.Name.Local)
					}
					k := text("key")
					if _, dup := v.dict[k]; dup {
						t.Fatalf("key %q twice", k)
					}
					vs, ok := next().(xml.StartElement)
					if !ok {
						t.Fatalf("key %q without a value", k)
					}
					v.keys = append(v.keys, k)
					v.dict[k] = value(vs)
				}
			}
		}
		t.Fatalf("<%s> is not a property-list type", start.Name.Local)
		return plistValue{}
	}
	root, ok := next().(xml.StartElement)
	if !ok || root.Name.Local != "plist" || len(root.Attr) != 1 || root.Attr[0].Name.Local != "version" || root.Attr[0].Value != "1.0" {
		t.Fatalf("root %v; want <plist version=\"1.0\">", root)
	}
	first, ok := next().(xml.StartElement)
	if !ok {
		t.Fatal("empty plist")
	}
	v := value(first)
	if end, ok := next().(xml.EndElement); !ok || end.Name.Local != "plist" {
		t.Fatal("more than one value in <plist>")
	}
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if cd, ok := tok.(xml.CharData); err != nil || !ok || len(bytes.TrimSpace(cd)) > 0 {
			t.Fatalf("content after </plist>: %v %v", tok, err)
		}
	}
	return v
}

// TestLaunchAgentPlist: the LaunchAgents are property lists of the shape
// launchd reads, with the arguments exactly as given (XML-escaped).
func TestLaunchAgentPlist(t *testing.T) {
	s := Spec{Exe: "/Applications/kftray & co/kftray", ConfigDir: "/Users/me/<kf>"}
	for _, tc := range []struct {
		label string
		args  []string
		keep  bool
	}{{DaemonLabel, DaemonArgs(s), true}, {TrayLabel, TrayArgs(s), false}} {
		v := parsePlist(t, LaunchAgent(tc.label, tc.args, tc.keep))
		if v.kind != "dict" || v.dict["Label"].str != tc.label || v.dict["RunAtLoad"].kind != "true" {
			t.Fatalf("%s: %+v", tc.label, v)
		}
		var args []string
		for _, a := range v.dict["ProgramArguments"].items {
			if a.kind != "string" {
				t.Fatalf("argument of kind %s", a.kind)
			}
			args = append(args, a.str)
		}
		if !slices.Equal(args, tc.args) {
			t.Fatalf("ProgramArguments %q, want %q", args, tc.args)
		}
		ka, has := v.dict["KeepAlive"]
		if has != tc.keep || (has && (ka.kind != "dict" || ka.dict["Crashed"].kind != "true" || len(ka.keys) != 1)) {
			t.Fatalf("%s KeepAlive %+v", tc.label, ka)
		}
	}
	if got := DaemonArgs(s); !slices.Equal(got, []string{s.Exe, "--config-dir", s.ConfigDir, "daemon", "--detached"}) {
		t.Fatalf("daemon args %q", got)
	}
}
