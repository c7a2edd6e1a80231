package acl

import (
	"context"
	"fmt"
	"time"

	"github.com/conclave-dev/conclave/internal/wire"
)

// How a node finds a token: a server in its own replica, a client node
// (no replica) through a server, trusting the answer for CacheTTL.

// cached is a token a client node resolved through a server.
type cached struct {
	// accessor is the token's ID, kept when a later answer says the
	// token is gone, so Valid finds it.
	accessor string
	t        Token
	rules    []Rule
	found    bool
	at       time.Time
}

// maxCached bounds a client node's cache; past it the cache starts over.
const maxCached = 10000

// resolveTimeout bounds a client node's question to a server.
const resolveTimeout = 5 * time.Second

// lookup finds a token by its secret's hash: in the local replica on a
// server, through a server (and a cache of CacheTTL) on a client. A
// client that cannot reach a server keeps using what it cached; without
// that the error wraps wire.ErrUnavailable.
func (s *Service) lookup(h Hash) (Token, []Rule, bool, error) {
	now := s.now()
	if s.replica() {
		t, rules, ok := s.t.Resolve(h, now)
		return t, rules, ok, nil
	}
	s.mu.Lock()
	c, hit := s.cache[h]
	s.mu.Unlock()
	if !hit || now.Sub(c.at) >= s.cfg.CacheTTL {
		fresh, err := s.resolveRemote(h)
		switch {
		case err != nil && !hit:
			return Token{}, nil, false, fmt.Errorf("resolve token: %w", err)
		case err == nil:
			fresh.at = now
			if fresh.found {
				fresh.accessor = fresh.t.AccessorID
			} else if hit {
				fresh.accessor = c.accessor
			}
			s.mu.Lock()
			if len(s.cache) >= maxCached {
				s.cache = map[Hash]cached{}
			}
			s.cache[h] = fresh
			s.mu.Unlock()
			c = fresh
		}
	}
	if !c.found || c.t.Expired(now) {
		return Token{}, nil, false, nil
	}
	return c.t, c.rules, true, nil
}

func (s *Service) resolveRemote(h Hash) (cached, error) {
	ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
	defer cancel()
	d, err := s.query(ctx, wire.ReadStale, resolveQuery(h))
	if err != nil {
		return cached{}, err
	}
	var c cached
	if c.found = d.Bool(); c.found {
		c.t = *decodeToken(d)
		n := d.Count(3)
		for i := 0; i < n && d.Err() == nil; i++ {
			c.rules = append(c.rules, Rule{Resource: Resource(d.Byte()), Prefix: d.StringMax(MaxPrefixLen + 64), Access: Access(d.Byte())})
		}
	}
	if err := d.Done(); err != nil {
		return cached{}, fmt.Errorf("decode: %w", err)
	}
	return c, nil
}

// cachedHash finds the hash a client node cached accessor under.
func (s *Service) cachedHash(accessor string) (Hash, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for h, c := range s.cache {
		if c.accessor == accessor {
			return h, true
		}
	}
	return Hash{}, false
}
