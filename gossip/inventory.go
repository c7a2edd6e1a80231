package gossip

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Resolver is what discovery asks DNS. *net.Resolver implements it.
// Discovery calls it from Run's discovery goroutine only, one call at a
// time, with a ctx bounded by the lookup timeout; it may block until then.
type Resolver interface {
	// LookupHost returns the IP addresses of host.
	LookupHost(ctx context.Context, host string) ([]string, error)
	// LookupSRV with service and proto "" looks name up directly and
	// returns its SRV records.
	LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error)
}

// inventory is the set of gossip addresses this node resolved from
// Config.DiscoverDNS and Config.DiscoverFile. It is read by the
// allow-only-inventory guard from memberlist's goroutines (under its node
// lock: the read takes only this short RWMutex) and written by the
// discovery goroutine.
type inventory struct {
	mu    sync.RWMutex
	addrs map[netip.AddrPort]struct{}
	list  []string // the same, "ip:port", sorted: join targets

	// The rest belongs to the discovery goroutine alone.
	fileSig   fileSig
	fileLines []hostPort // the file's entries, as last parsed
	dnsAddrs  []netip.AddrPort
	fileAddrs []netip.AddrPort
}

// fileSig is what tells a changed inventory file: modification time, size
// and a hash of the content (an edit within one mtime tick that keeps the
// size still changes the hash).
type fileSig struct {
	mod  time.Time
	size int64
	sum  [sha256.Size]byte
	ok   bool // the file was read
}

type hostPort struct {
	host string
	port uint16
}

// allowed reports whether a is in the inventory.
func (inv *inventory) allowed(a netip.AddrPort) bool {
	inv.mu.RLock()
	defer inv.mu.RUnlock()
	_, ok := inv.addrs[a]
	return ok
}

// targets returns the inventory as join addresses.
func (inv *inventory) targets() []string {
	inv.mu.RLock()
	defer inv.mu.RUnlock()
	return slices.Clone(inv.list)
}

// publish replaces the inventory with the union of the DNS and file parts and
// returns the addresses that were not in it before.
func (inv *inventory) publish() (added []string) {
	next := make(map[netip.AddrPort]struct{}, len(inv.dnsAddrs)+len(inv.fileAddrs))
	for _, a := range inv.dnsAddrs {
		next[a] = struct{}{}
	}
	for _, a := range inv.fileAddrs {
		next[a] = struct{}{}
	}
	list := make([]string, 0, len(next))
	for a := range next {
		list = append(list, a.String())
	}
	slices.Sort(list)
	inv.mu.Lock()
	defer inv.mu.Unlock()
	for a := range next {
		if _, ok := inv.addrs[a]; !ok {
			added = append(added, a.String())
		}
	}
	slices.Sort(added)
	inv.addrs, inv.list = next, list
	return added
}

// maxInventoryFile bounds the inventory file read into memory: a list of
// addresses, not a database.
const maxInventoryFile = 1 << 20

// readInventoryFile reads path and reports whether it changed since prev.
// A file over maxInventoryFile is an error.
func readInventoryFile(path string, prev fileSig) (fileSig, []byte, bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return fileSig{}, nil, prev.ok, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fileSig{}, nil, prev.ok, err
	}
	if st.Size() > maxInventoryFile {
		return fileSig{}, nil, prev.ok, fmt.Errorf("%d bytes, more than %d", st.Size(), maxInventoryFile)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxInventoryFile+1))
	if err != nil {
		return fileSig{}, nil, prev.ok, err
	}
	if len(data) > maxInventoryFile {
		return fileSig{}, nil, prev.ok, fmt.Errorf("more than %d bytes", maxInventoryFile)
	}
	sig := fileSig{mod: st.ModTime(), size: st.Size(), sum: sha256.Sum256(data), ok: true}
	changed := !prev.ok || sig.sum != prev.sum || sig.size != prev.size || !sig.mod.Equal(prev.mod)
	return sig, data, changed, nil
}

// parseInventory reads one address a line: "host" or "host:port" (a bare
// host gets defaultPort), "# comment" and blank lines skipped, a comment
// may follow an address. Lines that do not parse are returned as problems
// ("line 3: ...") and left out; the rest still counts.
func parseInventory(data []byte, defaultPort uint16) ([]hostPort, []string) {
	var out []hostPort
	var problems []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), maxInventoryFile)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		hp, err := parseHostPort(line, defaultPort)
		if err != nil {
			problems = append(problems, fmt.Sprintf("line %d: %v", n, err))
			continue
		}
		out = append(out, hp)
	}
	return out, problems
}

// parseHostPort accepts host, host:port, [v6]:port and a bare IPv6 address.
func parseHostPort(s string, defaultPort uint16) (hostPort, error) {
	host, portStr, err := net.SplitHostPort(s)
	if err != nil {
		if ip, perr := netip.ParseAddr(s); perr == nil {
			return hostPort{host: ip.String(), port: defaultPort}, nil
		}
		if strings.ContainsAny(s, ":[] \t") {
			return hostPort{}, fmt.Errorf("%q is not host or host:port", s)
		}
		host, portStr = s, ""
	}
	if host == "" || !validInventoryHost(host) {
		return hostPort{}, fmt.Errorf("%q: bad host", s)
	}
	port := defaultPort
	if portStr != "" {
		p, err := strconv.ParseUint(portStr, 10, 16)
		if err != nil || p == 0 {
			return hostPort{}, fmt.Errorf("%q: bad port", s)
		}
		port = uint16(p)
	}
	return hostPort{host: host, port: port}, nil
}

func validInventoryHost(h string) bool {
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	if len(h) > 253 {
		return false
	}
	for _, r := range h {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.', r == '_':
		default:
			return false
		}
	}
	return true
}
