package admin

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"whistle"
	"whistle/crypto"
	"whistle/mongodb"
)

// Account rules.
const (
	MinPasswordRunes = 12
	maxUsernameLen   = 64
	minUsernameLen   = 2
	maxPlaceRunes    = 32
	maxDeptRunes     = whistle.MaxDepartmentRunes
)

// NormalizeUsername trims and lower-cases a username and reports whether it
// is usable: 2–64 of a–z, 0–9, '.', '_', '-'. Usernames are ASCII so that no
// two accounts look alike.
func NormalizeUsername(s string) (string, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) < minUsernameLen || len(s) > maxUsernameLen {
		return s, false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return s, false
		}
	}
	return s, true
}

// NewUser is a staff account to create.
type NewUser struct {
	Username   string
	Role       whistle.Role
	Department string // required for handlers and department leads
	City       string // jurisdiction, optional
	County     string
}

// CreateUser validates u, creates the member's staff key sealed under
// password with kdf (crypto.DefaultStaffKDF in production) and stores the
// account. The operator's command line is the only caller; it is audited as
// actor "cli".
func CreateUser(ctx context.Context, store *mongodb.DB, u NewUser, password string, kdf crypto.KDFParams, now time.Time) error {
	username, ok := NormalizeUsername(u.Username)
	if !ok {
		return whistle.FieldError("username", "用户名须为2–64位小写字母、数字、点、下划线或短横线。")
	}
	if !slices.Contains(StaffRoles, u.Role) {
		return whistle.FieldError("role", "角色无效；可选："+roleCodes())
	}
	dept, err := cleanName("department", "部门", u.Department, maxDeptRunes)
	if err != nil {
		return err
	}
	if dept == "" && (u.Role == whistle.RoleHandler || u.Role == whistle.RoleDeptLead) {
		return whistle.FieldError("department", "部门承办人和部门负责人必须指定部门。")
	}
	city, err := cleanName("city", "所在市", u.City, maxPlaceRunes)
	if err != nil {
		return err
	}
	county, err := cleanName("county", "区县", u.County, maxPlaceRunes)
	if err != nil {
		return err
	}
	if county != "" && city == "" {
		return whistle.FieldError("county", "指定区县前请先指定所在市。")
	}
	if n := utf8.RuneCountInString(password); n < MinPasswordRunes {
		return whistle.FieldError("password", fmt.Sprintf("密码至少%d个字符。", MinPasswordRunes))
	}
	key, kp, err := crypto.NewStaffKey(password, kdf)
	if err != nil {
		return err
	}
	kp.Wipe() // group keys are sealed to the public half later, by the full console
	blob, err := key.MarshalBinary()
	if err != nil {
		return err
	}
	if err := store.CreateUser(ctx, &mongodb.User{
		ID: username, Username: username, Role: u.Role, Department: dept, City: city, County: county,
		StaffKey: blob, CreatedAt: now.UTC(),
	}); err != nil {
		return err
	}
	return store.Audit(ctx, mongodb.AuditEntry{At: now, Actor: "cli", Role: whistle.RoleAdmin, Action: AuditUserCreate, Subject: "user:" + username})
}

// DisableUser disables an account and ends its sessions at once (on every
// replica: each request re-reads the session record).
func DisableUser(ctx context.Context, store *mongodb.DB, username string, now time.Time) error {
	name, ok := NormalizeUsername(username)
	if !ok {
		return whistle.FieldError("username", "用户名无效。")
	}
	if err := store.DisableUser(ctx, name, now); err != nil {
		return err
	}
	return store.Audit(ctx, mongodb.AuditEntry{At: now, Actor: "cli", Role: whistle.RoleAdmin, Action: AuditUserDisable, Subject: "user:" + name})
}

func roleCodes() string {
	codes := make([]string, len(StaffRoles))
	for i, r := range StaffRoles {
		codes[i] = string(r)
	}
	return strings.Join(codes, ", ")
}

// cleanName checks a short one-line name (department, city, county).
func cleanName(field, label, s string, maxRunes int) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case !utf8.ValidString(s):
		return "", whistle.FieldError(field, label+"包含无效的字符编码。")
	case strings.ContainsFunc(s, unicode.IsControl):
		return "", whistle.FieldError(field, label+"包含控制字符。")
	case utf8.RuneCountInString(s) > maxRunes:
		return "", whistle.FieldError(field, fmt.Sprintf("%s不能超过%d字。", label, maxRunes))
	}
	return s, nil
}
