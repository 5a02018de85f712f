package intake

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"io"
	"regexp"

	"whistle"
)

// stripPDF removes document metadata from a PDF without changing its length:
// the cross-reference table addresses every object by byte offset, so values
// are blanked with spaces in place instead of being cut out.
//
//   - Document information values (/Author, /Creator, /Producer, /Title,
//     /Subject, /Keywords, /CreationDate, /ModDate, /Company,
//     /SourceModified) become blank strings, wherever they occur in clear,
//     including older revisions kept by incremental updates and values
//     stored as separate objects.
//   - Every uncompressed XMP metadata stream (/Type /Metadata) is blanked.
//   - JPEG images embedded as /DCTDecode streams have
//     their EXIF/XMP/comment segments zeroed, as stripJPEG would drop them.
//
// What cannot be done honestly without rewriting the file is refused with a
// clear message instead of being stored half-stripped: encrypted PDFs,
// compressed metadata streams, and document information kept inside
// compressed object streams (/ObjStm). Metadata inside other embedded files
// or fonts is not examined; see metadata.md.
func stripPDF(in []byte) ([]byte, error) {
	if !bytes.HasPrefix(in, []byte("%PDF-")) {
		return nil, errMalformed
	}
	if pdfEncrypt.Match(in) {
		return nil, pdfRefused("该PDF文件已加密，无法检查并清除其中的作者等信息。")
	}
	out := bytes.Clone(in)
	for _, s := range pdfStreams(out) {
		dict := out[s.dictStart:s.dataStart]
		switch {
		case pdfTypeMetadata.Match(dict):
			if pdfFilter.Match(dict) {
				return nil, pdfRefused("该PDF文件的元数据经过压缩，无法安全清除。")
			}
			blank(out[s.dataStart:s.dataEnd])
		case pdfTypeObjStm.Match(dict):
			if err := checkObjectStream(dict, out[s.dataStart:s.dataEnd]); err != nil {
				return nil, err
			}
		case pdfDCT.Match(dict):
			blankJPEGMetadata(out[s.dataStart:s.dataEnd])
		}
	}
	blankInfoValues(out)
	return out, nil
}

var (
	pdfEncrypt      = regexp.MustCompile(`/Encrypt\s*(<<|\d)`)
	pdfTypeMetadata = regexp.MustCompile(`/Type\s*/Metadata\b`)
	pdfTypeObjStm   = regexp.MustCompile(`/Type\s*/ObjStm\b`)
	pdfFilter       = regexp.MustCompile(`/Filter\b`)
	pdfFlateOnly    = regexp.MustCompile(`/Filter\s*(/FlateDecode|\[\s*/FlateDecode\s*\])`)
	pdfDCT          = regexp.MustCompile(`/Filter\s*(/DCTDecode|\[\s*/DCTDecode\s*\])`)
	pdfStreamKey    = regexp.MustCompile(`>>\s*stream(\r\n|\n|\r)`)
	pdfObjHeader    = regexp.MustCompile(`\d+\s+\d+\s+obj\b`)
	pdfInfoKey      = regexp.MustCompile(`/(Author|Creator|Producer|Title|Subject|Keywords|CreationDate|ModDate|Company|SourceModified)\b\s*`)
	// Keys that only document information uses: their presence inside a
	// compressed object stream means the information dictionary is there.
	pdfInfoOnlyKey = regexp.MustCompile(`/(Author|Creator|Producer|CreationDate|ModDate)\b`)
	pdfRef         = regexp.MustCompile(`^(\d+)\s+(\d+)\s+R\b`)
)

func pdfRefused(message string) error {
	return &whistle.Error{Code: whistle.EUNSUPPORTED, Field: "attachments",
		Message: message + "为保护您的身份，请将内容截图或拍照后以图片形式上传。"}
}

type pdfStream struct{ dictStart, dataStart, dataEnd int }

// pdfStreams finds every "<<dict>> stream … endstream" in the file: the
// dictionary from its object header, the data up to the endstream keyword.
func pdfStreams(b []byte) []pdfStream {
	var out []pdfStream
	from := 0
	for {
		loc := pdfStreamKey.FindIndex(b[from:])
		if loc == nil {
			return out
		}
		dataStart := from + loc[1]
		end := bytes.Index(b[dataStart:], []byte("endstream"))
		if end < 0 {
			return out
		}
		// The dictionary starts after the last object header before it;
		// looking back a bounded window keeps this linear in the file size.
		dictStart := max(from, from+loc[0]-maxPDFDictBytes)
		if heads := pdfObjHeader.FindAllIndex(b[dictStart:from+loc[0]], -1); len(heads) > 0 {
			dictStart += heads[len(heads)-1][1]
		}
		out = append(out, pdfStream{dictStart: dictStart, dataStart: dataStart, dataEnd: dataStart + end})
		from = dataStart + end
	}
}

// maxPDFDictBytes bounds how far back a stream's dictionary is looked for.
const maxPDFDictBytes = 64 << 10

// maxObjStmBytes bounds the decompressed size of one object stream (zip bombs).
const maxObjStmBytes = 64 << 20

// checkObjectStream refuses a compressed object stream that holds the
// document information dictionary, or one that cannot be inspected.
func checkObjectStream(dict, data []byte) error {
	if !pdfFlateOnly.Match(dict) {
		return pdfRefused("该PDF文件使用了无法检查的压缩方式，无法确认已清除作者等信息。")
	}
	zr, err := zlib.NewReader(bytes.NewReader(data))
	if err != nil {
		return pdfRefused("该PDF文件的压缩数据已损坏，无法确认已清除作者等信息。")
	}
	plain, err := io.ReadAll(io.LimitReader(zr, maxObjStmBytes+1))
	if (err != nil && err != io.ErrUnexpectedEOF) || len(plain) > maxObjStmBytes {
		return pdfRefused("该PDF文件的压缩数据已损坏，无法确认已清除作者等信息。")
	}
	if pdfInfoOnlyKey.Match(plain) {
		return pdfRefused("该PDF文件的作者、软件等信息经过压缩，无法安全清除。")
	}
	return nil
}

// blankInfoValues blanks the value after every document information key:
// a literal or hex string in place, or the first string of the object a
// reference points at.
func blankInfoValues(b []byte) {
	for _, loc := range pdfInfoKey.FindAllIndex(b, -1) {
		v := loc[1]
		if m := pdfRef.FindSubmatch(b[v:]); m != nil {
			blankObjectString(b, string(m[1]), string(m[2]))
			continue
		}
		blankString(b, v)
	}
}

// blankObjectString blanks the first string in object "num gen obj".
func blankObjectString(b []byte, num, gen string) {
	re, err := regexp.Compile(`(^|[^\d])` + num + `\s+` + gen + `\s+obj\b\s*`)
	if err != nil {
		return
	}
	for _, loc := range re.FindAllIndex(b, -1) {
		blankString(b, loc[1])
	}
}

// blankString overwrites the contents of the PDF string starting at b[i]
// (a literal "(…)" with nesting and escapes, or a hex "<…>") with spaces,
// keeping the delimiters. Anything else is left alone.
func blankString(b []byte, i int) {
	if i >= len(b) {
		return
	}
	switch {
	case b[i] == '(':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '\\':
				b[j] = ' '
				if j+1 < len(b) {
					j++
					b[j] = ' '
				}
				continue
			case '(':
				depth++
			case ')':
				depth--
				if depth == 0 {
					return
				}
			}
			if j > i {
				b[j] = ' '
			}
		}
	case b[i] == '<' && (i+1 >= len(b) || b[i+1] != '<'):
		for j := i + 1; j < len(b) && b[j] != '>'; j++ {
			b[j] = ' '
		}
	}
}

func blank(b []byte) {
	for i := range b {
		b[i] = ' '
	}
}

// blankJPEGMetadata zeroes, in place, the payload of every JPEG segment
// that stripJPEG would drop, and everything after the first EOI (appended
// images carry their own EXIF). Lengths stay, so the enclosing PDF stream
// keeps its size; decoders skip the zeroed segments and trailing bytes.
func blankJPEGMetadata(b []byte) {
	if len(b) < 4 || b[0] != 0xFF || b[1] != jpegSOI {
		return
	}
	for i := 2; i+2 <= len(b) && b[i] == 0xFF; {
		m := b[i+1]
		switch {
		case m == jpegEOI:
			clear(b[i+2:])
			return
		case m == 0xFF: // fill byte
			i++
			continue
		case m == 0x01 || (m >= 0xD0 && m <= 0xD7):
			i += 2
			continue
		}
		if i+4 > len(b) {
			return
		}
		n := int(binary.BigEndian.Uint16(b[i+2:]))
		if n < 2 || i+2+n > len(b) {
			return
		}
		if !keepJPEGSegment(m, b[i+4:i+2+n]) {
			clear(b[i+4 : i+2+n])
		}
		i += 2 + n
		if m == jpegSOS {
			i = entropyEnd(b, i)
		}
	}
}
