package fanfare_test

import (
	"context"
	"fmt"
	"net/http"
	"time"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/fanfaretest"
)

// A completion Fanfare does not accept at once is delivered by the worker
// once Fanfare recovers; the consumer's answer does not wait for it.
func ExampleCompletionWorker() {
	srv := fanfaretest.NewServer(fanfaretest.Options{})
	defer srv.Close()
	client := srv.Client()

	store := fanfare.NewMemoryStore(fanfare.MemoryStoreOptions{}) // on many instances: the redisstore module
	worker := fanfare.NewCompletionWorker(client, store, fanfare.CompletionWorkerOptions{})
	h := fanfare.RequireAdmission(client, fanfare.AdmissionOptions{
		Distribution: fanfare.Queue("q_drop"),
		Store:        store,
		Completions:  worker,
	})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "order placed") }))

	srv.InjectFault(fanfaretest.EndpointComplete, fanfaretest.Fault{Status: 503}) // Fanfare is down
	exampleCheckout(h, srv.Admit(fanfare.Queue("q_drop"), "cons_1"), "")
	st, _ := store.Stats(context.Background())
	fmt.Println("pending:", st.Pending)
	srv.ClearFaults() // Fanfare is back

	// On shutdown: deliver what is due, within a deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	fmt.Println("close:", worker.Close(ctx))
	fmt.Println("completed:", srv.Completed(fanfare.Queue("q_drop"), "cons_1"))
	// Output:
	// 200 order placed
	// pending: 1
	// close: <nil>
	// completed: true
}
