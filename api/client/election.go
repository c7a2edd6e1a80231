package client

import (
	"context"
	"errors"
	"io"
	"time"

	pb "github.com/conclave-dev/conclave/api/conclavepb"
)

// Campaign makes this session a candidate in the election name with value
// and blocks until it leads, returning the leadership with its fencing
// token. Candidates lead in the order they campaigned. ctx ending
// withdraws the candidacy. Leadership ends with the session (Lost), on
// Resign, or when the session's agent is lost.
func (s *Session) Campaign(ctx context.Context, name string, value []byte) (*Leadership, error) {
	resp, err := s.elections.Campaign(ctx, &pb.ElectionCampaignRequest{Pid: s.pid, Name: name, Value: value})
	if err != nil {
		return nil, err
	}
	return &Leadership{s: s, name: name, token: resp.GetToken()}, nil
}

// Leadership is a session's leadership of an election.
type Leadership struct {
	s     *Session
	name  string
	token uint64
}

// Name is the election's name.
func (l *Leadership) Name() string { return l.name }

// Token is the leadership's fencing token; every new leadership of the
// election has a higher one.
func (l *Leadership) Token() uint64 { return l.token }

// Lost is closed when the session ends, which ends the leadership.
func (l *Leadership) Lost() <-chan struct{} { return l.s.Done() }

// Proclaim publishes a new value without giving up leadership
// (FailedPrecondition if the session no longer leads).
func (l *Leadership) Proclaim(ctx context.Context, value []byte) error {
	_, err := l.s.elections.Proclaim(ctx, &pb.ElectionProclaimRequest{Pid: l.s.pid, Name: l.name, Value: value})
	return err
}

// Resign gives up leadership; the next candidate leads.
func (l *Leadership) Resign(ctx context.Context) error {
	_, err := l.s.elections.Resign(ctx, &pb.ElectionResignRequest{Pid: l.s.pid, Name: l.name})
	return err
}

// ElectionState is who leads an election and with what value. Leader is
// "" when nobody leads.
type ElectionState struct {
	Name       string
	Leader     string
	Token      uint64
	Value      []byte
	Rev        uint64 // the Raft index of the entry that made this state
	GrantedAt  time.Time
	Candidates []string // Leader only: the candidates in line
}

func electionFromPB(p *pb.ElectionState) ElectionState {
	return ElectionState{Name: p.GetName(), Leader: p.GetLeader(), Token: p.GetToken(), Value: p.GetValue(), Rev: p.GetRev(),
		GrantedAt: timeFromPB(p.GetGrantedAt()), Candidates: p.GetCandidates()}
}

// Elections reads and observes elections.
type Elections struct {
	c pb.ElectionClient
}

// Leader reads the election's leader and value; NotFound (see IsNotFound)
// when nobody leads or campaigns.
func (e *Elections) Leader(ctx context.Context, name string, opts ...ReadOption) (ElectionState, error) {
	var o readOptions
	for _, opt := range opts {
		opt.applyRead(&o)
	}
	resp, err := e.c.Leader(ctx, &pb.ElectionLeaderRequest{Name: name, Mode: o.mode.pb()})
	if err != nil {
		return ElectionState{}, err
	}
	return electionFromPB(resp.GetState()), nil
}

// Observe calls fn with the election's current state, then with every
// change of leader or value in order, until ctx ends (nil), fn fails (its
// error) or the stream fails (Unavailable if the observer fell behind or
// the agent stops: observe again).
func (e *Elections) Observe(ctx context.Context, name string, fn func(ElectionState) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := e.c.Observe(ctx, &pb.ElectionObserveRequest{Name: name})
	if err != nil {
		return err
	}
	for {
		st, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if err := fn(electionFromPB(st)); err != nil {
			return err
		}
	}
}
