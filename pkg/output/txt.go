package output

import "bufio"

// printTxt writes "<id>: <value>" lines as Salt's txt outputter: strings
// line by line, other values in their Python form.
func printTxt(w *bufio.Writer, results map[string]any) error {
	for _, id := range sortedIDs(results) {
		v := Normalize(results[id])
		if s, ok := v.(string); ok {
			for _, l := range splitLines(s) {
				w.WriteString(id + ": " + l + "\n")
			}
			continue
		}
		w.WriteString(id + ": " + pyRepr(v) + "\n")
	}
	return nil
}

// printRaw writes the whole return in its Python form, as Salt's raw
// outputter prints the dict it holds.
func printRaw(w *bufio.Writer, results map[string]any) error {
	w.WriteString(pyRepr(normalizeAll(results)))
	w.WriteByte('\n')
	return nil
}
