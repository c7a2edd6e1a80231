package locks

import (
	"fmt"
	"time"

	"github.com/conclave-dev/conclave/internal/wire"
)

// The election commands and query, on the lock table's number; wire
// format like command.go.
const (
	opCampaign byte = 8  // name pid value wait_ns now_ns
	opProclaim byte = 9  // name pid value now_ns
	opResign   byte = 10 // name pid now_ns

	queryElection     byte = 5 // name
	queryElectionList byte = 6 // prefix
)

// Campaign is the campaign command.
type Campaign struct {
	Name, PID, Value string
	Wait             time.Duration
	Now              time.Time
}

// Marshal encodes the whole command, envelope header included.
func (c Campaign) Marshal() []byte {
	e := wire.Command(TableID, opCampaign)
	e.String(c.Name)
	e.String(c.PID)
	e.String(c.Value)
	e.Uvarint(uint64(c.Wait))
	e.Uvarint(commandNanos(c.Now))
	return e.Data()
}

func (c Campaign) request() CampaignRequest {
	return CampaignRequest{Name: c.Name, PID: c.PID, Value: c.Value, Wait: c.Wait}
}

func unmarshalCampaign(d *wire.Decoder) (Campaign, error) {
	c := Campaign{Name: d.String(), PID: d.String(), Value: d.String()}
	c.Wait = time.Duration(d.Uvarint())
	c.Now = commandTime(d.Uvarint())
	if err := d.Done(); err != nil {
		return c, malformed("election campaign", err)
	}
	return c, nil
}

// Proclaim is the proclaim command: the leader PID sets the value.
type Proclaim struct {
	Name, PID, Value string
	Now              time.Time
}

// Marshal encodes the whole command, envelope header included.
func (c Proclaim) Marshal() []byte {
	e := wire.Command(TableID, opProclaim)
	e.String(c.Name)
	e.String(c.PID)
	e.String(c.Value)
	e.Uvarint(commandNanos(c.Now))
	return e.Data()
}

func unmarshalProclaim(d *wire.Decoder) (Proclaim, error) {
	c := Proclaim{Name: d.String(), PID: d.String(), Value: d.String(), Now: commandTime(d.Uvarint())}
	if err := d.Done(); err != nil {
		return c, malformed("election proclaim", err)
	}
	return c, nil
}

func (c Proclaim) validate() error {
	if err := ValidateName(c.Name); err != nil {
		return err
	}
	if err := validatePID("pid", c.PID); err != nil {
		return err
	}
	return validateValue(c.Value)
}

// Resign is the resign command: PID stops leading or campaigning.
type Resign struct {
	Name, PID string
	Now       time.Time
}

// Marshal encodes the whole command, envelope header included.
func (c Resign) Marshal() []byte {
	e := wire.Command(TableID, opResign)
	e.String(c.Name)
	e.String(c.PID)
	e.Uvarint(commandNanos(c.Now))
	return e.Data()
}

func unmarshalResign(d *wire.Decoder) (Resign, error) {
	c := Resign{Name: d.String(), PID: d.String(), Now: commandTime(d.Uvarint())}
	if err := d.Done(); err != nil {
		return c, malformed("election resign", err)
	}
	return c, nil
}

// GetElection is the query for one election.
type GetElection struct{ Name string }

// Marshal encodes the whole query, envelope header included.
func (q GetElection) Marshal() []byte {
	e := wire.Command(TableID, queryElection)
	e.String(q.Name)
	return e.Data()
}

// marshalElection encodes an election query's OK result: name, leader,
// token, value, rev, granted at, then the candidates (pid, deadline).
func marshalElection(e Election) []byte {
	r := wire.Result()
	appendElection(r, e)
	return r.Data()
}

func appendElection(r *wire.Encoder, e Election) {
	r.String(e.Name)
	r.String(e.Leader)
	r.Uvarint(e.Token)
	r.String(e.Value)
	r.Uvarint(e.Rev)
	r.Uvarint(infoNanos(e.GrantedAt))
	r.Uvarint(uint64(len(e.Candidates)))
	for _, c := range e.Candidates {
		r.String(c.PID)
		r.Uvarint(infoNanos(c.Deadline))
	}
}

// ListElections is the query for the elections whose names start with
// Prefix.
type ListElections struct{ Prefix string }

// Marshal encodes the whole query, envelope header included.
func (q ListElections) Marshal() []byte {
	e := wire.Command(TableID, queryElectionList)
	e.String(q.Prefix)
	return e.Data()
}

// marshalElections encodes a list: the count, then each election as
// marshalElection does.
func marshalElections(es []Election) []byte {
	r := wire.Result()
	r.Uvarint(uint64(len(es)))
	for _, e := range es {
		appendElection(r, e)
	}
	return r.Data()
}

// ParseElections decodes an election list result.
func ParseElections(b []byte) ([]Election, error) {
	d, rerr := wire.ParseResult(b)
	if rerr != nil {
		return nil, refusalErr(rerr)
	}
	n := d.Count(7)
	out := make([]Election, 0, n)
	for i := 0; i < n && d.Err() == nil; i++ {
		out = append(out, readElection(d))
	}
	if err := d.Done(); err != nil {
		return nil, fmt.Errorf("locks: decode election list: %w", err)
	}
	return out, nil
}

func readElection(d *wire.Decoder) Election {
	e := Election{Name: d.String(), Leader: d.String(), Token: d.Uvarint(), Value: d.String(), Rev: d.Uvarint()}
	if ns := d.Uvarint(); ns != 0 {
		e.GrantedAt = commandTime(ns)
	}
	n := d.Count(minWaiterInfoBytes)
	for i := 0; i < n && d.Err() == nil; i++ {
		e.Candidates = append(e.Candidates, Waiter{PID: d.String(), Deadline: commandTime(d.Uvarint())})
	}
	return e
}

// ParseElection decodes an election query's result, or returns its refusal
// (an election nobody leads or campaigns in is wire.ErrNotFound).
func ParseElection(b []byte) (Election, error) {
	d, rerr := wire.ParseResult(b)
	if rerr != nil {
		return Election{}, refusalErr(rerr)
	}
	e := readElection(d)
	if err := d.Done(); err != nil {
		return Election{}, fmt.Errorf("locks: decode election result: %w", err)
	}
	return e, nil
}
