package mcpserver

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/localapi"
)

// explain words an error for the assistant: the daemon's own message
// (which says what is wrong and what to do, as the CLI's do), each
// refused field on its own line, and the tool that helps next.
func explain(err error) error {
	var se *localapi.StatusError
	var ve *fwdconfig.ValidationError
	switch {
	case errors.Is(err, localapi.ErrNotRunning):
		return fmt.Errorf("%v; start it with 'kftray daemon start' and call again", err)
	case errors.As(err, &ve):
		return fmt.Errorf("%v\nfix the fields above and call again", ve)
	case errors.As(err, &se):
		msg := se.Msg
		if len(se.Fields) > 0 && !strings.Contains(msg, "\n") {
			// The message names the config; list the fields too.
			var b strings.Builder
			b.WriteString(msg)
			for _, f := range se.Fields {
				fmt.Fprintf(&b, "\n  %s: %s", f.Field, f.Problem)
			}
			msg = b.String()
		}
		switch se.Code {
		case http.StatusBadRequest:
			if len(se.Fields) > 0 {
				msg += "\nfix the fields above and call again"
			}
		case http.StatusNotFound:
			msg += " (list_configs shows the configs)"
		case http.StatusConflict:
			msg += "; call get_config again and redo the change on what it returns"
		case http.StatusUnauthorized, http.StatusForbidden:
			// The daemon says what was refused and what to do.
		}
		return errors.New(msg)
	}
	return err
}
