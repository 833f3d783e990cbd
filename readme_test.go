package fanfare_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/fanfaretest"
)

// The README promises, in Markdown tables, what the handlers answer. These
// tests read those tables and drive the real handlers against the emulator,
// over loopback HTTP, into each situation a row names: a row without a
// scenario fails, and so does a scenario whose row is gone, so the tables
// and the code cannot drift apart unnoticed.

// The tables checked, by the text their header row starts with.
const (
	tableAuthorize = "authorize"
	tableValidate  = "validate-admission"
	tableRefusal   = "refusal"
)

// readmeAnswer is what a handler sent, as a client saw it.
type readmeAnswer struct {
	status int
	header http.Header
	body   []byte
	secret string // the emulator's secret key, which must never show
}

// readmeScenario puts a handler into one situation and returns each answer
// the situation covers (a row may name several ways into it).
type readmeScenario func(t *testing.T) []readmeAnswer

// readmeScenarios maps each table, then each situation as the README words
// it, to the scenario that produces it.
func readmeScenarios() map[string]map[string]readmeScenario {
	return map[string]map[string]readmeScenario{
		tableAuthorize: {
			"success": func(t *testing.T) []readmeAnswer {
				w := newAuthorizeWorld(t, nil)
				return []readmeAnswer{w.post(t, "alice", nil)}
			},
			"not POST": func(t *testing.T) []readmeAnswer {
				w := newAuthorizeWorld(t, nil)
				return []readmeAnswer{w.do(t, http.MethodGet, "alice", nil)}
			},
			"no identity": func(t *testing.T) []readmeAnswer {
				w := newAuthorizeWorld(t, nil)
				return []readmeAnswer{w.post(t, "", nil)}
			},
			"claims too large": func(t *testing.T) []readmeAnswer {
				w := newAuthorizeWorld(t, nil)
				return []readmeAnswer{w.post(t, "alice", map[string]any{"bio": strings.Repeat("a", 10_000)})}
			},
			"over 10 a minute": func(t *testing.T) []readmeAnswer {
				w := newAuthorizeWorld(t, nil)
				for i := range 10 {
					require.Equal(t, http.StatusOK, w.post(t, "alice", nil).status, "request %d of 10", i+1)
					w.clock.Advance(time.Second)
				}
				return []readmeAnswer{w.post(t, "alice", nil)}
			},
			"rate limiter cannot decide": func(t *testing.T) []readmeAnswer {
				// A limiter full of keys refuses a new one rather than
				// forget a live one: no decision, so fail closed.
				w := newAuthorizeWorld(t, func(o *authorizeWorldOptions) { o.maxKeys = 1 })
				require.Equal(t, http.StatusOK, w.post(t, "alice", nil).status)
				return []readmeAnswer{w.post(t, "bob", nil)}
			},
			"Fanfare refused (e.g. the secret key)": func(t *testing.T) []readmeAnswer {
				w := newAuthorizeWorld(t, func(o *authorizeWorldOptions) { o.wrongKey = true })
				return []readmeAnswer{w.post(t, "alice", nil)}
			},
			"Fanfare unreachable, timed out, 5xx": func(t *testing.T) []readmeAnswer {
				w := newAuthorizeWorld(t, nil)
				return faultAnswers(w.srv, fanfaretest.EndpointAuthorize, func() readmeAnswer { return w.post(t, "alice", nil) })
			},
		},
		tableValidate: {
			"Fanfare says valid": func(t *testing.T) []readmeAnswer {
				w := newValidateWorld(t, false)
				tok := w.srv.Admit(fanfare.Queue("q_1"), "c_1")
				return []readmeAnswer{w.post(t, fmt.Sprintf(`{"queueId":"q_1","consumerId":"c_1","token":%q}`, tok))}
			},
			"Fanfare says invalid": func(t *testing.T) []readmeAnswer {
				w := newValidateWorld(t, false)
				tok := w.srv.Admit(fanfare.Queue("q_1"), "c_1")
				return []readmeAnswer{
					w.post(t, fmt.Sprintf(`{"queueId":"q_1","consumerId":"c_2","token":%q}`, tok)), // another consumer's
					w.post(t, fmt.Sprintf(`{"drawId":"d_1","consumerId":"c_1","token":%q}`, tok)),  // another distribution's
					w.post(t, `{"queueId":"q_1","consumerId":"c_1","token":"not-a-token"}`),
				}
			},
			"not POST": func(t *testing.T) []readmeAnswer {
				w := newValidateWorld(t, false)
				return []readmeAnswer{readmeSend(t, w.srv, http.MethodGet, w.url, nil, nil)}
			},
			"no id": func(t *testing.T) []readmeAnswer {
				w := newValidateWorld(t, false)
				return []readmeAnswer{w.post(t, `{"consumerId":"c_1","token":"t"}`)}
			},
			"malformed body, two ids, a field repeated in any case, no `consumerId` or `token`": func(t *testing.T) []readmeAnswer {
				w := newValidateWorld(t, false)
				return []readmeAnswer{
					w.post(t, `{"queueId":`),
					w.post(t, `["q_1"]`),
					w.post(t, `{"queueId":"q_1","drawId":"d_1","consumerId":"c_1","token":"t"}`),
					w.post(t, `{"queueId":"q_1","consumerId":"c_1","token":"t","Token":"u"}`),
					w.post(t, `{"queueId":"q_1","consumerId":"c_1","token":"t","token":"t"}`),
					w.post(t, `{"queueId":"q_1","token":"t"}`),
					w.post(t, `{"queueId":"q_1","consumerId":"c_1"}`),
				}
			},
			"over 16 KiB": func(t *testing.T) []readmeAnswer {
				w := newValidateWorld(t, false)
				return []readmeAnswer{w.post(t, `{"queueId":"q_1","consumerId":"c_1","token":"`+strings.Repeat("a", 16<<10)+`"}`)}
			},
			"Fanfare unreachable, timed out, 5xx": func(t *testing.T) []readmeAnswer {
				w := newValidateWorld(t, false)
				tok := w.srv.Admit(fanfare.Queue("q_1"), "c_1")
				body := fmt.Sprintf(`{"queueId":"q_1","consumerId":"c_1","token":%q}`, tok)
				return faultAnswers(w.srv, fanfaretest.EndpointValidate, func() readmeAnswer { return w.post(t, body) })
			},
			"Fanfare refused the secret key": func(t *testing.T) []readmeAnswer {
				w := newValidateWorld(t, true)
				tok := w.srv.Admit(fanfare.Queue("q_1"), "c_1")
				return []readmeAnswer{w.post(t, fmt.Sprintf(`{"queueId":"q_1","consumerId":"c_1","token":%q}`, tok))}
			},
		},
		tableRefusal: {
			"no token": func(t *testing.T) []readmeAnswer {
				w := newCheckoutWorld(t, nil)
				return []readmeAnswer{w.checkout(t, "", "")}
			},
			"malformed, forged, refused by Fanfare, not yet valid": func(t *testing.T) []readmeAnswer {
				w := newCheckoutWorld(t, nil)
				foreign := w.foreignToken(t, readmeQueue, "c_1", w.clock.Now())
				// Forged: a key refuses it locally, before Fanfare.
				verified := newCheckoutWorld(t, func(o *fanfare.AdmissionOptions, srv *fanfaretest.Server) {
					v, err := fanfare.NewPEMVerifier(srv.PublicKeyPEM())
					require.NoError(t, err)
					o.Verifier = v
				})
				forged := verified.foreignToken(t, readmeQueue, "c_1", verified.clock.Now())
				forgedAnswer := verified.checkout(t, forged, "")
				require.Zero(t, verified.srv.Calls(fanfaretest.EndpointValidate), "a forged token costs no call to Fanfare")
				// Not yet valid: Fanfare's clock runs an hour ahead of ours.
				early := newCheckoutWorld(t, nil)
				early.srvClock.Advance(time.Hour)
				return []readmeAnswer{
					w.checkout(t, "not.a.token", ""),
					forgedAnswer,
					w.checkout(t, foreign, ""), // well formed, but Fanfare never issued it
					early.checkout(t, early.srv.Admit(readmeQueue, "c_1"), ""),
				}
			},
			"expired": func(t *testing.T) []readmeAnswer {
				w := newCheckoutWorld(t, nil)
				tok := w.srv.AdmitWith(fanfaretest.AdmitOptions{Distribution: readmeQueue, ConsumerID: "c_1", TTL: -time.Minute})
				return []readmeAnswer{w.checkout(t, tok, "")}
			},
			"another distribution, consumer or device": func(t *testing.T) []readmeAnswer {
				w := newCheckoutWorld(t, func(o *fanfare.AdmissionOptions, _ *fanfaretest.Server) {
					o.Fingerprint = func(r *http.Request) string { return r.Header.Get("X-Device") }
				})
				other := w.srv.Admit(fanfare.Queue("q_other"), "c_1")
				mine := w.srv.Admit(readmeQueue, "c_2")
				device := w.srv.AdmitWith(fanfaretest.AdmitOptions{Distribution: readmeQueue, ConsumerID: "c_3", Fingerprint: "dev_a"})
				return []readmeAnswer{
					w.checkout(t, other, ""),
					w.checkout(t, mine, `{"consumerId":"c_someone_else"}`),
					w.checkout(t, device, "", "X-Device", "dev_b"),
				}
			},
			"in use by another request": func(t *testing.T) []readmeAnswer {
				entered, release := make(chan struct{}), make(chan struct{})
				w := newCheckoutWorld(t, nil)
				w.handler = func(w http.ResponseWriter, _ *http.Request) {
					close(entered)
					<-release
					w.WriteHeader(http.StatusOK)
				}
				tok := w.srv.Admit(readmeQueue, "c_1")
				first := make(chan int, 1) // its status, or 0 when the request failed
				go func() {
					req, _ := http.NewRequest(http.MethodPost, w.url, nil)
					req.Header.Set("Fanfare-Admission", tok)
					resp, err := testClient.Do(req)
					if err != nil {
						first <- 0
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					first <- resp.StatusCode
				}()
				<-entered
				second := w.checkout(t, tok, "")
				close(release)
				require.Equal(t, http.StatusOK, <-first, "the first request checks out")
				return []readmeAnswer{second}
			},
			"already used": func(t *testing.T) []readmeAnswer {
				w := newCheckoutWorld(t, nil)
				tok := w.srv.Admit(readmeQueue, "c_1")
				require.Equal(t, http.StatusOK, w.checkout(t, tok, "").status, "the first checkout")
				return []readmeAnswer{w.checkout(t, tok, "")}
			},
			"Fanfare unreachable, our credentials refused": func(t *testing.T) []readmeAnswer {
				w := newCheckoutWorld(t, nil)
				tok := w.srv.Admit(readmeQueue, "c_1")
				answers := faultAnswers(w.srv, fanfaretest.EndpointValidate, func() readmeAnswer { return w.checkout(t, tok, "") })
				wrong := newCheckoutWorld(t, nil)
				wrong.wrongKey(t)
				return append(answers, wrong.checkout(t, wrong.srv.Admit(readmeQueue, "c_1"), ""))
			},
		},
	}
}

// faultAnswers makes the emulator drop the connection, stall past the
// client's attempt timeout, and answer 503, in turn, and returns what call
// answered under each.
func faultAnswers(srv *fanfaretest.Server, e fanfaretest.Endpoint, call func() readmeAnswer) []readmeAnswer {
	var answers []readmeAnswer
	for _, f := range []fanfaretest.Fault{{Drop: true}, {Latency: 5 * time.Second}, {Status: http.StatusServiceUnavailable}} {
		srv.InjectFault(e, f)
		answers = append(answers, call())
		srv.ClearFault(e)
	}
	return answers
}

// TestReadmeHTTPTables checks every row of the README's tables of HTTP
// answers against what the handlers send.
func TestReadmeHTTPTables(t *testing.T) {
	src, err := os.ReadFile("README.md")
	require.NoError(t, err)
	tables := markdownTables(string(src))
	scenarios := readmeScenarios()
	for _, name := range []string{tableAuthorize, tableValidate, tableRefusal} {
		t.Run(name, func(t *testing.T) {
			var found []markdownTable
			for _, tb := range tables {
				if strings.HasPrefix(tb.header[0], name) {
					found = append(found, tb)
				}
			}
			require.Len(t, found, 1, "README.md has one table whose header starts with %q", name)
			rows, err := found[0].promises()
			require.NoError(t, err)
			byName := scenarios[name]
			for _, row := range rows {
				t.Run(row.situation, func(t *testing.T) {
					scenario, ok := byName[row.situation]
					if !ok {
						t.Fatalf("README.md line %d: no scenario checks %q; add one to readmeScenarios", row.line, row.situation)
					}
					for i, a := range scenario(t) {
						row.check(t, fmt.Sprintf("answer %d", i+1), a)
					}
				})
			}
			for situation := range byName {
				if !containsFunc(rows, func(p readmePromise) bool { return p.situation == situation }) {
					t.Errorf("scenario %q has no row in the %q table of README.md any more; remove it or restore the row", situation, name)
				}
			}
		})
	}
}

// TestDesignHTTPContract checks the handlers against DESIGN.md's "HTTP
// contract toward the merchant's clients", copied here as data: JSON bodies
// everywhere, no-store on everything, and each situation's status and body.
func TestDesignHTTPContract(t *testing.T) {
	invalidBody := func(code string) string {
		return `{"error":"Invalid admission","message":"Your access has expired or is invalid","code":"` + code + `"}`
	}
	contract := []struct {
		situation string
		table     string
		scenarios []string
		status    []int // one per answer of the scenarios, in order; a single status holds for all
		header    []string
		body      []string // JSON bodies, in step with status; "" checks only the code
		code      []string
	}{
		{"authorize: no logged-in user", tableAuthorize, []string{"no identity"},
			[]int{401}, nil, []string{`{"error":"Unauthorized"}`}, nil},
		{"authorize: Fanfare refused", tableAuthorize, []string{"Fanfare refused (e.g. the secret key)"},
			[]int{502}, nil, []string{`{"error":"Authentication failed"}`}, nil},
		{"authorize: Fanfare failed (503 when unreachable/timed out)", tableAuthorize, []string{"Fanfare unreachable, timed out, 5xx"},
			[]int{503}, []string{"Retry-After"}, []string{`{"error":"Authentication failed"}`}, nil},
		{"authorize: rate limited", tableAuthorize, []string{"over 10 a minute"},
			[]int{429}, []string{"Retry-After", "RateLimit", "RateLimit-Policy"}, []string{`{"error":"Too many auth requests"}`}, nil},
		{"claims too large", tableAuthorize, []string{"claims too large"},
			[]int{413}, nil, []string{`{"error":"Claims too large"}`}, nil},
		{"checkout: no admission", tableRefusal, []string{"no token"},
			[]int{403}, nil, []string{invalidBody("ADMISSION_REQUIRED")}, nil},
		{"checkout: invalid admission", tableRefusal, []string{"malformed, forged, refused by Fanfare, not yet valid"},
			[]int{403}, nil, []string{invalidBody("ADMISSION_INVALID")}, nil},
		{"checkout: expired admission", tableRefusal, []string{"expired"},
			[]int{403}, nil, []string{invalidBody("ADMISSION_EXPIRED")}, nil},
		{"checkout: mismatched admission", tableRefusal, []string{"another distribution, consumer or device"},
			[]int{403}, nil, []string{invalidBody("ADMISSION_MISMATCH")}, nil},
		{"checkout: same admission already in use / used", tableRefusal, []string{"in use by another request", "already used"},
			[]int{409, 409}, nil, nil, []string{"ADMISSION_IN_USE", "ADMISSION_USED"}},
		{"checkout: Fanfare unreachable and no safe fallback", tableRefusal, []string{"Fanfare unreachable, our credentials refused"},
			[]int{503}, []string{"Retry-After"}, nil, []string{"ADMISSION_UNAVAILABLE"}},
		{"validate-admission handler: neither queueId nor drawId", tableValidate, []string{"no id"},
			[]int{400}, nil, []string{`{"error":"queueId or drawId required"}`}, nil},
	}
	scenarios := readmeScenarios()
	for _, c := range contract {
		t.Run(c.situation, func(t *testing.T) {
			var answers []readmeAnswer
			for _, name := range c.scenarios {
				scenario, ok := scenarios[c.table][name]
				require.True(t, ok, "no scenario %q in table %q", name, c.table)
				answers = append(answers, scenario(t)...)
			}
			pick := func(list []string, i int) string {
				switch {
				case len(list) == 0:
					return ""
				case len(list) == 1:
					return list[0]
				}
				return list[i]
			}
			for i, a := range answers {
				want := c.status[0]
				if len(c.status) > 1 {
					want = c.status[i]
				}
				p := readmePromise{situation: c.situation, status: want, code: pick(c.code, i)}
				for _, h := range c.header {
					p.headers = append(p.headers, headerPromise{name: h})
				}
				if b := pick(c.body, i); b != "" {
					require.NoError(t, json.Unmarshal([]byte(b), &p.body))
					p.hasBody = true
				}
				p.check(t, fmt.Sprintf("answer %d", i+1), a)
			}
		})
	}
}

// markdownTable is one table of a Markdown document.
type markdownTable struct {
	header []string
	rows   [][]string
	lines  []int // the line of each row, 1-based
}

// markdownTables returns the tables of a Markdown document outside fenced
// code blocks: a header row, a delimiter row, then rows, each a line that
// starts with "|". Cells are split at unescaped pipes; "\|" is a pipe.
func markdownTables(doc string) []markdownTable {
	var tables []markdownTable
	lines := strings.Split(doc, "\n")
	fenced := false
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		if strings.HasPrefix(line, "```") {
			fenced = !fenced
			continue
		}
		if fenced || !strings.HasPrefix(line, "|") || i+1 >= len(lines) || !isDelimiterRow(lines[i+1]) {
			continue
		}
		tb := markdownTable{header: splitRow(line)}
		for i += 2; i < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[i]), "|"); i++ {
			tb.rows = append(tb.rows, splitRow(strings.TrimSpace(lines[i])))
			tb.lines = append(tb.lines, i+1)
		}
		tables = append(tables, tb)
	}
	return tables
}

var delimiterCell = regexp.MustCompile(`^:?-+:?$`)

func isDelimiterRow(line string) bool {
	line = strings.TrimSpace(line)
	if !strings.HasPrefix(line, "|") {
		return false
	}
	for _, c := range splitRow(line) {
		if !delimiterCell.MatchString(c) {
			return false
		}
	}
	return true
}

func splitRow(line string) []string {
	line = strings.TrimSuffix(strings.TrimPrefix(line, "|"), "|")
	var cells []string
	var cell strings.Builder
	for i := 0; i < len(line); i++ {
		switch {
		case line[i] == '\\' && i+1 < len(line) && line[i+1] == '|':
			cell.WriteByte('|')
			i++
		case line[i] == '|':
			cells = append(cells, strings.TrimSpace(cell.String()))
			cell.Reset()
		default:
			cell.WriteByte(line[i])
		}
	}
	return append(cells, strings.TrimSpace(cell.String()))
}

// readmePromise is one situation of a table and the answer promised for it.
type readmePromise struct {
	situation string
	line      int
	status    int
	headers   []headerPromise
	body      any // the JSON body; a string "…" stands for any non-empty string
	hasBody   bool
	code      string // the body's "code"
}

// headerPromise is a header an answer carries: with the value, when given.
type headerPromise struct{ name, value string }

var (
	statusPattern = regexp.MustCompile(`^\d{3}\b`)
	codePattern   = regexp.MustCompile(`^[A-Z][A-Z_]+$`)
)

// promises reads the table's rows. A row's first cell is its situation; "a
// / b" names two situations, each taking the matching alternative of every
// other cell, or the whole cell when it has none. The other cells hold, in
// any layout, the status (the first three digits), headers in code spans
// after "+" ("`Retry-After`", "`Allow: POST`"), and either a JSON body or a
// `CODE` in a code span.
func (tb markdownTable) promises() ([]readmePromise, error) {
	var out []readmePromise
	for r, row := range tb.rows {
		if len(row) != len(tb.header) {
			return nil, fmt.Errorf("README.md line %d: %d cells, the header has %d", tb.lines[r], len(row), len(tb.header))
		}
		situations := splitAlternatives(row[0])
		answers := make([]string, len(situations))
		for _, cell := range row[1:] {
			alts := splitAlternatives(cell)
			switch len(alts) {
			case 1:
				for i := range answers {
					answers[i] += " " + cell
				}
			case len(situations):
				for i := range answers {
					answers[i] += " " + alts[i]
				}
			default:
				return nil, fmt.Errorf("README.md line %d: %d situations but %d alternatives in %q", tb.lines[r], len(situations), len(alts), cell)
			}
		}
		for i, s := range situations {
			p, err := parsePromise(strings.TrimSpace(answers[i]))
			if err != nil {
				return nil, fmt.Errorf("README.md line %d, %q: %w", tb.lines[r], s, err)
			}
			p.situation, p.line = s, tb.lines[r]
			out = append(out, p)
		}
	}
	return out, nil
}

func parsePromise(answer string) (readmePromise, error) {
	var p readmePromise
	status := statusPattern.FindString(answer)
	if status == "" {
		return p, fmt.Errorf("no status at the start of %q", answer)
	}
	p.status, _ = strconv.Atoi(status)
	for _, span := range codeSpans(answer) {
		switch {
		case strings.HasPrefix(span, "{"):
			if p.hasBody {
				return p, fmt.Errorf("two bodies in %q", answer)
			}
			if err := json.Unmarshal([]byte(span), &p.body); err != nil {
				return p, fmt.Errorf("body %s is not JSON: %w", span, err)
			}
			p.hasBody = true
		case codePattern.MatchString(span):
			p.code = span
		default:
			name, value, _ := strings.Cut(span, ":")
			p.headers = append(p.headers, headerPromise{strings.TrimSpace(name), strings.TrimSpace(value)})
		}
	}
	if !p.hasBody && p.code == "" {
		return p, fmt.Errorf("no body and no code in %q: say what the client gets", answer)
	}
	return p, nil
}

// splitAlternatives splits s at " / " outside code spans.
func splitAlternatives(s string) []string {
	var alts []string
	inCode, start := false, 0
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '`':
			inCode = !inCode
		case !inCode && strings.HasPrefix(s[i:], " / "):
			alts = append(alts, strings.TrimSpace(s[start:i]))
			start = i + 3
		}
	}
	return append(alts, strings.TrimSpace(s[start:]))
}

func codeSpans(s string) []string {
	parts := strings.Split(s, "`")
	var spans []string
	for i := 1; i < len(parts); i += 2 {
		spans = append(spans, parts[i])
	}
	return spans
}

// check fails t unless a is the promised answer. Every answer is also JSON,
// uncacheable and free of the secret key.
func (p readmePromise) check(t *testing.T, what string, a readmeAnswer) {
	t.Helper()
	if a.status != p.status {
		t.Errorf("%s: status %d, promised %d (body %s)", what, a.status, p.status, a.body)
	}
	if ct := a.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %q, want application/json", what, ct)
	}
	if cc := a.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("%s: Cache-Control %q, want no-store", what, cc)
	}
	if a.secret == "" || bytes.Contains(a.body, []byte(a.secret)) {
		t.Errorf("%s: the secret key shows in the body, or the scenario lost it", what)
	}
	for _, h := range p.headers {
		got := a.header.Get(h.name)
		switch {
		case got == "":
			t.Errorf("%s: no %s header", what, h.name)
		case h.value != "" && got != h.value:
			t.Errorf("%s: %s: %q, promised %q", what, h.name, got, h.value)
		}
	}
	var body any
	if err := json.Unmarshal(a.body, &body); err != nil {
		t.Errorf("%s: body %q is not JSON", what, a.body)
		return
	}
	if p.hasBody && !jsonMatches(p.body, body) {
		want, _ := json.Marshal(p.body)
		t.Errorf("%s: body %s, promised %s", what, a.body, want)
	}
	if p.code != "" {
		if m, _ := body.(map[string]any); m == nil || m["code"] != p.code {
			t.Errorf("%s: body %s, promised code %s", what, a.body, p.code)
		}
	}
}

// jsonMatches reports whether got is want, where a want string "…" stands
// for any non-empty string; objects must have the same keys.
func jsonMatches(want, got any) bool {
	switch w := want.(type) {
	case string:
		if w == "…" {
			s, ok := got.(string)
			return ok && s != ""
		}
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for k, v := range w {
			if gv, ok := g[k]; !ok || !jsonMatches(v, gv) {
				return false
			}
		}
		return true
	}
	wb, _ := json.Marshal(want)
	gb, _ := json.Marshal(got)
	return bytes.Equal(wb, gb)
}

func containsFunc[T any](list []T, f func(T) bool) bool {
	for _, v := range list {
		if f(v) {
			return true
		}
	}
	return false
}

// readmeSend makes one request over loopback HTTP.
func readmeSend(t *testing.T, srv *fanfaretest.Server, method, url string, body io.Reader, header http.Header) readmeAnswer {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	require.NoError(t, err)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := testClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return readmeAnswer{status: resp.StatusCode, header: resp.Header, body: b, secret: srv.SecretKey}
}

// readmeClient is a client of srv that makes one attempt of at most 200 ms,
// with the wrong secret key when wrongKey is set.
func readmeClient(t *testing.T, srv *fanfaretest.Server, wrongKey bool) *fanfare.Client {
	t.Helper()
	cfg := srv.Config()
	cfg.AttemptTimeout = 200 * time.Millisecond
	cfg.Retry = fanfare.RetryPolicy{MaxAttempts: 1}
	cfg.HTTPClient = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	t.Cleanup(cfg.HTTPClient.CloseIdleConnections)
	if wrongKey {
		cfg.SecretKey = "sk_test_not_the_emulators"
	}
	c, err := fanfare.NewClient(cfg)
	require.NoError(t, err)
	return c
}

func readmeEmulator(t *testing.T, clock *fanfaretest.Clock) *fanfaretest.Server {
	t.Helper()
	srv := fanfaretest.NewServer(fanfaretest.Options{ManualClock: clock})
	t.Cleanup(srv.Close)
	return srv
}

// readmeServe serves h on loopback for the test.
func readmeServe(t *testing.T, h http.Handler) string {
	t.Helper()
	app := httptest.NewServer(h)
	t.Cleanup(app.Close)
	return app.URL
}

var readmeQuiet = slog.New(slog.DiscardHandler)

// authorizeWorld is the README's authorize route: the merchant's auth (here:
// the user named in X-Test-User, if any), SanitizeClaims, RateLimitAuthorize
// and NewAuthorizeHandler, against the emulator.
type authorizeWorld struct {
	srv   *fanfaretest.Server
	clock *fanfaretest.Clock
	url   string

	mu     sync.Mutex
	claims map[string]any // the next request's identity claims
}

type authorizeWorldOptions struct {
	wrongKey bool
	maxKeys  int
}

func newAuthorizeWorld(t *testing.T, edit func(*authorizeWorldOptions)) *authorizeWorld {
	t.Helper()
	var o authorizeWorldOptions
	if edit != nil {
		edit(&o)
	}
	w := &authorizeWorld{clock: fanfaretest.NewClock(admEpoch)}
	w.srv = readmeEmulator(t, w.clock)
	limiter := fanfare.NewMemoryLimiter(fanfare.MemoryLimiterOptions{Clock: w.clock.Now, MaxKeys: o.maxKeys})
	handler := fanfare.NewAuthorizeHandler(readmeClient(t, w.srv, o.wrongKey), fanfare.AuthorizeOptions{
		Provider: "readme-shop", Issuer: "https://shop.example", Logger: readmeQuiet,
	})
	chain := fanfare.SanitizeClaims(fanfare.ClaimsOptions{Logger: readmeQuiet})(
		fanfare.RateLimitAuthorize(fanfare.RateLimitOptions{Limiter: limiter, Clock: w.clock.Now, Logger: readmeQuiet})(handler))
	auth := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if user := r.Header.Get("X-Test-User"); user != "" {
			w.mu.Lock()
			claims := w.claims
			w.mu.Unlock()
			r = r.WithContext(fanfare.WithIdentity(r.Context(), fanfare.Identity{
				Subject: user, Email: user + "@example.com", Claims: claims,
			}))
		}
		chain.ServeHTTP(rw, r)
	})
	w.url = readmeServe(t, auth)
	return w
}

func (w *authorizeWorld) do(t *testing.T, method, user string, claims map[string]any) readmeAnswer {
	t.Helper()
	w.mu.Lock()
	w.claims = claims
	w.mu.Unlock()
	h := http.Header{}
	if user != "" {
		h.Set("X-Test-User", user)
	}
	return readmeSend(t, w.srv, method, w.url, nil, h)
}

func (w *authorizeWorld) post(t *testing.T, user string, claims map[string]any) readmeAnswer {
	t.Helper()
	return w.do(t, http.MethodPost, user, claims)
}

// validateWorld is NewValidateAdmissionHandler against the emulator.
type validateWorld struct {
	srv *fanfaretest.Server
	url string
}

func newValidateWorld(t *testing.T, wrongKey bool) *validateWorld {
	t.Helper()
	srv := readmeEmulator(t, fanfaretest.NewClock(admEpoch))
	h := fanfare.NewValidateAdmissionHandler(readmeClient(t, srv, wrongKey), fanfare.ValidateAdmissionOptions{Logger: readmeQuiet})
	return &validateWorld{srv: srv, url: readmeServe(t, h)}
}

func (w *validateWorld) post(t *testing.T, body string) readmeAnswer {
	t.Helper()
	return readmeSend(t, w.srv, http.MethodPost, w.url, strings.NewReader(body), http.Header{"Content-Type": {"application/json"}})
}

var readmeQueue = fanfare.Queue("q_drop")

// checkoutWorld is a checkout behind RequireAdmission for readmeQueue,
// against the emulator. The emulator and the middleware each have a manual
// clock, both at admEpoch.
type checkoutWorld struct {
	srv             *fanfaretest.Server
	clock, srvClock *fanfaretest.Clock
	url             string
	opts            fanfare.AdmissionOptions
	handler         http.HandlerFunc // the checkout; default: 200 {"success":true}

	mu     sync.Mutex
	client *fanfare.Client
	guard  http.Handler
}

func newCheckoutWorld(t *testing.T, edit func(*fanfare.AdmissionOptions, *fanfaretest.Server)) *checkoutWorld {
	t.Helper()
	w := &checkoutWorld{clock: fanfaretest.NewClock(admEpoch), srvClock: fanfaretest.NewClock(admEpoch)}
	w.srv = readmeEmulator(t, w.srvClock)
	w.opts = fanfare.AdmissionOptions{Distribution: readmeQueue, Clock: w.clock.Now, Logger: readmeQuiet}
	if edit != nil {
		edit(&w.opts, w.srv)
	}
	w.client = readmeClient(t, w.srv, false)
	w.url = readmeServe(t, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.mu.Lock()
		if w.guard == nil {
			w.guard = fanfare.RequireAdmission(w.client, w.opts)(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
				if w.handler != nil {
					w.handler(rw, r)
					return
				}
				rw.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(rw, `{"success":true}`)
			}))
		}
		guard := w.guard
		w.mu.Unlock()
		guard.ServeHTTP(rw, r)
	}))
	return w
}

// wrongKey makes the middleware call Fanfare with a secret key it refuses.
func (w *checkoutWorld) wrongKey(t *testing.T) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.client, w.guard = readmeClient(t, w.srv, true), nil
}

// foreignToken is an admission token shaped as Fanfare's, signed with a key
// that is not the emulator's.
func (w *checkoutWorld) foreignToken(t *testing.T, d fanfare.Distribution, consumer string, now time.Time) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	return admSign(t, jwt.SigningMethodES256, key, admClaims(d, consumer, now, 10*time.Minute), w.srv.KeyID())
}

// checkout posts to the checkout with token in the admission header, body
// as JSON when not empty, and extra headers as name, value pairs.
func (w *checkoutWorld) checkout(t *testing.T, token, body string, header ...string) readmeAnswer {
	t.Helper()
	h := http.Header{}
	if token != "" {
		h.Set("Fanfare-Admission", token)
	}
	if body != "" {
		h.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		h.Set(header[i], header[i+1])
	}
	return readmeSend(t, w.srv, http.MethodPost, w.url, strings.NewReader(body), h)
}

// TestMarkdownTablesParse pins the reading of tables the tests above rely
// on: escaped pipes, alternatives, and what a promise must say.
func TestMarkdownTablesParse(t *testing.T) {
	doc := "text\n```\n| not | a table |\n|---|---|\n```\n" +
		"| a / b | status | body |\n|---|:-:|---|\n" +
		"| x / y | 409 / 503 + `Retry-After: 5` | `{\"error\":\"E\\|F\"}` |\n" +
		"| z | 200 | `X_Y` |\n\nafter\n"
	tables := markdownTables(doc)
	require.Len(t, tables, 1)
	require.Equal(t, []string{"a / b", "status", "body"}, tables[0].header)
	rows, err := tables[0].promises()
	require.NoError(t, err)
	var got []string
	for _, p := range rows {
		b, _ := json.Marshal(p.body)
		got = append(got, fmt.Sprintf("%s %d %v %s %s line %d", p.situation, p.status, p.headers, b, p.code, p.line))
	}
	sort.Strings(got)
	require.Equal(t, []string{
		`x 409 [] {"error":"E|F"}  line 8`,
		`y 503 [{Retry-After 5}] {"error":"E|F"}  line 8`,
		`z 200 [] null X_Y line 9`,
	}, got)

	for _, bad := range []string{
		"| s | answer |\n|---|---|\n| x | `{\"error\":\"E\"}` |\n",         // no status
		"| s | answer |\n|---|---|\n| x | 200 |\n",                         // no body
		"| s | answer |\n|---|---|\n| x / y / z | 200 / 201 `X_Y` |\n",     // alternatives do not line up
		"| s | answer |\n|---|---|\n| x | 200 `{\"error\":}` |\n",          // not JSON
		"| s | answer | more |\n|---|---|---|\n| x | 200 `X_Y` |\n",        // a cell short
		"| s | answer |\n|---|---|\n| x | 200 `{\"a\":1}` `{\"b\":2}` |\n", // two bodies
	} {
		_, err := markdownTables(bad)[0].promises()
		require.Error(t, err, "%q", bad)
	}

	require.True(t, jsonMatches(map[string]any{"a": "…"}, map[string]any{"a": "x"}))
	require.False(t, jsonMatches(map[string]any{"a": "…"}, map[string]any{"a": ""}))
	require.False(t, jsonMatches(map[string]any{"a": "…"}, map[string]any{"a": "x", "b": "y"}))
	require.False(t, jsonMatches(map[string]any{"valid": false}, map[string]any{"valid": true}))
}
