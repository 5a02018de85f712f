package intake

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/url"
	"strings"

	"whistle"
)

// Body limits, checked before any parsing.
const (
	// MaxBodyBytes is the largest request intake accepts: a report with the
	// maximum number of maximum-size files plus the form. The HTTP server's
	// own body limit (httpd.Options.BodyLimit) must be at least this.
	MaxBodyBytes = MaxAttachments*MaxAttachmentBytes + maxFieldsBytes + 64<<10
	// maxJSONBytes bounds JSON requests and forms without files.
	maxJSONBytes   = 256 << 10
	maxFieldsBytes = 256 << 10 // all non-file form fields together
	maxFormFields  = 64
)

// Form field name of evidence files, in the web form and the multipart API.
const attachmentsField = "attachments"

// upload is one file part of a multipart form, read fully into memory:
// plaintext evidence is never written to a temporary file.
type upload struct {
	name string
	data []byte
}

// form is a parsed urlencoded or multipart body.
type form struct {
	values url.Values
	files  []upload
}

func (f form) get(name string) string { return f.values.Get(name) }

var errUnsupportedBody = &whistle.Error{Code: whistle.EUNSUPPORTED,
	Message: "请求格式不受支持，请以表单（application/x-www-form-urlencoded 或 multipart/form-data）提交。"}

// parseForm parses a form body of the given Content-Type. Limits are checked
// while reading: at most maxFiles files of MaxAttachmentBytes each (file
// parts with no file name, which browsers send for an empty file input, are
// skipped), and maxFieldsBytes of other fields in at most maxFormFields
// parts. Errors are *whistle.Error; after a file error the fields read so
// far are returned too, so the form can be shown again with them.
func parseForm(contentType string, body []byte, maxFiles int) (form, error) {
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return form{}, errUnsupportedBody
	}
	switch mediaType {
	case "application/x-www-form-urlencoded":
		if len(body) > maxFieldsBytes {
			return form{}, &whistle.Error{Code: whistle.ETOOLARGE, Message: "提交的内容过长。"}
		}
		v, err := url.ParseQuery(string(body))
		if err != nil {
			return form{}, &whistle.Error{Code: whistle.EINVALID, Message: "表单格式不正确。", Err: err}
		}
		if len(v) > maxFormFields {
			return form{}, &whistle.Error{Code: whistle.EINVALID, Message: "表单字段过多。"}
		}
		return form{values: v}, nil
	case "multipart/form-data":
		return parseMultipart(params["boundary"], body, maxFiles)
	}
	return form{}, errUnsupportedBody
}

func parseMultipart(boundary string, body []byte, maxFiles int) (form, error) {
	if boundary == "" || len(boundary) > 70 {
		return form{}, &whistle.Error{Code: whistle.EINVALID, Message: "表单格式不正确（缺少分隔符）。"}
	}
	f := form{values: url.Values{}}
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	fieldBytes, parts := 0, 0
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return f, nil
		}
		if err != nil {
			return form{}, &whistle.Error{Code: whistle.EINVALID, Message: "表单格式不正确。", Err: err}
		}
		if parts++; parts > maxFormFields+maxFiles {
			return form{}, &whistle.Error{Code: whistle.EINVALID, Message: "表单字段过多。"}
		}
		name := p.FormName()
		if p.FileName() != "" || name == attachmentsField {
			if name != attachmentsField {
				continue // a file in a field we do not take: ignore it unread
			}
			data, err := readLimited(p, MaxAttachmentBytes)
			if err != nil {
				return f, err
			}
			if len(data) == 0 && p.FileName() == "" {
				continue // empty file input
			}
			if len(f.files) == maxFiles {
				return f, &whistle.Error{Code: whistle.ETOOLARGE, Field: attachmentsField,
					Message: fmt.Sprintf("最多上传%d个文件。", maxFiles)}
			}
			f.files = append(f.files, upload{name: p.FileName(), data: data})
			continue
		}
		value, err := readLimited(p, maxFieldsBytes-fieldBytes)
		if whistle.ErrorCode(err) == whistle.ETOOLARGE {
			return form{}, &whistle.Error{Code: whistle.ETOOLARGE, Message: "提交的文字内容过长。"}
		}
		if err != nil {
			return form{}, err
		}
		fieldBytes += len(value)
		f.values.Add(name, string(value))
	}
}

// readLimited reads a part, failing with ETOOLARGE past limit bytes.
func readLimited(r io.Reader, limit int) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, &whistle.Error{Code: whistle.EINVALID, Message: "表单格式不正确。", Err: err}
	}
	if len(data) > limit {
		return nil, tooLarge(attachmentsField)
	}
	return data, nil
}

// reportFromForm maps the form fields (the same names as the JSON API) to a
// web submission. Evidence is prepared separately.
func reportFromForm(f form) Submission {
	return Submission{
		Channel: whistle.ChannelWeb,
		Report: whistle.Report{
			Text:         f.get("text"),
			Address:      f.get("address"),
			Company:      f.get("company"),
			Industry:     f.get("industry"),
			StartedAt:    f.get("started_at"),
			DangerNow:    isYes(f.get("danger_now")),
			Relationship: f.get("relationship"),
		},
		City:     f.get("city"),
		County:   f.get("county"),
		Identity: f.get("contact"),
	}
}

func isYes(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}

// prepareUploads turns uploaded files into evidence, refusing the first file
// whose type is not accepted or whose metadata cannot be removed.
func prepareUploads(files []upload) ([]Evidence, error) {
	out := make([]Evidence, 0, len(files))
	for _, u := range files {
		ev, err := PrepareEvidence(u.name, u.data)
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, nil
}
