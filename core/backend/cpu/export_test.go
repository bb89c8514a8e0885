package cpu

// CodedDots is how many products with quantised weights b's builders
// recognised (see coded.go), for the tests.
func CodedDots(b *Backend) int64 { return b.codedDots.Load() }
