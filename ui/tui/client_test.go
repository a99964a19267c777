package tui

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/localapi"
)

// An older daemon answers the newer endpoints with the mux's 404: kftui
// says the daemon is older and how to restart it, rather than "404 page
// not found". A refused config's fields land in a FieldsError.
func TestClientAgainstOlderAndRefusingDaemons(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "kftray.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/configs", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(400)
		w.Write([]byte(`{"error":"invalid config \"web\":\n  alias: taken","fields":[{"field":"alias","problem":"\"web\" is already used by config 1"}]}`))
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })

	c := localapi.NewUnixClient(sock)
	defer c.Close()
	b := ClientBackend(c)
	_, err = b.(HelperAPI).HelperStatus(context.Background())
	if err == nil || !strings.Contains(err.Error(), "the running kftray daemon is older than kftui and cannot report the helper's status") {
		t.Fatalf("helper on an old daemon: %v", err)
	}
	_, err = b.(ConfigAPI).CreateConfig(context.Background(), fwdconfig.Config{Alias: "web"})
	fe := fieldErrors(err)
	if len(fe) != 1 || fe[0].Field != "alias" || fe[0].Msg != `"web" is already used by config 1` {
		t.Fatalf("refused config: %v -> %+v", err, fe)
	}
}
