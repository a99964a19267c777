package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/kftray-go/kftray/forwarder/httpapi"
	"github.com/kftray-go/kftray/forwarder/kube"
	"github.com/kftray-go/kftray/forwarder/relay"
	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/internal/proc"
	"github.com/kftray-go/kftray/localapi"
	"github.com/kftray-go/kftray/packaging/kftray-server/manifest"
)

// relayRow is one relay found in a cluster with what it is to this user.
type relayRow struct {
	info   relay.Info
	status relay.Status
}

// findRelays lists the relays in q's cluster and classifies them as
// `kftray relay list` does: in use when a live kftray process of this
// user forwards through it (its state in the store names one of the
// relay's pods) or it is this daemon's own, an orphan when it is this
// user's and host's otherwise, another owner's else.
func (d *daemon) findRelays(ctx context.Context, q localapi.RelayQuery) (*kube.Cluster, []relayRow, error) {
	cl, err := d.cluster(q.ClusterRef)
	if err != nil {
		return nil, nil, err
	}
	list, err := relay.List(ctx, cl.Client, cl.Config.Host, q.Namespace)
	if err != nil {
		return nil, nil, relayError(ctx, cl, err)
	}
	states, err := d.core.st.GetStates(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("reading forward states: %w", err)
	}
	inUse := map[int64]string{}
	for _, s := range states {
		if (s.Status == fwdconfig.StatusRunning || s.Status == fwdconfig.StatusRetrying) && d.core.owners.alive(s.PID) {
			inUse[s.ConfigID] = s.Pod
		}
	}
	owner := relay.LocalOwner("")
	own := ""
	if m, ok := d.core.eng.(interface{ RelayOwner() relay.Owner }); ok {
		owner = m.RelayOwner()
		own = manifest.LabelValue(owner.Session)
	}
	rows := make([]relayRow, 0, len(list))
	for _, r := range list {
		rows = append(rows, relayRow{info: r, status: owner.StatusFor(r, relay.DirKey(d.dir), func(r relay.Info) bool {
			// A relay of this daemon run may still be starting: no state
			// names its pod yet, and it is not an orphan.
			if own != "" && r.OwnerSession == own {
				return true
			}
			id, _ := strconv.ParseInt(r.ConfigID, 10, 64)
			return r.ServesPod(inUse[id])
		}, proc.Alive)})
	}
	return cl, rows, nil
}

// relayError gives a relay listing or deletion error its HTTP status.
func relayError(ctx context.Context, cl *kube.Cluster, err error) error {
	switch {
	case apierrors.IsForbidden(err):
		return httpapi.WithStatus(http.StatusForbidden, err)
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return httpapi.WithStatus(http.StatusBadGateway, fmt.Errorf("API server %s (context %q) did not answer within %s: %w", cl.Config.Host, cl.Context, clusterTimeout, err))
	}
	return httpapi.WithStatus(http.StatusBadGateway, err)
}

func toRelay(r relayRow) localapi.Relay {
	i := r.info
	return localapi.Relay{Namespace: i.Namespace, Name: i.Name, ConfigID: i.ConfigID, OwnerUser: i.OwnerUser, OwnerHost: i.OwnerHost,
		OwnerSession: i.OwnerSession, Created: i.Created, Ready: i.Ready, Status: string(r.status)}
}

func (d *daemon) Relays(ctx context.Context, q localapi.RelayQuery) ([]localapi.Relay, error) {
	ctx, cancel := context.WithTimeout(ctx, clusterTimeout)
	defer cancel()
	_, rows, err := d.findRelays(ctx, q)
	if err != nil {
		return nil, err
	}
	out := make([]localapi.Relay, len(rows))
	for i, r := range rows {
		out[i] = toRelay(r)
	}
	return out, nil
}

// CleanRelays deletes this user's orphaned relays in q's cluster and
// returns the ones deleted. When some cannot be deleted the error names
// them and the ones that were.
func (d *daemon) CleanRelays(ctx context.Context, q localapi.RelayQuery) ([]localapi.Relay, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*clusterTimeout)
	defer cancel()
	cl, rows, err := d.findRelays(ctx, q)
	if err != nil {
		return nil, err
	}
	out := []localapi.Relay{}
	var errs []error
	for _, r := range rows {
		if r.status != relay.Orphan {
			continue
		}
		if err := relay.Clean(ctx, cl.Client, cl.Config.Host, []relay.Info{r.info}); err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, toRelay(r))
	}
	d.core.log.Info().Int("relays", len(out)).Str("context", cl.Context).Msg("deleted orphaned relays through the API")
	if len(errs) > 0 {
		names := make([]string, len(out))
		for i, r := range out {
			names[i] = r.Namespace + "/" + r.Name
		}
		return nil, relayError(ctx, cl, fmt.Errorf("deleted %d orphaned relays (%s) but not all: %w", len(out), strings.Join(names, ", "), errors.Join(errs...)))
	}
	return out, nil
}
