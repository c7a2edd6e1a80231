package cluster

import (
	"github.com/conclave-dev/conclave/internal/wire"

	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/conclave-dev/conclave/naming"
)

func validateRegister(name string, scope naming.Scope, meta []byte) error {
	if err := naming.ValidateName(name); err != nil {
		return nameErr(err)
	}
	if !scope.Valid() {
		return fmt.Errorf("%w: scope: must be one of local, eventual, consistent, strong", ErrInvalidArgument)
	}
	return nameErr(naming.ValidateMeta(meta))
}

// NameRegister binds name to the session pid open on this node, in scope,
// with optional metadata (at most 4 KiB). A name held by another session
// fails with a *NameConflict (ErrNameTaken) naming the owner; registering
// again from the same session is idempotent. Consistent and strong
// registrations need a Raft quorum; strong ones also every live node's
// acknowledgement within cluster.names.strong_deadline.
func (n *Node) NameRegister(ctx context.Context, pid, name string, scope naming.Scope, meta []byte) (naming.Binding, error) {
	if err := validateRegister(name, scope, meta); err != nil {
		return naming.Binding{}, err
	}
	if _, ok := n.sessions.get(pid); !ok {
		return naming.Binding{}, fmt.Errorf("%w: %q is not open on node %s", ErrNoSession, pid, n.Name())
	}
	switch scope {
	case naming.ScopeLocal:
		b, evs, err := n.names.local.Register(time.Now(), name, pid, meta)
		n.names.watch.publish(evs)
		return b, nameErr(err)
	case naming.ScopeEventual:
		b, evs, delta, err := n.names.eventual.Register(time.Now(), name, pid, meta)
		n.names.publish(delta)
		n.names.watch.publish(evs)
		return b, nameErr(err)
	case naming.ScopeConsistent:
		c := nameCmd(nmRegister)
		c.String(name)
		c.String(pid)
		c.Bytes(meta)
		c.Uvarint(nowNanos())
		resp, err := n.nameApplyAgain(ctx, name, c.Data(), time.Now().Add(n.core.ApplyTimeout()))
		if err != nil {
			return naming.Binding{}, err
		}
		d := wire.NewDecoder(resp)
		b := decodeBinding(d)
		return b, d.Done()
	}
	return n.registerStrong(ctx, pid, name, meta)
}

func nameCmd(op byte) *wire.Encoder { return wire.Command(tableNames, op) }

// nameApply proposes a name command and turns a refusal into its error.
func (n *Node) nameApply(ctx context.Context, name string, cmd []byte) ([]byte, error) {
	resp, err := n.core.Apply(ctx, cmd)
	if err != nil {
		return nil, coreErr(err)
	}
	d, refused := wire.ParseResult(resp)
	if refused == nil {
		return d.Rest(), nil
	}
	switch refused.Code {
	case resTaken:
		x := wire.NewDecoder(refused.Extra)
		owner := x.String()
		scope := naming.Scope(x.Byte())
		reserved := x.Bool()
		return nil, &NameConflict{Name: name, Owner: owner, Scope: scope, Reserved: reserved}
	case resNotOwner:
		return nil, reason{msg: strings.TrimPrefix(refused.Detail, naming.ErrNotOwner.Error()+": "), err: ErrNotOwner}
	case resExpired:
		return nil, reason{msg: strings.TrimPrefix(refused.Detail, naming.ErrExpired.Error()+": "), err: ErrNameExpired}
	case wire.NotFound:
		return nil, reason{msg: strings.TrimPrefix(refused.Detail, naming.ErrNotFound.Error()+": "), err: ErrNotFound}
	}
	return nil, refused
}

// NameUnregister removes pid's binding of name, in whichever scope it
// holds it. Local and eventual names can only be unregistered on the node
// of the session; consistent and strong ones from any node.
func (n *Node) NameUnregister(ctx context.Context, pid, name string) error {
	if err := naming.ValidateName(name); err != nil {
		return nameErr(err)
	}
	if err := naming.ValidatePID(pid); err != nil {
		return nameErr(err)
	}
	if b, ok := n.names.local.Get(name); ok && b.PID == pid {
		evs, err := n.names.local.Unregister(name, pid)
		n.names.watch.publish(evs)
		return nameErr(err)
	}
	if b, ok := n.names.eventual.Get(name); ok && b.PID == pid && naming.NodeOf(pid) == n.Name() {
		evs, delta, err := n.names.eventual.Unregister(time.Now(), name, pid)
		n.names.publish(delta)
		n.names.watch.publish(evs)
		return nameErr(err)
	}
	c := nameCmd(nmUnregister)
	c.String(name)
	c.String(pid)
	_, err := n.nameApply(ctx, name, c.Data())
	return err
}

// NameLookup resolves name: consistent and strong names first (read in
// mode), then eventual, then local, so a cluster-wide name shadows a local
// one. ErrNotFound when no scope binds it.
func (n *Node) NameLookup(ctx context.Context, name string, mode ReadMode) (naming.Binding, error) {
	if err := naming.ValidateName(name); err != nil {
		return naming.Binding{}, nameErr(err)
	}
	q := wire.Command(tableNames, nmGet)
	q.String(name)
	bs, err := n.nameQuery(ctx, mode, q.Data())
	if err != nil && !errors.Is(err, ErrNotFound) {
		return naming.Binding{}, err
	}
	if len(bs) == 1 {
		return bs[0], nil
	}
	if b, ok := n.names.eventual.Get(name); ok {
		return b, nil
	}
	if b, ok := n.names.local.Get(name); ok {
		return b, nil
	}
	return naming.Binding{}, reason{msg: fmt.Sprintf("name %q is not registered", name), err: ErrNotFound}
}

// NameList lists the bindings whose names start with prefix, in scope (0
// for every scope), sorted by name; a name bound in several scopes is
// listed once per scope, the one lookup resolves to first.
func (n *Node) NameList(ctx context.Context, prefix string, scope naming.Scope, mode ReadMode) ([]naming.Binding, error) {
	if len(prefix) > naming.MaxNameLen {
		return nil, fmt.Errorf("%w: prefix: longer than %d bytes", ErrInvalidArgument, naming.MaxNameLen)
	}
	if scope != naming.ScopeUnspecified && !scope.Valid() {
		return nil, fmt.Errorf("%w: scope: must be one of local, eventual, consistent, strong", ErrInvalidArgument)
	}
	var out []naming.Binding
	if scope == 0 || scope == naming.ScopeConsistent || scope == naming.ScopeStrong {
		q := wire.Command(tableNames, nmList)
		q.String(prefix)
		bs, err := n.nameQuery(ctx, mode, q.Data())
		if err != nil {
			return nil, err
		}
		for _, b := range bs {
			if scope == 0 || b.Scope == scope {
				out = append(out, b)
			}
		}
	}
	if scope == 0 || scope == naming.ScopeEventual {
		out = append(out, n.names.eventual.List(prefix)...)
	}
	if scope == 0 || scope == naming.ScopeLocal {
		out = append(out, n.names.local.List(prefix)...)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].Scope > out[j].Scope
	})
	return out, nil
}

func (n *Node) nameQuery(ctx context.Context, mode ReadMode, q []byte) ([]naming.Binding, error) {
	resp, err := n.core.Query(ctx, raftMode(mode), q)
	if err != nil {
		return nil, coreErr(err)
	}
	d, refused := wire.ParseResult(resp)
	if refused != nil {
		return nil, refused
	}
	bs, err := decodeBindings(d)
	if err != nil {
		return nil, fmt.Errorf("cluster: decode name query: %w", err)
	}
	return bs, nil
}

// nameCount is how many names this node sees in scope: local and
// eventual as held here, consistent and strong in the local replica.
func (n *Node) nameCount(sc naming.Scope) int {
	switch sc {
	case naming.ScopeLocal:
		return n.names.local.Len()
	case naming.ScopeEventual:
		return n.names.eventual.Len()
	}
	return n.nameTable.count(sc)
}
