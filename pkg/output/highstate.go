package output

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
)

// printHighstate renders state returns as Salt's highstate outputter:
// one block per state in run order, then a summary per minion.
func printHighstate(w *bufio.Writer, results map[string]any, opts Options) error {
	for i, id := range sortedIDs(results) {
		if i > 0 {
			w.WriteByte('\n')
		}
		w.WriteString(FormatHighstate(id, Normalize(results[id]), opts))
		w.WriteByte('\n')
	}
	return nil
}

// FormatHighstate renders one minion's state return (a map of results, or
// the list of compile errors) exactly as Salt's highstate outputter lays it
// out, without a trailing newline.
func FormatHighstate(host string, data any, opts Options) string {
	c := colors(opts.Color)
	hcolor := c.green
	var lines []string
	switch x := data.(type) {
	case int64, float64, bool, nil:
		lines = append(lines, c.green+"    "+pyStr(x)+c.end)
		hcolor = c.cyan
	case string:
		for _, l := range splitLines(x) {
			lines = append(lines, c.green+"    "+l+c.end)
		}
		hcolor = c.cyan
	case []any:
		hcolor = c.lightRed
		lines = append(lines, "    "+hcolor+"Data failed to compile:"+c.end)
		for _, e := range x {
			lines = append(lines, hcolor+"----------\n    "+pyStr(e)+c.end)
		}
	case map[string]any:
		var body []string
		body, hcolor = formatStates(host, x, opts, c)
		lines = append(lines, body...)
	}
	return hcolor + host + ":" + c.end + "\n" + strings.Join(lines, "\n")
}

func formatStates(host string, data map[string]any, opts Options, c palette) ([]string, string) {
	hcolor := c.green
	var lines []string
	states := map[string]any{}
	for k, v := range data {
		if m, ok := v.(map[string]any); ok {
			if _, has := m["result"]; has {
				states[k] = m
			}
		}
	}
	counts := map[string]int{} // "True", "False", "None", "warnings"
	var total float64
	nchanges := 0
	mode := strings.ToLower(opts.StateOutput)
	if mode == "" {
		mode = "full"
	}
	keys := orderedKeys(states)
	for _, tag := range keys {
		ret := states[tag].(map[string]any)
		res := resultKey(ret["result"])
		counts[res]++
		total += toFloat(ret["duration"])
		changes := ret["changes"]
		changed, ctext := formatChanges(changes, c)
		if changed {
			nchanges++
		}
		if opts.HideClean && res == "True" && !changed {
			continue
		}
		tcolor := c.green
		if changed {
			tcolor = c.cyan
		}
		switch res {
		case "False":
			hcolor, tcolor = c.red, c.red
		case "None":
			hcolor, tcolor = c.lightYellow, c.lightYellow
		}
		comps := strings.SplitN(tag, "_|-", 4)
		for len(comps) < 4 {
			comps = append(comps, "")
		}
		if strings.HasSuffix(mode, "_id") {
			comps[2] = comps[1]
		}
		if strings.HasPrefix(mode, "terse") ||
			(strings.HasPrefix(mode, "mixed") && res != "False") ||
			(strings.HasPrefix(mode, "changes") && res == "True" && !changed) {
			lines = append(lines, terse(tcolor, comps, ret, changed, res, c))
			continue
		}
		block := []string{
			tcolor + "----------" + c.end,
			"    " + tcolor + "      ID: " + comps[1] + c.end,
			"    " + tcolor + "Function: " + comps[0] + "." + comps[3] + c.end,
		}
		if comps[1] != comps[2] {
			block = append(block, "    "+tcolor+"    Name: "+comps[2]+c.end)
		}
		block = append(block,
			"    "+tcolor+"  Result: "+res+c.end,
			"    "+tcolor+" Comment: "+formatComment(ret["comment"])+c.end)
		if st, ok := ret["start_time"]; ok {
			block = append(block,
				"    "+tcolor+" Started: "+pyStr(st)+c.end,
				"    "+tcolor+"Duration: "+durationText(ret["duration"])+c.end)
		}
		block = append(block, tcolor+"     Changes:   "+ctext+c.end)
		lines = append(lines, block...)
		if warns, ok := ret["warnings"].([]any); ok && len(warns) > 0 {
			counts["warnings"]++
			ws := make([]string, len(warns))
			for i, w := range warns {
				ws[i] = pyStr(w)
			}
			lines = append(lines, "   "+c.lightRed+" Warnings: "+strings.Join(ws, "\n"+strings.Repeat(" ", 14))+c.end)
		}
	}
	lines = append(lines, summary(host, counts, nchanges, total, c)...)
	return lines, hcolor
}

func summary(host string, counts map[string]int, nchanges int, total float64, c palette) []string {
	countLen := 0
	for _, n := range counts {
		if l := len(strconv.Itoa(n)); l > countLen {
			countLen = l
		}
	}
	lineLen := len("Succeeded") + countLen + 2
	pad := func(label string, n int) string {
		return fmt.Sprintf("%s: %*d", label, lineLen-(len(label)+2), n)
	}
	rule := strings.Repeat("-", lineLen)
	var out []string
	out = append(out, c.cyan+"\nSummary for "+host+"\n"+rule+c.end)
	var stats []string
	if counts["None"] > 0 {
		stats = append(stats, c.lightYellow+"unchanged="+strconv.Itoa(counts["None"])+c.end)
	}
	if nchanges > 0 {
		stats = append(stats, c.green+"changed="+strconv.Itoa(nchanges)+c.end)
	}
	succ := c.green + pad("Succeeded", counts["True"]+counts["None"]) + c.end
	if len(stats) > 0 {
		succ += " (" + strings.Join(stats, ", ") + ")"
	}
	out = append(out, succ)
	fc := c.cyan
	if counts["False"] > 0 {
		fc = c.red
	}
	out = append(out, fc+pad("Failed", counts["False"])+c.end)
	if counts["warnings"] > 0 {
		out = append(out, c.lightRed+pad("Warnings", counts["warnings"])+c.end)
	}
	run := counts["True"] + counts["False"] + counts["None"]
	out = append(out, c.cyan+rule+"\n"+fmt.Sprintf("Total states run: %*d", lineLen-7, run)+c.end)
	unit := "ms"
	if total > 999 {
		total /= 1000
		unit = "s"
	}
	out = append(out, c.cyan+"Total run time: "+fmt.Sprintf("%*s", lineLen-5, strconv.FormatFloat(total, 'f', 3, 64))+" "+unit+c.end)
	return out
}

func resultKey(v any) string {
	switch x := v.(type) {
	case bool:
		if x {
			return "True"
		}
		return "False"
	case nil:
		return "None"
	}
	return pyStr(v)
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case int64:
		return float64(x)
	case int:
		return float64(x)
	case string:
		f, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(x), " ms"), 64)
		return f
	}
	return 0
}

func durationText(v any) string {
	if v == nil {
		return ""
	}
	if s, ok := v.(string); ok && s == "" {
		return ""
	}
	return pyStr(v) + " ms"
}

func formatComment(v any) string {
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = pyStr(e)
		}
		s = strings.Join(parts, "\n")
	default:
		s = pyStr(x)
	}
	return strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n"+strings.Repeat(" ", 14))
}

func formatChanges(v any, c palette) (bool, string) {
	switch x := v.(type) {
	case nil:
		return false, ""
	case map[string]any:
		if len(x) == 0 {
			return false, ""
		}
		n := &nester{c: c}
		n.display(x, 14, "")
		return true, "\n" + strings.Join(n.lines, "\n")
	case []any:
		if len(x) == 0 {
			return false, ""
		}
	case string:
		if x == "" {
			return false, ""
		}
	}
	return true, "Invalid Changes data: " + pyStr(v)
}

func terse(tcolor string, comps []string, ret map[string]any, changed bool, res string, c palette) string {
	word := "Clean"
	if changed {
		word = "Changed"
	}
	switch res {
	case "False":
		word = "Failed"
	case "None":
		word = "Differs"
	}
	s := " " + tcolor + " Name: " + comps[2] + " - Function: " + comps[0] + "." + comps[3] + " - Result: " + word
	if st, ok := ret["start_time"]; ok {
		s += " - Started: " + pyStr(st) + " - Duration: " + pyStr(ret["duration"]) + " ms"
	}
	return s + c.end
}
