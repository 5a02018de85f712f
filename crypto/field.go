package crypto

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// DataKey is a report's random data-encryption key (DEK). It is never stored
// in clear: only sealed copies, one per holder (SealDataKeyFor). Deleting
// every sealed copy is crypto-shredding.
type DataKey [32]byte

// NewDataKey returns a fresh random DEK.
func NewDataKey() DataKey {
	var k DataKey
	rand.Read(k[:]) // never fails since Go 1.24
	return k
}

// String never prints the key.
func (DataKey) String() string { return "DataKey(redacted)" }

// Wipe zeroes the key (best effort; see KeyPair.Wipe).
func (k *DataKey) Wipe() { clear(k[:]) }

// Field envelope, version 1:
//
//	format (1) = 1 | key version (4, big endian) | nonce (24) | XChaCha20-Poly1305 ciphertext+tag
//
// AAD = "whistle/field/v1" 0x00 | key version | uvarint len(report id) | report id | field name.
// The key version is the generation of the report's DEK (1 unless the report
// was re-keyed); it is in the envelope so a reader knows which DEK to use,
// and in the AAD so it cannot be changed.
const (
	fieldFormatV1     = 1
	fieldHeaderSize   = 1 + 4 + chacha20poly1305.NonceSizeX
	fieldEnvelopeMin  = fieldHeaderSize + chacha20poly1305.Overhead
	fieldDomain       = "whistle/field/v1\x00"
	maxBindingIDBytes = 1024
)

func fieldAAD(keyVersion uint32, reportID, field string) ([]byte, error) {
	if reportID == "" || field == "" || len(reportID) > maxBindingIDBytes || len(field) > maxBindingIDBytes {
		return nil, fmt.Errorf("crypto: report id and field name must be 1..%d bytes", maxBindingIDBytes)
	}
	aad := make([]byte, 0, len(fieldDomain)+4+binary.MaxVarintLen64+len(reportID)+len(field))
	aad = append(aad, fieldDomain...)
	aad = binary.BigEndian.AppendUint32(aad, keyVersion)
	aad = binary.AppendUvarint(aad, uint64(len(reportID)))
	aad = append(aad, reportID...)
	aad = append(aad, field...)
	return aad, nil
}

// SealField encrypts one field of a report (description, message, location …)
// under the report's DEK. The envelope opens only with the same report id and
// field name: a ciphertext copied to another report or field fails to open.
func SealField(dek DataKey, keyVersion uint32, reportID, field string, plaintext []byte) ([]byte, error) {
	aad, err := fieldAAD(keyVersion, reportID, field)
	if err != nil {
		return nil, err
	}
	aead, err := chacha20poly1305.NewX(dek[:])
	if err != nil {
		return nil, err
	}
	out := make([]byte, fieldHeaderSize, fieldHeaderSize+len(plaintext)+aead.Overhead())
	out[0] = fieldFormatV1
	binary.BigEndian.PutUint32(out[1:5], keyVersion)
	nonce := out[5:fieldHeaderSize]
	rand.Read(nonce)
	return aead.Seal(out, nonce, plaintext, aad), nil
}

// EnvelopeKeyVersion returns the DEK generation a field envelope was sealed
// under, so a caller holding several generations knows which to use.
func EnvelopeKeyVersion(envelope []byte) (uint32, error) {
	if len(envelope) < fieldEnvelopeMin {
		return 0, fmt.Errorf("%w: field envelope has %d bytes", ErrMalformed, len(envelope))
	}
	if envelope[0] != fieldFormatV1 {
		return 0, fmt.Errorf("%w: field envelope format %d", ErrMalformed, envelope[0])
	}
	return binary.BigEndian.Uint32(envelope[1:5]), nil
}

// OpenField decrypts an envelope made by SealField for the same report id
// and field name.
func OpenField(dek DataKey, reportID, field string, envelope []byte) ([]byte, error) {
	keyVersion, err := EnvelopeKeyVersion(envelope)
	if err != nil {
		return nil, err
	}
	aad, err := fieldAAD(keyVersion, reportID, field)
	if err != nil {
		return nil, err
	}
	aead, err := chacha20poly1305.NewX(dek[:])
	if err != nil {
		return nil, err
	}
	plaintext, err := aead.Open(nil, envelope[5:fieldHeaderSize], envelope[fieldHeaderSize:], aad)
	if err != nil {
		return nil, fmt.Errorf("%w: field %q", ErrAuthentication, field)
	}
	return plaintext, nil
}
