package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"text/template"
	"time"

	"github.com/docker/cli/templates"
	"github.com/docker/go-units"
	"golang.org/x/term"
)

// parseTemplate parses a user's --format template with Docker's template
// functions (json, join, split, lower, upper, title, pad, truncate), with
// a one-line error.
func parseTemplate(format string) (*template.Template, error) {
	t, err := templates.New("format").Parse(format)
	if err != nil {
		return nil, fmt.Errorf("template parsing error: %v", err)
	}
	return t, nil
}

// headerMap maps field names to column headers; its Label method names
// the column of a {{.Label "com.example.key"}} field as Docker does (KEY).
type headerMap map[string]string

func (h headerMap) Label(name string) string {
	n := strings.Split(name, ".")
	return strings.ToUpper(strings.NewReplacer("-", " ", "_", " ").Replace(n[len(n)-1]))
}

// tableWriter returns the writer Docker's tables use.
func tableWriter(w io.Writer) *tabwriter.Writer { return tableWriterMin(w, 10) }

// tableWriterMin is a table writer with columns at least minWidth wide
// (top's are 20).
func tableWriterMin(w io.Writer, minWidth int) *tabwriter.Writer {
	return tabwriter.NewWriter(w, minWidth, 1, 3, ' ', 0)
}

// formatter prints rows the way a --format value asks: "" or "table"
// gives the default table; "table TEMPLATE" a table with a header made of
// the template's field names mapped through headers; "json" one JSON
// object per line; anything else a template per row.
type formatter struct {
	out     io.Writer
	format  string
	def     string    // default table template
	headers headerMap // field name -> column header
}

func (f formatter) print(rows []any) error {
	format := f.format
	if format == "" || format == "table" {
		format = "table " + f.def
	}
	if format == "json" {
		enc := json.NewEncoder(f.out)
		enc.SetEscapeHTML(false)
		for _, r := range rows {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	table := strings.HasPrefix(format, "table")
	if table {
		format = strings.TrimSpace(strings.TrimPrefix(format, "table"))
	}
	format = strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(format)
	t, err := parseTemplate(format)
	if err != nil {
		return err
	}
	var w io.Writer = f.out
	var tw *tabwriter.Writer
	if table {
		tw = tableWriter(f.out)
		w = tw
		h, err := templates.New("header").Funcs(templates.HeaderFunctions).Parse(format)
		if err != nil {
			return fmt.Errorf("template parsing error: %v", err)
		}
		var buf bytes.Buffer
		h.Option("missingkey=zero")
		if err := h.Execute(&buf, f.headers); err == nil {
			fmt.Fprintln(w, buf.String())
		}
	}
	for _, r := range rows {
		var buf bytes.Buffer
		if err := t.Execute(&buf, r); err != nil {
			return fmt.Errorf("template: %v", err)
		}
		fmt.Fprintln(w, buf.String())
	}
	if tw != nil {
		return tw.Flush()
	}
	return nil
}

// humanSize is Docker's size format: 4.26MB.
// placeholdersJSON is a row's `--format json`: its placeholders by name,
// with <, > and & as they are (as Docker prints them).
func placeholdersJSON(fields map[string]string) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	err := enc.Encode(fields)
	return bytes.TrimSpace(b.Bytes()), err
}

func humanSize(n int64) string { return units.HumanSizeWithPrecision(float64(n), 3) }

// since is Docker's CREATED column: "3 days ago".
func since(t time.Time) string {
	if t.IsZero() || t.Unix() <= 0 {
		return "N/A"
	}
	return units.HumanDuration(time.Now().UTC().Sub(t)) + " ago"
}

// isTerminal reports whether f is a terminal (not merely a character
// device such as /dev/null).
func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }
