package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"gopkg.in/yaml.v3"
)

// table is rows to print under a header; wide columns show with -o wide.
type table struct {
	header []string
	wide   []string
	rows   [][]string // each row: the header's cells, then the wide ones
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

// printOut writes v (JSON, YAML) or t (table, wide) as format says.
func printOut(w io.Writer, format string, v any, t *table) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "yaml":
		// Through JSON, so the keys are the API's.
		raw, err := json.Marshal(v)
		if err != nil {
			return err
		}
		var generic any
		if err := json.Unmarshal(raw, &generic); err != nil {
			return err
		}
		enc := yaml.NewEncoder(w)
		enc.SetIndent(2)
		if err := enc.Encode(generic); err != nil {
			return err
		}
		return enc.Close()
	case "table", "", "wide":
		if t == nil {
			return printOut(w, "yaml", v, nil)
		}
		wide := format == "wide"
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		head := t.header
		if wide {
			head = append(append([]string{}, head...), t.wide...)
		}
		fmt.Fprintln(tw, strings.Join(head, "\t"))
		for _, r := range t.rows {
			if !wide && len(r) > len(t.header) {
				r = r[:len(t.header)]
			}
			fmt.Fprintln(tw, strings.Join(r, "\t"))
		}
		return tw.Flush()
	}
	return usageErr("-o %s: want table, wide, json or yaml", format)
}

func checkFormat(f string) error {
	switch f {
	case "table", "wide", "json", "yaml":
		return nil
	}
	return usageErr("-o %s: want table, wide, json or yaml", f)
}

// bytesStr prints a byte count in binary units.
func bytesStr(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%ci", float64(n)/float64(div), "KMGTPE"[exp])
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// printDoc writes one document of a stream: JSON on one line, or a YAML
// document after its "---".
func printDoc(w io.Writer, format string, v any) error {
	if format == "yaml" {
		if _, err := fmt.Fprintln(w, "---"); err != nil {
			return err
		}
		return printOut(w, "yaml", v, nil)
	}
	return json.NewEncoder(w).Encode(v)
}
