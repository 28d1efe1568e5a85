"""Go boilerplate: standard library only, and a go.mod without requires, so it builds offline."""

from __future__ import annotations

HANDLER = """
// handler answers Hello World, or Hello <name> for {"name": ...}.
func handler(body string) map[string]string {
	name := "World"
	var data map[string]interface{}
	if json.Unmarshal([]byte(body), &data) == nil {
		if n, ok := data["name"].(string); ok && n != "" {
			name = n
		}
	}
	return map[string]string{"message": "Hello " + name}
}
"""

DEFAULT = (
    """package main

import (
	"encoding/json"
	"io"
	"os"
)
"""
    + HANDLER
    + """
// default format: the request body on stdin, the response on stdout, logs on stderr.
func main() {
	body, err := io.ReadAll(os.Stdin)
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\\n")
		os.Exit(1)
	}
	out, _ := json.Marshal(handler(string(body)))
	os.Stdout.Write(out)
}
"""
)

JSON = (
    """package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
)

type request struct {
	Body string `json:"body"`
}

type protocol struct {
	StatusCode int `json:"status_code"`
}

type response struct {
	Body        string   `json:"body"`
	ContentType string   `json:"content_type"`
	Protocol    protocol `json:"protocol"`
}
"""
    + HANDLER
    + """
// json format: one request object per line on stdin, one response object per line on stdout.
func main() {
	in := bufio.NewReader(os.Stdin)
	for {
		line, err := in.ReadBytes('\\n')
		if len(bytes.TrimSpace(line)) > 0 {
			var req request
			if jerr := json.Unmarshal(line, &req); jerr != nil {
				os.Stderr.WriteString(jerr.Error() + "\\n")
				os.Exit(1)
			}
			body, _ := json.Marshal(handler(req.Body))
			out, _ := json.Marshal(response{string(body), "application/json", protocol{200}})
			os.Stdout.Write(append(out, '\\n'))
		}
		if err == io.EOF {
			return
		}
		if err != nil {
			os.Stderr.WriteString(err.Error() + "\\n")
			os.Exit(1)
		}
	}
}
"""
)

GO_MOD = "module func\n\ngo 1.18\n"

FILES = {
    "default": {"func.go": DEFAULT},
    "json": {"func.go": JSON},
}
COMMON = {"go.mod": GO_MOD}
