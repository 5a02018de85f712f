package triage

// chineseNumeral writes n (1..199) the way the seed numbers articles and items:
// 十, 十三, 二十, 七十一, 一百零五. It returns "" outside that range.
func chineseNumeral(n int) string {
	if n <= 0 || n >= 200 {
		return ""
	}
	digits := []string{"", "一", "二", "三", "四", "五", "六", "七", "八", "九"}
	s := ""
	if n >= 100 {
		s = "一百"
		n -= 100
		if n == 0 {
			return s
		}
		if n < 10 {
			return s + "零" + digits[n]
		}
		return s + digits[n/10] + "十" + digits[n%10]
	}
	switch {
	case n < 10:
		return digits[n]
	case n < 20:
		return "十" + digits[n%10]
	default:
		return digits[n/10] + "十" + digits[n%10]
	}
}

// parseChineseNumeral is the inverse of chineseNumeral; ok is false for
// anything chineseNumeral would not have produced.
func parseChineseNumeral(s string) (n int, ok bool) {
	for i := 1; i < 200; i++ {
		if chineseNumeral(i) == s {
			return i, true
		}
	}
	return 0, false
}

// Citation formats an article and item of the 实施细则 the way decisions cite
// them: 第三十五条(七); item 0 (an unnumbered article) cites the article alone.
func Citation(article, item int) string {
	s := "第" + chineseNumeral(article) + "条"
	if item > 0 {
		s += "(" + chineseNumeral(item) + ")"
	}
	return s
}
