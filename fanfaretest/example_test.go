package fanfaretest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/fanfaretest"
)

func Example() {
	srv := fanfaretest.NewServer(fanfaretest.Options{})
	defer srv.Close()

	ctx := context.Background()
	client := srv.Client()
	drop := fanfare.Queue("q_sneakers")

	token := srv.Admit(drop, "cons_1")
	ok, err := client.ValidateAdmission(ctx, drop, "cons_1", token)
	fmt.Println("valid:", ok, err)

	ok, _ = client.ValidateAdmission(ctx, drop, "cons_2", token)
	fmt.Println("someone else's token:", ok)

	_ = client.CompleteAdmission(ctx, drop, "cons_1")
	ok, _ = client.ValidateAdmission(ctx, drop, "cons_1", token)
	fmt.Println("after completion:", ok, srv.Completed(drop, "cons_1"))
	// Output:
	// valid: true <nil>
	// someone else's token: false
	// after completion: false true
}

// A manual clock tests expiry without sleeping.
func ExampleNewClock() {
	clock := fanfaretest.NewClock(time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC))
	srv := fanfaretest.NewServer(fanfaretest.Options{Clock: clock.Now, AdmissionTTL: 5 * time.Minute})
	defer srv.Close()

	ctx := context.Background()
	drop := fanfare.Draw("d_tickets")
	token := srv.Admit(drop, "cons_1")

	clock.Advance(4 * time.Minute)
	ok, _ := srv.Client().ValidateAdmission(ctx, drop, "cons_1", token)
	fmt.Println("after 4 minutes:", ok)

	clock.Advance(time.Minute)
	ok, _ = srv.Client().ValidateAdmission(ctx, drop, "cons_1", token)
	fmt.Println("after 5 minutes:", ok)
	// Output:
	// after 4 minutes: true
	// after 5 minutes: false
}

// Injected faults show how code under test behaves when Fanfare is down.
func ExampleServer_InjectFault() {
	srv := fanfaretest.NewServer(fanfaretest.Options{})
	defer srv.Close()

	cfg := srv.Config()
	cfg.Retry.MaxAttempts = 1 // one request per call, to count them
	client, _ := fanfare.NewClient(cfg)
	drop := fanfare.Queue("q_1")
	token := srv.Admit(drop, "cons_1")

	srv.InjectFault(fanfaretest.EndpointValidate, fanfaretest.Fault{Status: 503, Times: 1})
	_, err := client.ValidateAdmission(context.Background(), drop, "cons_1", token)
	fmt.Println("unavailable:", errors.Is(err, fanfare.ErrUnavailable))

	ok, err := client.ValidateAdmission(context.Background(), drop, "cons_1", token)
	fmt.Println("then:", ok, err)
	fmt.Println("validate calls:", srv.Calls(fanfaretest.EndpointValidate))
	// Output:
	// unavailable: true
	// then: true <nil>
	// validate calls: 2
}

// Start returns an error instead of panicking, for commands.
func ExampleStart() {
	srv, err := fanfaretest.Start(fanfaretest.Options{Addr: "127.0.0.1:0"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	fmt.Println(strings.HasPrefix(srv.URL, "http://127.0.0.1:"), strings.HasPrefix(srv.SecretKey, "sk_test_"))
	// Output: true true
}

// The browser flow: authorize (server side), exchange and enter (browser
// side, emulator endpoints), then validate.
func ExampleServer_AccessToken() {
	srv := fanfaretest.NewServer(fanfaretest.Options{})
	defer srv.Close()

	access, consumerID := srv.AccessToken("shop", "https://shop.example", "user_42")
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/queues/q_1/enter", nil)
	req.Header.Set("Authorization", "Bearer "+access)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	var entered struct {
		AdmissionToken string `json:"admissionToken"`
		Position       int    `json:"position"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&entered)
	fmt.Println(resp.StatusCode, "position", entered.Position)

	ok, _ := srv.Client().ValidateAdmission(context.Background(), fanfare.Queue("q_1"), consumerID, entered.AdmissionToken)
	fmt.Println("valid:", ok)
	// Output:
	// 200 position 1
	// valid: true
}

// The admin API drives the emulator over HTTP, as a Node or Python test
// suite does with cmd/fanfare-emulator.
func ExampleServer_AdminURL() {
	srv := fanfaretest.NewServer(fanfaretest.Options{ManualClock: fanfaretest.NewClock(time.Time{})})
	defer srv.Close()

	post := func(path, body string) string {
		resp, err := http.Post(srv.AdminURL()+path, "application/json", strings.NewReader(body))
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		var answer map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&answer)
		delete(answer, "token") // random
		out, _ := json.Marshal(answer)
		return resp.Status + " " + string(out)
	}
	fmt.Println(post("/admit", `{"type":"queue","id":"q_1","consumerId":"cons_1"}`))
	fmt.Println(post("/faults", `{"endpoint":"complete","status":503,"times":2}`))
	fmt.Println(post("/clock", `{"advance":"30s"}`))
	fmt.Println(post("/faults", `{"endpoint":"complete","status":503,"drop":true}`))

	// The client retries through the two injected 503s.
	err := srv.Client().CompleteAdmission(context.Background(), fanfare.Queue("q_1"), "cons_1")
	fmt.Println("completed:", err == nil, "after", srv.Calls(fanfaretest.EndpointComplete), "calls")
	// Output:
	// 200 OK {"admittedAt":"2030-01-01T00:00:00Z","consumerId":"cons_1","distributionId":"q_1","distributionType":"queue","expiresAt":"2030-01-01T00:10:00Z","position":1}
	// 200 OK {"faults":[{"endpoint":"complete","remaining":2,"status":503,"times":2}]}
	// 200 OK {"manual":true,"now":"2030-01-01T00:00:30Z"}
	// 400 Bad Request {"error":"bad_request","message":"set at most one of \"status\", \"drop\", \"malformed\" and \"oversized\""}
	// completed: true after 3 calls
}
