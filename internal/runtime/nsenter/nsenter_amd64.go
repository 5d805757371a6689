package nsenter

import _ "embed"

//go:embed nsenter_amd64.bin
var binary []byte
