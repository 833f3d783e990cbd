package fanfare

// MemoryLimiterLen returns the number of keys l, a limiter from
// NewMemoryLimiter, holds, idle ones not yet reclaimed included.
func MemoryLimiterLen(l Limiter) int { return int(l.(*memoryLimiter).keys.Load()) }
