//go:build linux || (darwin && cgo)

package tray

import (
	"context"
	"slices"
	"sync"
	"time"

	"fyne.io/systray"
)

// Run shows the tray until the user quits it or ctx ends; the forwards
// keep running either way (they are the daemon's). It blocks, and on
// macOS must run on the main goroutine. Call CheckDesktop first: without
// a session bus the icon would show nowhere.
func Run(ctx context.Context, opts Options) error {
	if opts.Refresh <= 0 {
		opts.Refresh = 10 * time.Second
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	clicks := make(chan Action, 16)
	r := &renderer{clicks: clicks, items: map[int64]*systray.MenuItem{}, labels: map[int64]string{}}
	c := &controller{opts: opts, st: newState(opts.Now), render: r.render}
	done := make(chan struct{})
	systray.Run(func() {
		systray.SetIcon(Icon(false))
		systray.SetTitle("kftray")
		systray.SetTooltip("kftray")
		r.render(Menu{Header: "kftray: connecting…"})
		go func() {
			defer close(done)
			c.run(ctx, clicks, systray.Quit)
		}()
		go func() {
			<-ctx.Done()
			systray.Quit()
		}()
	}, cancel)
	cancel()
	<-done
	return nil
}

// renderer keeps the systray menu equal to the last Menu: it rebuilds it
// when the forwards change, and otherwise updates labels and check marks
// in place (a menu open on the screen stays open).
type renderer struct {
	mu     sync.Mutex
	clicks chan<- Action

	built   bool
	ids     []int64
	items   map[int64]*systray.MenuItem
	labels  map[int64]string
	checked map[int64]bool
	header  *systray.MenuItem
	all     []*systray.MenuItem // start all, stop all
	last    Menu
	icon    *bool
}

func (r *renderer) render(m Menu) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := make([]int64, len(m.Forwards))
	for i, e := range m.Forwards {
		ids[i] = e.ID
	}
	if !r.built || !slices.Equal(ids, r.ids) || m.Live != r.last.Live {
		r.build(m, ids)
	} else {
		if m.Header != r.last.Header {
			r.header.SetTitle(m.Header)
		}
		for _, e := range m.Forwards {
			it := r.items[e.ID]
			if r.labels[e.ID] != e.Label {
				it.SetTitle(e.Label)
				r.labels[e.ID] = e.Label
			}
			if r.checked[e.ID] != e.Checked {
				if e.Checked {
					it.Check()
				} else {
					it.Uncheck()
				}
				r.checked[e.ID] = e.Checked
			}
		}
	}
	if r.icon == nil || *r.icon != m.Failing {
		systray.SetIcon(Icon(m.Failing))
		f := m.Failing
		r.icon = &f
	}
	if m.Tooltip != r.last.Tooltip {
		systray.SetTooltip(m.Tooltip)
	}
	r.last = m
}

func (r *renderer) build(m Menu, ids []int64) {
	systray.ResetMenu()
	r.built, r.ids = true, ids
	clear(r.items)
	clear(r.labels)
	r.checked = map[int64]bool{}
	r.header = systray.AddMenuItem(m.Header, "")
	r.header.Disable()
	if len(m.Forwards) > 0 {
		systray.AddSeparator()
	}
	for _, e := range m.Forwards {
		it := systray.AddMenuItemCheckbox(e.Label, "start or stop this forward", e.Checked)
		r.items[e.ID], r.labels[e.ID], r.checked[e.ID] = it, e.Label, e.Checked
		r.listen(it, Action{Kind: ActionToggle, ID: e.ID})
	}
	systray.AddSeparator()
	start := systray.AddMenuItem("Start all", "start every forward")
	stop := systray.AddMenuItem("Stop all", "stop every forward")
	r.all = []*systray.MenuItem{start, stop}
	if !m.Live {
		start.Disable()
		stop.Disable()
	}
	r.listen(start, Action{Kind: ActionStartAll})
	r.listen(stop, Action{Kind: ActionStopAll})
	systray.AddSeparator()
	r.listen(systray.AddMenuItem("Open kftray", "open the web UI in a browser"), Action{Kind: ActionOpen})
	r.listen(systray.AddMenuItem("Quit tray", "remove the tray icon; forwards keep running"), Action{Kind: ActionQuit})
}

// listen passes an item's clicks on until the item is removed (its
// channel is closed then).
func (r *renderer) listen(it *systray.MenuItem, a Action) {
	ch := it.ClickedCh
	go func() {
		for range ch {
			r.clicks <- a
		}
	}()
}
