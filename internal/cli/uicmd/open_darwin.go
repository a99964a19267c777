package uicmd

func opener(path string) (string, []string) { return "open", []string{path} }
