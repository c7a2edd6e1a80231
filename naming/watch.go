package naming

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/conclave-dev/conclave/internal/wire"
)

// Watch streams the changes to the bindings under a prefix, as this node
// sees them (consistent and strong names as its replica applies them; a
// client node, which holds no replica, sees only eventual and local
// changes).
type Watch struct {
	hub    *hub
	prefix string
	ch     chan Event
	lagged atomic.Bool
}

// Events delivers the changes; it is closed when the watch ends (Close, or
// the watcher fell behind: see Err).
func (w *Watch) Events() <-chan Event { return w.ch }

// Err says why Events was closed: nil after Close, wire.ErrUnavailable
// when the watcher fell more than its buffer behind.
func (w *Watch) Err() error {
	if w.lagged.Load() {
		return fmt.Errorf("%w: the name watch fell behind by more than %d events; watch again", wire.ErrUnavailable, cap(w.ch))
	}
	return nil
}

// Close ends the watch.
func (w *Watch) Close() { w.hub.remove(w) }

// hub fans name events out to watches. publish never blocks: a watch
// whose buffer is full is ended (it must re-list and watch again). It is
// called from the FSM goroutine (Table's Flush), gossip's delegate and
// request goroutines.
type hub struct {
	buffer  int
	mu      sync.Mutex
	watches map[*Watch]struct{}
}

func newHub(buffer int) *hub { return &hub{buffer: buffer, watches: map[*Watch]struct{}{}} }

func (h *hub) add(prefix string) *Watch {
	w := &Watch{hub: h, prefix: prefix, ch: make(chan Event, h.buffer)}
	h.mu.Lock()
	h.watches[w] = struct{}{}
	h.mu.Unlock()
	return w
}

func (h *hub) remove(w *Watch) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.watches[w]; ok {
		delete(h.watches, w)
		close(w.ch)
	}
}

func (h *hub) publish(evs []Event) {
	if len(evs) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.watches {
		for _, ev := range evs {
			if !strings.HasPrefix(ev.Binding.Name, w.prefix) {
				continue
			}
			select {
			case w.ch <- ev:
				continue
			default:
			}
			w.lagged.Store(true)
			delete(h.watches, w)
			close(w.ch)
			break
		}
	}
}

// closeAll ends every watch (node stopping).
func (h *hub) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.watches {
		delete(h.watches, w)
		close(w.ch)
	}
}
