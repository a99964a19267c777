package httpapi

import (
	"sync"

	"github.com/kftray-go/kftray/localapi"
)

// hubBuffer is how many values a subscriber may lag behind.
const hubBuffer = 256

// fanout sends values to subscribers. A subscriber that falls behind by
// more than its buffer is dropped (its channel closed) rather than slowing
// the daemon; event-stream clients reconnect and get a fresh snapshot.
type fanout[T any] struct {
	mu     sync.Mutex
	subs   map[chan T]func(T) bool // what each wants; nil: everything
	closed bool
}

func (f *fanout[T]) subscribe(want func(T) bool) (<-chan T, func()) {
	ch := make(chan T, hubBuffer)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		close(ch)
		return ch, func() {}
	}
	if f.subs == nil {
		f.subs = map[chan T]func(T) bool{}
	}
	f.subs[ch] = want
	return ch, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if _, ok := f.subs[ch]; ok {
			delete(f.subs, ch)
			close(ch)
		}
	}
}

// publish sends v to the subscribers that want it, without blocking.
func (f *fanout[T]) publish(v T) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for ch, want := range f.subs {
		if want != nil && !want(v) {
			continue
		}
		select {
		case ch <- v:
		default:
			delete(f.subs, ch)
			close(ch)
		}
	}
}

// close sends last (if not nil) to every subscriber, closes their
// channels and refuses new ones.
func (f *fanout[T]) close(last *T) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for ch := range f.subs {
		if last != nil {
			select {
			case ch <- *last:
			default:
			}
		}
		close(ch)
	}
	f.subs = nil
	f.closed = true
}

// Hub fans the daemon's state events out to event-stream subscribers.
type Hub struct{ f fanout[localapi.Event] }

// NewHub returns an empty hub.
func NewHub() *Hub { return &Hub{} }

// Subscribe returns a channel of events and a function to stop receiving.
func (h *Hub) Subscribe() (<-chan localapi.Event, func()) { return h.f.subscribe(nil) }

// Publish sends ev to every subscriber without blocking.
func (h *Hub) Publish(ev localapi.Event) { h.f.publish(ev) }

// Close sends ev (if not nil) to every subscriber, closes their channels
// and refuses new ones.
func (h *Hub) Close(last *localapi.Event) { h.f.close(last) }

// HTTPHub fans new HTTP exchanges out to event-stream subscribers, apart
// from the state events so a busy log never pushes a client off those.
type HTTPHub struct{ f fanout[localapi.HTTPExchange] }

// NewHTTPHub returns an empty hub.
func NewHTTPHub() *HTTPHub { return &HTTPHub{} }

// Subscribe returns new exchanges of forward (0: every forward).
func (h *HTTPHub) Subscribe(forward int64) (<-chan localapi.HTTPExchange, func()) {
	if forward == 0 {
		return h.f.subscribe(nil)
	}
	return h.f.subscribe(func(e localapi.HTTPExchange) bool { return e.Forward == forward })
}

// Publish sends e to its subscribers without blocking.
func (h *HTTPHub) Publish(e localapi.HTTPExchange) { h.f.publish(e) }

// Close ends every subscription and refuses new ones.
func (h *HTTPHub) Close() { h.f.close(nil) }
