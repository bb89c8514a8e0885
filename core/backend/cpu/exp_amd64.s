#include "textflag.h"

// Constants of expf (expf.go), as float32 bits: log2e, ln2hi, ln2lo, the
// six polynomial coefficients, 1, the clamp bounds 89 and -104, and -1.
DATA expConst<>+0(SB)/4, $0x3fb8aa3b
DATA expConst<>+4(SB)/4, $0x3f318000
DATA expConst<>+8(SB)/4, $0xb95e8083
DATA expConst<>+12(SB)/4, $0x39506967
DATA expConst<>+16(SB)/4, $0x3ab743ce
DATA expConst<>+20(SB)/4, $0x3c088908
DATA expConst<>+24(SB)/4, $0x3d2aa9c1
DATA expConst<>+28(SB)/4, $0x3e2aaaaa
DATA expConst<>+32(SB)/4, $0x3f000000
DATA expConst<>+36(SB)/4, $0x3f800000
DATA expConst<>+40(SB)/4, $0x42b20000
DATA expConst<>+44(SB)/4, $0xc2d00000
DATA expConst<>+48(SB)/4, $0xbf800000
GLOBL expConst<>(SB), RODATA|NOPTR, $52

// func expAVX512(dst, src *float32, n, logistic int)
//
// dst[i] = e^src[i] (logistic = 0) or 1/(1+e^-src[i]) for the first
// n &^ 15 elements, 16 at a time: the reduction and polynomial of expf,
// with VSCALEFPS doing the 2^n scaling (overflow to +Inf, denormals and
// underflow to 0 included). The clamps keep NaN: VMINPS/VMAXPS return
// their second source when either is NaN.
TEXT ·expAVX512(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ logistic+24(FP), DX
	SHRQ $4, CX
	JZ   done
	VBROADCASTSS expConst<>+0(SB), Z16
	VBROADCASTSS expConst<>+4(SB), Z17
	VBROADCASTSS expConst<>+8(SB), Z18
	VBROADCASTSS expConst<>+12(SB), Z19
	VBROADCASTSS expConst<>+16(SB), Z20
	VBROADCASTSS expConst<>+20(SB), Z21
	VBROADCASTSS expConst<>+24(SB), Z22
	VBROADCASTSS expConst<>+28(SB), Z23
	VBROADCASTSS expConst<>+32(SB), Z24
	VBROADCASTSS expConst<>+36(SB), Z25
	VBROADCASTSS expConst<>+40(SB), Z26
	VBROADCASTSS expConst<>+44(SB), Z27
	VBROADCASTSS expConst<>+48(SB), Z28

loop:
	VMOVUPS (SI), Z0
	TESTQ   DX, DX
	JZ      clamp
	VMULPS  Z28, Z0, Z0

clamp:
	VMINPS       Z0, Z26, Z0
	VMAXPS       Z0, Z27, Z0
	VMULPS       Z16, Z0, Z1
	VRNDSCALEPS  $0, Z1, Z1
	VMOVAPS      Z0, Z2
	VFNMADD231PS Z17, Z1, Z2
	VFNMADD231PS Z18, Z1, Z2
	VMOVAPS      Z19, Z3
	VFMADD213PS  Z20, Z2, Z3
	VFMADD213PS  Z21, Z2, Z3
	VFMADD213PS  Z22, Z2, Z3
	VFMADD213PS  Z23, Z2, Z3
	VFMADD213PS  Z24, Z2, Z3
	VMULPS       Z2, Z2, Z4
	VADDPS       Z25, Z2, Z5
	VFMADD231PS  Z4, Z3, Z5
	VSCALEFPS    Z1, Z5, Z5
	TESTQ        DX, DX
	JZ           store
	VADDPS       Z25, Z5, Z5
	VDIVPS       Z5, Z25, Z5

store:
	VMOVUPS Z5, (DI)
	ADDQ    $64, SI
	ADDQ    $64, DI
	DECQ    CX
	JNZ     loop

done:
	VZEROUPPER
	RET
