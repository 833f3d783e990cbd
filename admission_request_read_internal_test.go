package fanfare

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReadCappedSized: the declared size only sizes the buffer; what is
// read and the limit are readCapped's, whether the body is shorter or
// longer than it says.
func TestReadCappedSized(t *testing.T) {
	for _, tc := range []struct {
		name       string
		body       string
		limit, cl  int64
		wantErr    bool
		wantLength int
	}{
		{"as declared", "0123456789", 16, 10, false, 10},
		{"shorter than declared", "01234", 16, 10, false, 5},
		{"longer than declared", "0123456789abcdef", 16, 4, false, 16},
		{"longer than the limit", "0123456789abcdefg", 16, 4, true, 0},
		{"declared over the limit", "0123456789abcdefg", 16, 17, true, 0},
		{"exactly the limit", "0123456789abcdef", 16, 16, false, 16},
		{"unknown length", "0123", 16, -1, false, 4},
		{"empty", "", 16, 0, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readCappedSized(strings.NewReader(tc.body), tc.limit, tc.cl)
			want, wantErr := readCapped(strings.NewReader(tc.body), tc.limit)
			if tc.wantErr {
				require.Error(t, err)
				assert.Equal(t, wantErr.Error(), err.Error(), "error")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.wantLength, len(got), "length")
			assert.Equal(t, string(want), string(got), "bytes")
		})
	}
}
