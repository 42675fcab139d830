;; Inverted dropout four floats at a time with WebAssembly's 128-bit SIMD, over arrays in this
;; module's memory (lib/wasm/dropout.ts copies them in and out; scripts/build-wasm.ts assembles this
;; file). Element i of the tensor keeps its value, times `scale`, where the top 24 bits of
;; lowbias32(i + seedHash) are at least `threshold` (rate x 2^24, rounded up), and is 0 otherwise:
;; the mask lib/nn/dropout.ts's hash32 and the WebGPU kernel draw, bit for bit.
(module
  (memory (export "memory") 1)

  (func (export "dropout")
    (param $x i32) (param $y i32) (param $vectors i32)
    (param $first i32)      ;; the tensor index of the first element here, plus the seed's hash
    (param $threshold i32) (param $scale f32)
    (local $end i32) (local $h v128) (local $index v128) (local $scales v128) (local $limit v128)
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $vectors) (i32.const 4))))
    (local.set $index (i32x4.add (i32x4.splat (local.get $first)) (v128.const i32x4 0 1 2 3)))
    (local.set $scales (f32x4.splat (local.get $scale)))
    (local.set $limit (i32x4.splat (local.get $threshold)))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
        ;; lowbias32 (C. Wellons), lane by lane
        (local.set $h (v128.xor (local.get $index) (i32x4.shr_u (local.get $index) (i32.const 16))))
        (local.set $h (i32x4.mul (local.get $h) (v128.const i32x4 0x7feb352d 0x7feb352d 0x7feb352d 0x7feb352d)))
        (local.set $h (v128.xor (local.get $h) (i32x4.shr_u (local.get $h) (i32.const 15))))
        (local.set $h (i32x4.mul (local.get $h) (v128.const i32x4 0x846ca68b 0x846ca68b 0x846ca68b 0x846ca68b)))
        (local.set $h (v128.xor (local.get $h) (i32x4.shr_u (local.get $h) (i32.const 16))))
        (v128.store (local.get $y)
          (v128.and (f32x4.mul (v128.load (local.get $x)) (local.get $scales))
                    (i32x4.ge_u (i32x4.shr_u (local.get $h) (i32.const 8)) (local.get $limit))))
        (local.set $index (i32x4.add (local.get $index) (v128.const i32x4 4 4 4 4)))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (local.set $y (i32.add (local.get $y) (i32.const 16)))
        (br $each))))
)
