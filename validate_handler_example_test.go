package fanfare_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/fanfaretest"
)

func ExampleNewValidateAdmissionHandler() {
	fanfareAPI := fanfaretest.NewServer(fanfaretest.Options{})
	defer fanfareAPI.Close()
	token := fanfareAPI.Admit(fanfare.Queue("q_123"), "c_456") // the browser got this from the queue

	validate := fanfare.NewValidateAdmissionHandler(fanfareAPI.Client(), fanfare.ValidateAdmissionOptions{})

	for _, body := range []string{
		`{"queueId":"q_123","consumerId":"c_456","token":"` + token + `"}`,
		`{"queueId":"q_123","consumerId":"someone-else","token":"` + token + `"}`,
		`{"consumerId":"c_456","token":"` + token + `"}`,
	} {
		rec := httptest.NewRecorder()
		validate.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/validate-admission", strings.NewReader(body)))
		fmt.Println(rec.Code, strings.TrimSpace(rec.Body.String()))
	}
	// Output:
	// 200 {"valid":true}
	// 403 {"valid":false,"error":"Invalid or expired admission token"}
	// 400 {"error":"queueId or drawId required"}
}
