package fwdconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
)

// fieldDecoders decode each kftray JSON field into a Config. Keeping one
// decoder per field lets a bad file report every bad field, not just the
// first one encoding/json trips over.
var fieldDecoders = map[string]func(c *Config, raw json.RawMessage) error{
	"id":                       func(c *Config, r json.RawMessage) error { return decodeInt64(r, &c.ID) },
	"alias":                    strField(func(c *Config) *string { return &c.Alias }),
	"context":                  strField(func(c *Config) *string { return &c.Context }),
	"kubeconfig":               strField(func(c *Config) *string { return &c.Kubeconfig }),
	"namespace":                strField(func(c *Config) *string { return &c.Namespace }),
	"workload_type":            strField(func(c *Config) *string { return &c.WorkloadType }),
	"protocol":                 strField(func(c *Config) *string { return &c.Protocol }),
	"service":                  strField(func(c *Config) *string { return &c.Service }),
	"target":                   strField(func(c *Config) *string { return &c.Target }),
	"remote_address":           strField(func(c *Config) *string { return &c.RemoteAddress }),
	"remote_port":              portField(func(c *Config) *int { return &c.RemotePort }),
	"local_address":            strField(func(c *Config) *string { return &c.LocalAddress }),
	"local_port":               portField(func(c *Config) *int { return &c.LocalPort }),
	"auto_loopback_address":    boolField(func(c *Config) *bool { return &c.AutoLoopbackAddress }),
	"domain_enabled":           boolField(func(c *Config) *bool { return &c.DomainEnabled }),
	"http_logs_enabled":        boolField(func(c *Config) *bool { return &c.HTTPLogsEnabled }),
	"http_logs_max_file_size":  decodeMaxFileSize,
	"http_logs_retention_days": decodeRetention,
	"http_logs_auto_cleanup":   boolField(func(c *Config) *bool { return &c.HTTPLogsAutoCleanup }),
	"exposure_type":            strField(func(c *Config) *string { return &c.ExposureType }),
	"cert_manager_enabled":     boolField(func(c *Config) *bool { return &c.CertManagerEnabled }),
	"cert_issuer":              strField(func(c *Config) *string { return &c.CertIssuer }),
	"cert_issuer_kind":         strField(func(c *Config) *string { return &c.CertIssuerKind }),
	"ingress_class":            strField(func(c *Config) *string { return &c.IngressClass }),
	"ingress_annotations":      decodeAnnotations,
}

// KnownFields lists the JSON field names a config may have, sorted.
func KnownFields() []string {
	names := make([]string, 0, len(fieldDecoders))
	for n := range fieldDecoders {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func isNull(r json.RawMessage) bool { return string(bytes.TrimSpace(r)) == "null" }

func strField(get func(*Config) *string) func(*Config, json.RawMessage) error {
	return func(c *Config, r json.RawMessage) error {
		if isNull(r) {
			return nil
		}
		if err := json.Unmarshal(r, get(c)); err != nil {
			return fmt.Errorf("must be a string, got %s", describe(r))
		}
		return nil
	}
}

// boolField accepts true/false and the strings "true"/"false", as kftray does.
func boolField(get func(*Config) *bool) func(*Config, json.RawMessage) error {
	return func(c *Config, r json.RawMessage) error {
		if isNull(r) {
			return nil
		}
		var b bool
		if err := json.Unmarshal(r, &b); err == nil {
			*get(c) = b
			return nil
		}
		var s string
		if err := json.Unmarshal(r, &s); err == nil {
			switch s {
			case "true":
				*get(c) = true
				return nil
			case "false":
				*get(c) = false
				return nil
			}
		}
		return fmt.Errorf("must be true or false, got %s", describe(r))
	}
}

func decodeInt64(r json.RawMessage, dst *int64) error {
	if isNull(r) {
		return nil
	}
	var f float64
	if err := json.Unmarshal(r, &f); err != nil {
		return fmt.Errorf("must be a number, got %s", describe(r))
	}
	if f != math.Trunc(f) || f < math.MinInt64 || f > math.MaxInt64 {
		return fmt.Errorf("must be a whole number, got %s", describe(r))
	}
	*dst = int64(f)
	return nil
}

func intField(get func(*Config) *int) func(*Config, json.RawMessage) error {
	return func(c *Config, r json.RawMessage) error {
		var v int64
		if err := decodeInt64(r, &v); err != nil {
			return err
		}
		if v < math.MinInt32 || v > math.MaxInt32 {
			return fmt.Errorf("%d is out of range", v)
		}
		*get(c) = int(v)
		return nil
	}
}

// An explicit 0 is out of range (kftray rejects it too); only a missing
// field means the default.
func decodeMaxFileSize(c *Config, r json.RawMessage) error {
	if err := decodeInt64(r, &c.HTTPLogsMaxFileSize); err != nil {
		return err
	}
	if !isNull(r) && c.HTTPLogsMaxFileSize < 1 {
		return fmt.Errorf("%d bytes is out of range 1..%d (100 MiB)", c.HTTPLogsMaxFileSize, MaxHTTPLogsMaxFileSize)
	}
	return nil
}

func decodeRetention(c *Config, r json.RawMessage) error {
	if err := intField(func(c *Config) *int { return &c.HTTPLogsRetentionDays })(c, r); err != nil {
		return err
	}
	if !isNull(r) && c.HTTPLogsRetentionDays < 1 {
		return fmt.Errorf("%d is out of range 1..%d", c.HTTPLogsRetentionDays, MaxHTTPLogsRetentionDays)
	}
	return nil
}

func portField(get func(*Config) *int) func(*Config, json.RawMessage) error {
	return func(c *Config, r json.RawMessage) error {
		var v int64
		if err := decodeInt64(r, &v); err != nil {
			return fmt.Errorf("must be a port number 1..65535, got %s", describe(r))
		}
		if v < 0 || v > 65535 {
			return fmt.Errorf("%d is out of range 1..65535", v)
		}
		*get(c) = int(v)
		return nil
	}
}

// decodeAnnotations takes kftray's form (a string holding a JSON object) and
// the plain object form.
func decodeAnnotations(c *Config, r json.RawMessage) error {
	if isNull(r) {
		return nil
	}
	var s string
	if err := json.Unmarshal(r, &s); err == nil {
		if strings.TrimSpace(s) == "" {
			return nil
		}
		r = json.RawMessage(s)
	}
	var m map[string]string
	if err := json.Unmarshal(r, &m); err != nil {
		return fmt.Errorf(`must be a JSON object of string values (or a string holding one, as kftray writes it), e.g. "{\"key\":\"value\"}"`)
	}
	c.IngressAnnotations = m
	return nil
}

func describe(r json.RawMessage) string {
	s := strings.TrimSpace(string(r))
	if len(s) > 40 {
		s = s[:37] + "..."
	}
	return s
}

// decodeConfig decodes one JSON object into a normalized Config and
// validates it, collecting every problem (unknown fields included). Missing
// fields take kftray's defaults.
func decodeConfig(raw json.RawMessage) (Config, []FieldError) {
	c := Config{HTTPLogsAutoCleanup: true}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return c, []FieldError{{Field: "(entry)", Msg: fmt.Sprintf("must be a JSON object, got %s", describe(raw))}}
	}
	var errs []FieldError
	bad := map[string]bool{}
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		dec, ok := fieldDecoders[n]
		if !ok {
			errs = append(errs, FieldError{Field: n, Msg: "unknown field" + suggest(n)})
			continue
		}
		if err := dec(&c, fields[n]); err != nil {
			errs = append(errs, FieldError{Field: n, Msg: err.Error()})
			bad[n] = true
		}
	}
	// Validate what did decode, so one pass reports everything; a field that
	// failed to decode is not reported again as missing.
	c.normalize()
	for _, p := range c.problems() {
		if !bad[p.Field] {
			errs = append(errs, p)
		}
	}
	return c, errs
}

// suggest names a known field close to an unknown one (a typo or a
// camelCase spelling).
func suggest(name string) string {
	norm := func(s string) string { return strings.ToLower(strings.NewReplacer("_", "", "-", "").Replace(s)) }
	best, bestDist := "", 3 // suggest only close names
	for _, k := range KnownFields() {
		if d := editDistance(norm(k), norm(name)); d < bestDist {
			best, bestDist = k, d
		}
	}
	if best != "" {
		return fmt.Sprintf("; did you mean %q?", best)
	}
	return "; the known fields are listed in docs/configuration.md"
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// UnmarshalJSON decodes kftray's JSON strictly and validates the result:
// unknown fields, wrongly typed values and invalid configs are a
// *ValidationError listing every problem.
func (c *Config) UnmarshalJSON(data []byte) error {
	dec, errs := decodeConfig(data)
	if len(errs) > 0 {
		return &ValidationError{Name: dec.Name(), Problems: errs}
	}
	dec.Revision = c.Revision
	*c = dec
	return nil
}

// MarshalJSON writes kftray's JSON with kftray's defaults left out, so the
// output imports into kftray and back into this store unchanged.
func (c Config) MarshalJSON() ([]byte, error) {
	n := c
	n.normalize()
	type plain struct {
		ID                    int64  `json:"id,omitempty"`
		Alias                 string `json:"alias,omitempty"`
		Context               string `json:"context,omitempty"`
		Kubeconfig            string `json:"kubeconfig,omitempty"`
		Namespace             string `json:"namespace"`
		WorkloadType          string `json:"workload_type"`
		Protocol              string `json:"protocol"`
		Service               string `json:"service,omitempty"`
		Target                string `json:"target,omitempty"`
		RemoteAddress         string `json:"remote_address,omitempty"`
		RemotePort            int    `json:"remote_port,omitempty"`
		LocalAddress          string `json:"local_address,omitempty"`
		LocalPort             int    `json:"local_port,omitempty"`
		AutoLoopbackAddress   bool   `json:"auto_loopback_address,omitempty"`
		DomainEnabled         bool   `json:"domain_enabled,omitempty"`
		HTTPLogsEnabled       bool   `json:"http_logs_enabled,omitempty"`
		HTTPLogsMaxFileSize   int64  `json:"http_logs_max_file_size,omitempty"`
		HTTPLogsRetentionDays int    `json:"http_logs_retention_days,omitempty"`
		HTTPLogsAutoCleanup   *bool  `json:"http_logs_auto_cleanup,omitempty"`
		ExposureType          string `json:"exposure_type,omitempty"`
		CertManagerEnabled    bool   `json:"cert_manager_enabled,omitempty"`
		CertIssuer            string `json:"cert_issuer,omitempty"`
		CertIssuerKind        string `json:"cert_issuer_kind,omitempty"`
		IngressClass          string `json:"ingress_class,omitempty"`
		IngressAnnotations    string `json:"ingress_annotations,omitempty"`
	}
	p := plain{
		ID: n.ID, Alias: n.Alias, Context: n.Context, Kubeconfig: n.Kubeconfig,
		Namespace: n.Namespace, WorkloadType: n.WorkloadType, Protocol: n.Protocol,
		Service: n.Service, Target: n.Target, RemoteAddress: n.RemoteAddress,
		RemotePort: n.RemotePort, LocalAddress: n.LocalAddress, LocalPort: n.LocalPort,
		AutoLoopbackAddress: n.AutoLoopbackAddress, DomainEnabled: n.DomainEnabled,
		HTTPLogsEnabled:    n.HTTPLogsEnabled,
		ExposureType:       n.ExposureType,
		CertManagerEnabled: n.CertManagerEnabled, CertIssuer: n.CertIssuer,
		CertIssuerKind: n.CertIssuerKind, IngressClass: n.IngressClass,
	}
	if n.HTTPLogsMaxFileSize != DefaultHTTPLogsMaxFileSize {
		p.HTTPLogsMaxFileSize = n.HTTPLogsMaxFileSize
	}
	if n.HTTPLogsRetentionDays != DefaultHTTPLogsRetentionDays {
		p.HTTPLogsRetentionDays = n.HTTPLogsRetentionDays
	}
	if !n.HTTPLogsAutoCleanup {
		f := false
		p.HTTPLogsAutoCleanup = &f
	}
	if len(n.IngressAnnotations) > 0 {
		b, err := json.Marshal(n.IngressAnnotations) // map keys come out sorted
		if err != nil {
			return nil, err
		}
		p.IngressAnnotations = string(b)
	}
	return json.Marshal(p)
}

// EntryError is every problem with one entry of an imported file.
type EntryError struct {
	Index    int    // 1-based position in the file
	Name     string // alias, else service/target/remote address
	Problems []FieldError
}

// ImportError rejects a whole file; nothing from it was written.
type ImportError struct {
	Source  string // file name, or "" when unknown
	Entries []EntryError
	Err     error // a problem with the file as a whole (not JSON, empty)
}

func (e *ImportError) Error() string {
	var b strings.Builder
	src := e.Source
	if src == "" {
		src = "input"
	}
	if e.Err != nil {
		fmt.Fprintf(&b, "cannot import %s: %v", src, e.Err)
		return b.String()
	}
	n := 0
	for _, en := range e.Entries {
		n += len(en.Problems)
	}
	fmt.Fprintf(&b, "cannot import %s: %d problem(s); nothing was imported", src, n)
	for _, en := range e.Entries {
		for _, p := range en.Problems {
			fmt.Fprintf(&b, "\n  entry %d (%s): %s: %s", en.Index, en.Name, p.Field, p.Msg)
		}
	}
	return b.String()
}

// ParseConfigs decodes and validates a kftray config file: a JSON array of
// configs or a single config object. It returns every problem at once as an
// *ImportError. The configs come back normalized, ids as in the file.
func ParseConfigs(data []byte) ([]Config, error) {
	data = bytes.TrimSpace(data)
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // a BOM some editors add
	if len(data) == 0 {
		return nil, &ImportError{Err: errors.New("the file is empty; expected a JSON array of configs or one config object")}
	}
	var raws []json.RawMessage
	switch data[0] {
	case '[':
		if err := json.Unmarshal(data, &raws); err != nil {
			return nil, &ImportError{Err: fmt.Errorf("not valid JSON: %v", jsonErr(data, err))}
		}
	case '{':
		if !json.Valid(data) {
			var v any
			return nil, &ImportError{Err: fmt.Errorf("not valid JSON: %v", jsonErr(data, json.Unmarshal(data, &v)))}
		}
		raws = []json.RawMessage{data}
	default:
		return nil, &ImportError{Err: fmt.Errorf("expected a JSON array of configs or one config object, got %s", describe(data))}
	}
	configs := make([]Config, 0, len(raws))
	ie := &ImportError{}
	for i, raw := range raws {
		c, errs := decodeConfig(raw)
		if len(errs) > 0 {
			ie.Entries = append(ie.Entries, EntryError{Index: i + 1, Name: c.Name(), Problems: errs})
		}
		configs = append(configs, c)
	}
	if len(ie.Entries) > 0 {
		return nil, ie
	}
	return configs, nil
}

// jsonErr adds a line:column to encoding/json's syntax errors.
func jsonErr(data []byte, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line, col := 1, 1
		for _, b := range data[:max(0, min(int(se.Offset)-1, len(data)))] {
			if b == '\n' {
				line, col = line+1, 1
			} else {
				col++
			}
		}
		return fmt.Errorf("line %d, column %d: %w", line, col, err)
	}
	return err
}

// FormatConfigs renders configs as the pretty JSON array kftray imports:
// ids stripped, defaults left out.
func FormatConfigs(configs []Config) ([]byte, error) {
	out := make([]Config, len(configs))
	for i, c := range configs {
		c.ID = 0
		out[i] = c
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
