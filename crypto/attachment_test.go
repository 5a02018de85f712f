package crypto

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"testing"
	"testing/iotest"
)

const testChunk = 32 // small chunks make many-chunk streams cheap to test

func sealAttachment(t testing.TB, dek DataKey, plaintext []byte, chunkSize int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := newAttachmentWriter(&buf, dek, 1, "r-1", "a-1", chunkSize)
	if err != nil {
		t.Fatal(err)
	}
	// Odd write sizes exercise buffering across chunk boundaries.
	for rest := plaintext; len(rest) > 0; {
		n := min(len(rest), 7+len(rest)%13)
		if _, err := w.Write(rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func openAttachment(sealed []byte, dek DataKey, reportID, attachmentID string) ([]byte, error) {
	r, err := NewAttachmentReader(bytes.NewReader(sealed), dek, reportID, attachmentID)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

func patterned(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func TestAttachmentRoundTrip(t *testing.T) {
	dek := NewDataKey()
	for _, tc := range []struct {
		name      string
		size      int
		chunkSize int
	}{
		{"empty", 0, testChunk},
		{"one byte", 1, testChunk},
		{"just under a chunk", testChunk - 1, testChunk},
		{"exactly one chunk", testChunk, testChunk},
		{"one chunk and a byte", testChunk + 1, testChunk},
		{"exactly three chunks", 3 * testChunk, testChunk},
		{"default chunk size, 200 KiB + 5", 200<<10 + 5, AttachmentChunkSize},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plaintext := patterned(tc.size)
			sealed := sealAttachment(t, dek, plaintext, tc.chunkSize)
			got, err := openAttachment(sealed, dek, "r-1", "a-1")
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, plaintext) {
				t.Fatal("round trip changed the attachment")
			}
		})
	}
}

func TestAttachmentReaderWorksWithAwkwardReaders(t *testing.T) {
	dek := NewDataKey()
	plaintext := patterned(5*testChunk + 3)
	sealed := sealAttachment(t, dek, plaintext, testChunk)
	for name, wrap := range map[string]func(io.Reader) io.Reader{
		"one byte at a time": iotest.OneByteReader,
		"half reads":         iotest.HalfReader,
		"data with EOF":      iotest.DataErrReader,
	} {
		t.Run(name, func(t *testing.T) {
			r, err := NewAttachmentReader(wrap(bytes.NewReader(sealed)), dek, "r-1", "a-1")
			if err != nil {
				t.Fatal(err)
			}
			if err := iotest.TestReader(r, plaintext); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestAttachmentReadThenCopyReturnsEverythingOnce(t *testing.T) {
	dek := NewDataKey()
	plaintext := patterned(4*testChunk + 9)
	r, err := NewAttachmentReader(bytes.NewReader(sealAttachment(t, dek, plaintext, testChunk)), dek, "r-1", "a-1")
	if err != nil {
		t.Fatal(err)
	}
	head := make([]byte, testChunk/2+3)
	if _, err := io.ReadFull(r, head); err != nil {
		t.Fatal(err)
	}
	var rest bytes.Buffer
	if _, err := io.Copy(&rest, r); err != nil { // uses WriteTo
		t.Fatal(err)
	}
	if !bytes.Equal(append(head, rest.Bytes()...), plaintext) {
		t.Fatal("Read followed by WriteTo lost or repeated data")
	}
}

func TestAttachmentDamageIsDetected(t *testing.T) {
	dek := NewDataKey()
	sealed := sealAttachment(t, dek, patterned(4*testChunk+5), testChunk)
	other := sealAttachment(t, dek, patterned(4*testChunk+5), testChunk)
	const c = testChunk + 16 // sealed chunk size
	h := attachmentHeaderSize
	chunk := func(s []byte, i int) []byte { return s[h+i*c : min(len(s), h+(i+1)*c)] }
	join := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	header := sealed[:h]

	for _, tc := range []struct {
		name    string
		damaged []byte
	}{
		{"truncated at a chunk boundary", sealed[:h+3*c]},
		{"truncated inside a chunk", sealed[:h+3*c+10]},
		{"final chunk removed", sealed[:len(sealed)-len(chunk(sealed, 4))]},
		{"only the header", header},
		{"chunks 1 and 2 swapped", join(header, chunk(sealed, 0), chunk(sealed, 2), chunk(sealed, 1), chunk(sealed, 3), chunk(sealed, 4))},
		{"middle chunk dropped", join(header, chunk(sealed, 0), chunk(sealed, 2), chunk(sealed, 3), chunk(sealed, 4))},
		{"chunk duplicated", join(header, chunk(sealed, 0), chunk(sealed, 0), chunk(sealed, 1), chunk(sealed, 2), chunk(sealed, 3), chunk(sealed, 4))},
		{"extended by a byte", join(sealed, []byte{0})},
		{"extended by a chunk of another stream", join(sealed, chunk(other, 4))},
		{"chunk taken from another stream", join(header, chunk(sealed, 0), chunk(other, 1), chunk(sealed, 2), chunk(sealed, 3), chunk(sealed, 4))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := openAttachment(tc.damaged, dek, "r-1", "a-1"); err == nil {
				t.Fatal("damaged stream opened")
			}
		})
	}
	for _, tc := range []struct{ name, report, attachment string }{
		{"moved to another report", "r-2", "a-1"},
		{"moved to another attachment", "r-1", "a-2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := openAttachment(sealed, dek, tc.report, tc.attachment)
			wantErrorIs(t, err, ErrAuthentication)
		})
	}
	t.Run("other key", func(t *testing.T) {
		_, err := openAttachment(sealed, NewDataKey(), "r-1", "a-1")
		wantErrorIs(t, err, ErrAuthentication)
	})
}

func TestAttachmentAnyFlippedBitFails(t *testing.T) {
	dek := NewDataKey()
	sealed := sealAttachment(t, dek, patterned(2*testChunk+3), testChunk)
	flipEachBit(t, sealed, func(b []byte) error {
		_, err := openAttachment(b, dek, "r-1", "a-1")
		return err
	})
}

func TestAttachmentMalformedHeader(t *testing.T) {
	dek := NewDataKey()
	sealed := sealAttachment(t, dek, []byte("x"), testChunk)
	withByte := func(i int, v byte) []byte {
		b := append([]byte(nil), sealed...)
		b[i] = v
		return b
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"short header", sealed[:attachmentHeaderSize-1]},
		{"unknown format", withByte(0, 2)},
		{"chunk size zero", withByte(8, 0)},
		{"chunk size too large", withByte(5, 0xff)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewAttachmentReader(bytes.NewReader(tc.data), dek, "r-1", "a-1")
			wantErrorIs(t, err, ErrMalformed)
		})
	}
}

type failingWriter struct{ after int }

var errDiskFull = errors.New("disk full")

func (f *failingWriter) Write(p []byte) (int, error) {
	if f.after <= 0 {
		return 0, errDiskFull
	}
	f.after--
	return len(p), nil
}

func TestAttachmentWriterReportsWriteErrorsAndDoubleClose(t *testing.T) {
	dek := NewDataKey()
	if _, err := NewAttachmentWriter(&failingWriter{after: 0}, dek, 1, "r", "a"); !errors.Is(err, errDiskFull) {
		t.Fatalf("header write error not returned: %v", err)
	}
	w, err := newAttachmentWriter(&failingWriter{after: 1}, dek, 1, "r", "a", testChunk)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(make([]byte, 3*testChunk)); !errors.Is(err, errDiskFull) {
		t.Fatalf("chunk write error not returned: %v", err)
	}
	if err := w.Close(); !errors.Is(err, errDiskFull) {
		t.Fatalf("Close after failure = %v", err)
	}
	var buf bytes.Buffer
	w2, _ := NewAttachmentWriter(&buf, dek, 1, "r", "a")
	if err := w2.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w2.Close(); err == nil {
		t.Fatal("second Close succeeded")
	}
	if _, err := w2.Write([]byte("late")); err == nil {
		t.Fatal("Write after Close succeeded")
	}
}

// TestAttachmentMemoryDoesNotGrowWithSize streams 8 MiB through writer and
// reader and checks that the heap allocated is a small constant, not
// proportional to the file (the 50 MB upload limit must not mean 50 MB of RAM).
func TestAttachmentMemoryDoesNotGrowWithSize(t *testing.T) {
	dek := NewDataKey()
	const size = 8 << 20
	src := io.LimitReader(zeroReader{}, size)
	pr, pw := io.Pipe()
	go func() {
		w, err := NewAttachmentWriter(pw, dek, 1, "r-1", "a-1")
		if err == nil {
			_, err = io.CopyBuffer(w, src, make([]byte, 32<<10))
		}
		if err == nil {
			err = w.Close()
		}
		pw.CloseWithError(err)
	}()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	r, err := NewAttachmentReader(pr, dek, "r-1", "a-1")
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.CopyBuffer(io.Discard, r, make([]byte, 32<<10))
	runtime.ReadMemStats(&after)
	if err != nil || n != size {
		t.Fatalf("read %d bytes, %v", n, err)
	}
	if allocated := after.TotalAlloc - before.TotalAlloc; allocated > 1<<20 {
		t.Fatalf("streaming %d bytes allocated %d bytes; want a constant well under 1 MiB", size, allocated)
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }
