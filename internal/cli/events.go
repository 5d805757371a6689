package cli

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/engine"
)

func newEventsCommand(g *globalOptions) *cobra.Command {
	var since, until, format string
	var filters []string
	cmd := &cobra.Command{
		Use:   "events [OPTIONS]",
		Short: "Get real time events from berth",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			now := time.Now()
			var o engine.EventsOptions
			var err error
			if o.Since, err = parseTime(since, now); err != nil {
				return err
			}
			if o.Until, err = parseTime(until, now); err != nil {
				return err
			}
			o.Follow = until == "" || o.Until.After(now)
			f, err := parseEventFilters(filters)
			if err != nil {
				return err
			}
			if format == "json" {
				format = "{{json .}}"
			}
			print := printEvent
			if format != "" {
				t, err := parseTemplate(format)
				if err != nil {
					return err
				}
				print = func(m eventMessage) error {
					var buf bytes.Buffer
					if err := t.Execute(&buf, m); err != nil {
						return fmt.Errorf("template: %v", err)
					}
					buf.WriteByte('\n')
					_, err := os.Stdout.Write(buf.Bytes())
					return err
				}
			}
			e, err := g.engine()
			if err != nil {
				return err
			}
			defer e.Close()
			return e.Events(cmd.Context(), o, func(ev engine.Event) error {
				m := toMessage(ev)
				if !f.include(m) {
					return nil
				}
				return print(m)
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&since, "since", "", "Show all events created since timestamp")
	fl.StringVar(&until, "until", "", "Stream events until this timestamp")
	fl.StringArrayVarP(&filters, "filter", "f", nil, "Filter output based on conditions provided")
	fl.StringVar(&format, "format", "", "Format output using a custom template:\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template")
	return cmd
}

// eventMessage is an event as Docker's API sends it, with the fields
// older clients read (status, id, from) beside the current ones.
type eventMessage struct {
	Status string `json:"status,omitempty"`
	ID     string `json:"id,omitempty"`
	From   string `json:"from,omitempty"`
	events.Message
}

func toMessage(ev engine.Event) eventMessage {
	attrs := ev.Attributes
	if attrs == nil {
		attrs = map[string]string{}
	}
	m := eventMessage{Message: events.Message{
		Type: events.Type(ev.Type), Action: events.Action(ev.Action),
		Actor: events.Actor{ID: ev.Actor, Attributes: attrs},
		Scope: "local", Time: ev.Time.Unix(), TimeNano: ev.Time.UnixNano(),
	}}
	if ev.Type == "container" || ev.Type == "image" {
		m.Status, m.ID, m.From = ev.Action, ev.Actor, attrs["image"]
	}
	return m
}

// printEvent is the docker CLI's line: time, type, action, actor and the
// attributes sorted by name.
func printEvent(m eventMessage) error {
	var b strings.Builder
	b.WriteString(time.Unix(0, m.TimeNano).Format("2006-01-02T15:04:05.000000000Z07:00"))
	fmt.Fprintf(&b, " %s %s %s", m.Type, m.Action, m.Actor.ID)
	if len(m.Actor.Attributes) > 0 {
		keys := make([]string, 0, len(m.Actor.Attributes))
		for k := range m.Actor.Attributes {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			keys[i] = k + "=" + m.Actor.Attributes[k]
		}
		fmt.Fprintf(&b, " (%s)", strings.Join(keys, ", "))
	}
	b.WriteByte('\n')
	_, err := os.Stdout.WriteString(b.String())
	return err
}

// eventFilter is --filter: values of one key are alternatives, keys must
// all match (dockerd's events filter).
type eventFilter map[string][]string

var eventFilterKeys = []string{"config", "container", "daemon", "event", "image", "label", "network", "node", "plugin", "scope", "secret", "service", "type", "volume"}

func parseEventFilters(args []string) (eventFilter, error) {
	f := eventFilter{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return nil, fmt.Errorf("bad format of filter (expected name=value)")
		}
		k = strings.ToLower(strings.TrimSpace(k))
		if !slices.Contains(eventFilterKeys, k) {
			return nil, fmt.Errorf("invalid filter '%s'", k)
		}
		f[k] = append(f[k], v)
	}
	return f, nil
}

// exact: no values for key, or one equal to a candidate.
func (f eventFilter) exact(key string, candidates ...string) bool {
	vs, ok := f[key]
	if !ok {
		return true
	}
	for _, v := range vs {
		if slices.Contains(candidates, v) {
			return true
		}
	}
	return false
}

// fuzzy: no values for key, or one that is a prefix of a candidate.
func (f eventFilter) fuzzy(key string, candidates ...string) bool {
	vs, ok := f[key]
	if !ok {
		return true
	}
	for _, v := range vs {
		for _, c := range candidates {
			if c != "" && strings.HasPrefix(c, v) {
				return true
			}
		}
	}
	return false
}

func stripTag(image string) string {
	if i := strings.LastIndexByte(image, ':'); i > strings.LastIndexByte(image, '/') {
		return image[:i]
	}
	return image
}

func (f eventFilter) include(m eventMessage) bool {
	attrs := m.Actor.Attributes
	imageName := attrs["image"]
	if m.Type == events.ImageEventType {
		imageName = attrs["name"]
	}
	action := string(m.Action)
	event := f.exact("event", action)
	for _, v := range f["event"] {
		if v == "exec_create" || v == "exec_start" || v == "health_status" {
			event = f.fuzzy("event", action)
		}
	}
	return event &&
		f.exact("type", string(m.Type)) &&
		f.exact("scope", m.Scope) &&
		f.fuzzy("container", m.Actor.ID, attrs["name"], attrs["container"]) &&
		(len(f["network"]) == 0 || m.Type == events.NetworkEventType && f.fuzzy("network", m.Actor.ID, attrs["name"])) &&
		f.exact("image", m.Actor.ID, imageName, stripTag(m.Actor.ID), stripTag(imageName)) &&
		f.labels(attrs)
}

// labels: each label=KEY or label=KEY=VALUE must hold.
func (f eventFilter) labels(attrs map[string]string) bool {
	for _, l := range f["label"] {
		k, v, hasValue := strings.Cut(l, "=")
		got, ok := attrs[k]
		if !ok || hasValue && got != v {
			return false
		}
	}
	return true
}

// parseTime is engine.ParseTimestamp for an optional flag ("" is none).
func parseTime(v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	return engine.ParseTimestamp(v, now)
}
