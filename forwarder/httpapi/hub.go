package httpapi

import (
	"sync"

	"github.com/kftray-go/kftray/localapi"
)

// Hub fans events out to subscribers. A subscriber that falls behind by
// more than its buffer is dropped (its channel closed) rather than slowing
// the daemon; event-stream clients reconnect and get a fresh snapshot.
type Hub struct {
	mu     sync.Mutex
	subs   map[chan localapi.Event]struct{}
	closed bool
}

// hubBuffer is how many events a subscriber may lag behind.
const hubBuffer = 256

// NewHub returns an empty hub.
func NewHub() *Hub { return &Hub{subs: map[chan localapi.Event]struct{}{}} }

// Subscribe returns a channel of events and a function to stop receiving.
func (h *Hub) Subscribe() (<-chan localapi.Event, func()) {
	ch := make(chan localapi.Event, hubBuffer)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		close(ch)
		return ch, func() {}
	}
	h.subs[ch] = struct{}{}
	return ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if _, ok := h.subs[ch]; ok {
			delete(h.subs, ch)
			close(ch)
		}
	}
}

// Publish sends ev to every subscriber without blocking.
func (h *Hub) Publish(ev localapi.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case ch <- ev:
		default:
			delete(h.subs, ch)
			close(ch)
		}
	}
}

// Close sends ev (if not nil) to every subscriber, closes their channels
// and refuses new ones.
func (h *Hub) Close(last *localapi.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		if last != nil {
			select {
			case ch <- *last:
			default:
			}
		}
		close(ch)
	}
	h.subs = map[chan localapi.Event]struct{}{}
	h.closed = true
}
