module github.com/waitify-io/fanfare-go/reliability

go 1.25.0

require (
	github.com/golang-jwt/jwt/v5 v5.3.1
	github.com/waitify-io/fanfare-go v0.0.0
	go.uber.org/goleak v1.3.0
)

require (
	github.com/MicahParks/jwkset v0.11.4 // indirect
	github.com/MicahParks/keyfunc/v3 v3.9.2 // indirect
	golang.org/x/text v0.34.0 // indirect
	golang.org/x/time v0.15.0 // indirect
)

replace github.com/waitify-io/fanfare-go => ../
