package health

import (
	"errors"
	"testing"
	"time"
)

func TestRaftLag(t *testing.T) {
	standby := []Server{{ID: "n1", Suffrage: "nonvoter"}, {ID: "n2", Suffrage: "voter"}}
	for name, tc := range map[string]struct {
		after  time.Duration // since start
		st     func(*RaftStatus)
		status string
		reason string
	}{
		"follower caught up": {
			st:     func(s *RaftStatus) { s.AppliedIndex, s.CommitIndex, s.LastContact = 90, 100, 2*time.Second },
			status: Pass, reason: "10 entries behind (limit 5000); last leader contact 2s ago (limit 10s)",
		},
		"at the entry limit": {
			st:     func(s *RaftStatus) { s.AppliedIndex, s.CommitIndex = 1000, 6000 },
			status: Pass, reason: "5000 entries behind (limit 5000); last leader contact 100ms ago (limit 10s)",
		},
		"too many entries behind": {
			st:     func(s *RaftStatus) { s.AppliedIndex, s.CommitIndex = 999, 6000 },
			status: Fail, reason: "applied index 999 trails commit index 6000 by 5001 entries (max_lag_entries 5000)",
		},
		"at the time limit": {
			st:     func(s *RaftStatus) { s.LastContact = 10 * time.Second },
			status: Pass, reason: "0 entries behind (limit 5000); last leader contact 10s ago (limit 10s)",
		},
		"too long without leader contact, voter still live": {
			st:     func(s *RaftStatus) { s.LastContact = 10*time.Second + time.Millisecond },
			status: Fail, reason: "no leader contact for 10.001s (max_lag_time 10s)",
		},
		"standby held to the same limit": {
			st:     func(s *RaftStatus) { s.LastContact, s.Servers = 11*time.Second, standby },
			status: Fail, reason: "no leader contact for 11s (max_lag_time 10s)",
		},
		"never in contact, in the boot grace": {
			after:  time.Minute - time.Millisecond,
			st:     func(s *RaftStatus) { s.State, s.LeaderID, s.LastContact = "candidate", "", 0 },
			status: Pass, reason: "0 entries behind (limit 5000); no leader contact yet, within the 1m0s boot grace",
		},
		"never in contact, counted from start after the grace": {
			after:  time.Minute,
			st:     func(s *RaftStatus) { s.State, s.LeaderID, s.LastContact = "candidate", "", 0 },
			status: Fail, reason: "no leader contact for 1m0s (max_lag_time 10s)",
		},
		"leader exempt": {
			st: func(s *RaftStatus) {
				s.State, s.LeaderID, s.LastContact, s.AppliedIndex, s.CommitIndex = "leader", "n1", 0, 1, 90000
			},
			after:  time.Hour,
			status: Pass, reason: "leader: exempt (followers lag behind it)",
		},
		"client exempt": {
			after: time.Hour,
			st: func(s *RaftStatus) {
				s.Member, s.LastContact, s.Servers, s.AppliedIndex, s.CommitIndex = false, 0, s.Servers[1:], 0, 90000
			},
			status: Pass, reason: "client node (not in the Raft configuration): exempt",
		},
		"shut down": {
			st:     func(s *RaftStatus) { s.State = "shutdown" },
			status: Fail, reason: "raft is shut down",
		},
	} {
		t.Run(name, func(t *testing.T) {
			x := newHarness(t)
			x.raft.set(tc.st)
			x.clock.Advance(tc.after)
			if r := x.result(t, "raft_lag"); r.Status != tc.status || r.Reason != tc.reason {
				t.Fatalf("raft_lag = %s %q, want %s %q", r.Status, r.Reason, tc.status, tc.reason)
			}
		})
	}
}

// TestRaftLagIsReadinessOnly: a lagging follower is not ready but stays
// live, and raft_contact is unchanged by it.
func TestRaftLagIsReadinessOnly(t *testing.T) {
	x := newHarness(t)
	x.raft.set(func(s *RaftStatus) { s.LastContact = 20 * time.Second })
	for _, r := range x.h.Liveness() {
		if r.Name == "raft_lag" || r.Name == "disk_free" {
			t.Fatalf("liveness runs %s", r.Name)
		}
		if r.Name == "raft_contact" && r.Status != Pass {
			t.Fatalf("raft_contact = %+v, want pass within the voter limit", r)
		}
	}
	if r := x.result(t, "raft_lag"); r.Status != Fail {
		t.Fatalf("raft_lag = %+v, want fail", r)
	}
}

func TestDiskFree(t *testing.T) {
	const mib = 1 << 20
	for name, tc := range map[string]struct {
		free   uint64
		err    error
		status string
		reason string
	}{
		"plenty": {
			free: 10 << 30, status: Pass,
			reason: "10.0 GiB free of 100.0 GiB on the filesystem of /data (fails below 64.0 MiB)",
		},
		"at twice the limit": {
			free: 128 * mib, status: Pass,
			reason: "128.0 MiB free of 100.0 GiB on the filesystem of /data (fails below 64.0 MiB)",
		},
		"below twice the limit warns": {
			free: 128*mib - 1, status: Warn,
			reason: "128.0 MiB free of 100.0 GiB on the filesystem of /data (warns below 128.0 MiB, fails below 64.0 MiB)",
		},
		"at the limit warns": {
			free: 64 * mib, status: Warn,
			reason: "64.0 MiB free of 100.0 GiB on the filesystem of /data (warns below 128.0 MiB, fails below 64.0 MiB)",
		},
		"below the limit fails": {
			free: 10 * mib, status: Fail,
			reason: "10.0 MiB free of 100.0 GiB on the filesystem of /data (fails below 64.0 MiB): Raft's log and snapshot writes will fail; free space or grow the disk",
		},
		"full": {
			free: 0, status: Fail,
			reason: "0 B free of 100.0 GiB on the filesystem of /data (fails below 64.0 MiB): Raft's log and snapshot writes will fail; free space or grow the disk",
		},
		"unreadable fails": {
			err: errors.New("statfs /data: no such file or directory"), status: Fail,
			reason: "cannot read the free space of the data dir: statfs /data: no such file or directory",
		},
		"unsupported platform warns": {
			err: errors.ErrUnsupported, status: Warn,
			reason: "free space not measured on this platform: unsupported operation",
		},
	} {
		t.Run(name, func(t *testing.T) {
			x := newHarness(t)
			x.disk.free, x.disk.err = tc.free, tc.err
			if r := x.result(t, "disk_free"); r.Status != tc.status || r.Reason != tc.reason {
				t.Fatalf("disk_free = %s %q, want %s %q", r.Status, r.Reason, tc.status, tc.reason)
			}
			if x.disk.path != "/data" {
				t.Fatalf("disk asked about %q, want the data dir /data", x.disk.path)
			}
		})
	}
}

// TestDiskFreeNoExemptions: disk_free applies to every node: a leader and a client node have a
// data dir too.
func TestDiskFreeNoExemptions(t *testing.T) {
	for name, st := range map[string]func(*RaftStatus){
		"leader": func(s *RaftStatus) { s.State, s.LeaderID = "leader", "n1" },
		"client": func(s *RaftStatus) { s.Member, s.Servers = false, s.Servers[1:] },
	} {
		t.Run(name, func(t *testing.T) {
			x := newHarness(t)
			x.raft.set(st)
			x.disk.free = 1 << 20
			if r := x.result(t, "disk_free"); r.Status != Fail {
				t.Fatalf("disk_free = %+v, want fail", r)
			}
		})
	}
}

func TestDiskFreeOff(t *testing.T) {
	x := newHarness(t)
	x.h.cfg.MinDiskFree = 0
	x.disk.free = 0
	if r := x.result(t, "disk_free"); r.Status != Pass {
		t.Fatalf("disk_free with min 0 = %+v, want pass", r)
	}
}

func TestStatfsDisk(t *testing.T) {
	free, total, err := StatfsDisk{}.Free(t.TempDir())
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skip("statfs is read on Linux only")
	}
	if err != nil || total == 0 || free > total {
		t.Fatalf("Free = %d, %d, %v; want free <= total > 0", free, total, err)
	}
	if _, _, err := (StatfsDisk{}).Free(t.TempDir() + "/missing"); err == nil {
		t.Fatal("Free of a missing dir: no error")
	}
}
