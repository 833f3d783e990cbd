package otelfanfare

import (
	"net/http"
	"testing"

	fanfare "github.com/waitify-io/fanfare-go"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		method, url string
		endpoint    int
		dist        fanfare.Distribution
	}{
		{"POST", "https://api.fanfare.io/auth/external/authorize", epAuthorize, fanfare.Distribution{}},
		{"POST", "https://proxy.example/fanfare/auth/external/authorize", epAuthorize, fanfare.Distribution{}},
		{"POST", "https://api.fanfare.io/queues/q_1/validate", epValidate, fanfare.Queue("q_1")},
		{"POST", "https://api.fanfare.io/draws/d%2F1/complete", epComplete, fanfare.Draw("d/1")},
		{"POST", "https://api.fanfare.io/v2/auctions/a_1/complete", epComplete, fanfare.Auction("a_1")},
		{"POST", "https://api.fanfare.io/queues//validate", epOther, fanfare.Distribution{}},
		{"POST", "https://api.fanfare.io/widgets/w_1/validate", epOther, fanfare.Distribution{}},
		{"POST", "https://api.fanfare.io/queues/q_1/enter", epOther, fanfare.Distribution{}},
		{"POST", "https://api.fanfare.io/validate", epOther, fanfare.Distribution{}},
		{"GET", "https://api.fanfare.io/.well-known/jwks.json", epJWKS, fanfare.Distribution{}},
		{"GET", "https://keys.example/oauth/keys", epJWKS, fanfare.Distribution{}},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.url, func(t *testing.T) {
			r, err := http.NewRequest(tt.method, tt.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			ep, d := classify(r)
			if ep != tt.endpoint || d != tt.dist {
				t.Errorf("classify = %s %v, want %s %v", endpoints[ep], d, endpoints[tt.endpoint], tt.dist)
			}
		})
	}
}

func TestTruncateKeepsRunes(t *testing.T) {
	if got := truncate("aé", 2); got != "a" {
		t.Errorf("truncate(aé, 2) = %q, want %q", got, "a")
	}
	if got := truncate("abc", 3); got != "abc" {
		t.Errorf("truncate(abc, 3) = %q", got)
	}
}
