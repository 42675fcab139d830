;; A batch of matrix products with WebAssembly's 128-bit SIMD: C[b] = A[b] @ B[b] for b < batch,
;; each row-major float32, A [m, k], B [k, n], C [m, n], one after another in this module's memory.
;; m must be a multiple of 4 and n of 8 (the caller pads them). lib/wasm/batch-matmul.ts copies the
;; operands in and the products out; scripts/build-wasm.ts assembles this file.
;;
;; Each step of the innermost loop takes one k: two vectors of B's row k (8 columns), four of A's
;; entries (4 rows) each splatted across a vector, and 8 multiply-adds of 4 lanes into a 4 x 8 block
;; of C held in registers: 64 flops for 6 loads.
(module
  (memory (export "memory") 1)

  (func (export "batchMatMul")
    (param $a i32) (param $b i32) (param $c i32)
    (param $batch i32) (param $m i32) (param $k i32) (param $n i32)
    (local $item i32) (local $i i32) (local $j i32) (local $p i32)
    (local $rowBytes i32)  ;; a row of A: k floats
    (local $colBytes i32)  ;; a row of B or C: n floats
    (local $a0 i32) (local $a1 i32) (local $a2 i32) (local $a3 i32)  ;; A[i + r, p]
    (local $bp i32)        ;; B[p, j]
    (local $out i32)       ;; C[i, j]
    (local $b0 v128) (local $b1 v128) (local $x v128)
    (local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128)
    (local $c20 v128) (local $c21 v128) (local $c30 v128) (local $c31 v128)
    (local.set $rowBytes (i32.shl (local.get $k) (i32.const 2)))
    (local.set $colBytes (i32.shl (local.get $n) (i32.const 2)))
    (block $done
      (loop $items
        (br_if $done (i32.ge_u (local.get $item) (local.get $batch)))
        (local.set $i (i32.const 0))
        (block $rowsDone
          (loop $rows
            (br_if $rowsDone (i32.ge_u (local.get $i) (local.get $m)))
            (local.set $j (i32.const 0))
            (block $colsDone
              (loop $cols
                (br_if $colsDone (i32.ge_u (local.get $j) (local.get $n)))
                (local.set $c00 (v128.const i32x4 0 0 0 0)) (local.set $c01 (v128.const i32x4 0 0 0 0))
                (local.set $c10 (v128.const i32x4 0 0 0 0)) (local.set $c11 (v128.const i32x4 0 0 0 0))
                (local.set $c20 (v128.const i32x4 0 0 0 0)) (local.set $c21 (v128.const i32x4 0 0 0 0))
                (local.set $c30 (v128.const i32x4 0 0 0 0)) (local.set $c31 (v128.const i32x4 0 0 0 0))
                (local.set $a0 (i32.add (local.get $a) (i32.mul (local.get $i) (local.get $rowBytes))))
                (local.set $a1 (i32.add (local.get $a0) (local.get $rowBytes)))
                (local.set $a2 (i32.add (local.get $a1) (local.get $rowBytes)))
                (local.set $a3 (i32.add (local.get $a2) (local.get $rowBytes)))
                (local.set $bp (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 2))))
                (local.set $p (i32.const 0))
                (block $kDone
                  (loop $ks
                    (br_if $kDone (i32.ge_u (local.get $p) (local.get $k)))
                    (local.set $b0 (v128.load (local.get $bp)))
                    (local.set $b1 (v128.load offset=16 (local.get $bp)))
                    (local.set $x (f32x4.splat (f32.load (local.get $a0))))
                    (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $x) (local.get $b0))))
                    (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $x) (local.get $b1))))
                    (local.set $x (f32x4.splat (f32.load (local.get $a1))))
                    (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $x) (local.get $b0))))
                    (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $x) (local.get $b1))))
                    (local.set $x (f32x4.splat (f32.load (local.get $a2))))
                    (local.set $c20 (f32x4.add (local.get $c20) (f32x4.mul (local.get $x) (local.get $b0))))
                    (local.set $c21 (f32x4.add (local.get $c21) (f32x4.mul (local.get $x) (local.get $b1))))
                    (local.set $x (f32x4.splat (f32.load (local.get $a3))))
                    (local.set $c30 (f32x4.add (local.get $c30) (f32x4.mul (local.get $x) (local.get $b0))))
                    (local.set $c31 (f32x4.add (local.get $c31) (f32x4.mul (local.get $x) (local.get $b1))))
                    (local.set $a0 (i32.add (local.get $a0) (i32.const 4)))
                    (local.set $a1 (i32.add (local.get $a1) (i32.const 4)))
                    (local.set $a2 (i32.add (local.get $a2) (i32.const 4)))
                    (local.set $a3 (i32.add (local.get $a3) (i32.const 4)))
                    (local.set $bp (i32.add (local.get $bp) (local.get $colBytes)))
                    (local.set $p (i32.add (local.get $p) (i32.const 1)))
                    (br $ks)))
                ;; The 4 x 8 block into C's rows i .. i + 3, columns j .. j + 7.
                (local.set $out (i32.add (local.get $c) (i32.shl (i32.add (i32.mul (local.get $i) (local.get $n)) (local.get $j)) (i32.const 2))))
                (v128.store (local.get $out) (local.get $c00))
                (v128.store offset=16 (local.get $out) (local.get $c01))
                (local.set $out (i32.add (local.get $out) (local.get $colBytes)))
                (v128.store (local.get $out) (local.get $c10))
                (v128.store offset=16 (local.get $out) (local.get $c11))
                (local.set $out (i32.add (local.get $out) (local.get $colBytes)))
                (v128.store (local.get $out) (local.get $c20))
                (v128.store offset=16 (local.get $out) (local.get $c21))
                (local.set $out (i32.add (local.get $out) (local.get $colBytes)))
                (v128.store (local.get $out) (local.get $c30))
                (v128.store offset=16 (local.get $out) (local.get $c31))
                (local.set $j (i32.add (local.get $j) (i32.const 8)))
                (br $cols)))
            (local.set $i (i32.add (local.get $i) (i32.const 4)))
            (br $rows)))
        ;; The next product's operands.
        (local.set $a (i32.add (local.get $a) (i32.mul (local.get $m) (local.get $rowBytes))))
        (local.set $b (i32.add (local.get $b) (i32.mul (local.get $k) (local.get $colBytes))))
        (local.set $c (i32.add (local.get $c) (i32.mul (local.get $m) (local.get $colBytes))))
        (local.set $item (i32.add (local.get $item) (i32.const 1)))
        (br $items)))))
