package catalog

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/vidpipe/vidpipe/contract"
)

// ErrInvalidCursor is returned by Search for a cursor it did not issue, or
// one issued for another owner or query.
var ErrInvalidCursor = errors.New("invalid cursor")

// cursor is the keyset position after the last result of a page: the sort
// key of that result plus the id that breaks ties. Search by text sorts by
// (rank desc, id desc); listing (empty query) by (ready_at desc, id desc).
type cursor struct {
	// query fingerprints owner and query, so a cursor cannot be replayed
	// against another search.
	query   string
	rank    float32
	readyAt time.Time
	id      string
}

// cursorVersion prefixes encoded cursors so the format can change later.
const cursorVersion = "1"

func fingerprint(owner, q string) string {
	sum := sha256.Sum256([]byte(owner + "\x00" + q))
	return hex.EncodeToString(sum[:6])
}

// encode returns the opaque, URL-safe form of c. The rank is kept as its
// exact float32 bits so the keyset comparison in SQL is exact.
func (c cursor) encode(listing bool) string {
	var key string
	if listing {
		key = "t" + strconv.FormatInt(c.readyAt.UnixMicro(), 10)
	} else {
		key = "r" + strconv.FormatUint(uint64(math.Float32bits(c.rank)), 16)
	}
	raw := strings.Join([]string{cursorVersion, c.query, key, c.id}, ".")
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// decodeCursor parses s, checking it belongs to the search fingerprinted
// by query and has the kind (listing or ranked) that search uses.
func decodeCursor(s, query string, listing bool) (cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, ErrInvalidCursor
	}
	parts := strings.Split(string(b), ".")
	if len(parts) != 4 || parts[0] != cursorVersion || parts[1] != query || !contract.IsUUID(parts[3]) || len(parts[2]) < 2 {
		return cursor{}, ErrInvalidCursor
	}
	c := cursor{query: query, id: parts[3]}
	kind, val := parts[2][0], parts[2][1:]
	switch {
	case listing && kind == 't':
		us, err := strconv.ParseInt(val, 10, 64)
		if err != nil {
			return cursor{}, ErrInvalidCursor
		}
		c.readyAt = time.UnixMicro(us).UTC()
	case !listing && kind == 'r':
		bits, err := strconv.ParseUint(val, 16, 32)
		if err != nil {
			return cursor{}, ErrInvalidCursor
		}
		c.rank = math.Float32frombits(uint32(bits))
		if math.IsNaN(float64(c.rank)) || math.IsInf(float64(c.rank), 0) {
			return cursor{}, ErrInvalidCursor
		}
	default:
		return cursor{}, fmt.Errorf("%w: wrong kind", ErrInvalidCursor)
	}
	return c, nil
}
