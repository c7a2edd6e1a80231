package main

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/conclave-dev/conclave/internal/wire"
	"github.com/conclave-dev/conclave/registry"
)

// fakeRegistry is an in-memory service registry over the fake node's
// sessions: registering needs an open session, and a session's end
// removes its instances. One index for everything.
type fakeRegistry struct {
	node *fakeNode

	mu      sync.Mutex
	insts   map[string]registry.Instance // by service + "\x00" + id
	index   uint64
	changed chan struct{} // closed and replaced at every change
}

// Registry returns the fake node's registry, made on first use and tied
// to its sessions.
func (f *fakeNode) Registry() *fakeRegistry {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.reg == nil {
		r := &fakeRegistry{node: f, insts: map[string]registry.Instance{}, index: 200, changed: make(chan struct{})}
		f.lk.mu.Lock()
		f.lk.sessionEnded = r.sessionEnded
		f.lk.mu.Unlock()
		f.reg = r
	}
	return f.reg
}

func (r *fakeRegistry) bumpLocked() {
	r.index++
	close(r.changed)
	r.changed = make(chan struct{})
}

func (r *fakeRegistry) sessionEnded(pid string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := len(r.insts)
	for k, in := range r.insts {
		if in.PID == pid {
			delete(r.insts, k)
		}
	}
	if len(r.insts) != n {
		r.bumpLocked()
	}
}

func (r *fakeRegistry) Register(_ context.Context, pid string, reg registry.Registration) (registry.Instance, error) {
	r.node.lk.mu.Lock()
	_, open := r.node.lk.sessions[pid]
	r.node.lk.mu.Unlock()
	if !open {
		return registry.Instance{}, fmt.Errorf("%w: %q is not open on node %s", wire.ErrNoSession, pid, r.node.name)
	}
	if reg.Service == "" {
		return registry.Instance{}, fmt.Errorf("%w: service: must not be empty", wire.ErrInvalid)
	}
	if !slices.Contains(append(registry.Protocols, ""), reg.Protocol) {
		return registry.Instance{}, fmt.Errorf("%w: protocol: want grpc, http, https, tcp or udp, got %q", wire.ErrInvalid, reg.Protocol)
	}
	if reg.ID == "" {
		reg.ID = pid
	}
	if reg.Protocol == "" {
		reg.Protocol = "tcp"
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bumpLocked()
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	in := registry.Instance{Service: reg.Service, ID: reg.ID, Endpoint: reg.Endpoint, Protocol: reg.Protocol, Type: reg.Type,
		Tags: reg.Tags, Groups: reg.Groups, Meta: reg.Meta, PID: pid, Node: r.node.name, Health: registry.Passing,
		RegisteredAt: now, LastSeen: now, CreateIndex: r.index, ModifyIndex: r.index}
	r.insts[reg.Service+"\x00"+reg.ID] = in
	return in, nil
}

func (r *fakeRegistry) Deregister(_ context.Context, service, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := service + "\x00" + id
	if _, ok := r.insts[k]; !ok {
		return fmt.Errorf("%w: instance %q of service %q", wire.ErrNotFound, id, service)
	}
	delete(r.insts, k)
	r.bumpLocked()
	return nil
}

func (r *fakeRegistry) UpdateTTL(_ context.Context, pid, service, id string, h registry.Health, output string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := service + "\x00" + id
	in, ok := r.insts[k]
	if !ok || in.PID != pid {
		return fmt.Errorf("%w: instance %q of service %q of session %s", wire.ErrNotFound, id, service, pid)
	}
	r.bumpLocked()
	in.Health, in.Output, in.ModifyIndex = h, output, r.index
	r.insts[k] = in
	return nil
}

func (r *fakeRegistry) instancesLocked(f registry.Filter) []registry.Instance {
	out := []registry.Instance{}
	for _, in := range r.insts {
		if f.Service != "" && in.Service != f.Service || f.Tag != "" && !slices.Contains(in.Tags, f.Tag) ||
			f.Group != "" && !slices.Contains(in.Groups, f.Group) || f.PassingOnly && in.Health != registry.Passing {
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

func (r *fakeRegistry) Instances(f registry.Filter) ([]registry.Instance, uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.instancesLocked(f), r.index
}

func (r *fakeRegistry) Services() ([]registry.ServiceSummary, uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []registry.ServiceSummary
	for _, in := range r.instancesLocked(registry.Filter{}) {
		if len(out) == 0 || out[len(out)-1].Name != in.Service {
			out = append(out, registry.ServiceSummary{Name: in.Service})
		}
		s := &out[len(out)-1]
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
		sort.Strings(s.Tags)
	}
	return out, r.index
}

func (r *fakeRegistry) Wait(ctx context.Context, f registry.Filter, index uint64) ([]registry.Instance, uint64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for r.index <= index {
		ch := r.changed
		r.mu.Unlock()
		select {
		case <-ch:
			r.mu.Lock()
		case <-ctx.Done():
			r.mu.Lock()
			return r.instancesLocked(f), r.index, ctx.Err()
		}
	}
	return r.instancesLocked(f), r.index, nil
}
