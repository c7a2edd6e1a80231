package raftcore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/conclave-dev/conclave/internal/wire"
)

// tcpStreams is a raft.StreamLayer on a loopback listener: the real
// network, without the internode mesh (which raftcore may not import).
type tcpStreams struct{ net.Listener }

func (s tcpStreams) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return net.DialTimeout("tcp", string(addr), timeout)
}

func newStreams(t *testing.T) tcpStreams {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return tcpStreams{l}
}

// logFSM keeps the commands it applied, in order, and answers each with
// "ok:" and the command.
type logFSM struct {
	mu      sync.Mutex
	applied [][]byte
}

func (f *logFSM) Apply(l *raft.Log) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applied = append(f.applied, slices.Clone(l.Data))
	return append([]byte("ok:"), l.Data...)
}

func (f *logFSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return logSnapshot(bytes.Join(f.applied, []byte{'\n'})), nil
}

func (f *logFSM) Restore(r io.ReadCloser) error {
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applied = nil
	if len(b) > 0 {
		f.applied = bytes.Split(b, []byte{'\n'})
	}
	return nil
}

// Query answers the number of commands applied.
func (f *logFSM) Query([]byte) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return []byte(fmt.Sprint(len(f.applied))), nil
}

func (f *logFSM) commands() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, b := range f.applied {
		out = append(out, string(b))
	}
	return out
}

type logSnapshot []byte

func (s logSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (logSnapshot) Release() {}

// aloneView is the view of a node that sees only itself.
type aloneView struct{ self Peer }

func (v aloneView) Peers() []Peer { return []Peer{v.self} }

// noPeers is a Requester with no one to reach.
type noPeers struct{}

func (noPeers) Request(context.Context, string, []byte) ([]byte, error) {
	return nil, fmt.Errorf("%w: no peers in this test", ErrNotSent)
}

type nopPublisher struct{}

func (nopPublisher) Publish(context.Context, Advert) {}

// memCore is a single-voter Core on in-memory stores, over loopback TCP.
type memCore struct {
	*Core
	fsm *logFSM
}

// newMemCore builds a Core with bootstrap_expect 1 on stores (in memory)
// and dir (for the cluster ID only). It is shut down at cleanup.
func newMemCore(t *testing.T, dir string, stores Stores) memCore {
	t.Helper()
	cfg := DefaultLocalConfig()
	cfg.NodeID, cfg.Dir, cfg.BootstrapExpect = "n1", dir, 1
	streams := newStreams(t)
	fsm := &logFSM{}
	c, err := New(cfg, Deps{
		FSM: fsm, Querier: fsm, Streams: streams,
		View:      aloneView{Peer{ID: "n1", Addr: streams.Addr().String(), Alive: true, Eligible: true}},
		Requester: noPeers{}, Publisher: nopPublisher{},
	}, WithStores(stores))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Shutdown() })
	return memCore{Core: c, fsm: fsm}
}

// run runs c until the returned stop is called (or the test ends).
func (c memCore) run(t *testing.T) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = c.Run(ctx)
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
	t.Cleanup(stop)
	return stop
}

func memStores() Stores {
	s := raft.NewInmemStore()
	return Stores{Log: s, Stable: s, Snapshots: raft.NewInmemSnapshotStore()}
}

// commandsIn lists the command entries a log store holds, in order.
func commandsIn(t *testing.T, logs raft.LogStore) []string {
	t.Helper()
	first, err := logs.FirstIndex()
	if err != nil {
		t.Fatal(err)
	}
	last, err := logs.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := first; i <= last && i > 0; i++ {
		var l raft.Log
		if err := logs.GetLog(i, &l); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		if l.Type == raft.LogCommand {
			out = append(out, string(l.Data))
		}
	}
	return out
}

// A Core on injected in-memory stores bootstraps, commits into them (and
// not into files under its dir), and a second Core on the same stores
// finds its state there: it does not bootstrap again, keeps the cluster ID
// and replays the log into its FSM.
func TestCoreRunsOnInjectedStores(t *testing.T) {
	dir := t.TempDir()
	stores := memStores()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	first := newMemCore(t, dir, stores)
	stop := first.run(t)
	resp, err := first.Apply(ctx, []byte("x"))
	if err != nil || string(resp) != "ok:x" {
		t.Fatalf("Apply(x) = %q, %v; want ok:x", resp, err)
	}
	if got := commandsIn(t, stores.Log); !slices.Equal(got, []string{"x"}) {
		t.Fatalf("the injected log store holds commands %q, want [x]", got)
	}
	st := first.Status()
	if len(st.Servers) != 1 || st.Servers[0].ID != "n1" || st.Servers[0].Suffrage != "voter" {
		t.Fatalf("configuration %+v, want n1 the only voter", st.Servers)
	}
	clusterID := first.ClusterID()
	if clusterID == "" {
		t.Fatal("no cluster ID after bootstrap")
	}
	stop()
	if err := first.Shutdown(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"raft.db", walDirName, "snapshots", logStoreMarker} {
		if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s under the data dir with injected stores: %v", name, err)
		}
	}

	second := newMemCore(t, dir, stores)
	if !second.hadState {
		t.Fatal("the second Core found no Raft state in the injected stores")
	}
	second.run(t)
	resp, err = second.Apply(ctx, []byte("y"))
	if err != nil || string(resp) != "ok:y" {
		t.Fatalf("Apply(y) after restart = %q, %v; want ok:y", resp, err)
	}
	if got := second.fsm.commands(); !slices.Equal(got, []string{"x", "y"}) {
		t.Fatalf("restarted FSM applied %q, want [x y]", got)
	}
	if got := second.ClusterID(); got != clusterID {
		t.Fatalf("cluster ID %q after restart, want %q", got, clusterID)
	}
}

func TestWithStoresRefusesANilStore(t *testing.T) {
	s := memStores()
	s.Snapshots = nil
	cfg := DefaultLocalConfig()
	cfg.NodeID, cfg.Dir = "n1", t.TempDir()
	fsm := &logFSM{}
	streams := newStreams(t)
	defer streams.Close()
	c, err := New(cfg, Deps{FSM: fsm, Querier: fsm, Streams: streams, View: aloneView{},
		Requester: noPeers{}, Publisher: nopPublisher{}}, WithStores(s))
	if err == nil {
		c.Shutdown()
		t.Fatal("New accepted WithStores without a snapshot store")
	}
}

func TestAppliedEntriesCarryTheirChecksum(t *testing.T) {
	stores := memStores()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := newMemCore(t, t.TempDir(), stores)
	stop := c.run(t)
	defer func() {
		stop()
		_ = c.Shutdown()
	}()
	for _, cmd := range []string{"x", "yz"} {
		if resp, err := c.Apply(ctx, []byte(cmd)); err != nil || string(resp) != "ok:"+cmd {
			t.Fatalf("Apply(%s) = %q, %v; want ok:%s", cmd, resp, err, cmd)
		}
	}
	first, err := stores.Log.FirstIndex()
	if err != nil {
		t.Fatal(err)
	}
	last, err := stores.Log.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for i := first; i <= last && i > 0; i++ {
		var l raft.Log
		if err := stores.Log.GetLog(i, &l); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		if l.Type != raft.LogCommand {
			continue
		}
		seen = append(seen, string(l.Data))
		if !bytes.Equal(l.Extensions, wire.Checksum(l.Data)) {
			t.Fatalf("entry %d (%q) has extensions %x, want its checksum %x", i, l.Data, l.Extensions, wire.Checksum(l.Data))
		}
		if known, ok := wire.VerifyChecksum(l.Data, l.Extensions); !known || !ok {
			t.Fatalf("entry %d does not verify: known %v, ok %v", i, known, ok)
		}
	}
	if !slices.Equal(seen, []string{"x", "yz"}) {
		t.Fatalf("the log holds commands %q, want [x yz]", seen)
	}
}
