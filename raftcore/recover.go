package raftcore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/raft"
	"github.com/rs/zerolog"
)

// ErrQuorumAlive: recovery was refused because enough of the old voters
// answer that restarting this node restores quorum (or quorum never left).
var ErrQuorumAlive = errors.New("raftcore: a majority of the voters may still be alive")

// RecoverOptions tune Recover.
type RecoverOptions struct {
	// Force recovers even when the other voters' Raft addresses answer
	// (they may be another cluster's now, or answer but be broken).
	Force bool
	// ProbeTimeout bounds the TCP dial of each other voter's Raft address
	// (1 s when 0).
	ProbeTimeout time.Duration
	// Log receives raft's lines.
	Log zerolog.Logger
}

// RecoverReport says what Recover saw and did.
type RecoverReport struct {
	// Previous is the configuration the log held.
	Previous []Server
	// Answering are the other voters whose Raft address accepted a TCP
	// connection.
	Answering []string
	// LastIndex is the last log index the survivor held (every entry up to
	// it is in the recovered state).
	LastIndex uint64
}

// Recover rewrites the Raft state in cfg.Dir, of a node whose agent is
// stopped, so that the node is the one voter of its cluster: the way back
// when a majority of the voters is lost for good (hashicorp/raft's
// RecoverCluster; Consul's peers.json). Every entry the node holds, committed
// or not, becomes committed. It refuses, unless opts.Force, when the other
// voters that answer on their Raft address and this node make a majority
// of the old voters: restart the node instead. newFSM makes an empty FSM of
// every table (it is called twice: once to read the configuration, once
// for the recovery).
func Recover(cfg Config, newFSM func() raft.FSM, opts RecoverOptions) (RecoverReport, error) {
	if cfg.NodeID == "" || cfg.Dir == "" {
		return RecoverReport{}, fmt.Errorf("%w: recover needs the node ID and the data dir", ErrInvalidConfig)
	}
	if opts.ProbeTimeout <= 0 {
		opts.ProbeTimeout = time.Second
	}
	hl := newHclog(opts.Log)
	kind := cfg.LogStore
	if b, err := os.ReadFile(filepath.Join(cfg.Dir, logStoreMarker)); err == nil {
		kind = strings.TrimSpace(string(b)) // the store the log was written with
	}
	st, err := openStores(cfg.Dir, kind, cfg.WALSegmentSize, hl)
	if err != nil {
		return RecoverReport{}, err
	}
	defer st.Close()
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, cfg.SnapshotsRetained, hl.Named("snapshot"))
	if err != nil {
		return RecoverReport{}, fmt.Errorf("raftcore: snapshot store: %w", err)
	}
	ok, err := hasState(st.logPath, st.logs, st.stable, snaps)
	if err != nil {
		return RecoverReport{}, err
	}
	if !ok {
		return RecoverReport{}, fmt.Errorf("raftcore: %s holds no Raft state: nothing to recover", cfg.Dir)
	}
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	rc.Logger = hl
	_, trans := raft.NewInmemTransport("")
	old, err := raft.GetConfiguration(rc, newFSM(), st.logs, st.stable, snaps, trans)
	if err != nil {
		return RecoverReport{}, fmt.Errorf("raftcore: read the configuration: %w", err)
	}
	var rep RecoverReport
	if rep.LastIndex, err = st.logs.LastIndex(); err != nil {
		return RecoverReport{}, fmt.Errorf("raftcore: read the log: %w", err)
	}
	var self *raft.Server
	voters, selfVoter := 0, false
	for i, s := range old.Servers {
		suf := "voter"
		if s.Suffrage != raft.Voter {
			suf = "nonvoter"
		}
		rep.Previous = append(rep.Previous, Server{ID: string(s.ID), Address: string(s.Address), Suffrage: suf})
		if s.ID == rc.LocalID {
			self = &old.Servers[i]
		}
		if s.Suffrage != raft.Voter {
			continue
		}
		voters++
		if s.ID == rc.LocalID {
			selfVoter = true
			continue
		}
		d := net.Dialer{Timeout: opts.ProbeTimeout}
		ctx, cancel := context.WithTimeout(context.Background(), opts.ProbeTimeout)
		conn, err := d.DialContext(ctx, "tcp", string(s.Address))
		cancel()
		if err == nil {
			conn.Close()
			rep.Answering = append(rep.Answering, string(s.ID))
		}
	}
	if self == nil {
		return rep, fmt.Errorf("raftcore: %s is not in the configuration its log holds (%d servers): it was never a server, or was removed; recover from a server's data dir",
			cfg.NodeID, len(old.Servers))
	}
	up := len(rep.Answering)
	if selfVoter {
		up++
	}
	if voters > 0 && up >= voters/2+1 && !opts.Force {
		others := "no other voter answers"
		if len(rep.Answering) > 0 {
			others = strings.Join(rep.Answering, ", ") + " answer"
		}
		return rep, fmt.Errorf("%w: %s, so %d of %d voters are up once this node restarts: restart it instead, or pass --force if they are not this cluster's",
			ErrQuorumAlive, others, up, voters)
	}
	next := raft.Configuration{Servers: []raft.Server{{Suffrage: raft.Voter, ID: self.ID, Address: self.Address}}}
	if err := raft.RecoverCluster(rc, newFSM(), st.logs, st.stable, snaps, trans, next); err != nil {
		return rep, fmt.Errorf("raftcore: recover: %w", err)
	}
	return rep, nil
}
