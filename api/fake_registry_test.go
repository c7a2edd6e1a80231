package api

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/conclave-dev/conclave/internal/wire"
	"github.com/conclave-dev/conclave/registry"
)

// fakeRegistry is an in-memory service registry for the handlers' tests:
// one index for everything (so a Wait may wake for a change its filter
// does not see, which the contract allows), sessions by pid.
type fakeRegistry struct {
	mu       sync.Mutex
	insts    map[string]registry.Instance // by service + "\x00" + id
	sessions map[string]bool
	index    uint64
	changed  chan struct{} // closed and replaced at every change
	waiters  int
	calls    int // every call that reached the fake
}

func newFakeRegistry() *fakeRegistry {
	return &fakeRegistry{insts: map[string]registry.Instance{}, sessions: map[string]bool{"n1/s1": true, "n1/s2": true},
		index: 100, changed: make(chan struct{})}
}

func (f *fakeRegistry) bump() {
	f.index++
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *fakeRegistry) Register(_ context.Context, pid string, r registry.Registration) (registry.Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if !f.sessions[pid] {
		return registry.Instance{}, fmt.Errorf("%w: %q is not open on node n1", wire.ErrNoSession, pid)
	}
	if r.Service == "" {
		return registry.Instance{}, fmt.Errorf("%w: service: must not be empty", wire.ErrInvalid)
	}
	if r.ID == "" {
		r.ID = pid
	}
	if r.Protocol == "" {
		r.Protocol = "tcp"
	}
	f.bump()
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	node, _, _ := strings.Cut(pid, "/")
	in := registry.Instance{Service: r.Service, ID: r.ID, Endpoint: r.Endpoint, Protocol: r.Protocol, Type: r.Type,
		Tags: r.Tags, Groups: r.Groups, Meta: r.Meta, PID: pid, Node: node, Health: registry.Passing,
		RegisteredAt: now, LastSeen: now, CreateIndex: f.index, ModifyIndex: f.index}
	for _, c := range r.Checks {
		if c.Kind == registry.CheckTTL {
			in.Health = registry.Critical // until the first update
		}
	}
	f.insts[r.Service+"\x00"+r.ID] = in
	return in, nil
}

func (f *fakeRegistry) Deregister(_ context.Context, service, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	k := service + "\x00" + id
	if _, ok := f.insts[k]; !ok {
		return fmt.Errorf("%w: instance %q of service %q", wire.ErrNotFound, id, service)
	}
	delete(f.insts, k)
	f.bump()
	return nil
}

func (f *fakeRegistry) UpdateTTL(_ context.Context, pid, service, id string, h registry.Health, output string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	k := service + "\x00" + id
	in, ok := f.insts[k]
	if !ok {
		return fmt.Errorf("%w: instance %q of service %q", wire.ErrNotFound, id, service)
	}
	if in.PID != pid {
		return fmt.Errorf("%w: instance %q of service %q belongs to %s", wire.ErrNoSession, id, service, in.PID)
	}
	f.bump()
	in.Health, in.Output, in.ModifyIndex = h, output, f.index
	f.insts[k] = in
	return nil
}

func (f *fakeRegistry) instances(fl registry.Filter) []registry.Instance {
	out := []registry.Instance{}
	for _, in := range f.insts {
		if fl.Service != "" && in.Service != fl.Service ||
			fl.Tag != "" && !slices.Contains(in.Tags, fl.Tag) ||
			fl.Group != "" && !slices.Contains(in.Groups, fl.Group) ||
			fl.PassingOnly && in.Health != registry.Passing {
			continue
		}
		out = append(out, in)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Service != out[j].Service {
			return out[i].Service < out[j].Service
		}
		return out[i].ID < out[j].ID
	})
	return out
}

func (f *fakeRegistry) Instances(fl registry.Filter) ([]registry.Instance, uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return f.instances(fl), f.index
}

func (f *fakeRegistry) Services() ([]registry.ServiceSummary, uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	by := map[string]*registry.ServiceSummary{}
	for _, in := range f.instances(registry.Filter{}) {
		s := by[in.Service]
		if s == nil {
			s = &registry.ServiceSummary{Name: in.Service}
			by[in.Service] = s
		}
		switch in.Health {
		case registry.Passing:
			s.Passing++
		case registry.Warning:
			s.Warning++
		default:
			s.Critical++
		}
		for _, t := range in.Tags {
			if !slices.Contains(s.Tags, t) {
				s.Tags = append(s.Tags, t)
			}
		}
	}
	out := make([]registry.ServiceSummary, 0, len(by))
	for _, s := range by {
		sort.Strings(s.Tags)
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, f.index
}

func (f *fakeRegistry) Wait(ctx context.Context, fl registry.Filter, index uint64) ([]registry.Instance, uint64, error) {
	f.mu.Lock()
	f.calls++
	f.waiters++
	defer func() {
		f.mu.Lock()
		f.waiters--
		f.mu.Unlock()
	}()
	for f.index <= index {
		ch := f.changed
		f.mu.Unlock()
		select {
		case <-ch:
			f.mu.Lock()
		case <-ctx.Done():
			f.mu.Lock()
			out, i := f.instances(fl), f.index
			f.mu.Unlock()
			return out, i, ctx.Err()
		}
	}
	out, i := f.instances(fl), f.index
	f.mu.Unlock()
	return out, i, nil
}

// waiting is how many Waits are blocked.
func (f *fakeRegistry) waiting() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.waiters
}

func (f *fakeRegistry) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

var _ RegistryNode = (*fakeRegistry)(nil)
