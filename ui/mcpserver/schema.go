package mcpserver

import (
	"encoding/json"
	"reflect"

	"github.com/google/jsonschema-go/jsonschema"

	"github.com/kftray-go/kftray/fwdconfig"
)

// ConfigObject is one config in kftray's JSON, passed to the daemon as
// written: fwdconfig decodes it and names every problem field by field,
// in the words of `kftray config add` (a schema validator's words would be
// vaguer).
type ConfigObject json.RawMessage

// MarshalJSON writes the object as it came.
func (c ConfigObject) MarshalJSON() ([]byte, error) {
	if len(c) == 0 {
		return []byte("null"), nil
	}
	return c, nil
}

// UnmarshalJSON keeps the raw object.
func (c *ConfigObject) UnmarshalJSON(b []byte) error {
	*c = append((*c)[:0], b...)
	return nil
}

// ConfigChanges is a partial config: the fields to set, null to clear.
type ConfigChanges map[string]json.RawMessage

// UnmarshalJSON keeps a null value as null (it clears its field), which a
// decoder may otherwise drop.
func (c *ConfigChanges) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*c = m
	return nil
}

// configField is one field of kftray's config JSON (docs/configuration.md).
type configField struct {
	name, typ, desc string
	enum            []any
	min, max        float64 // integers only; 0 0 means no bound
}

var configFields = []configField{
	{name: "alias", typ: "string", desc: "the config's name, unique (case-insensitive), not all digits, no spaces; with domain_enabled it is the hostname put in /etc/hosts"},
	{name: "context", typ: "string", desc: "kubeconfig context (see list_kube_contexts); leave out for the kubeconfig's current context"},
	{name: "kubeconfig", typ: "string", desc: "kubeconfig path list (as in KUBECONFIG); leave out for the default ($KUBECONFIG, else ~/.kube/config)"},
	{name: "namespace", typ: "string", desc: "required: the namespace of the service, pods or relay"},
	{name: "workload_type", typ: "string", enum: []any{"service", "pod", "proxy", "expose"},
		desc: "required: service (a Service's port, needs service and remote_port), pod (pods matching the label selector in target, needs target and remote_port), proxy (remote_address:remote_port reached through a relay pod), expose (a local port exposed into the cluster under alias)"},
	{name: "protocol", typ: "string", enum: []any{"tcp", "udp"}, desc: "tcp (default) or udp (UDP goes through a relay pod)"},
	{name: "service", typ: "string", desc: "Service name, for workload_type service (see list_services)"},
	{name: "target", typ: "string", desc: "pod label selector such as app=web, for workload_type pod (see list_pods)"},
	{name: "remote_address", typ: "string", desc: "host name or IP reached from inside the cluster, for workload_type proxy"},
	{name: "remote_port", typ: "integer", min: 1, max: 65535, desc: "port in the cluster; for a service, the Service port (list_services or list_ports show them); required but for expose"},
	{name: "local_address", typ: "string", desc: "local IP to listen on; default 127.0.0.1"},
	{name: "local_port", typ: "integer", min: 1, max: 65535, desc: "local port; leave out to pick a free one when the forward starts (ports below 1024 need the root helper: see helper_status)"},
	{name: "auto_loopback_address", typ: "boolean", desc: "listen on a loopback address of its own (127.0.0.x), so the forward can use its cluster port; needs the root helper"},
	{name: "domain_enabled", typ: "boolean", desc: "put alias in /etc/hosts pointing at the local address; needs the root helper"},
	{name: "http_logs_enabled", typ: "boolean", desc: "log HTTP requests and responses of this forward"},
	{name: "http_logs_max_file_size", typ: "integer", min: 1, max: fwdconfig.MaxHTTPLogsMaxFileSize, desc: "HTTP log file size limit in bytes; default 10485760"},
	{name: "http_logs_retention_days", typ: "integer", min: 1, max: fwdconfig.MaxHTTPLogsRetentionDays, desc: "days to keep HTTP logs; default 7"},
	{name: "http_logs_auto_cleanup", typ: "boolean", desc: "delete HTTP logs older than the retention; default true"},
	{name: "exposure_type", typ: "string", enum: []any{"public", "internal"}, desc: "for workload_type expose"},
	{name: "cert_manager_enabled", typ: "boolean", desc: "request a certificate through cert-manager (expose)"},
	{name: "cert_issuer", typ: "string", desc: "cert-manager issuer (expose)"},
	{name: "cert_issuer_kind", typ: "string", desc: "Issuer or ClusterIssuer (expose)"},
	{name: "ingress_class", typ: "string", desc: "ingress class (expose)"},
	{name: "ingress_annotations", typ: "object", desc: "ingress annotations, an object of strings (expose)"},
}

const configDesc = "one port-forward config with kftray's JSON fields (docs/configuration.md); " +
	"other fields are refused. Required: namespace, workload_type, and per workload_type: " +
	"service+remote_port, pod: target+remote_port, proxy: remote_address+remote_port, expose: alias+local_port"

// configSchema describes a config. For input it is what create_config
// and validate_config take; changes makes every field nullable (null
// clears it, as in update_config); output describes what the daemon sends
// back (kftray's JSON, with id, ingress annotations as a JSON string).
func configSchema(mode string) *jsonschema.Schema {
	s := &jsonschema.Schema{Type: "object", Description: configDesc, Properties: map[string]*jsonschema.Schema{}}
	for _, f := range configFields {
		p := &jsonschema.Schema{Type: f.typ, Description: f.desc, Enum: f.enum}
		if f.max != 0 {
			p.Minimum, p.Maximum = jsonschema.Ptr(f.min), jsonschema.Ptr(f.max)
		}
		if f.typ == "object" {
			p.AdditionalProperties = &jsonschema.Schema{Type: "string"}
		}
		switch mode {
		case "changes":
			p.Type, p.Types = "", []string{f.typ, "null"}
			if p.Enum != nil {
				p.Enum = append(append([]any(nil), p.Enum...), nil)
			}
		case "output":
			// Exports and the daemon write kftray's forms: annotations
			// as a string holding a JSON object, booleans as booleans.
			p.Enum, p.Minimum, p.Maximum = nil, nil, nil
			if f.typ == "object" {
				p.Type, p.AdditionalProperties = "", nil
				p.Types = []string{"string", "object"}
			}
		}
		s.Properties[f.name] = p
		s.PropertyOrder = append(s.PropertyOrder, f.name)
	}
	switch mode {
	case "changes":
		s.Description = "the fields to change, with kftray's names and types; null clears a field (back to its default). Fields left out keep their values"
	case "output":
		s.Properties["id"] = &jsonschema.Schema{Type: "integer", Description: "the config's id"}
	}
	return s
}

// typeSchemas are the hand-written schemas of types reflection cannot
// describe (custom JSON).
func typeSchemas() map[reflect.Type]*jsonschema.Schema {
	return map[reflect.Type]*jsonschema.Schema{
		reflect.TypeFor[ConfigObject]():     configSchema("input"),
		reflect.TypeFor[ConfigChanges]():    configSchema("changes"),
		reflect.TypeFor[fwdconfig.Config](): configSchema("output"),
		reflect.TypeFor[json.RawMessage]():  configSchema("output"), // export entries
		reflect.TypeFor[importItem]():       {Type: "object", Description: "one config as in a kftray export file (kftray's field names; booleans may be strings)"},
	}
}

// schemaFor infers the schema of T, with the hand-written ones above.
func schemaFor[T any]() (*jsonschema.Schema, error) {
	return jsonschema.For[T](&jsonschema.ForOptions{TypeSchemas: typeSchemas()})
}
