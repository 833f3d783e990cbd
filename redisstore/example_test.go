package redisstore_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/redisstore"
)

// Every instance of the application builds the same limiter and store on
// the same Redis. The example needs a Redis at localhost:6379, so it has no
// Output to check.
func Example() {
	rdb := redis.NewClient(&redis.Options{
		Addr: "localhost:6379",
		// Let the per-call deadlines bound a read from a Redis that hangs.
		ContextTimeoutEnabled: true,
	})
	defer rdb.Close()

	limiter, err := redisstore.NewLimiter(rdb, redisstore.LimiterOptions{
		Limit: fanfare.Limit{Requests: 10, Window: time.Minute},
	})
	if err != nil {
		log.Fatal(err)
	}
	store, err := redisstore.NewStore(rdb, redisstore.StoreOptions{Prefix: "shop"})
	if err != nil {
		log.Fatal(err)
	}

	authorize := http.NewServeMux() // your authorize handler
	http.Handle("/authorize", fanfare.RateLimitAuthorize(fanfare.RateLimitOptions{Limiter: limiter})(authorize))
	_ = store // AdmissionOptions.Store of RequireAdmission

	// A health check can watch the completions owed to Fanfare.
	st, err := store.Stats(context.Background())
	if err != nil {
		log.Print(err) // Redis is down: checkouts answer 503
		return
	}
	if st.Pending > 0 {
		fmt.Printf("%d completions pending, the oldest since %v\n", st.Pending, st.Oldest)
	}
}

// A Store on a Redis Cluster: its keys share the slot of its hash tag.
func ExampleNewStore_cluster() {
	rdb := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:                 []string{"redis-0:6379", "redis-1:6379", "redis-2:6379"},
		ContextTimeoutEnabled: true,
	})
	defer rdb.Close()
	store, err := redisstore.NewStore(rdb, redisstore.StoreOptions{Prefix: "shop"}) // keys {shop}:…
	if err != nil {
		log.Fatal(err)
	}
	_ = store
}
