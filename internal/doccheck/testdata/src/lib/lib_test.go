package lib

func BareInTest() {}
