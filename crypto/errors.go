package crypto

import "errors"

// Every failure to open stored ciphertext wraps one of these two sentinels, so
// callers can tell "the bytes are not one of our formats" from "the bytes are
// well formed but this key does not open them" with errors.Is. Neither is a
// user-facing error: whistle.ErrorCode maps both to EINTERNAL, except where a
// function documents a *whistle.Error (wrong password, malformed receipt).
var (
	// ErrMalformed: truncated input, unknown format version, bad lengths.
	ErrMalformed = errors.New("crypto: malformed ciphertext")
	// ErrAuthentication: wrong key, or the ciphertext was altered, truncated
	// at a chunk boundary, reordered, extended, or moved to another report,
	// field or holder.
	ErrAuthentication = errors.New("crypto: authentication failed (wrong key, or data altered or moved)")
)
