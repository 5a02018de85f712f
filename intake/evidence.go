package intake

import (
	"bytes"
	"errors"
	"fmt"

	"whistle"
)

// Evidence types accepted from reporters, detected from the first bytes of
// the file (never from its name or the browser's Content-Type).
const (
	TypeJPEG      = "image/jpeg"
	TypePNG       = "image/png"
	TypePDF       = "application/pdf"
	TypeMP4       = "video/mp4"
	TypeQuickTime = "video/quicktime"
)

// strippers remove identifying metadata from each accepted type. Each returns
// a new slice and leaves its input unchanged; see metadata.md for exactly
// what each removes and what it cannot.
var strippers = map[string]func([]byte) ([]byte, error){
	TypeJPEG:      stripJPEG,
	TypePNG:       stripPNG,
	TypePDF:       stripPDF,
	TypeMP4:       stripMP4,
	TypeQuickTime: stripMP4,
}

// isoVideoBrands are the ftyp major brands accepted as video. Other ISO base
// media files (HEIC photos, AVIF, audio-only M4A) have metadata this package
// does not remove, so they are refused.
var isoVideoBrands = map[string]string{
	"isom": TypeMP4, "iso2": TypeMP4, "iso4": TypeMP4, "iso5": TypeMP4, "iso6": TypeMP4,
	"mp41": TypeMP4, "mp42": TypeMP4, "avc1": TypeMP4, "M4V ": TypeMP4, "MSNV": TypeMP4,
	"3gp4": TypeMP4, "3gp5": TypeMP4, "3gp6": TypeMP4, "dash": TypeMP4,
	"qt  ": TypeQuickTime,
}

// DetectType returns the accepted type of data, or "" if it is none of them.
func DetectType(data []byte) string {
	switch {
	case bytes.HasPrefix(data, []byte{0xFF, 0xD8, 0xFF}):
		return TypeJPEG
	case bytes.HasPrefix(data, pngSignature):
		return TypePNG
	case bytes.HasPrefix(data, []byte("%PDF-")):
		return TypePDF
	case len(data) >= 12 && string(data[4:8]) == "ftyp":
		return isoVideoBrands[string(data[8:12])]
	}
	return ""
}

var (
	errUnsupportedType = &whistle.Error{Code: whistle.EUNSUPPORTED, Field: "attachments",
		Message: "只能上传照片（JPEG、PNG）、视频（MP4、MOV）或PDF文件。"}
	errEmptyFile = fieldError("attachments", "上传的文件是空的。")
)

// errMalformed is a file whose structure the stripper could not follow; it
// is refused because its metadata could not be removed for certain.
var errMalformed = errors.New("malformed file")

// PrepareEvidence checks one uploaded file and removes its metadata: the type
// is detected from the content, the size is limited, and EXIF/GPS, text
// chunks and document information are stripped before anything is sealed.
func PrepareEvidence(name string, data []byte) (Evidence, error) {
	switch {
	case len(data) == 0:
		return Evidence{}, errEmptyFile
	case len(data) > MaxAttachmentBytes:
		return Evidence{}, tooLarge("attachments")
	}
	typ := DetectType(data)
	if typ == "" {
		return Evidence{}, errUnsupportedType
	}
	clean, err := strippers[typ](data)
	if err != nil {
		var we *whistle.Error
		if errors.As(err, &we) {
			return Evidence{}, err
		}
		return Evidence{}, &whistle.Error{Code: whistle.EUNSUPPORTED, Field: "attachments",
			Message: fmt.Sprintf("文件「%s」已损坏或格式无法识别，无法安全清除其中的位置等信息，请换一个文件。", displayName(name)), Err: err}
	}
	return Evidence{Name: name, Type: typ, Body: bytes.NewReader(clean)}, nil
}

// displayName shortens a file name for an error message.
func displayName(name string) string {
	name, err := cleanText("attachments", "文件名", name, MaxShortRunes, false)
	if err != nil {
		name = ""
	}
	r := []rune(name)
	if len(r) > 40 {
		return string(r[:40]) + "…"
	}
	if len(r) == 0 {
		return "未命名"
	}
	return name
}
