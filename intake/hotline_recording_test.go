package intake

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"

	"whistle"
)

// callerNumber is what recorders write into tags and file names.
const callerNumber = "13912345678"

// riffChunk encodes one RIFF chunk with its pad byte.
func riffChunk(id string, body []byte) []byte {
	b := append([]byte(id), binary.LittleEndian.AppendUint32(nil, uint32(len(body)))...)
	b = append(b, body...)
	if len(body)%2 == 1 {
		b = append(b, 0)
	}
	return b
}

func wavFile(chunks ...[]byte) []byte {
	body := []byte("WAVE")
	for _, c := range chunks {
		body = append(body, c...)
	}
	return append(append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(len(body)))...), body...)
}

// pcmFormat is a "fmt " chunk body: PCM, mono, 8 kHz, 16 bit.
var pcmFormat = []byte{1, 0, 1, 0, 0x40, 0x1f, 0, 0, 0x80, 0x3e, 0, 0, 2, 0, 16, 0}

func samples(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}

// taggedWAV is a call-centre WAV with the caller's number in LIST/INFO and bext.
func taggedWAV() []byte {
	info := append([]byte("INFO"), riffChunk("ICMT", []byte("caller "+callerNumber))...)
	return wavFile(
		riffChunk("bext", []byte("originator "+callerNumber+" agent 8001")),
		riffChunk("fmt ", pcmFormat),
		riffChunk("LIST", info),
		riffChunk("data", samples(801)), // odd: pad byte follows
		riffChunk("id3 ", []byte("TIT2 "+callerNumber)),
	)
}

var mpegFrame = append([]byte{0xFF, 0xFB, 0x90, 0x64}, samples(413)...)

func id3v2(body string) []byte {
	n := len(body)
	size := []byte{byte(n >> 21 & 0x7f), byte(n >> 14 & 0x7f), byte(n >> 7 & 0x7f), byte(n & 0x7f)}
	return append(append([]byte{'I', 'D', '3', 4, 0, 0}, size...), body...)
}

func id3v1(comment string) []byte {
	b := make([]byte, 128)
	copy(b, "TAG")
	copy(b[97:], comment)
	return b
}

func apeTag(item string) []byte {
	footer := make([]byte, 32)
	copy(footer, "APETAGEX")
	binary.LittleEndian.PutUint32(footer[8:], 2000)
	binary.LittleEndian.PutUint32(footer[12:], uint32(len(item)+32))
	return append([]byte(item), footer...)
}

func taggedMP3() []byte {
	var b []byte
	b = append(b, id3v2("TPE1\x00caller "+callerNumber)...)
	b = append(b, mpegFrame...)
	b = append(b, mpegFrame...)
	b = append(b, apeTag("Comment\x00"+callerNumber)...)
	return append(b, id3v1(callerNumber)...)
}

func TestPrepareRecording(t *testing.T) {
	tests := []struct {
		name     string
		in       []byte
		wantType string
		wantCode string // "" = accepted
		want     []byte // expected output when accepted (nil: not checked byte for byte)
	}{
		{"WAVKeepsOnlyFormatAndSamples", taggedWAV(), TypeWAV, "",
			wavFile(riffChunk("fmt ", pcmFormat), riffChunk("data", samples(801)))},
		{"CleanWAVIsUnchanged", wavFile(riffChunk("fmt ", pcmFormat), riffChunk("data", samples(64))), TypeWAV, "",
			wavFile(riffChunk("fmt ", pcmFormat), riffChunk("data", samples(64)))},
		{"MP3LosesEveryTag", taggedMP3(), TypeMP3, "", append(append([]byte{}, mpegFrame...), mpegFrame...)},
		{"BareMP3IsUnchanged", mpegFrame, TypeMP3, "", mpegFrame},
		{"AMRHasNoMetadataAndPassesAsIs", append([]byte("#!AMR\n"), samples(100)...), TypeAMR, "", append([]byte("#!AMR\n"), samples(100)...)},
		{"WAVDataBeforeFormatIsRefused", wavFile(riffChunk("data", samples(10)), riffChunk("fmt ", pcmFormat)), "", whistle.EUNSUPPORTED, nil},
		{"WAVWithoutDataIsRefused", wavFile(riffChunk("fmt ", pcmFormat)), "", whistle.EUNSUPPORTED, nil},
		{"WAVChunkPastTheEndIsRefused", wavFile(riffChunk("fmt ", pcmFormat), []byte("data\xff\xff\xff\xff\x01\x02")), "", whistle.EUNSUPPORTED, nil},
		{"TruncatedWAVIsRefused", taggedWAV()[:40], "", whistle.EUNSUPPORTED, nil},
		{"MP3TagWithoutAudioIsRefused", id3v2("TPE1\x00x"), "", whistle.EUNSUPPORTED, nil},
		{"M4AIsRefused", append([]byte{0, 0, 0, 0x20, 'f', 't', 'y', 'p', 'M', '4', 'A', ' '}, samples(40)...), "", whistle.EUNSUPPORTED, nil},
		{"TextIsRefused", []byte("caller " + callerNumber), "", whistle.EUNSUPPORTED, nil},
		{"EmptyIsRefused", nil, "", whistle.EINVALID, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := prepareRecording(tc.in)
			if tc.wantCode != "" {
				if whistle.ErrorCode(err) != tc.wantCode {
					t.Fatalf("error %v, want code %s", err, tc.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(ev.Body)
			if ev.Type != tc.wantType || bytes.Contains(got, []byte(callerNumber)) || bytes.Contains([]byte(ev.Name), []byte(callerNumber)) {
				t.Fatalf("type %s name %q; caller number left: %v", ev.Type, ev.Name, bytes.Contains(got, []byte(callerNumber)))
			}
			if !bytes.Equal(got, tc.want) {
				t.Fatalf("output (%d bytes) differs from the expected %d bytes", len(got), len(tc.want))
			}
		})
	}
}

// FuzzPrepareRecording: no input makes the strippers panic, and what they
// accept is a recording of the same type that stripping leaves unchanged.
func FuzzPrepareRecording(f *testing.F) {
	f.Add(taggedWAV())
	f.Add(taggedMP3())
	f.Add(append([]byte("#!AMR-WB\n"), samples(30)...))
	f.Add(wavFile(riffChunk("fmt ", pcmFormat), riffChunk("data", samples(3))))
	f.Add(append(id3v2("x"), mpegFrame[:4]...))
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := prepareRecording(data)
		if err != nil {
			if c := whistle.ErrorCode(err); c != whistle.EUNSUPPORTED && c != whistle.EINVALID && c != whistle.ETOOLARGE {
				t.Fatalf("unexpected error code %s: %v", c, err)
			}
			return
		}
		out, _ := io.ReadAll(ev.Body)
		if detectRecording(out) != ev.Type {
			t.Fatalf("stripped %s detects as %q", ev.Type, detectRecording(out))
		}
		again, err := prepareRecording(out)
		if err != nil {
			t.Fatalf("stripped output refused: %v", err)
		}
		twice, _ := io.ReadAll(again.Body)
		if !bytes.Equal(out, twice) {
			t.Fatal("stripping is not idempotent")
		}
	})
}
