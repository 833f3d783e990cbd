package fanfare

// MemoryLimiterLen returns the number of keys l, a limiter from
// NewMemoryLimiter, holds, idle ones not yet reclaimed included.
func MemoryLimiterLen(l Limiter) int { return int(l.(*memoryLimiter).keys.Load()) }

// MemoryStoreLen returns the number of keys held or marked used that have not
// expired in s, a store from NewMemoryStore: tests check its bounds and its
// eviction with it.
func MemoryStoreLen(s Store) int { return s.(*memoryStore).liveLen() }

// liveLen counts the keys held or marked used that have not expired.
func (s *memoryStore) liveLen() int {
	now := s.clock().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, e := range s.keys {
		if e.expires > now {
			n++
		}
	}
	return n
}

// ClientIP is clientIP, for its table and fuzz test.
var ClientIP = clientIP

// ErrNoDistribution is errNoDistribution, which matches ErrInvalidRequestBody:
// tests tell the guide's own 400 body apart with it.
var ErrNoDistribution = errNoDistribution
