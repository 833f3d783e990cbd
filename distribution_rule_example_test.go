package fanfare_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/fanfaretest"
)

// The guide's checkout body: the token, the consumer and the distribution
// all travel in the JSON body; the handler still reads all of it.
func ExampleDistributionFromBody() {
	srv := fanfaretest.NewServer(fanfaretest.Options{})
	defer srv.Close()

	h := fanfare.RequireAdmission(srv.Client(), fanfare.AdmissionOptions{
		Distribution: fanfare.DistributionFunc(fanfare.DistributionFromBody),
	})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var order struct {
			Cart []struct{ SKU string }
		}
		_ = json.NewDecoder(r.Body).Decode(&order)
		fmt.Fprintf(w, "order for %+v", order.Cart)
	}))

	token := srv.Admit(fanfare.Draw("d_spring"), "cons_7")
	body := `{"admissionToken":"` + token + `","consumerId":"cons_7",` +
		`"experienceType":"draw","distributionId":"d_spring","cart":[{"sku":"AJ1","qty":1}]}`
	exampleCheckout(h, "", body)
	// Output:
	// 200 order for [{SKU:AJ1}]
}

// Routes for many queues, the queue named by the path.
func ExampleDistributionFromPath() {
	srv := fanfaretest.NewServer(fanfaretest.Options{})
	defer srv.Close()

	mux := http.NewServeMux()
	mux.Handle("POST /queues/{queue}/checkout", fanfare.RequireAdmission(srv.Client(), fanfare.AdmissionOptions{
		Distribution: fanfare.DistributionFromPath(fanfare.TypeQueue, "queue"),
	})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, _ := fanfare.AdmissionFromContext(r.Context())
		fmt.Fprint(w, a.Distribution)
	})))

	token := srv.Admit(fanfare.Queue("q_red"), "cons_1")
	for _, path := range []string{"/queues/q_blue/checkout", "/queues/q_red/checkout"} {
		req := httptest.NewRequest(http.MethodPost, path, nil)
		req.Header.Set("Fanfare-Admission", token)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		fmt.Println(rec.Code, path)
	}
	// Output:
	// 403 /queues/q_blue/checkout
	// 200 /queues/q_red/checkout
}

// Either of the guide's two shapes names the distribution; a body naming
// two is refused.
func ExampleDistributionFromBody_shapes() {
	for _, body := range []string{
		`{"experienceType":"draw","distributionId":"d_1"}`,
		`{"queueId":"q_1","token":"..."}`,
		`{"queueId":"q_1","auctionId":"a_1"}`,
		`{"experienceType":"queue","distributionId":"q_1","queueId":"q_1"}`,
	} {
		req := httptest.NewRequest(http.MethodPost, "/checkout", strings.NewReader(body))
		d, err := fanfare.DistributionFromBody(req)
		if err != nil {
			fmt.Println("refused:", err)
			continue
		}
		fmt.Println(d)
	}
	// Output:
	// draw:d_1
	// queue:q_1
	// refused: fanfare: invalid request body: more than one of queueId, drawId and auctionId
	// refused: fanfare: invalid request body: experienceType or distributionId beside queueId, drawId or auctionId
}

// A route selling any of several drops.
func ExampleAnyOf() {
	srv := fanfaretest.NewServer(fanfaretest.Options{})
	defer srv.Close()

	h := fanfare.RequireAdmission(srv.Client(), fanfare.AdmissionOptions{
		Distribution: fanfare.AnyOf(fanfare.Queue("q_red"), fanfare.Draw("d_blue")),
	})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }))

	exampleCheckout(h, srv.Admit(fanfare.Draw("d_blue"), "cons_1"), "")
	exampleCheckout(h, srv.Admit(fanfare.Queue("q_green"), "cons_1"), "")
	// Output:
	// 200 ok
	// 403 {"error":"Invalid admission","message":"Your access has expired or is invalid","code":"ADMISSION_MISMATCH"}
}
