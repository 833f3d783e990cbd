package shop

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync"
	"time"

	fanfare "github.com/waitify-io/fanfare-go"
)

// maxOrders bounds the in-memory order store.
const maxOrders = 100_000

// errOrdersFull is returned when the store holds maxOrders orders.
var errOrdersFull = errors.New("shop: order store full")

// CartItem is one line of a cart. The guide leaves its shape to the merchant.
type CartItem struct {
	SKU      string `json:"sku"`
	Quantity int    `json:"quantity"`
}

// Order is a placed order.
type Order struct {
	ID           string
	UserID       string // the shop's user
	ConsumerID   string // the Fanfare consumer whose admission paid for it
	Distribution fanfare.Distribution
	Cart         []CartItem
	PlacedAt     time.Time
}

// Orders is an in-memory order store standing in for your database. It is
// safe for concurrent use.
type Orders struct {
	mu     sync.Mutex
	byID   map[string]Order
	byUser map[string][]string
	bought map[purchase]bool
}

// purchase is a consumer's purchase in one drop.
type purchase struct {
	dist     fanfare.Distribution
	consumer string
}

// NewOrders returns an empty order store.
func NewOrders() *Orders {
	return &Orders{byID: make(map[string]Order), byUser: make(map[string][]string), bought: make(map[purchase]bool)}
}

// Place stores o under a fresh id and returns it with its id set.
func (s *Orders) Place(o Order) (Order, error) {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	o.ID = "ord_" + hex.EncodeToString(b)
	o.Cart = append([]CartItem(nil), o.Cart...)

	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.byID) >= maxOrders {
		return Order{}, errOrdersFull
	}
	s.byID[o.ID] = o
	s.byUser[o.UserID] = append(s.byUser[o.UserID], o.ID)
	s.bought[purchase{o.Distribution, o.ConsumerID}] = true
	return o, nil
}

// Bought reports whether consumer already placed an order in drop d.
func (s *Orders) Bought(d fanfare.Distribution, consumer string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bought[purchase{d, consumer}]
}

// Get returns the order with the given id.
func (s *Orders) Get(id string) (Order, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.byID[id]
	return o, ok
}

// ByUser returns the ids of a user's orders, oldest first.
func (s *Orders) ByUser(userID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.byUser[userID]...)
}

// Len returns the number of orders placed.
func (s *Orders) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byID)
}
