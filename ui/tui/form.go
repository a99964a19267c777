package tui

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/localapi"
)

type fieldKind int

const (
	fText fieldKind = iota
	fChoice
	fBool
)

// field is one input of the config form. key is the config's kftray JSON
// name, which is also what fwdconfig's validation names, so each message
// lands under its field.
type field struct {
	key     string
	label   string
	kind    fieldKind
	choices []string
	input   textinput.Model
	on      bool
	choice  int
	help    string
	// only lists the workload types the field belongs to (nil: all).
	only []string
}

// form adds or edits one config.
type form struct {
	serial   int // which form: a listing answers the form that asked
	title    string
	id       int64 // 0: a new config
	base     fwdconfig.Config
	fields   []field
	focus    int
	errs     map[string]string
	general  string
	saving   bool
	optsNote map[string]string // per field: where its suggestions came from, or why there are none
}

func newInput(value, placeholder string) textinput.Model {
	ti := textinput.New()
	ti.Prompt = ""
	ti.Placeholder = placeholder
	st := ti.Styles()
	st.Cursor.Blink = false // deterministic screens
	ti.SetStyles(st)
	ti.SetValue(value)
	ti.SetWidth(40)
	ti.ShowSuggestions = true
	return ti
}

var (
	workloads = []string{fwdconfig.WorkloadService, fwdconfig.WorkloadPod, fwdconfig.WorkloadProxy, fwdconfig.WorkloadExpose}
	protocols = []string{fwdconfig.ProtocolTCP, fwdconfig.ProtocolUDP}
	exposures = []string{"public", "internal"}
	svc, pod  = []string{fwdconfig.WorkloadService}, []string{fwdconfig.WorkloadPod}
	proxy     = []string{fwdconfig.WorkloadProxy}
	expose    = []string{fwdconfig.WorkloadExpose}
	notExpose = []string{fwdconfig.WorkloadService, fwdconfig.WorkloadPod, fwdconfig.WorkloadProxy}
)

func itoa(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

func indexOf(xs []string, s string) int {
	for i, x := range xs {
		if x == s {
			return i
		}
	}
	return 0
}

// newForm builds the form for c (a copy of an existing config, or the
// defaults `kftray config add` uses).
func newForm(id int64, c fwdconfig.Config) *form {
	text := func(key, label, value, placeholder, help string, only []string) field {
		return field{key: key, label: label, kind: fText, input: newInput(value, placeholder), help: help, only: only}
	}
	f := &form{id: id, base: c, errs: map[string]string{}, optsNote: map[string]string{}}
	f.fields = []field{
		text("alias", "name", c.Alias, "e.g. web (the hostname with domain)", "how kftui, the CLI and the hosts file call it", nil),
		{key: "workload_type", label: "workload", kind: fChoice, choices: workloads, choice: indexOf(workloads, c.WorkloadType),
			help: "service: a Service's port · pod: pods by label · proxy: a host reached from the cluster · expose: a local port into the cluster"},
		{key: "protocol", label: "protocol", kind: fChoice, choices: protocols, choice: indexOf(protocols, c.Protocol), only: notExpose},
		text("kubeconfig", "kubeconfig", c.Kubeconfig, "default ($KUBECONFIG or ~/.kube/config)", "path of the kubeconfig file", nil),
		text("context", "context", c.Context, "the kubeconfig's current context", "", nil),
		text("namespace", "namespace", c.Namespace, "default", "", nil),
		text("service", "service", c.Service, "the Service's name", "", svc),
		text("target", "pod selector", c.Target, "e.g. app=web", "a label selector choosing the pods", pod),
		text("remote_address", "remote host", c.RemoteAddress, "host or IP reached from the cluster", "", proxy),
		text("remote_port", "remote port", itoa(c.RemotePort), "port in the cluster", "", notExpose),
		text("local_address", "local address", c.LocalAddress, "127.0.0.1", "", nil),
		text("local_port", "local port", itoa(c.LocalPort), "auto (a free port)", "", nil),
		{key: "auto_loopback_address", label: "own loopback IP", kind: fBool, on: c.AutoLoopbackAddress, only: notExpose,
			help: "listen on an allocated 127.x address (needs the helper)"},
		{key: "domain_enabled", label: "hostname", kind: fBool, on: c.DomainEnabled, only: notExpose,
			help: "put the name in /etc/hosts (needs the helper)"},
		{key: "exposure_type", label: "exposure", kind: fChoice, choices: exposures, choice: indexOf(exposures, c.ExposureType), only: expose},
		{key: "cert_manager_enabled", label: "cert-manager", kind: fBool, on: c.CertManagerEnabled, only: expose},
		text("cert_issuer", "cert issuer", c.CertIssuer, "", "", expose),
		text("cert_issuer_kind", "issuer kind", c.CertIssuerKind, "Issuer or ClusterIssuer", "", expose),
		text("ingress_class", "ingress class", c.IngressClass, "", "", expose),
	}
	return f
}

func (f *form) workload() string { return workloads[f.fields[f.fieldIndex("workload_type")].choice] }

func (f *form) visible(i int) bool {
	only := f.fields[i].only
	if only == nil {
		return true
	}
	for _, w := range only {
		if w == f.workload() {
			return true
		}
	}
	return false
}

func (f *form) fieldIndex(key string) int {
	for i, fl := range f.fields {
		if fl.key == key {
			return i
		}
	}
	return -1
}

// config reads the form into a config, with a problem per field that is
// not even a number.
func (f *form) config() (fwdconfig.Config, []fwdconfig.FieldError) {
	c := f.base
	c.ID = f.id
	var errs []fwdconfig.FieldError
	num := func(key string) int {
		s := strings.TrimSpace(f.fields[f.fieldIndex(key)].input.Value())
		if s == "" {
			return 0
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			errs = append(errs, fwdconfig.FieldError{Field: key, Msg: fmt.Sprintf("%q is not a number", s)})
		}
		return n
	}
	str := func(key string) string {
		i := f.fieldIndex(key)
		if !f.visible(i) {
			return ""
		}
		return strings.TrimSpace(f.fields[i].input.Value())
	}
	boolean := func(key string) bool {
		i := f.fieldIndex(key)
		return f.visible(i) && f.fields[i].on
	}
	c.WorkloadType = f.workload()
	c.Protocol = protocols[f.fields[f.fieldIndex("protocol")].choice]
	c.Alias, c.Kubeconfig, c.Context, c.Namespace = str("alias"), str("kubeconfig"), str("context"), str("namespace")
	c.Service, c.Target, c.RemoteAddress = str("service"), str("target"), str("remote_address")
	c.RemotePort = 0
	if f.visible(f.fieldIndex("remote_port")) {
		c.RemotePort = num("remote_port")
	}
	c.LocalAddress, c.LocalPort = str("local_address"), num("local_port")
	c.AutoLoopbackAddress, c.DomainEnabled = boolean("auto_loopback_address"), boolean("domain_enabled")
	c.ExposureType, c.CertManagerEnabled = "", boolean("cert_manager_enabled")
	if c.WorkloadType == fwdconfig.WorkloadExpose {
		c.ExposureType = exposures[f.fields[f.fieldIndex("exposure_type")].choice]
		c.Protocol = fwdconfig.ProtocolTCP
	}
	c.CertIssuer, c.CertIssuerKind, c.IngressClass = str("cert_issuer"), str("cert_issuer_kind"), str("ingress_class")
	return c, errs
}

// check validates the form as `kftray config add` does (fwdconfig's
// rules and messages) and files each problem under its field.
func (f *form) check() (fwdconfig.Config, bool) {
	c, errs := f.config()
	clear(f.errs)
	f.general = ""
	v := c
	if err := v.Validate(); err != nil {
		var ve *fwdconfig.ValidationError
		if errors.As(err, &ve) {
			errs = append(errs, ve.Problems...)
		} else {
			f.general = err.Error()
		}
	}
	for _, e := range errs {
		if _, dup := f.errs[e.Field]; dup {
			continue
		}
		if i := f.fieldIndex(e.Field); i >= 0 && f.visible(i) {
			f.errs[e.Field] = e.Msg
		} else {
			f.general = strings.TrimPrefix(f.general+"; ", "; ") + e.Error()
		}
	}
	return v, len(errs) == 0 && f.general == ""
}

func (m Model) openForm(e *entry) (Model, tea.Cmd) {
	if e == nil {
		return m.showForm(newForm(0, fwdconfig.Config{Namespace: "default", WorkloadType: fwdconfig.WorkloadService,
			Protocol: fwdconfig.ProtocolTCP, HTTPLogsAutoCleanup: true}))
	}
	api, ok := m.opts.Backend.(ConfigAPI)
	if !ok {
		return m.setFlash(true, "this daemon cannot edit configs over its API; use 'kftray config edit %s'", e.f.Name), nil
	}
	// Read it afresh: the form then carries its revision, and a save
	// over someone else's change is refused instead of undoing it.
	// The command runs in another goroutine: it gets copies, not the row.
	ref, name, parent := strconv.FormatInt(e.f.ID, 10), e.f.Name, m.ctx
	return m.setFlash(false, "reading %s…", name), func() tea.Msg {
		ctx, cancel := context.WithTimeout(parent, requestTimeout)
		defer cancel()
		c, err := api.Config(ctx, ref)
		return configLoadedMsg{cfg: c, err: err, name: name}
	}
}

// duplicate opens the form on a copy of a config, to save as a new one.
func (m Model) duplicate(e *entry) (Model, tea.Cmd) {
	c := e.f.Config
	c.ID, c.Revision = 0, 0
	if c.Alias != "" {
		c.Alias += "-copy"
	}
	if c.WorkloadType != fwdconfig.WorkloadExpose {
		c.LocalPort = 0 // the original's port is taken while it runs
	}
	f := newForm(0, c)
	f.title = "duplicate " + e.f.Name
	return m.showForm(f)
}

type configLoadedMsg struct {
	name string
	cfg  fwdconfig.Config
	err  error
}

func (m Model) showForm(f *form) (Model, tea.Cmd) {
	m.formSerial++
	f.serial = m.formSerial
	m.form, m.mode = f, modeForm
	m.flash = ""
	return m, tea.Batch(m.focusField(0), m.listFor(f, 0))
}

func (m *Model) focusField(i int) tea.Cmd {
	f := m.form
	for j := range f.fields {
		f.fields[j].input.Blur()
	}
	f.focus = i
	if f.fields[i].kind == fText {
		return f.fields[i].input.Focus()
	}
	return nil
}

func (m Model) moveField(d int) (Model, tea.Cmd) {
	f := m.form
	i := f.focus
	for {
		i = (i + d + len(f.fields)) % len(f.fields)
		if f.visible(i) {
			break
		}
	}
	return m, tea.Batch(m.focusField(i), m.listFor(f, i))
}

func (m Model) updateForm(msg tea.Msg) (Model, tea.Cmd) {
	// The form is shared by pointer between model copies; copy it so that
	// Update stays a function of its input.
	cp := *m.form
	cp.fields = append([]field(nil), m.form.fields...)
	cp.errs = cloneMap(m.form.errs)
	m.form = &cp
	f := m.form
	k, isKey := msg.(tea.KeyPressMsg)
	if !isKey {
		var cmd tea.Cmd
		fl := &f.fields[f.focus]
		if fl.kind == fText {
			fl.input, cmd = fl.input.Update(msg)
		}
		return m, cmd
	}
	fl := &f.fields[f.focus]
	switch k.String() {
	case "ctrl+c":
		return m, tea.Quit
	case "esc":
		m.mode, m.form = modeList, nil
		return m.setFlash(false, "nothing saved"), nil
	case "tab", "down", "ctrl+n", "shift+tab", "up", "ctrl+p":
		matched := 0
		if fl.kind == fText {
			matched = len(fl.input.MatchedSuggestions())
		}
		switch {
		case k.String() == "tab" && matched > 0 && fl.input.Value() != fl.input.CurrentSuggestion():
			// tab completes first
		case (k.String() == "ctrl+n" || k.String() == "ctrl+p") && matched > 1:
			// cycle the suggestions
		case k.String() == "tab" || k.String() == "down" || k.String() == "ctrl+n":
			return m.moveField(1)
		default:
			return m.moveField(-1)
		}
	case "ctrl+s", "enter":
		if f.saving {
			return m, nil
		}
		c, ok := f.check()
		if !ok {
			return m, nil
		}
		f.saving = true
		return m, saveCmd(m.ctx, m.opts.Backend, c)
	case "left", "right", "space":
		switch fl.kind {
		case fChoice:
			d := 1
			if k.String() == "left" {
				d = -1
			}
			fl.choice = (fl.choice + d + len(fl.choices)) % len(fl.choices)
			return m, nil
		case fBool:
			fl.on = !fl.on
			return m, nil
		}
	}
	if fl.kind != fText {
		return m, nil
	}
	var cmd tea.Cmd
	fl.input, cmd = fl.input.Update(msg)
	delete(f.errs, fl.key)
	return m, cmd
}

func cloneMap(in map[string]string) map[string]string {
	out := make(map[string]string, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}

// savedMsg is the answer to a save.
type savedMsg struct {
	name   string
	id     int64
	errs   []fwdconfig.FieldError // the daemon refused these fields
	err    error
	update bool
}

func saveCmd(ctx context.Context, b Backend, c fwdconfig.Config) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, requestTimeout)
		defer cancel()
		name := c.Name()
		if api, ok := b.(ConfigAPI); ok {
			if c.ID != 0 {
				err := api.UpdateConfig(ctx, strconv.FormatInt(c.ID, 10), c)
				var se *localapi.StatusError
				if errors.As(err, &se) && se.Code == 409 {
					err = fmt.Errorf("%s was changed elsewhere since you opened it; esc, then e edits the new version", name)
				}
				return savedMsg{name: name, id: c.ID, err: err, errs: fieldErrors(err), update: true}
			}
			id, err := api.CreateConfig(ctx, c)
			return savedMsg{name: name, id: id, err: err, errs: fieldErrors(err)}
		}
		// An older daemon: a new config goes in through import.
		data, err := fwdconfig.FormatConfigs([]fwdconfig.Config{c})
		if err != nil {
			return savedMsg{name: name, err: err}
		}
		res, err := b.ImportConfigs(ctx, data)
		if err != nil {
			return savedMsg{name: name, err: err, errs: fieldErrors(err)}
		}
		if len(res.Added) == 0 {
			// Import merged it into a config it counts as the same forward.
			return savedMsg{name: name, err: fmt.Errorf("a config for the same forward exists already (same context, namespace, workload and target); edit that one")}
		}
		return savedMsg{name: name, id: res.Added[0]}
	}
}

// FieldsError is a refused config with its problems field by field (the
// daemon's 400 answer, as the adapter of the API client passes it on).
type FieldsError struct {
	Msg      string
	Problems []fwdconfig.FieldError
}

func (e *FieldsError) Error() string { return e.Msg }

// fieldErrors pulls per-field problems out of a daemon's 400 answer
// ("...: field: message" lines), so they land under their fields.
func fieldErrors(err error) []fwdconfig.FieldError {
	var fe *FieldsError
	if errors.As(err, &fe) {
		return fe.Problems
	}
	var se *localapi.StatusError
	if !errors.As(err, &se) || se.Code != 400 {
		return nil
	}
	var out []fwdconfig.FieldError
	for _, line := range strings.Split(se.Msg, "\n") {
		line = strings.TrimSpace(line)
		if i := strings.LastIndex(line, "): "); i >= 0 {
			line = line[i+3:]
		}
		k, msg, ok := strings.Cut(line, ": ")
		if ok && !strings.ContainsAny(k, " \"") {
			out = append(out, fwdconfig.FieldError{Field: k, Msg: msg})
		}
	}
	return out
}

func (m Model) onSaved(msg savedMsg) (Model, tea.Cmd) {
	if m.form == nil {
		return m, loadCmd(m.ctx, m.opts.Backend)
	}
	cp := *m.form
	cp.errs = cloneMap(m.form.errs)
	m.form = &cp
	m.form.saving = false
	if msg.err != nil {
		if len(msg.errs) > 0 {
			for _, e := range msg.errs {
				if i := m.form.fieldIndex(e.Field); i >= 0 {
					m.form.errs[e.Field] = e.Msg
				}
			}
			return m, nil
		}
		m.form.general = oneLine(msg.err.Error())
		return m, nil
	}
	m.mode, m.form = modeList, nil
	if msg.id != 0 {
		m.wantKey = fwdKey(msg.id)
	}
	verb := "added"
	if msg.update {
		verb = "saved"
	}
	return m.setFlash(false, "%s %s; enter starts it", verb, msg.name), loadCmd(m.ctx, m.opts.Backend)
}

func (m Model) formLines() []string {
	f := m.form
	title := f.title
	switch {
	case title != "":
	case f.id != 0:
		title = "edit " + f.base.Name()
	default:
		title = "add a config"
	}
	out := []string{m.styles.title.Render(title) + " · tab/↓ next · ←/→/space change · enter saves · esc cancels", ""}
	labelW := 16
	focusLine := 0
	for i, fl := range f.fields {
		if !f.visible(i) {
			continue
		}
		mark := "  "
		if i == f.focus {
			mark = "> "
			focusLine = len(out)
		}
		var val string
		switch fl.kind {
		case fText:
			val = fl.input.View()
		case fChoice:
			var parts []string
			for j, c := range fl.choices {
				if j == fl.choice {
					parts = append(parts, m.styles.bold.Render("["+c+"]"))
				} else {
					parts = append(parts, " "+c+" ")
				}
			}
			val = strings.Join(parts, "")
		case fBool:
			if fl.on {
				val = "[x]"
			} else {
				val = "[ ]"
			}
			if fl.help != "" {
				val += " " + m.styles.faint.Render(fl.help)
			}
		}
		out = append(out, mark+fit(fl.label, labelW)+val)
		if e, ok := f.errs[fl.key]; ok {
			for _, l := range wrapTo([]string{"! " + e}, max(m.width-labelW-2, 20), 2) {
				if l != "" {
					out = append(out, strings.Repeat(" ", labelW+2)+m.styles.err.Render(l))
				}
			}
		} else if i == f.focus && fl.kind != fBool {
			if note := f.optsNote[fl.key]; note != "" {
				out = append(out, strings.Repeat(" ", labelW+2)+m.styles.faint.Render(note))
			} else if fl.help != "" {
				out = append(out, strings.Repeat(" ", labelW+2)+m.styles.faint.Render(fl.help))
			}
		}
	}
	out = append(out, "")
	if f.general != "" {
		out = append(out, m.styles.err.Render(f.general))
	}
	if len(f.errs) > 0 {
		out = append(out, m.styles.err.Render(fmt.Sprintf("%d problems: fix them and press enter again", len(f.errs))))
	}
	if f.saving {
		out = append(out, "saving…")
	}
	// A long form on a short screen scrolls to keep the focused field
	// (and the line under it) in view; the title stays.
	if over := focusLine + 3 - m.height; over > 0 {
		out = append(out[:1], out[1+over:]...)
	}
	return out
}
