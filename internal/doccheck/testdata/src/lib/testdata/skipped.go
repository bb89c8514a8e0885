package skipped

func Bare() {}
