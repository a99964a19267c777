// Package relaycmd is `kftray relay list|clean`: the kftray-server relays in
// a cluster, and cleaning up the ones this user's daemons left behind
// (crash, kill -9, lost connection at stop).
package relaycmd

import (
	"context"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	fwdaemon "github.com/kftray-go/kftray/forwarder/daemon"
	"github.com/kftray-go/kftray/forwarder/kube"
	"github.com/kftray-go/kftray/forwarder/relay"
	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/internal/cli/cmdutil"
	"github.com/kftray-go/kftray/internal/proc"
	"github.com/kftray-go/kftray/localapi"
)

type options struct {
	f          *cmdutil.Factory
	kubeconfig string
	context    string
	namespace  string
	json       bool
}

// NewCmdRelay builds `kftray relay`.
func NewCmdRelay(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "relay",
		Short: "List and clean up kftray's in-cluster relays",
		Long: "UDP and proxy forwards run a kftray-server relay Deployment in the cluster. kftray deletes\n" +
			"it when the forward stops. The daemon deletes, at start and every 5 minutes, the relays\n" +
			"of processes that are provably gone (an earlier daemon of this config directory, a\n" +
			"killed 'kftray run'); `kftray relay clean` deletes the other orphans (older kftray\n" +
			"versions, a cluster unreachable at stop). Statuses: in use, orphan, other session\n" +
			"(another config directory's daemon: left alone), other owner (another user or host).",
	}
	cmdutil.GroupCommand(cmd)
	cmd.AddCommand(newCmdList(f), newCmdClean(f))
	return cmd
}

func (o *options) flags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file(s) (default: $KUBECONFIG or ~/.kube/config)")
	cmd.Flags().StringVar(&o.context, "context", "", "kubeconfig context (default: the current one)")
	cmd.Flags().StringVarP(&o.namespace, "namespace", "n", "", "only this namespace (default: all)")
}

func newCmdList(f *cmdutil.Factory) *cobra.Command {
	o := &options{f: f}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List kftray relays in the cluster and whose they are",
		Args:  cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rows, err := o.find(cmd.Context())
			if err != nil {
				return err
			}
			if o.json {
				return cmdutil.WriteJSON(f.IO.Out, rows)
			}
			tw := tabwriter.NewWriter(f.IO.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAMESPACE\tNAME\tCONFIG\tOWNER\tREADY\tAGE\tSTATUS")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s@%s\t%d\t%s\t%s\n", r.Namespace, r.Name, r.ConfigID, r.OwnerUser, r.OwnerHost,
					r.Ready, time.Since(r.Created).Round(time.Second), r.Status)
			}
			return tw.Flush()
		},
	}
	o.flags(cmd)
	cmd.Flags().BoolVar(&o.json, "json", false, "print as JSON")
	return cmd
}

func newCmdClean(f *cmdutil.Factory) *cobra.Command {
	o := &options{f: f}
	cmd := &cobra.Command{
		Use:   "clean",
		Short: "Delete this user's relays that no running forward uses",
		Args:  cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			rows, err := o.find(ctx)
			if err != nil {
				return err
			}
			cl, err := o.cluster()
			if err != nil {
				return err
			}
			var orphans []relay.Info
			for _, r := range rows {
				if r.Status == relay.Orphan {
					orphans = append(orphans, r.Info)
				}
			}
			err = relay.Clean(ctx, cl.Client, cl.Config.Host, orphans)
			for _, r := range orphans {
				fmt.Fprintf(f.IO.Out, "deleted relay %s/%s (config %s)\n", r.Namespace, r.Name, r.ConfigID)
			}
			if len(orphans) == 0 {
				fmt.Fprintln(f.IO.Out, "no orphaned relays")
			}
			return err
		},
	}
	o.flags(cmd)
	return cmd
}

// Row is one relay as `relay list` shows it.
type Row struct {
	relay.Info
	Status relay.Status `json:"status"`
}

func (o *options) cluster() (*kube.Cluster, error) {
	return kube.Load(kube.Source{Kubeconfig: o.kubeconfig, Context: o.context})
}

func (o *options) find(ctx context.Context) ([]Row, error) {
	cl, err := o.cluster()
	if err != nil {
		return nil, err
	}
	list, err := relay.List(ctx, cl.Client, cl.Config.Host, o.namespace)
	if err != nil {
		return nil, err
	}
	inUse, err := o.livePods(ctx)
	if err != nil {
		return nil, err
	}
	live, dirKey, err := o.liveSession(ctx)
	if err != nil {
		return nil, err
	}
	owner := relay.LocalOwner(live)
	rows := make([]Row, 0, len(list))
	for _, r := range list {
		st := owner.StatusFor(r, dirKey, func(r relay.Info) bool {
			id, _ := strconv.ParseInt(r.ConfigID, 10, 64)
			return r.ServesPod(inUse[id])
		}, proc.Alive)
		rows = append(rows, Row{Info: r, Status: st})
	}
	return rows, nil
}

// liveSession returns the relay session of the daemon that runs now for
// this config directory ("" when none runs), and the directory's key.
func (o *options) liveSession(ctx context.Context) (string, string, error) {
	dir, err := o.f.ConfigDir()
	if err != nil {
		return "", "", err
	}
	if !localapi.PathsIn(dir).LockHeld() {
		return "", relay.DirKey(dir), nil
	}
	st, err := o.f.Store(ctx)
	if err != nil {
		return "", "", err
	}
	s, _, err := st.GetSetting(ctx, fwdaemon.RelaySessionKey)
	if err != nil {
		return "", "", fmt.Errorf("read the daemon's relay session: %w", err)
	}
	return s, relay.DirKey(dir), nil
}

// livePods maps config ids to the pod a live daemon forwards them to, from
// the runtime state daemons write to the store. A relay is in use when that
// pod is one of its pods.
func (o *options) livePods(ctx context.Context) (map[int64]string, error) {
	st, err := o.f.Store(ctx)
	if err != nil {
		return nil, err
	}
	states, err := st.GetStates(ctx)
	if err != nil {
		return nil, fmt.Errorf("read forward states: %w", err)
	}
	out := map[int64]string{}
	for _, s := range states {
		if (s.Status == fwdconfig.StatusRunning || s.Status == fwdconfig.StatusRetrying) && proc.Alive(s.PID) {
			out[s.ConfigID] = s.Pod
		}
	}
	return out, nil
}
