package client

import (
	"context"
	"fmt"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Balance is how a Picker chooses among the instances.
type Balance int

const (
	// BalanceRoundRobin picks each instance in turn.
	BalanceRoundRobin Balance = iota
	// BalanceLeastInFlight picks the instance with the fewest picks whose
	// done function has not been called yet (ties in turn).
	BalanceLeastInFlight
)

// PickerOption configures Client.Picker.
type PickerOption func(*pickerOptions)

type pickerOptions struct {
	tag, group string
	balance    Balance
}

// PickTag keeps the instances with tag.
func PickTag(tag string) PickerOption { return func(o *pickerOptions) { o.tag = tag } }

// PickGroup keeps the instances in group.
func PickGroup(group string) PickerOption { return func(o *pickerOptions) { o.group = group } }

// PickBalance sets how the Picker chooses (BalanceRoundRobin by default).
func PickBalance(b Balance) PickerOption { return func(o *pickerOptions) { o.balance = b } }

// Picker chooses an instance of a service for each request of a protocol
// other than gRPC (HTTP, raw TCP): it follows the service's passing
// instances with a watch, in one goroutine that Close stops. Safe for
// concurrent use.
type Picker struct {
	service string
	balance Balance
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	ready   chan struct{} // closed at the first answer

	mu       sync.Mutex
	insts    []Instance
	next     int
	inflight map[string]*int // by service + "/" + ID
	lastErr  error           // the watch's last failure, until an answer
}

// Picker starts following the passing instances of service. Close it when
// done.
func (c *Client) Picker(service string, opts ...PickerOption) *Picker {
	var o pickerOptions
	for _, opt := range opts {
		opt(&o)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Picker{service: service, balance: o.balance, cancel: cancel, ready: make(chan struct{}), inflight: map[string]*int{}}
	f := ServiceFilter{Service: service, Tag: o.tag, Group: o.group, PassingOnly: true}
	var once sync.Once
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		follow(ctx, c.registry, f, func(u ServiceUpdate) {
			p.update(u.Instances)
			once.Do(func() { close(p.ready) })
		}, func(err error) {
			p.mu.Lock()
			p.lastErr = err
			p.mu.Unlock()
		})
	}()
	return p
}

func (p *Picker) update(insts []Instance) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.insts, p.lastErr = insts, nil
	keep := make(map[string]*int, len(insts))
	for _, in := range insts {
		k := in.Service + "/" + in.ID
		if n, ok := p.inflight[k]; ok {
			keep[k] = n
		} else {
			keep[k] = new(int)
		}
	}
	p.inflight = keep
}

// Instances is the passing instances as last seen.
func (p *Picker) Instances() []Instance {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Instance(nil), p.insts...)
}

// Pick chooses an instance. It waits for the first answer of the watch
// (or ctx); with no passing instance it fails Unavailable naming the
// service. Call done once the request has finished (it counts the
// request in flight until then; calling it more than once is harmless).
func (p *Picker) Pick(ctx context.Context) (in Instance, done func(), err error) {
	select {
	case <-p.ready:
	case <-ctx.Done():
		p.mu.Lock()
		last := p.lastErr
		p.mu.Unlock()
		if last != nil {
			return Instance{}, nil, fmt.Errorf("client: pick %q: no answer from the registry yet: %w", p.service, last)
		}
		return Instance{}, nil, status.FromContextError(ctx.Err()).Err()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.insts) == 0 {
		return Instance{}, nil, status.Errorf(codes.Unavailable, "client: pick: service %q has no passing instance", p.service)
	}
	i := p.next % len(p.insts)
	p.next++
	if p.balance == BalanceLeastInFlight {
		best := -1
		for j := range p.insts {
			k := (i + j) % len(p.insts)
			if best < 0 || *p.inflight[p.key(k)] < *p.inflight[p.key(best)] {
				best = k
			}
		}
		i = best
	}
	in = p.insts[i]
	n := p.inflight[p.key(i)]
	*n++
	var once sync.Once
	return in, func() {
		once.Do(func() {
			p.mu.Lock()
			*n--
			p.mu.Unlock()
		})
	}, nil
}

func (p *Picker) key(i int) string { return p.insts[i].Service + "/" + p.insts[i].ID }

// InFlight is how many picks of the instance id have not called done.
func (p *Picker) InFlight(id string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n, ok := p.inflight[p.service+"/"+id]; ok {
		return *n
	}
	return 0
}

// Close stops following the service and waits for its goroutine.
func (p *Picker) Close() {
	p.cancel()
	p.wg.Wait()
}
