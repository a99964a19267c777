package tui

import (
	"cmp"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/kftray-go/kftray/localapi"
)

// entry is one config as the list knows it.
type entry struct {
	f  localapi.Forward
	tr traffic
}

type itemKind int

const (
	itemContext itemKind = iota
	itemNamespace
	itemForward
)

// item is one line of the list: a group header or a forward.
type item struct {
	kind  itemKind
	key   string // cursor identity: "c:CTX", "n:CTX/NS" or "f:ID"
	label string
	depth int
	total int // forwards in the group
	live  int // of them running
	e     *entry
}

// sortKey orders the forwards (within their group when grouped).
type sortKey int

const (
	sortName sortKey = iota
	sortStatus
	sortNamespace
	sortPort
	sortKeys
)

func (s sortKey) String() string {
	return [...]string{"name", "status", "namespace", "port"}[s]
}

// contextLabel is how a config's context is shown ("" is the
// kubeconfig's current context).
func contextLabel(ctx string) string {
	if ctx == "" {
		return "current context"
	}
	return ctx
}

// matches reports whether the forward matches the filter text: every word
// must appear (case-insensitive) in its name, service, target, namespace,
// context, hostname or remote address.
func (e *entry) matches(filter string) bool {
	c := e.f.Config
	hay := strings.ToLower(strings.Join([]string{e.f.Name, c.Alias, c.Service, c.Target, c.Namespace,
		contextLabel(c.Context), c.RemoteAddress, e.f.Address, e.f.Pod}, " "))
	for w := range strings.FieldsSeq(strings.ToLower(filter)) {
		if !strings.Contains(hay, w) {
			return false
		}
	}
	return true
}

// statusRank orders statuses by urgency for the status sort: what needs
// attention first.
func statusRank(s string) int {
	switch s {
	case localapi.StatusFailed:
		return 0
	case localapi.StatusRetrying:
		return 1
	case localapi.StatusStarting:
		return 2
	case localapi.StatusRunning:
		return 3
	}
	return 4
}

func localPort(e *entry) int {
	if _, p, err := net.SplitHostPort(e.f.Address); err == nil {
		if n, err := strconv.Atoi(p); err == nil {
			return n
		}
	}
	return e.f.Config.LocalPort
}

func compareEntries(by sortKey) func(a, b *entry) int {
	return func(a, b *entry) int {
		var c int
		switch by {
		case sortStatus:
			c = cmp.Compare(statusRank(a.f.Status), statusRank(b.f.Status))
		case sortNamespace:
			c = cmp.Or(cmp.Compare(a.f.Config.Context, b.f.Config.Context), cmp.Compare(a.f.Config.Namespace, b.f.Config.Namespace))
		case sortPort:
			c = cmp.Compare(localPort(a), localPort(b))
		}
		return cmp.Or(c, cmp.Compare(strings.ToLower(a.f.Name), strings.ToLower(b.f.Name)), cmp.Compare(a.f.ID, b.f.ID))
	}
}

// buildItems lays out the list: the forwards matching filter, sorted,
// either flat or grouped by context then namespace with collapsed groups
// folded away.
func buildItems(entries map[int64]*entry, filter string, by sortKey, grouped bool, collapsed map[string]bool) []item {
	var es []*entry
	for _, e := range entries {
		if e.matches(filter) {
			es = append(es, e)
		}
	}
	slices.SortFunc(es, compareEntries(by))
	if !grouped {
		items := make([]item, len(es))
		for i, e := range es {
			items[i] = item{kind: itemForward, key: fwdKey(e.f.ID), e: e}
		}
		return items
	}

	type group struct {
		ns map[string][]*entry
	}
	groups := map[string]*group{}
	for _, e := range es {
		g := groups[e.f.Config.Context]
		if g == nil {
			g = &group{ns: map[string][]*entry{}}
			groups[e.f.Config.Context] = g
		}
		g.ns[e.f.Config.Namespace] = append(g.ns[e.f.Config.Namespace], e)
	}
	count := func(es []*entry) (n, live int) {
		for _, e := range es {
			n++
			if e.f.Status == localapi.StatusRunning {
				live++
			}
		}
		return
	}
	var items []item
	for _, ctx := range slices.Sorted(maps.Keys(groups)) {
		g := groups[ctx]
		var all []*entry
		for _, ns := range g.ns {
			all = append(all, ns...)
		}
		n, live := count(all)
		ck := "c:" + ctx
		items = append(items, item{kind: itemContext, key: ck, label: contextLabel(ctx), total: n, live: live})
		if collapsed[ck] {
			continue
		}
		for _, ns := range slices.Sorted(maps.Keys(g.ns)) {
			n, live := count(g.ns[ns])
			nk := "n:" + ctx + "/" + ns
			items = append(items, item{kind: itemNamespace, key: nk, label: ns, depth: 1, total: n, live: live})
			if collapsed[nk] {
				continue
			}
			for _, e := range g.ns[ns] {
				items = append(items, item{kind: itemForward, key: fwdKey(e.f.ID), depth: 2, e: e})
			}
		}
	}
	return items
}

func fwdKey(id int64) string { return fmt.Sprintf("f:%d", id) }
