// Package reliability holds no code of its own: its tests prove, in one
// place and through the public API over loopback HTTP, that under faults and
// hostile input fanfare-go admits nobody it should not, answers what the
// README promises, loses no completion and leaks no secret.
//
// Run it with `make reliability` from the repository root. It prints the
// fault matrix (copied into SECURITY.md) and the number of attacks refused.
// It is a module of its own so that it may import redisstore without
// putting Redis in the root module's graph.
package reliability
