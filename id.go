package whistle

import (
	"crypto/rand"
	"encoding/base32"
)

// idEncoding is lowercase Crockford-style base32 without padding: ids are safe
// in URLs, file names and MongoDB field paths (no '.' or '$').
var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// NewID returns a random 80-bit identifier of 16 characters. Ids carry no time
// or order, so a case id tells nothing about when or where it was reported.
func NewID() string {
	var b [10]byte
	rand.Read(b[:]) // never fails on supported platforms (Go 1.24+ crashes instead)
	return idEncoding.EncodeToString(b[:])
}
