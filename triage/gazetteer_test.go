package triage

import "testing"

func TestJurisdictionEchoesGivenFieldsAndNormalisesObviousVariants(t *testing.T) {
	r := testRouter(t)
	cases := []struct {
		city, county, text   string
		wantCity, wantCounty string
	}{
		{"银川市", "西夏区", "中卫市沙坡头区某工地塔吊", "银川市", "西夏区"}, // given fields beat the text
		{"宁东能源化工基地", "", "宁东某化工厂", "宁东能源化工基地", ""},
		{"银川", "西夏", "某工地", "银川市", "西夏区"},
		{"", "利通区", "某饭馆", "", "利通区"},         // echoed: CityOf says which city
		{"石嘴山市", "", "大武口区某小区电梯", "石嘴山市", ""}, // a given city is not completed from the text
		{" 固原市 ", " 原州区 ", "某村", "固原市", "原州区"},
		{"银川市", "利通区", "某饭馆", "银川市", "利通区"}, // inconsistent input is kept as given
		{"兰州市", "城关区", "某厂", "兰州市", "城关区"},  // unknown places are kept as given
		{"中卫", "沙坡头", "", "中卫市", "沙坡头区"},
	}
	for _, c := range cases {
		d := r.Route(Report{City: c.city, County: c.county, Text: c.text + "电梯困人"})
		if d.Jurisdiction.City != c.wantCity || d.Jurisdiction.County != c.wantCounty || d.Jurisdiction.Ambiguous {
			t.Errorf("(%q,%q): got %+v, want %s/%s", c.city, c.county, d.Jurisdiction, c.wantCity, c.wantCounty)
		}
	}
}

func TestCityOfACounty(t *testing.T) {
	r := testRouter(t)
	for county, city := range map[string]string{"利通区": "吴忠市", "沙坡头": "中卫市", "西夏区": "银川市", "城关区": "", "": ""} {
		if got := r.CityOf(county); got != city {
			t.Errorf("CityOf(%q) = %q, want %q", county, got, city)
		}
	}
}

func TestJurisdictionExtractedFromTextWhenNotGiven(t *testing.T) {
	r := testRouter(t)
	cases := []struct {
		text         string
		city, county string
		ambiguous    bool
	}{
		{"举报中卫市沙坡头区住建局质安站的工作人员", "中卫市", "沙坡头区", false},
		{"宁东基地XX煤制油项目中控室", "宁东能源化工基地", "", false},
		{"宁东能源化工基地某公司罐区", "宁东能源化工基地", "", false},
		{"大武口的一个小区", "石嘴山市", "大武口区", false},
		{"固原市三营镇某村山坡", "固原市", "原州区", false},
		{"青铜峡黄河大峡谷景区快艇", "吴忠市", "青铜峡市", false},
		{"贺兰山下的一个采石场", "", "", false}, // 贺兰山 is a mountain, not 贺兰县
		{"银川市的一家饭店", "银川市", "", false},
		{"永宁县和贺兰县交界处的砂石厂", "银川市", "", true},
		{"从吴忠市拉货到固原市的货车", "", "", true},
		{"某地一家工厂", "", "", false},
	}
	for _, c := range cases {
		d := r.Route(Report{Text: c.text})
		j := d.Jurisdiction
		if j.City != c.city || j.County != c.county || j.Ambiguous != c.ambiguous {
			t.Errorf("%q: got %+v, want %s/%s ambiguous=%v", c.text, j, c.city, c.county, c.ambiguous)
		}
	}
}

func TestGazetteerHasFiveCitiesTwentyTwoCountiesAndNingdong(t *testing.T) {
	g, err := loadGazetteer(gazetteerJSON)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"银川市": 6, "石嘴山市": 3, "吴忠市": 5, "固原市": 5, "中卫市": 3, "宁东能源化工基地": 0}
	total := 0
	for city, n := range want {
		if !g.isCity[city] || len(g.counties[city]) != n {
			t.Errorf("%s: %d counties, want %d", city, len(g.counties[city]), n)
		}
		total += len(g.counties[city])
	}
	if len(g.isCity) != 6 || total != 22 {
		t.Errorf("%d cities and %d counties, want 6 jurisdictions of city level and 22 counties", len(g.isCity), total)
	}
}

func TestGazetteerRejectsAPlaceNamedTwice(t *testing.T) {
	bad := `{"version":"x","source":"x","cities":[{"name":"银川市","aliases":["银川"],"places":[],"counties":[{"name":"兴庆区","aliases":[],"places":["掌政镇"]}]},
	{"name":"吴忠市","aliases":[],"places":[],"counties":[{"name":"利通区","aliases":[],"places":["掌政镇"]}]}],"blocked":[]}`
	if _, err := loadGazetteer([]byte(bad)); err == nil {
		t.Fatal("a town listed under two counties was accepted")
	}
}
