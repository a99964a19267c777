// Package config is `kftray config`: add, list, show, edit, rm, import and
// export kftray-compatible port-forward configs.
package config

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/internal/cli/cmdutil"
	"github.com/kftray-go/kftray/store"
)

// NewCmdConfig builds `kftray config` and its subcommands.
func NewCmdConfig(f *cmdutil.Factory) *cobra.Command {
	cmd := cmdutil.GroupCommand(&cobra.Command{
		Use:   "config",
		Short: "Manage port-forward configs",
		Long: "Manage port-forward configs. Configs use kftray's JSON fields, so files exported\n" +
			"by kftray import unchanged and exports import into kftray. A config is named by its\n" +
			"alias (NAME) or its numeric ID; see 'kftray config list'.",
	})
	cmd.AddCommand(
		NewCmdAdd(f, nil),
		NewCmdList(f, nil),
		NewCmdShow(f, nil),
		NewCmdEdit(f, nil),
		NewCmdRm(f, nil),
		NewCmdImport(f, nil),
		NewCmdExport(f, nil),
		NewCmdDiscover(f, nil),
		NewCmdSync(f),
	)
	return cmd
}

// lookup resolves NAME|ID to a config.
func lookup(ctx context.Context, s *store.Store, ref string) (fwdconfig.Config, error) {
	c, err := s.LookupConfig(ctx, ref)
	if errors.Is(err, fwdconfig.ErrNotFound) {
		if _, numErr := strconv.ParseInt(ref, 10, 64); numErr == nil {
			return c, fmt.Errorf("no config with id %s (see 'kftray config list')", ref)
		}
		return c, fmt.Errorf("no config named %q (see 'kftray config list')", ref)
	}
	return c, err
}

func describe(c *fwdconfig.Config) string {
	if c.Alias != "" {
		return fmt.Sprintf("config %d (%s)", c.ID, c.Alias)
	}
	return fmt.Sprintf("config %d (%s, no alias)", c.ID, c.Name())
}
