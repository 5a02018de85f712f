package crypto

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/chacha20poly1305"
)

// Attachment stream, version 1:
//
//	header: format (1) = 1 | key version (4) | chunk size (4) | nonce prefix (16, random)
//	chunks: XChaCha20-Poly1305(chunk_i), each exactly chunk size plaintext bytes
//	        except the last, which may be shorter (or empty for an empty file)
//
// Chunk i uses nonce = prefix || uint64 big endian i, so reordered chunks fail
// to open; its AAD is
//
//	"whistle/attachment/v1" 0x00 | header | uvarint len(report id) | report id |
//	uvarint len(attachment id) | attachment id | final (1 byte: 1 on the last chunk, else 0)
//
// so a stream cut at a chunk boundary (the new last chunk was sealed with
// final=0), extended after its final chunk, or moved to another report or
// attachment fails to open. Memory use is two chunks whatever the file size.
const (
	attachmentFormatV1   = 1
	attachmentHeaderSize = 1 + 4 + 4 + 16
	attachmentDomain     = "whistle/attachment/v1\x00"
	// AttachmentChunkSize is the plaintext size of every chunk but the last.
	AttachmentChunkSize = 64 << 10
	minChunkSize        = 16
	maxChunkSize        = 1 << 20
)

// streamState is what writer and reader share: the AEAD, the running nonce
// and the AAD whose last byte is the final-chunk flag.
type streamState struct {
	aead    cipher.AEAD
	nonce   [chacha20poly1305.NonceSizeX]byte
	counter uint64
	aad     []byte
}

func newStreamState(dek DataKey, header []byte, reportID, attachmentID string) (*streamState, error) {
	if reportID == "" || attachmentID == "" || len(reportID) > maxBindingIDBytes || len(attachmentID) > maxBindingIDBytes {
		return nil, fmt.Errorf("crypto: report id and attachment id must be 1..%d bytes", maxBindingIDBytes)
	}
	aead, err := chacha20poly1305.NewX(dek[:])
	if err != nil {
		return nil, err
	}
	s := &streamState{aead: aead}
	copy(s.nonce[:16], header[9:25])
	s.aad = append(s.aad, attachmentDomain...)
	s.aad = append(s.aad, header...)
	s.aad = binary.AppendUvarint(s.aad, uint64(len(reportID)))
	s.aad = append(s.aad, reportID...)
	s.aad = binary.AppendUvarint(s.aad, uint64(len(attachmentID)))
	s.aad = append(s.aad, attachmentID...)
	s.aad = append(s.aad, 0)
	return s, nil
}

// next sets the nonce and final flag for the next chunk.
func (s *streamState) next(final bool) {
	binary.BigEndian.PutUint64(s.nonce[16:], s.counter)
	s.counter++
	s.aad[len(s.aad)-1] = 0
	if final {
		s.aad[len(s.aad)-1] = 1
	}
}

type attachmentWriter struct {
	dst    io.Writer
	state  *streamState
	plain  []byte // buffered plaintext, at most one chunk
	sealed []byte // reused output buffer
	err    error  // sticky: after a failed write the stream is unusable
}

var errWriterClosed = errors.New("crypto: attachment writer is closed")

// NewAttachmentWriter writes the header to dst and returns a writer that
// encrypts everything written to it in AttachmentChunkSize chunks under the
// report's DEK. Close must be called: it writes the final chunk, without
// which the stream does not open. Close does not close dst.
func NewAttachmentWriter(dst io.Writer, dek DataKey, keyVersion uint32, reportID, attachmentID string) (io.WriteCloser, error) {
	return newAttachmentWriter(dst, dek, keyVersion, reportID, attachmentID, AttachmentChunkSize)
}

// newAttachmentWriter takes the chunk size so tests can exercise many-chunk
// streams with little data.
func newAttachmentWriter(dst io.Writer, dek DataKey, keyVersion uint32, reportID, attachmentID string, chunkSize int) (*attachmentWriter, error) {
	header := make([]byte, attachmentHeaderSize)
	header[0] = attachmentFormatV1
	binary.BigEndian.PutUint32(header[1:5], keyVersion)
	binary.BigEndian.PutUint32(header[5:9], uint32(chunkSize))
	rand.Read(header[9:25])
	state, err := newStreamState(dek, header, reportID, attachmentID)
	if err != nil {
		return nil, err
	}
	if _, err := dst.Write(header); err != nil {
		return nil, err
	}
	return &attachmentWriter{
		dst:    dst,
		state:  state,
		plain:  make([]byte, 0, chunkSize),
		sealed: make([]byte, 0, chunkSize+chacha20poly1305.Overhead),
	}, nil
}

func (w *attachmentWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		if w.err != nil {
			return written, w.err
		}
		chunkSize := cap(w.plain)
		switch {
		case len(w.plain) == chunkSize:
			// A full buffer is sealed only once more data arrives: the last
			// chunk must be sealed with the final flag, at Close.
			w.sealChunk(w.plain, false)
			w.plain = w.plain[:0]
		case len(w.plain) == 0 && len(p) > chunkSize:
			// Whole chunks followed by more data are sealed straight from p,
			// saving a copy on large writes.
			w.sealChunk(p[:chunkSize], false)
			p = p[chunkSize:]
			written += chunkSize
		default:
			n := copy(w.plain[len(w.plain):chunkSize], p)
			w.plain = w.plain[:len(w.plain)+n]
			p = p[n:]
			written += n
		}
	}
	return written, w.err
}

func (w *attachmentWriter) sealChunk(chunk []byte, final bool) {
	w.state.next(final)
	w.sealed = w.state.aead.Seal(w.sealed[:0], w.state.nonce[:], chunk, w.state.aad)
	if _, err := w.dst.Write(w.sealed); err != nil {
		w.err = err
	}
}

// Close seals and writes the final chunk. Closing twice is an error.
func (w *attachmentWriter) Close() error {
	if w.err != nil {
		return w.err
	}
	w.sealChunk(w.plain, true)
	clear(w.plain[:cap(w.plain)])
	if w.err == nil {
		w.err = errWriterClosed
		return nil
	}
	return w.err
}

type attachmentReader struct {
	src       io.Reader
	state     *streamState
	chunkSize int
	in        []byte // one sealed chunk plus one byte of look-ahead; decrypted in place
	carried   bool   // carry holds the look-ahead byte of the previous read
	carry     byte
	plain     []byte // decrypted, not yet returned (a prefix of in)
	done      bool
	err       error
}

// NewAttachmentReader reads the header from src and returns a reader of the
// decrypted attachment. Each chunk is authenticated before any of its bytes
// are returned; a stream that was truncated, reordered, extended or moved
// fails with an error wrapping ErrAuthentication (or ErrMalformed) at the
// point of damage. Data already returned before that error came from
// authentic earlier chunks, but the file as a whole is not authentic:
// callers must treat any error as "discard everything".
//
// The key version in the header is authenticated; pass the DEK generation
// the attachment was written with (1 unless the report was re-keyed).
func NewAttachmentReader(src io.Reader, dek DataKey, reportID, attachmentID string) (io.Reader, error) {
	header := make([]byte, attachmentHeaderSize)
	if _, err := io.ReadFull(src, header); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: attachment header truncated", ErrMalformed)
		}
		return nil, err
	}
	if header[0] != attachmentFormatV1 {
		return nil, fmt.Errorf("%w: attachment format %d", ErrMalformed, header[0])
	}
	chunkSize := binary.BigEndian.Uint32(header[5:9])
	if chunkSize < minChunkSize || chunkSize > maxChunkSize {
		return nil, fmt.Errorf("%w: attachment chunk size %d", ErrMalformed, chunkSize)
	}
	state, err := newStreamState(dek, header, reportID, attachmentID)
	if err != nil {
		return nil, err
	}
	return &attachmentReader{
		src:       src,
		state:     state,
		chunkSize: int(chunkSize),
		in:        make([]byte, int(chunkSize)+chacha20poly1305.Overhead+1),
	}, nil
}

func (r *attachmentReader) Read(p []byte) (int, error) {
	for len(r.plain) == 0 {
		switch {
		case r.err != nil:
			return 0, r.err
		case r.done:
			return 0, io.EOF
		}
		r.err = r.nextChunk()
	}
	n := copy(p, r.plain)
	r.plain = r.plain[n:]
	return n, nil
}

// nextChunk reads one sealed chunk plus one byte: if that byte exists the
// chunk is not the last, otherwise it must open as the final chunk.
func (r *attachmentReader) nextChunk() error {
	have := 0
	if r.carried {
		r.in[0] = r.carry
		have = 1
	}
	n, err := io.ReadFull(r.src, r.in[have:])
	total := have + n
	switch {
	case err == nil: // full chunk and a look-ahead byte: not the last chunk
		total--
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		r.done = true
	default:
		return err
	}
	if total < chacha20poly1305.Overhead {
		return fmt.Errorf("%w: attachment chunk %d truncated", ErrMalformed, r.state.counter)
	}
	if r.state.counter == ^uint64(0) {
		return fmt.Errorf("%w: attachment has too many chunks", ErrMalformed)
	}
	r.state.next(r.done)
	r.carried = !r.done
	if r.carried {
		r.carry = r.in[total]
	}
	plain, openErr := r.state.aead.Open(r.in[:0], r.state.nonce[:], r.in[:total], r.state.aad)
	if openErr != nil {
		return fmt.Errorf("%w: attachment chunk %d (truncated, reordered, altered or moved)", ErrAuthentication, r.state.counter-1)
	}
	r.plain = plain
	return nil
}

// WriteTo lets io.Copy hand decrypted chunks straight to w, saving the copy
// into the caller's buffer (downloads are io.Copy to the response).
func (r *attachmentReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if len(r.plain) > 0 {
			n, err := w.Write(r.plain)
			total += int64(n)
			r.plain = r.plain[n:]
			if err == nil && len(r.plain) > 0 {
				err = io.ErrShortWrite
			}
			if err != nil {
				return total, err
			}
		}
		switch {
		case r.err != nil:
			return total, r.err
		case r.done:
			return total, nil
		}
		r.err = r.nextChunk()
	}
}
