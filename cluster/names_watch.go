package cluster

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/conclave-dev/conclave/naming"
)

// NameEvent is a change seen by a name watch.
type NameEvent = naming.Event

// NameWatch streams the changes to the bindings under a prefix, as this
// node sees them (consistent and strong names as its replica applies
// them; a client node, which holds no replica, sees only eventual and
// local changes).
type NameWatch struct {
	hub    *nameHub
	prefix string
	ch     chan NameEvent
	lagged atomic.Bool
}

// Events delivers the changes; it is closed when the watch ends (Close, or
// the watcher fell behind: see Err).
func (w *NameWatch) Events() <-chan NameEvent { return w.ch }

// Err says why Events was closed: nil after Close, ErrUnavailable when
// the watcher fell more than its buffer behind.
func (w *NameWatch) Err() error {
	if w.lagged.Load() {
		return fmt.Errorf("%w: the name watch fell behind by more than %d events; watch again", ErrUnavailable, nameWatchBuffer)
	}
	return nil
}

// Close ends the watch.
func (w *NameWatch) Close() { w.hub.remove(w) }

const nameWatchBuffer = 1024

// NameWatch starts a watch of the names under prefix.
func (n *Node) NameWatch(prefix string) (*NameWatch, error) {
	if len(prefix) > naming.MaxNameLen {
		return nil, fmt.Errorf("%w: prefix: longer than %d bytes", ErrInvalidArgument, naming.MaxNameLen)
	}
	w := &NameWatch{hub: n.names.watch, prefix: prefix, ch: make(chan NameEvent, nameWatchBuffer)}
	n.names.watch.add(w)
	return w, nil
}

// nameHub fans name events out to watches. publish never blocks: a watch
// whose buffer is full is ended (it must re-list and watch again).
type nameHub struct {
	mu      sync.Mutex
	watches map[*NameWatch]struct{}
}

func newNameHub() *nameHub { return &nameHub{watches: map[*NameWatch]struct{}{}} }

func (h *nameHub) add(w *NameWatch) {
	h.mu.Lock()
	h.watches[w] = struct{}{}
	h.mu.Unlock()
}

func (h *nameHub) remove(w *NameWatch) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.watches[w]; ok {
		delete(h.watches, w)
		close(w.ch)
	}
}

func (h *nameHub) publish(evs []naming.Event) {
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
			default:
				w.lagged.Store(true)
				delete(h.watches, w)
				close(w.ch)
			}
			if w.lagged.Load() {
				break
			}
		}
	}
}

// closeAll ends every watch (node stopping).
func (h *nameHub) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.watches {
		delete(h.watches, w)
		close(w.ch)
	}
}
