package uicmd

func opener(path string) (string, []string) { return "xdg-open", []string{path} }
