module github.com/waitify-io/fanfare-go/reliability

go 1.26.0

require (
	github.com/golang-jwt/jwt/v5 v5.3.1
	github.com/redis/go-redis/v9 v9.23.0
	github.com/waitify-io/fanfare-go v0.0.0
	github.com/waitify-io/fanfare-go/redisstore v0.0.0
	go.uber.org/goleak v1.3.0
)

require (
	github.com/MicahParks/jwkset v0.11.4 // indirect
	github.com/MicahParks/keyfunc/v3 v3.9.2 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
	golang.org/x/text v0.34.0 // indirect
	golang.org/x/time v0.15.0 // indirect
)

replace (
	github.com/waitify-io/fanfare-go => ../
	github.com/waitify-io/fanfare-go/redisstore => ../redisstore
)
