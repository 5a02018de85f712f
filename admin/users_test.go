package admin_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"whistle"
	"whistle/admin"
	"whistle/crypto"
	"whistle/internal/testenv"
)

func TestCreateUserValidation(t *testing.T) {
	store := testenv.Stores()[0].Open(t)
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		user      admin.NewUser
		password  string
		wantField string // "" = created
	}{
		{"AgentWithoutDepartment", admin.NewUser{Username: "Agent.One", Role: whistle.RoleHotlineAgent, City: "银川市"}, goodPassword, ""},
		{"HandlerWithDepartmentAndCounty", admin.NewUser{Username: "handler_1", Role: whistle.RoleHandler, Department: "自治区应急管理厅", City: "银川市", County: "兴庆区"}, goodPassword, ""},
		{"HandlerNeedsDepartment", admin.NewUser{Username: "handler_2", Role: whistle.RoleHandler}, goodPassword, "department"},
		{"DeptLeadNeedsDepartment", admin.NewUser{Username: "lead_2", Role: whistle.RoleDeptLead}, goodPassword, "department"},
		{"ReporterIsNotAStaffRole", admin.NewUser{Username: "rep", Role: whistle.RoleReporter}, goodPassword, "role"},
		{"SystemIsNotAStaffRole", admin.NewUser{Username: "sys", Role: whistle.RoleSystem}, goodPassword, "role"},
		{"UnknownRole", admin.NewUser{Username: "x1", Role: "boss"}, goodPassword, "role"},
		{"ChineseUsername", admin.NewUser{Username: "张三", Role: whistle.RoleAuditor}, goodPassword, "username"},
		{"OneLetterUsername", admin.NewUser{Username: "a", Role: whistle.RoleAuditor}, goodPassword, "username"},
		{"LongUsername", admin.NewUser{Username: strings.Repeat("a", 65), Role: whistle.RoleAuditor}, goodPassword, "username"},
		{"ShortPassword", admin.NewUser{Username: "short_pw", Role: whistle.RoleAuditor}, "12345678901", "password"},
		{"CountyWithoutCity", admin.NewUser{Username: "county", Role: whistle.RoleAuditor, County: "兴庆区"}, goodPassword, "county"},
		{"ControlCharInDepartment", admin.NewUser{Username: "ctl", Role: whistle.RoleFinance, Department: "财政\x00厅"}, goodPassword, "department"},
		{"TakenUsername", admin.NewUser{Username: "agent.one", Role: whistle.RoleAuditor}, goodPassword, "username"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := admin.CreateUser(context.Background(), store, tc.user, tc.password, cheapKDF, now)
			if tc.wantField == "" {
				if err != nil {
					t.Fatal(err)
				}
				name, _ := admin.NormalizeUsername(tc.user.Username)
				u, err := store.User(context.Background(), name)
				if err != nil {
					t.Fatal(err)
				}
				var key crypto.StaffKey
				if err := key.UnmarshalBinary(u.StaffKey); err != nil {
					t.Fatal(err)
				}
				kp, err := key.Unlock(tc.password)
				if err != nil || kp.Public != key.Public {
					t.Fatalf("stored staff key does not unlock with the password: %v", err)
				}
				return
			}
			var we *whistle.Error
			if err == nil || !errors.As(err, &we) || we.Field != tc.wantField {
				t.Fatalf("error %v, want one about field %q", err, tc.wantField)
			}
		})
	}
}
