package main

// The client side: consumers admitted by the emulator and logged in at a
// shop, checkouts sent over loopback, and what came back.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/fanfaretest"
)

// sessionCookie is the shop's session cookie (examples/internal/shop); the
// guide's server uses the same name.
const sessionCookie = "shop_session"

// checkoutRequest is the guide's CheckoutRequest body.
type checkoutRequest struct {
	AdmissionToken string     `json:"admissionToken"`
	ConsumerID     string     `json:"consumerId"`
	ExperienceType string     `json:"experienceType"`
	DistributionID string     `json:"distributionId"`
	Cart           []cartItem `json:"cart"`
}

type cartItem struct {
	SKU      string `json:"sku"`
	Quantity int    `json:"quantity"`
}

// consumer is one admitted consumer, logged in as its own user at every
// instance of the implementation under test.
type consumer struct {
	id   string
	body []byte   // the checkout request
	sids []string // session id per instance
}

// outcome is one checkout's answer.
type outcome struct {
	status  int
	orderID string
	dur     time.Duration
	err     error
}

// driver sends the load.
type driver struct {
	emu  *fanfaretest.Server
	dist fanfare.Distribution
	http *http.Client
}

func newDriver(emu *fanfaretest.Server, dist fanfare.Distribution) *driver {
	return &driver{emu: emu, dist: dist, http: &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConns:        4096,
			MaxIdleConnsPerHost: 4096,
			IdleConnTimeout:     30 * time.Second,
		},
	}}
}

// prepare admits n consumers named after tag and logs each in as its own
// user at every URL, conc at a time.
func (d *driver) prepare(ctx context.Context, tag string, n, conc int, urls []string) ([]*consumer, error) {
	cs := make([]*consumer, n)
	err := forEach(ctx, n, conc, func(i int) error {
		id := "cons_" + tag + "_" + strconv.Itoa(i)
		token := d.emu.Admit(d.dist, id)
		body, err := json.Marshal(checkoutRequest{
			AdmissionToken: token, ConsumerID: id,
			ExperienceType: string(d.dist.Type), DistributionID: d.dist.ID,
			Cart: []cartItem{{SKU: "sneaker-42", Quantity: 1}},
		})
		if err != nil {
			return err
		}
		c := &consumer{id: id, body: body}
		for _, u := range urls {
			sid, err := d.login(ctx, u, "user_"+tag+"_"+strconv.Itoa(i))
			if err != nil {
				return err
			}
			c.sids = append(c.sids, sid)
		}
		cs[i] = c
		return nil
	})
	return cs, err
}

func (d *driver) login(ctx context.Context, base, user string) (string, error) {
	body, _ := json.Marshal(map[string]string{"userId": user, "email": user + "@example.com"})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/login", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := d.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("login at %s: %w", base, err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	for _, c := range res.Cookies() {
		if c.Name == sessionCookie && res.StatusCode == http.StatusOK {
			return c.Value, nil
		}
	}
	return "", fmt.Errorf("login at %s: status %d, no session cookie", base, res.StatusCode)
}

// checkout sends c's checkout to instance i at base and times it.
func (d *driver) checkout(ctx context.Context, base string, c *consumer, i int) outcome {
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/checkout", bytes.NewReader(c.body))
	if err != nil {
		return outcome{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: c.sids[i]})
	res, err := d.http.Do(req)
	if err != nil {
		return outcome{err: err, dur: time.Since(start)}
	}
	raw, err := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	o := outcome{status: res.StatusCode, dur: time.Since(start), err: err}
	if err == nil && res.StatusCode == http.StatusOK {
		var ok struct {
			Success bool   `json:"success"`
			OrderID string `json:"orderId"`
		}
		if json.Unmarshal(raw, &ok) != nil || !ok.Success || ok.OrderID == "" {
			o.err = fmt.Errorf("200 without an order: %.200s", raw)
		}
		o.orderID = ok.OrderID
	}
	return o
}

// forEach runs f(0..n-1), conc at a time, and returns the first error.
func forEach(ctx context.Context, n, conc int, f func(i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(conc, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := f(i); err != nil {
					cancel(err)
				}
			}
		}()
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	return context.Cause(ctx)
}
