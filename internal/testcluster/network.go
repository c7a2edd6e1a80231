package testcluster

import (
	"fmt"
	"sync"
)

// network is the fault table shared by every node's transports: which
// pairs of nodes may not talk, and which addresses belong to which node.
type network struct {
	mu       sync.RWMutex
	byGossip map[string]string // gossip addr -> node name
	byMesh   map[string]string // internode addr -> node name
	cut_     map[[2]string]bool
	meshCut  map[[2]string]bool // internode only: gossip still passes
}

func newNetwork() *network {
	return &network{byGossip: map[string]string{}, byMesh: map[string]string{}, cut_: map[[2]string]bool{}, meshCut: map[[2]string]bool{}}
}

func (w *network) register(name, gossipAddr, meshAddr string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.byGossip[gossipAddr] = name
	w.byMesh[meshAddr] = name
}

func (w *network) cut(a, b string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.cut_[[2]string{a, b}] = true
	w.cut_[[2]string{b, a}] = true
}

func (w *network) healAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.cut_ = map[[2]string]bool{}
	w.meshCut = map[[2]string]bool{}
}

func (w *network) cutMesh(a, b string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.meshCut[[2]string{a, b}] = true
	w.meshCut[[2]string{b, a}] = true
}

func (w *network) isolatedFrom(a, b string) bool {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.cut_[[2]string{a, b}]
}

func (w *network) allowedGossip(from, addr string) bool {
	w.mu.RLock()
	defer w.mu.RUnlock()
	to, ok := w.byGossip[addr]
	return !ok || !w.cut_[[2]string{from, to}]
}

func (w *network) allowedMesh(from, addr string) error {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if to, ok := w.byMesh[addr]; ok && (w.cut_[[2]string{from, to}] || w.meshCut[[2]string{from, to}]) {
		return fmt.Errorf("testcluster: link %s -> %s is cut", from, to)
	}
	return nil
}
