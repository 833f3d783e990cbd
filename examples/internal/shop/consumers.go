package shop

import (
	"errors"
	"sync"
)

// maxBindings bounds the user↔consumer table.
const maxBindings = 1_000_000

var (
	errConsumerTaken = errors.New("shop: this Fanfare consumer belongs to another user")
	errUserBound     = errors.New("shop: this user checks out as another Fanfare consumer")
	errBindingsFull  = errors.New("shop: consumer table full")
)

// Consumers ties each shop user to one Fanfare consumer and each consumer to
// one user, so an admission cannot move between accounts.
//
// What it guarantees, and what not: the shop never sees a user's consumer id
// from Fanfare directly (the browser exchanges the code), so the tie is made
// the first time a user checks out with an admission Fanfare confirmed
// (trust on first use). From then on, the user can only check out with that
// consumer's admissions, and no other user can check out with them — a
// shared or resold admission stops working. It does not prove the very
// first checkout was by the account that exchanged the code; for that,
// have the browser send its Fanfare access token and verify it server-side.
//
// The table lives in memory; a real shop keeps the tie in its user records.
type Consumers struct {
	mu         sync.Mutex
	byUser     map[string]string
	byConsumer map[string]string
}

// NewConsumers returns an empty table.
func NewConsumers() *Consumers {
	return &Consumers{byUser: make(map[string]string), byConsumer: make(map[string]string)}
}

// Check reports whether user may check out as consumer, without tying them.
func (c *Consumers) Check(user, consumer string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.check(user, consumer)
}

// Bind ties user and consumer if neither is tied to another, and reports
// whether user may check out as consumer.
func (c *Consumers) Bind(user, consumer string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.check(user, consumer); err != nil {
		return err
	}
	if _, ok := c.byUser[user]; ok {
		return nil
	}
	if len(c.byUser) >= maxBindings {
		return errBindingsFull
	}
	c.byUser[user] = consumer
	c.byConsumer[consumer] = user
	return nil
}

// ConsumerOf returns the consumer user is tied to.
func (c *Consumers) ConsumerOf(user string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	consumer, ok := c.byUser[user]
	return consumer, ok
}

func (c *Consumers) check(user, consumer string) error {
	if u, ok := c.byConsumer[consumer]; ok && u != user {
		return errConsumerTaken
	}
	if k, ok := c.byUser[user]; ok && k != consumer {
		return errUserBound
	}
	return nil
}
