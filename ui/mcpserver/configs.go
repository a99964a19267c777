package mcpserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/localapi"
)

// importItem is one entry of a kftray export, passed through as written.
type importItem json.RawMessage

// MarshalJSON writes the entry as it came.
func (c importItem) MarshalJSON() ([]byte, error) { return ConfigObject(c).MarshalJSON() }

// UnmarshalJSON keeps the raw entry.
func (c *importItem) UnmarshalJSON(b []byte) error {
	*c = append((*c)[:0], b...)
	return nil
}

// ConfigRow is one config in a list, with where its forward stands.
type ConfigRow struct {
	ID      int64            `json:"id"`
	Name    string           `json:"name" jsonschema:"alias, else what it targets"`
	Status  string           `json:"status" jsonschema:"its forward's status: starting, running, retrying, failed or stopped"`
	Address string           `json:"address,omitempty" jsonschema:"local host:port while it runs"`
	Config  fwdconfig.Config `json:"config"`
}

type listConfigsOut struct {
	Configs []ConfigRow `json:"configs"`
	Listed
}

type getConfigOut struct {
	Config   fwdconfig.Config `json:"config"`
	Revision int64            `json:"revision" jsonschema:"pass to update_config to refuse the change if someone changed the config since"`
}

type createIn struct {
	Config ConfigObject `json:"config"`
}

type createOut struct {
	ID   int64  `json:"id" jsonschema:"the new config's id"`
	Name string `json:"name" jsonschema:"its name; start it with start_port_forward"`
}

type updateIn struct {
	Ref      string        `json:"ref" jsonschema:"the config's alias or id"`
	Changes  ConfigChanges `json:"changes"`
	Revision int64         `json:"revision,omitempty" jsonschema:"the revision get_config returned: refuse the change if the config changed since; leave out to change what is stored now"`
}

type updateOut struct {
	Config   fwdconfig.Config `json:"config" jsonschema:"the config as stored now"`
	Revision int64            `json:"revision"`
	Forward  ForwardState     `json:"forward" jsonschema:"its forward; one the daemon was running restarted with the new config"`
}

type deleteOut struct {
	Deleted int64 `json:"deleted" jsonschema:"the id of the deleted config"`
}

type exportOut struct {
	Configs []json.RawMessage `json:"configs" jsonschema:"every config in kftray's JSON (an export file's content: import it with import_configs, 'kftray config import' or the kftray app)"`
	Count   int               `json:"count"`
}

type importIn struct {
	Configs []importItem `json:"configs" jsonschema:"the configs to import: the content of a kftray export file (a JSON array of configs)"`
}

type validateIn struct {
	Config ConfigObject `json:"config"`
	Ref    string       `json:"ref,omitempty" jsonschema:"when the config is to replace an existing one: its alias or id (its own alias is then no clash)"`
}

type validOut struct {
	Valid bool `json:"valid"`
}

// maxConfigs caps import content: more is a file for the terminal.
const maxImport = 1 << 20

func (s *server) configTools() {
	add(s, &mcp.Tool{Name: "list_configs",
		Description: "List the configs (kftray's JSON fields, with id) and the status of each one's forward.",
		Annotations: readOnly("List configs", false)},
		func(ctx context.Context, c *localapi.Client, in Page) (listConfigsOut, error) {
			fs, err := c.Forwards(ctx)
			if err != nil {
				return listConfigsOut{}, err
			}
			rows := make([]ConfigRow, 0, len(fs))
			for _, f := range fs {
				rows = append(rows, ConfigRow{ID: f.ID, Name: f.Name, Status: f.Status, Address: f.Address, Config: f.Config})
			}
			var out listConfigsOut
			out.Configs, out.Listed, err = page(rows, in)
			return out, err
		})

	add(s, &mcp.Tool{Name: "get_config",
		Description: "Show one config (kftray's JSON fields) and its revision.",
		Annotations: readOnly("Get a config", false)},
		func(ctx context.Context, c *localapi.Client, in refIn) (getConfigOut, error) {
			if err := needRef(in.Ref); err != nil {
				return getConfigOut{}, err
			}
			cfg, err := c.Config(ctx, in.Ref)
			return getConfigOut{Config: cfg, Revision: cfg.Revision}, err
		})

	add(s, &mcp.Tool{Name: "create_config",
		Description: "Create a config (it does not start: use start_port_forward). A refused config comes back with every problem, field by field.",
		Annotations: changes("Create a config", false, false, false)},
		func(ctx context.Context, c *localapi.Client, in createIn) (createOut, error) {
			id, err := createConfig(ctx, c, in.Config)
			if err != nil {
				return createOut{}, err
			}
			f, err := c.Forward(ctx, strconv.FormatInt(id, 10))
			return createOut{ID: id, Name: f.Name}, err
		})

	add(s, &mcp.Tool{Name: "update_config",
		Description: "Change fields of a config (the others keep their values; null clears one). A forward the daemon runs for it restarts with the new config. With revision, the change is refused if someone changed the config since get_config returned it.",
		Annotations: changes("Update a config", true, false, false)},
		func(ctx context.Context, c *localapi.Client, in updateIn) (updateOut, error) {
			if err := needRef(in.Ref); err != nil {
				return updateOut{}, err
			}
			cur, err := c.Config(ctx, in.Ref)
			if err != nil {
				return updateOut{}, err
			}
			if in.Revision != 0 && in.Revision != cur.Revision {
				return updateOut{}, fmt.Errorf("config %q changed since you read it (revision %d, now %d); call get_config again and redo the change on what it returns", in.Ref, in.Revision, cur.Revision)
			}
			next, err := applyChanges(cur, in.Changes)
			if err != nil {
				return updateOut{}, err
			}
			ref := strconv.FormatInt(cur.ID, 10)
			if err := c.UpdateConfig(ctx, ref, next); err != nil {
				return updateOut{}, err
			}
			stored, err := c.Config(ctx, ref)
			if err != nil {
				return updateOut{}, err
			}
			f, err := c.Forward(ctx, ref)
			return updateOut{Config: stored, Revision: stored.Revision, Forward: stateOf(f)}, err
		})

	add(s, &mcp.Tool{Name: "delete_config",
		Description: "Delete a config; its forward is stopped first. This cannot be undone (export_configs first to keep a copy).",
		Annotations: changes("Delete a config", true, true, false)},
		func(ctx context.Context, c *localapi.Client, in refIn) (deleteOut, error) {
			if err := needRef(in.Ref); err != nil {
				return deleteOut{}, err
			}
			id, err := c.DeleteConfig(ctx, in.Ref)
			return deleteOut{Deleted: id}, err
		})

	add(s, &mcp.Tool{Name: "export_configs",
		Description: "Return every config as kftray JSON (what 'kftray config export' writes, importable by the kftray app). Writes no file.",
		Annotations: readOnly("Export configs", false)},
		func(ctx context.Context, c *localapi.Client, _ noArgs) (exportOut, error) {
			data, err := c.ExportConfigs(ctx)
			if err != nil {
				return exportOut{}, err
			}
			if len(data) > maxAnswer {
				return exportOut{}, fmt.Errorf("the export is %d KiB, more than this server sends at once (%d KiB); run 'kftray config export FILE' in a terminal instead", len(data)>>10, maxAnswer>>10)
			}
			var list []json.RawMessage
			if err := json.Unmarshal(data, &list); err != nil {
				return exportOut{}, fmt.Errorf("reading the daemon's export: %w", err)
			}
			if list == nil {
				list = []json.RawMessage{}
			}
			return exportOut{Configs: list, Count: len(list)}, nil
		})

	add(s, &mcp.Tool{Name: "import_configs",
		Description: "Import configs from kftray JSON content (an export file's array), merging as 'kftray config import' does: a config matching an existing one (same context, namespace, target and ports) updates it, others are added. All or nothing: a bad entry refuses the whole import, listing every problem. Reads no file.",
		Annotations: changes("Import configs", true, true, false)},
		func(ctx context.Context, c *localapi.Client, in importIn) (fwdconfig.ImportResult, error) {
			if len(in.Configs) == 0 {
				return fwdconfig.ImportResult{}, errors.New("configs is empty: pass the configs to import (a JSON array of kftray configs)")
			}
			data, err := json.Marshal(in.Configs)
			if err != nil {
				return fwdconfig.ImportResult{}, err
			}
			if len(data) > maxImport {
				return fwdconfig.ImportResult{}, fmt.Errorf("the configs are %d KiB, more than %d KiB; import the file with 'kftray config import FILE' in a terminal", len(data)>>10, maxImport>>10)
			}
			r, err := c.ImportConfigs(ctx, data)
			for _, l := range []*[]int64{&r.Added, &r.Updated, &r.Unchanged} {
				if *l == nil {
					*l = []int64{}
				}
			}
			return r, err
		})

	add(s, &mcp.Tool{Name: "validate_config",
		Description: "Check a config as create_config (or, with ref, update) would, saving nothing: every problem, field by field, or valid.",
		Annotations: readOnly("Validate a config", false)},
		func(ctx context.Context, c *localapi.Client, in validateIn) (validOut, error) {
			cfg, err := parseConfig(in.Config)
			if err != nil {
				return validOut{}, err
			}
			if in.Ref != "" {
				cur, err := c.Config(ctx, in.Ref)
				if err != nil {
					return validOut{}, err
				}
				cfg.ID = cur.ID
			}
			if err := c.ValidateConfig(ctx, cfg); err != nil {
				return validOut{}, err
			}
			return validOut{Valid: true}, nil
		})
}

// parseConfig decodes one config as the daemon will, so its problems come
// back field by field before anything is sent.
func parseConfig(obj ConfigObject) (fwdconfig.Config, error) {
	if len(bytes.TrimSpace(obj)) == 0 || string(bytes.TrimSpace(obj)) == "null" {
		return fwdconfig.Config{}, errors.New("config is required: an object with kftray's config fields (namespace, workload_type, service, remote_port...)")
	}
	return fwdconfig.ParseConfig(obj)
}

func createConfig(ctx context.Context, c *localapi.Client, obj ConfigObject) (int64, error) {
	cfg, err := parseConfig(obj)
	if err != nil {
		return 0, err
	}
	return c.CreateConfig(ctx, cfg)
}

// applyChanges sets the changed fields of cur (null clears one) and
// decodes the result as the daemon will.
func applyChanges(cur fwdconfig.Config, ch ConfigChanges) (fwdconfig.Config, error) {
	if len(ch) == 0 {
		return fwdconfig.Config{}, errors.New("changes is empty: pass the fields to change, e.g. {\"local_port\": 8080}")
	}
	if _, ok := ch["id"]; ok {
		return fwdconfig.Config{}, errors.New("a config's id cannot change; leave id out of changes")
	}
	b, err := json.Marshal(cur)
	if err != nil {
		return fwdconfig.Config{}, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return fwdconfig.Config{}, err
	}
	for k, v := range ch {
		if len(bytes.TrimSpace(v)) == 0 || string(bytes.TrimSpace(v)) == "null" {
			delete(fields, k)
		} else {
			fields[k] = v
		}
	}
	b, err = json.Marshal(fields)
	if err != nil {
		return fwdconfig.Config{}, err
	}
	next, err := fwdconfig.ParseConfig(b)
	if err != nil {
		return fwdconfig.Config{}, err
	}
	next.ID, next.Revision = cur.ID, cur.Revision
	return next, nil
}
