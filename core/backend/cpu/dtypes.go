package cpu

// Type sets the kernels are generic over; each dtype gets its own
// instantiation, so inner loops are plain loops on one Go type.
type (
	integer interface {
		~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64
	}
	float  interface{ ~float32 | ~float64 }
	number interface{ integer | float }
)
