package intake

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"whistle"
)

// Call recordings come from the call centre's recorder, whose files carry
// metadata of their own: RIFF INFO/bext chunks and ID3 tags can hold the
// caller's number, the agent's extension and the time of the call. Only
// formats whose metadata this file removes completely are accepted:
//
//   - WAV (RIFF/WAVE): only the "fmt ", "fact" and "data" chunks are kept;
//   - MP3: ID3v2 at the start, ID3v2 footers, APEv2 and ID3v1 at the end are
//     dropped, the MPEG frames kept;
//   - AMR / AMR-WB: the format has no metadata, the file is kept as is.
//
// The original file name is replaced as well (recorders name files after the
// caller's number).
const (
	TypeWAV = "audio/wav"
	TypeMP3 = "audio/mpeg"
	TypeAMR = "audio/amr"
)

var (
	amrMagic   = []byte("#!AMR\n")
	amrWBMagic = []byte("#!AMR-WB\n")
)

// recordingName is the neutral name each recording is stored under.
var recordingName = map[string]string{TypeWAV: "通话录音.wav", TypeMP3: "通话录音.mp3", TypeAMR: "通话录音.amr"}

var errRecordingType = &whistle.Error{Code: whistle.EUNSUPPORTED, Field: attachmentsField,
	Message: "通话录音只支持 WAV、MP3 或 AMR 格式。"}

func errRecordingMalformed(detail string) *whistle.Error {
	return &whistle.Error{Code: whistle.EUNSUPPORTED, Field: attachmentsField,
		Message: "录音文件已损坏或格式无法识别，无法安全清除其中的号码等信息，请换一个文件。",
		Err:     fmt.Errorf("recording: %s", detail)}
}

// detectRecording returns the accepted audio type of data, or "".
func detectRecording(data []byte) string {
	switch {
	case len(data) >= 12 && string(data[0:4]) == "RIFF" && string(data[8:12]) == "WAVE":
		return TypeWAV
	case bytes.HasPrefix(data, amrMagic), bytes.HasPrefix(data, amrWBMagic):
		return TypeAMR
	case bytes.HasPrefix(data, []byte("ID3")), len(data) >= 2 && isMPEGSync(data):
		return TypeMP3
	}
	return ""
}

// prepareRecording checks a call recording and strips its metadata.
func prepareRecording(data []byte) (Evidence, error) {
	switch {
	case len(data) == 0:
		return Evidence{}, errEmptyFile
	case len(data) > MaxAttachmentBytes:
		return Evidence{}, tooLarge(attachmentsField)
	}
	typ := detectRecording(data)
	var clean []byte
	var err error
	switch typ {
	case TypeWAV:
		clean, err = stripWAV(data)
	case TypeMP3:
		clean, err = stripMP3(data)
	case TypeAMR:
		clean = bytes.Clone(data)
	default:
		return Evidence{}, errRecordingType
	}
	if err != nil {
		return Evidence{}, err
	}
	return Evidence{Name: recordingName[typ], Type: typ, Body: bytes.NewReader(clean)}, nil
}

// wavKeep are the chunks a WAV file needs to play; everything else (LIST
// INFO, bext, iXML, id3, cue, …) is metadata or optional and is dropped.
var wavKeep = map[string]bool{"fmt ": true, "fact": true, "data": true}

// stripWAV rebuilds a RIFF/WAVE file from its fmt, fact and data chunks.
func stripWAV(data []byte) ([]byte, error) {
	riffSize := int(binary.LittleEndian.Uint32(data[4:8]))
	if riffSize < 4 || riffSize > len(data)-8 {
		return nil, errRecordingMalformed("RIFF size does not match the file")
	}
	body := data[12 : 8+riffSize]
	out := make([]byte, 12, len(data))
	copy(out, "RIFF\x00\x00\x00\x00WAVE")
	sawFmt, sawData := false, false
	for len(body) > 0 {
		if len(body) < 8 {
			return nil, errRecordingMalformed("truncated chunk header")
		}
		id := string(body[0:4])
		size := int(binary.LittleEndian.Uint32(body[4:8]))
		if size > len(body)-8 {
			// A chunk larger than the file is how streaming recorders mark
			// an unknown length; where metadata would follow is unknowable.
			return nil, errRecordingMalformed(fmt.Sprintf("chunk %q runs past the end", id))
		}
		end := 8 + size
		if size%2 == 1 && end < len(body) {
			end++ // the pad byte; a last odd chunk may lack it
		}
		switch {
		case id == "fmt " && sawData:
			return nil, errRecordingMalformed("fmt after data")
		case id == "fmt ":
			sawFmt = true
		case id == "data" && !sawFmt:
			return nil, errRecordingMalformed("data before fmt")
		case id == "data":
			sawData = true
		}
		if wavKeep[id] {
			out = append(out, body[:8+size]...)
			if size%2 == 1 {
				out = append(out, 0)
			}
		}
		body = body[end:]
	}
	if !sawFmt || !sawData {
		return nil, errRecordingMalformed("no fmt or data chunk")
	}
	binary.LittleEndian.PutUint32(out[4:8], uint32(len(out)-8))
	return out, nil
}

// isMPEGSync reports an MPEG audio frame header: 11 set sync bits, a valid
// version and layer.
func isMPEGSync(b []byte) bool {
	return b[0] == 0xFF && b[1]&0xE0 == 0xE0 && (b[1]>>3)&0x3 != 1 && (b[1]>>1)&0x3 != 0
}

// stripMP3 removes ID3v2 tags at the start, and ID3v1, APEv2 and ID3v2
// footers at the end, and checks that what remains starts with an MPEG
// frame.
func stripMP3(data []byte) ([]byte, error) {
	audio := data
	for bytes.HasPrefix(audio, []byte("ID3")) {
		n, err := id3v2Size(audio)
		if err != nil {
			return nil, err
		}
		audio = audio[n:]
	}
	for {
		switch {
		case len(audio) >= 128 && string(audio[len(audio)-128:len(audio)-125]) == "TAG":
			audio = audio[:len(audio)-128]
			continue
		case len(audio) >= 32 && string(audio[len(audio)-32:len(audio)-24]) == "APETAGEX":
			n, err := apeTagSize(audio[len(audio)-32:])
			if err != nil || n > len(audio) {
				return nil, errRecordingMalformed("APE tag size")
			}
			audio = audio[:len(audio)-n]
			continue
		case len(audio) >= 10 && string(audio[len(audio)-10:len(audio)-7]) == "3DI":
			n, err := id3v2Size(append([]byte("ID3"), audio[len(audio)-7:]...))
			if err != nil || n > len(audio) {
				return nil, errRecordingMalformed("ID3v2 footer size")
			}
			audio = audio[:len(audio)-n]
			continue
		}
		break
	}
	if len(audio) < 4 || !isMPEGSync(audio) {
		return nil, errRecordingMalformed("no MPEG frame after the tags")
	}
	return bytes.Clone(audio), nil
}

// id3v2Size is the full size of the ID3v2 tag at the start of b (header,
// body and footer if flagged).
func id3v2Size(b []byte) (int, error) {
	if len(b) < 10 {
		return 0, errRecordingMalformed("truncated ID3v2 header")
	}
	size := 0
	for _, c := range b[6:10] {
		if c&0x80 != 0 {
			return 0, errRecordingMalformed("ID3v2 size not synchsafe")
		}
		size = size<<7 | int(c)
	}
	n := 10 + size
	if b[5]&0x10 != 0 {
		n += 10 // footer present
	}
	if n > len(b) {
		return 0, errRecordingMalformed("ID3v2 tag runs past the end")
	}
	return n, nil
}

// apeTagSize is the full size of an APEv2 tag from its 32-byte footer: the
// footer's size field counts items and footer; a flagged header adds 32.
func apeTagSize(footer []byte) (int, error) {
	size := int(binary.LittleEndian.Uint32(footer[12:16]))
	flags := binary.LittleEndian.Uint32(footer[20:24])
	if size < 32 {
		return 0, errRecordingMalformed("APE tag too small")
	}
	if flags&(1<<31) != 0 {
		size += 32
	}
	return size, nil
}
